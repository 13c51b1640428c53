"""A run directory (or a matrix parent) as pandas DataFrames, for notebooks: ``harness.open_run``.

Everything is read through the run directory's own readers
(``harness.record.rundir.RunDir``: run.json validated, generations.jsonl and
every table checked against the sha256 run.json recorded, so a file edited
after the run is refused exactly as the CLI refuses it) and, for a matrix
parent, through ``harness.matrix.collect``.  This module only gives the cells
their types:

* categoricals for labels (``arm``, ``probe_set``, ``category``, ``measure``,
  ``served_model``, …); arms in the record's order, measures in the catalogue's;
* text as pandas' string dtype, also where every cell is empty (a run without
  chat or served arms has no ``rendered_prompt``);
* numbers as numbers (``int64``; ``Int64``/``Float64``-style nullable ones
  where a column may be empty, e.g. ``count`` of a mean row; CIs are
  ``float64`` with NaN for an undefined bound);
* booleans as ``bool`` (a binary measure of scores.csv, ``flagged`` of
  vocab_shift.csv) or the nullable ``boolean`` where the record allows None;
* lists as Python lists (``flagged_terms``, ``flagged_categories``,
  ``detectors``, ``pii_kinds``; ``flagged_spans`` as ``Span`` tuples, merged
  as the report shows them).

pandas is optional (``pip install 'harness[notebook]'``); importing this
module without it is one ``MissingDependency`` line.
"""

from __future__ import annotations

import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

from harness.errors import InputError, MissingDependency

try:
    import pandas as pd
except ImportError:  # one line naming the fix, not a traceback
    raise MissingDependency("pandas", "harness.open_run (notebooks)", install="'harness[notebook]'") from None

from harness.analysis.groups import GROUP_COLUMNS
from harness.analysis.summary import SUMMARY_COLUMNS
from harness.analysis.vocab_shift import VOCAB_COLUMNS
from harness.matrix.collect import Collected, collect, matrix_columns, matrix_rows
from harness.matrix.paths import MATRIX_JSON, child_dir, is_matrix, read_matrix
from harness.record.rundir import GENERATIONS, GROUPS_TABLE, RUN_JSON, SCORES, SUMMARY, VOCAB_TABLE, RunDir
from harness.record.schema import SCORE_ID_COLUMNS, Generation, MatrixRecord, RunRecord, ScoreRow
from harness.record.spans import parse_spans, split_list
from harness.report.numbers import number_cell

# -- column types --------------------------------------------------------------------------
# What each column of a contract table holds.  The column lists themselves are the contracts'
# (SUMMARY_COLUMNS, GROUP_COLUMNS, …); tests/test_notebook.py checks every one has a type here.
CATEGORY, TEXT, INT, NULLABLE_INT, FLOAT, BOOL, NULLABLE_BOOL, OBJECT = (
    "category",
    "text",
    "int",
    "nullable_int",
    "float",
    "bool",
    "nullable_bool",
    "object",  # lists, dicts: the Python objects themselves
)
# record fields that are labels, not free text (generations.jsonl, scores.csv id columns)
CATEGORICAL = frozenset({"arm", "probe_set", "category", "group", "served_model"})

SUMMARY_TYPES = {
    **dict.fromkeys(("kind", "arm", "versus", "probe_category", "measure"), CATEGORY),
    "n": INT,
    "count": NULLABLE_INT,  # empty for means and deltas
    **dict.fromkeys(("value", "ci_low", "ci_high"), FLOAT),
}
GROUP_TYPES = {
    **dict.fromkeys(("kind", "arm", "versus", "axis", "group", "measure"), CATEGORY),
    "n": NULLABLE_INT,
    **dict.fromkeys(("value", "ci_low", "ci_high"), FLOAT),
}
VOCAB_TYPES = {
    **dict.fromkeys(("arm", "versus", "pos", "word_class"), CATEGORY),
    "lemma": TEXT,
    **dict.fromkeys(("count_versus", "count_arm"), INT),
    **dict.fromkeys(("log_odds", "z", "corpus_per_1k"), FLOAT),
    "flagged": BOOL,
}
MATRIX_TYPES = {
    **dict.fromkeys(("child", "arm", "reference", "measure", "kind", "gate"), CATEGORY),
    "harmful": BOOL,
    "n": INT,
    **dict.fromkeys(("value", "ci_low", "ci_high", "delta", "delta_ci_low", "delta_ci_high"), FLOAT),
}
# scores.csv detail cells that hold lists, and how each is split (harness.analysis.flagged, pii_measures)
LIST_DETAILS: dict[str, Callable[[str], list]] = {
    "flagged_terms": split_list,
    "flagged_categories": split_list,
    "pii_kinds": split_list,
    "detectors": lambda cell: [d for d in cell.split(";") if d],
    "flagged_spans": lambda cell: list(parse_spans(cell)),
}
INT_DETAILS = frozenset({"flag_count"})


