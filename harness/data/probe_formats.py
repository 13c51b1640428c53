"""Probe sets in common formats: CSV, JSONL and local Hugging Face dataset folders.

An entry of ``probes.files`` is a path or a ``ProbeSource`` mapping::

    probes:
      files:
        - probes/demo.yaml                      # the harness YAML (harness.data.probes)
        - prompts.csv                           # default columns: text, id, category, group
        - path: exported/                       # a datasets.save_to_disk folder, or parquet/jsonl files
          columns: {text: prompt, id: qid, category: topic}
          content_note: "Written by our team; contains insults on purpose."

``text`` is required in every row; ``id``, ``category`` and ``group`` are read
when the source has that column (a column mapped to another name than the
default must exist; ``null`` turns one off).  Ids are made probe ids by
``probe_id``; without an id column the probes are numbered ``p-0001`` … in
row order.  Errors name the file and the row (CSV line, JSONL line, dataset
row index) and the column.  ``repeats: merge`` reads a file that repeats each
prompt once per sample (a generations file) as one probe per distinct id,
or per distinct text without ids.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path
from typing import Any, Literal, NamedTuple

import yaml
from pydantic import BaseModel, ConfigDict, Field

from harness.csvfile import iter_csv_rows
from harness.errors import ConfigError, InputError, MissingDependency
from harness.io import atomic_write_text, iter_jsonl_numbered, require_file

ProbeFormat = Literal["auto", "yaml", "csv", "jsonl", "hf"]
SUFFIX_FORMATS = {".yaml": "yaml", ".yml": "yaml", ".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}
DEFAULT_CATEGORY = "general"  # the category of every probe of a source without a category column
COLUMN_ROLES = ("text", "id", "category", "group")
HF_DATA = ("*.parquet", "*.jsonl")  # the data files of a plain dataset folder (no save_to_disk metadata)


class ColumnMap(BaseModel):
    """Which source column holds each probe field (``null``: the source has none)."""

    model_config = ConfigDict(extra="forbid")

    text: str = "text"
    id: str | None = "id"
    category: str | None = "category"
    group: str | None = "group"


class ProbeSource(BaseModel):
    """One entry of ``probes.files`` written as a mapping (see the module docstring)."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    path: Path
    format: ProbeFormat = "auto"
    columns: ColumnMap = ColumnMap()
    name: str | None = Field(default=None, pattern=r"^[^/\s][^/]*$")  # default: the file or folder stem
    description: str | None = None
    content_note: str | None = None  # where the prompts come from and what they contain
    default_category: str = Field(default=DEFAULT_CATEGORY, min_length=1)
    split: str | None = None  # a saved DatasetDict: which split (default: train, or the only one)
    repeats: Literal["error", "merge"] = "error"  # merge: a repeated prompt (same id, or text) is one probe


def as_source(entry: Path | str | ProbeSource) -> ProbeSource:
    """A ``probes.files`` entry as a ``ProbeSource`` (a plain path takes every default)."""
    return entry if isinstance(entry, ProbeSource) else ProbeSource(path=Path(entry))


def source_format(source: ProbeSource) -> str:
    """The format of ``source``: as given, a folder is ``hf``, else by file suffix."""
    if source.format != "auto":
        return source.format
    if source.path.is_dir():
        return "hf"
    found = SUFFIX_FORMATS.get(source.path.suffix.lower())
    if found is None:
        raise ConfigError(
            f"{source.path}: cannot tell the probe format from the suffix '{source.path.suffix}'; "
            "give format: yaml, csv, jsonl or hf"
        )
    return found


def source_files(entry: Path | str | ProbeSource) -> list[Path]:
    """The files a probe source reads (a dataset folder's data files; the path itself when missing)."""
    source = as_source(entry)
    if not source.path.is_dir():
        return [source.path]
    return sorted(p for p in source.path.rglob("*") if p.is_file() and not p.name.startswith("."))


# -- probe ids ----------------------------------------------------------------------


def probe_id(value: Any) -> str:
    """A source id as a probe id: lower case, every run of other characters than a-z 0-9 a hyphen.

    ``Q_12`` → ``q-12``, ``17`` → ``17``.  The same function maps the ids of
    generations made elsewhere (harness.external), so both sides agree.
    """
    text = re.sub(r"[^a-z0-9]+", "-", str(value).strip().lower()).strip("-")
    if not text:
        raise ValueError(f"{value!r} has no letter or digit to make a probe id of")
    return text


def numbered_id(n: int) -> str:
    """The id of the n-th probe (from 1) of a source without an id column."""
    return f"p-{n:04d}"