def annotation_type(name: str, annotation: Any) -> str:
    """A record field's column type from its pydantic annotation (``int | None`` → nullable int, …)."""
    if name in CATEGORICAL:
        return CATEGORY
    args = set(typing.get_args(annotation)) if isinstance(annotation, types.UnionType) else {annotation}
    nullable = type(None) in args
    args.discard(type(None))
    base = next(iter(args)) if len(args) == 1 else None
    if base is bool:
        return NULLABLE_BOOL if nullable else BOOL
    if base is int:
        return NULLABLE_INT if nullable else INT
    if base is float:
        return FLOAT
    if base is str:
        return TEXT
    return OBJECT  # dicts (decoding), lists, anything richer: the Python objects themselves


# -- typed cells ------------------------------------------------------------------------------


def integer(cell: Any, column: str, path: Path, line: int) -> int | None:
    """One cell as an int; empty is None; a fraction is an error naming file, line and column."""
    value = number_cell(cell, column, path, line)
    if value is not None and not value.is_integer():
        raise InputError(f"column {column!r}: {cell!r} is not a whole number", path, line)
    return None if value is None else int(value)


def boolean(cell: Any, column: str, path: Path, line: int) -> bool | None:
    """One cell as a bool: ``1``/``0`` (how harness.csvfile writes booleans), ``true``/``false``; empty is None."""
    if cell is None or isinstance(cell, bool):
        return cell
    text = str(cell).strip().lower()
    if text in ("", "nan"):
        return None
    if text in ("1", "1.0", "true"):
        return True
    if text in ("0", "0.0", "false"):
        return False
    raise InputError(f"column {column!r}: {cell!r} is not 0/1", path, line)


def column_values(values: Sequence[Any], kind: str, column: str, path: Path, first_line: int) -> list[Any]:
    """A column's cells converted to ``kind`` (errors name the file line: ``first_line`` is the first cell's)."""
    convert = {INT: integer, NULLABLE_INT: integer, FLOAT: number_cell, BOOL: boolean, NULLABLE_BOOL: boolean}.get(kind)
    if convert is None:
        if kind == CATEGORY:
            return [None if v in ("", None) else v for v in values]
        return list(values)
    out = [convert(v, column, path, first_line + i) for i, v in enumerate(values)]
    if kind in (INT, BOOL):
        missing = next((i for i, v in enumerate(out) if v is None), None)
        if missing is not None:
            raise InputError(f"column {column!r} is empty", path, first_line + missing)
    return out


PANDAS_DTYPE = {INT: "int64", NULLABLE_INT: "Int64", FLOAT: "float64", BOOL: "bool", NULLABLE_BOOL: "boolean"}


def series(values: list[Any], kind: str, order: Iterable[str] = ()) -> "pd.Series":
    """Converted cells as a Series of the column type's dtype (categories: ``order`` first, then as seen)."""
    if kind == CATEGORY:
        known = list(dict.fromkeys([*order, *(v for v in values if v is not None)]))
        return pd.Series(pd.Categorical(values, categories=known))
    if kind in PANDAS_DTYPE:
        return pd.Series(values, dtype=PANDAS_DTYPE[kind])
    if kind == TEXT:
        # pandas' own string dtype (object in pandas 2, str in pandas 3), given, not inferred: a column
        # empty in every row (rendered_prompt of a run without chat models) is still a text column
        return pd.Series(values, dtype=str)
    return pd.Series(values, dtype=object)  # lists, dicts: the Python objects themselves