# -- reading rows -------------------------------------------------------------------


class Rows(NamedTuple):
    """A source's column names and its rows, each with where it is (``file:line`` or ``folder: row N``)."""

    columns: list[str]
    rows: list[tuple[str, dict[str, Any]]]


def csv_header(path: Path) -> list[str]:
    """The header row of a CSV file (an empty file raises naming it)."""
    with require_file(path).open(encoding="utf-8-sig", newline="") as fh:
        try:
            header = next(csv.reader(fh), None)
        except (UnicodeDecodeError, csv.Error) as err:
            raise InputError(f"unreadable CSV header ({err})", path, 1) from None
    if header is None:
        raise InputError("empty file (no header row)", path)
    return header


def read_rows(source: ProbeSource, fmt: str) -> Rows:
    """Every row of a CSV, JSONL or dataset source."""
    path = source.path
    if fmt == "csv":
        rows = [(f"{path}:{line}", row) for line, _, row in iter_csv_rows(path)]
        return Rows(csv_header(path), rows)
    if fmt == "jsonl":
        rows = [(f"{path}:{line}", obj) for line, obj in iter_jsonl_numbered(path)]
        return Rows(list(rows[0][1]) if rows else [], rows)
    return read_dataset_folder(source)


def read_dataset_folder(source: ProbeSource) -> Rows:
    """A ``datasets.save_to_disk`` folder (needs ``datasets``), else its parquet/jsonl files in name order."""
    folder = source.path
    if not folder.is_dir():
        raise InputError("a Hugging Face dataset source must be a folder", folder)
    if (folder / "dataset_info.json").is_file() or (folder / "dataset_dict.json").is_file():
        return read_saved_dataset(source)
    files = sorted(p for pattern in HF_DATA for p in folder.rglob(pattern))
    if not files:
        raise InputError("no dataset here: neither save_to_disk files nor *.parquet / *.jsonl", folder)
    columns: list[str] = []
    rows: list[tuple[str, dict[str, Any]]] = []
    for file in files:
        if file.suffix == ".jsonl":
            part = [(f"{file}:{line}", obj) for line, obj in iter_jsonl_numbered(file)]
            names = list(part[0][1]) if part else []
        else:
            import pyarrow.parquet as pq

            table = pq.read_table(file)
            names = table.column_names
            part = [(f"{file}: row {i}", row) for i, row in enumerate(table.to_pylist())]
        columns += [c for c in names if c not in columns]
        rows += part
    return Rows(columns, rows)


def read_saved_dataset(source: ProbeSource) -> Rows:
    """The rows of a ``datasets.save_to_disk`` folder (a Dataset, or one split of a DatasetDict)."""
    try:
        import datasets
    except ImportError:
        raise MissingDependency("datasets", f"reading the dataset folder {source.path}") from None
    loaded = datasets.load_from_disk(str(source.path))
    if isinstance(loaded, datasets.DatasetDict):
        splits = list(loaded)
        split = source.split or ("train" if "train" in splits else splits[0] if len(splits) == 1 else None)
        if split not in splits:
            raise ConfigError(f"{source.path}: give split: one of {', '.join(splits)} (the folder holds several)")
        loaded = loaded[split]
    return Rows(list(loaded.column_names), [(f"{source.path}: row {i}", row) for i, row in enumerate(loaded)])


# -- rows → probes ------------------------------------------------------------------


def used_columns(source: ProbeSource, columns: list[str]) -> dict[str, str]:
    """Role → column for the roles the source has; a column named explicitly but absent is an error."""
    mapping = source.columns
    # a column other than the default name was asked for: it must exist (not model_fields_set, which a
    # config read back from run.json no longer tells apart)
    named = {role for role in COLUMN_ROLES if getattr(mapping, role) != ColumnMap.model_fields[role].default}
    used: dict[str, str] = {}
    for role in COLUMN_ROLES:
        column = getattr(mapping, role)
        if column is None:
            continue
        if column in columns:
            used[role] = column
        elif role == "text" or role in named:
            have = ", ".join(columns) or "none"
            raise ConfigError(f"{source.path}: no column '{column}' (columns.{role}); the columns are: {have}")
    return used


def cell_text(where: str, row: dict[str, Any], column: str, required: bool) -> str | None:
    """A cell as text: a missing key, a non-scalar or (when ``required``) a blank value is an error."""
    if column not in row:
        raise ConfigError(f"{where}: column '{column}' is missing")
    value = row[column]
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise ConfigError(f"{where}: column '{column}' is empty")
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ConfigError(f"{where}: column '{column}' must be text, not {type(value).__name__}")
    return str(value)


class ProbeFields(NamedTuple):
    """One probe as a source row gives it (``harness.data.probes.load_probe_source`` makes it a ``Probe``)."""

    id: str
    category: str
    text: str
    group: str | None


def read_probe_rows(source: ProbeSource) -> list[ProbeFields]:
    """The probes of a CSV, JSONL or dataset source, validated (errors name the row and the column)."""
    table = read_rows(source, source_format(source))
    if not table.rows:
        raise ConfigError(f"{source.path}: no rows: a probe set needs at least one prompt")
    used = used_columns(source, table.columns)
    probes: list[ProbeFields] = []
    wheres: list[str] = []  # the row of each probe
    first: dict[str, tuple[str, str]] = {}  # probe key → (where, text) of its first row
    for where, row in table.rows:
        text = cell_text(where, row, used["text"], required=True)
        raw_id = cell_text(where, row, used["id"], required=True) if "id" in used else None
        key = raw_id if raw_id is not None else text
        if key in first and source.repeats == "merge":
            if first[key][1] != text:
                raise ConfigError(f"{where}: id '{raw_id}' has another text than at {first[key][0]}")
            continue
        probes.append(row_probe(source, where, row, used, text, raw_id, len(probes) + 1))
        wheres.append(where)
        first.setdefault(key, (where, text))
    check_unique_ids(probes, wheres)
    return probes


def source_name(source: ProbeSource) -> str:
    """The probe set's name: ``name``, else the file or folder name without its suffix."""
    return source.name or source.path.stem


def row_probe(source: ProbeSource, where: str, row: dict, used: dict, text: str, raw_id: str | None, n: int):
    """The probe of one row (errors name the row and the column)."""
    try:
        pid = probe_id(raw_id) if raw_id is not None else numbered_id(n)
    except ValueError as err:
        raise ConfigError(f"{where}: column '{used['id']}': {err}") from None
    category = cell_text(where, row, used["category"], required=False) if "category" in used else None
    category = category.strip() if category else source.default_category
    if category == "all":
        raise ConfigError(f"{where}: column '{used['category']}': 'all' is reserved (every prompt in the summaries)")
    group = cell_text(where, row, used["group"], required=False) if "group" in used else None
    return ProbeFields(pid, category, text, group)


def check_unique_ids(probes: list[ProbeFields], wheres: list[str]) -> None:
    """Two rows whose ids become the same probe id are an error naming both rows."""
    seen: dict[str, str] = {}
    for probe, where in zip(probes, wheres):
        if probe.id in seen:
            raise ConfigError(f"{where}: duplicate probe id '{probe.id}' (first at {seen[probe.id]})")
        seen[probe.id] = where


# -- harness probes convert ----------------------------------------------------------


def probe_set_yaml(name: str, description: str, content_note: str | None, probes: list) -> str:
    """The harness YAML of a probe set (literal prompts; the content note as the leading comment).

    ``probes`` are objects with ``id``, ``category``, ``text`` and ``group`` (``Probe`` or ``ProbeFields``).
    """
    note = content_note or "none given; say where these prompts come from and what they contain"
    header = "".join(f"# {line}\n" if line else "#\n" for line in f"Content note: {note}".splitlines())
    prompts = []
    for p in probes:
        prompts.append({"id": p.id, "category": p.category, "text": p.text, **({"group": p.group} if p.group else {})})
    doc = {"name": name, **({"description": description} if description else {})}
    doc["prompts"] = prompts
    return header + yaml.safe_dump(doc, allow_unicode=True, sort_keys=False, width=1000)


def write_probe_yaml(out: Path, name: str, description: str, content_note: str | None, probes: list) -> None:
    """Write ``probe_set_yaml`` to ``out`` atomically."""
    atomic_write_text(out, probe_set_yaml(name, description, content_note, probes))


def parse_columns(spec: str | None) -> dict[str, str | None]:
    """``text=prompt,id=qid,group=`` → a ``columns`` mapping (an empty value turns a column off)."""
    mapping: dict[str, str | None] = {}
    for part in (spec or "").split(","):
        if not part.strip():
            continue
        role, sep, column = part.partition("=")
        role = role.strip()
        if not sep or role not in COLUMN_ROLES:
            raise ConfigError(f"--columns: {part!r} is not ROLE=COLUMN with ROLE one of {', '.join(COLUMN_ROLES)}")
        mapping[role] = column.strip() or None
    return mapping