def frame(
    rows: Sequence[Mapping[str, Any]],
    columns: Sequence[str],
    types_of: Mapping[str, str],
    path: Path,
    orders: Mapping[str, Iterable[str]],
    first_line: int = 2,
) -> "pd.DataFrame":
    """Rows (dicts of cells) as a typed DataFrame with ``columns`` in order (an unknown column stays text)."""
    data = {}
    for column in columns:
        kind = types_of.get(column, TEXT)
        cells = column_values([row.get(column) for row in rows], kind, column, path, first_line)
        data[column] = series(cells, kind, orders.get(column, ()))
    return pd.DataFrame(data, columns=list(columns))


# -- the opened run ----------------------------------------------------------------------------


def orders(record: RunRecord) -> dict[str, list[str]]:
    """The category order of label columns: arms as the record lists them, measures as the catalogue does."""
    arms = [a.name for a in record.arms]
    return {"arm": arms, "versus": arms, "reference": arms, "measure": [m.name for m in record.measures]}


@dataclass(frozen=True)
class NotebookRun:
    """A run directory opened for analysis: ``record`` (the typed run.json), ``path``, and its tables as DataFrames.

    ``record`` is run.json as ``open_run`` read it; each table method reads
    run.json and its file anew (after ``harness report --reanalyse`` the next
    call sees the new table).  A file changed since the run wrote it raises
    ``ChangedFile``, exactly as the CLI does.
    """

    path: Path
    record: RunRecord

    def rundir(self) -> RunDir:
        """The run directory as it is on disk now (no lock: reading only)."""
        return RunDir.open(self.path)

    def generations(self) -> "pd.DataFrame":
        """generations.jsonl, one row per sample; columns are ``Generation``'s fields (``decoding`` a dict)."""
        run = self.rundir()
        rows = [g.model_dump() for g in run.read_generations()]
        fields = Generation.model_fields
        types_of = {name: annotation_type(name, f.annotation) for name, f in fields.items()}
        return frame(rows, list(fields), types_of, run.file(GENERATIONS), orders(run.record), first_line=1)

    def scores(self) -> "pd.DataFrame":
        """scores.csv: the id columns, each per-text measure (binary → bool, mean → float), then the details."""
        run = self.rundir()
        scored = run.read_scores()
        measures = [m for m in run.record.measures if m.per_text]
        details = list(dict.fromkeys(k for row in scored for k in row.details))
        rows = [{**row.model_dump(exclude={"values", "details"}), **row.values, **row.details} for row in scored]
        types_of = {c: annotation_type(c, ScoreRow.model_fields[c].annotation) for c in SCORE_ID_COLUMNS}
        types_of |= {m.name: BOOL if m.kind == "binary" else FLOAT for m in measures}
        types_of |= {d: INT if d in INT_DETAILS else TEXT for d in details if d not in LIST_DETAILS}
        path = run.file(SCORES)
        for name, split in LIST_DETAILS.items():
            for line, row in enumerate(rows, start=2):
                if name in row:
                    row[name] = split_cell(split, row[name], name, path, line)
        types_of |= dict.fromkeys(LIST_DETAILS, OBJECT)
        columns = [*SCORE_ID_COLUMNS, *(m.name for m in measures), *details]
        return frame(rows, columns, types_of, path, orders(run.record))

    def summary(self) -> "pd.DataFrame":
        """summary.csv: rates, means and paired deltas with their 95% CIs (docs/run-directory.md)."""
        return self.table(SUMMARY, SUMMARY_COLUMNS, SUMMARY_TYPES)

    def groups(self) -> "pd.DataFrame":
        """groups.csv: per-group rates, disparities and their change (only runs with group probes have one)."""
        return self.table(GROUPS_TABLE, GROUP_COLUMNS, GROUP_TYPES)

    def vocab_shift(self) -> "pd.DataFrame":
        """vocab_shift.csv: per non-reference arm, lemma counts and log-odds z against the reference."""
        return self.table(VOCAB_TABLE, VOCAB_COLUMNS, VOCAB_TYPES)

    def matrix(self) -> "pd.DataFrame":
        """Only a matrix parent has a matrix table; this is one run."""
        message = f"a run directory, not a matrix parent (no {MATRIX_JSON}); matrix() needs the parent"
        raise InputError(message, self.path)

    def table(self, name: str, columns: Sequence[str], types_of: Mapping[str, str]) -> "pd.DataFrame":
        """A contract table of the run as a typed DataFrame; a table the run did not write is an error naming it."""
        run = self.rundir()
        if not run.has(name):
            listed = ", ".join(run.record.tables) or "none"
            listed_here = name in run.record.tables
            why = "missing: `harness report RUN` rebuilds it" if listed_here else "not written by this run"
            raise InputError(f"{why} (run.json lists: {listed})", run.file(name))
        rows = run.read_table(name)
        if rows:
            missing = [c for c in columns if c not in rows[0]]
            if missing:
                raise InputError(f"missing column(s) {', '.join(missing)}", run.file(name), 1)
        extra = [c for c in (rows[0] if rows else ()) if c not in columns]
        return frame(rows, [*columns, *extra], types_of, run.file(name), orders(run.record))


def split_cell(split: Callable[[str], list], cell: Any, column: str, path: Path, line: int) -> list:
    """A list detail cell as a list; a malformed one (a bad ``flagged_spans``) names file, line and column."""
    try:
        return split(str(cell or ""))
    except ValueError as err:
        raise InputError(f"column {column!r}: {err}", path, line) from None


# -- a matrix parent --------------------------------------------------------------------------


@dataclass(frozen=True)
class NotebookMatrix:
    """A matrix parent opened for analysis: ``record`` (matrix.json), ``path``, ``matrix()`` and its children."""

    path: Path
    record: MatrixRecord

    def collected(self) -> Collected:
        """The parent's children as ``harness.matrix.collect`` reads them (tables checked like the CLI's)."""
        return collect(self.path)

    def matrix(self) -> "pd.DataFrame":
        """matrix.csv's rows as a DataFrame: child, one column per axis, arm, measure, value and delta with CIs, gate.

        An axis whose values are all numbers is numeric; any other axis is a
        categorical of matrix.csv's cells.  Children that are not complete are
        not in it (``children()`` says why).
        """
        collected = self.collected()
        rows = matrix_rows(collected)
        types_of = dict(MATRIX_TYPES)
        for key in collected.axes:
            raw = [c.spec.overrides.get(key) for c in collected.children]
            numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in raw)
            types_of[key] = (INT if all(isinstance(v, int) for v in raw) else FLOAT) if numeric else CATEGORY
            if numeric:  # matrix.csv writes axis values as text; the numbers come from matrix.json
                by_child = {c.name: c.spec.overrides.get(key) for c in collected.children}
                rows = [{**row, key: by_child[row["child"]]} for row in rows]
        orders = {"child": [c.name for c in collected.children], "gate": ["pass", "fail"]}
        return frame(rows, matrix_columns(collected.axes), types_of, self.path / MATRIX_JSON, orders)

    def children(self) -> "pd.DataFrame":
        """One row per child in matrix.json order: name, status, the path, and why it was not collected (if so)."""
        rows = [
            {"child": c.name, "status": c.spec.status, "path": str(c.path), "problem": c.problem}
            for c in self.collected().children
        ]
        types_of = {"child": CATEGORY, "status": CATEGORY, "path": TEXT, "problem": OBJECT}
        return frame(rows, ["child", "status", "path", "problem"], types_of, self.path / MATRIX_JSON, {})

    def child(self, name: str) -> NotebookRun:
        """The run directory of child ``name`` opened like ``open_run``."""
        names = [c.name for c in self.record.children]
        if name not in names:
            raise InputError(f"no child {name!r} (children: {', '.join(names)})", self.path / MATRIX_JSON)
        run = RunDir.open(child_dir(self.path, name))
        return NotebookRun(run.path, run.record)


def open_run(path: str | Path) -> NotebookRun | NotebookMatrix:
    """Open a run directory (→ ``NotebookRun``) or a matrix parent (→ ``NotebookMatrix``) for analysis.

    ``open_run(DIR).summary()`` is summary.csv as a typed DataFrame; see the
    module docstring for the dtypes.  A folder that is neither raises one
    ``InputError`` naming it; a bad run.json or matrix.json is refused with
    the CLI's message.
    """
    path = Path(path)
    if path.is_dir() and is_matrix(path):
        return NotebookMatrix(path, read_matrix(path))
    if path.is_dir() and not RunDir.holds_run(path):
        raise InputError(f"not a run directory (no {RUN_JSON}) nor a matrix parent (no {MATRIX_JSON})", path)
    run = RunDir.open(path)
    return NotebookRun(run.path, run.record)
