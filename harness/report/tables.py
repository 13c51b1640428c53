"""The report's tables of numbers: summary per probe category, between-arms deltas, vocabulary shift.

Everything is read from summary.csv, corpus_audit.csv and vocab_shift.csv
and turned into ``Cell``s; how a measure is formatted (percentage or plain
number) and coloured (harmful or not) comes from the run's measure catalogue,
never from a column name.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from harness.errors import InputError
from harness.record.rundir import CORPUS_AUDIT, SUMMARY, VOCAB_TABLE, RunDir
from harness.record.schema import MeasureSpec, RunRecord
from harness.record.spans import MASK_CHAR
from harness.report.numbers import EMPTY_CELL, Cell, decimals_for, difference_cell, level_cell, parse_number

TOP_LEMMAS = 20
ALL = "all"


@dataclass
class MeasureRow:
    """A table row: the measure, its catalogue description and one cell per column."""

    measure: str
    description: str
    harmful: bool
    cells: list[Cell]


@dataclass
class MeasureTable:
    """One table of measures for one probe category; ``columns`` are the headings after "measure"."""

    category: str
    columns: list[str]
    rows: list[MeasureRow]


@dataclass
class SummaryDigest:
    """Summary tables (one per category, "all" first) and the between-arms tables (empty for two arms)."""

    tables: list[MeasureTable]
    between: list[MeasureTable]
    with_corpus: bool


@dataclass
class VocabRow:
    """A lemma of the vocabulary shift; ``masked`` is what shows while masking is on."""

    lemma: str
    masked: str
    pos: str
    count_versus: str
    count_arm: str
    z: str
    z_value: float


@dataclass
class VocabBlock:
    """The lemmas that lean toward ``arm`` and toward ``versus`` (top ``TOP_LEMMAS`` each)."""

    arm: str
    versus: str
    toward_arm: list[VocabRow]
    toward_versus: list[VocabRow]


Located = tuple[int, dict[str, str]]  # (line in the CSV, row)


@dataclass
class _Values:
    """value, ci_low, ci_high and the n/count note of a summary or audit row."""

    value: float | None
    low: float | None
    high: float | None
    n: str
    count: str


def _values(located: Located | None, path: Path) -> _Values | None:
    if located is None:
        return None
    line, row = located
    return _Values(
        parse_number(row, "value", path, line),
        parse_number(row, "ci_low", path, line),
        parse_number(row, "ci_high", path, line),
        row.get("n", ""),
        row.get("count", ""),
    )


def _level(spec: MeasureSpec, values: _Values | None, decimals: int) -> Cell:
    if values is None:
        return EMPTY_CELL
    # a rate without a count (a corrected prevalence is an estimate, not a share of texts) notes its n only
    note = f"{values.count}/{values.n}" if spec.kind == "binary" and values.count != "" else f"n={values.n}"
    return level_cell(spec.kind, values.value, values.low, values.high, note, decimals)


def _delta(spec: MeasureSpec, values: _Values | None, decimals: int) -> Cell:
    if values is None:
        return EMPTY_CELL
    return difference_cell(spec.kind, spec.harmful, values.value, values.low, values.high, f"n={values.n}", decimals)


class _Summary:
    """summary.csv indexed by (kind, arm, versus, category, measure); levels use kind "level"."""

    def __init__(self, run: RunDir):
        self.path = run.file(SUMMARY)
        self.record: RunRecord = run.record
        self.index: dict[tuple[str, str, str, str, str], Located] = {}
        self.categories: dict[str, None] = {ALL: None}
        self.pairs: dict[tuple[str, str], None] = {}
        present: set[str] = set()
        levels: dict[str, list[float | None]] = {}
        for line, row in enumerate(run.read_table(SUMMARY), start=2):
            measure, kind = row.get("measure", ""), row.get("kind", "")
            try:
                self.record.measure(measure)
            except KeyError:
                raise InputError(f"measure {measure!r} is not in the run record's catalogue", self.path, line) from None
            if kind not in ("rate", "mean", "delta"):
                raise InputError(f"column 'kind': {kind!r} is not rate, mean or delta", self.path, line)
            versus = row.get("versus", "") if kind == "delta" else ""
            key = ("delta" if kind == "delta" else "level", row.get("arm", ""), versus, row.get("probe_category", ""))
            self.index[(*key, measure)] = (line, row)
            self.categories.setdefault(key[3])
            present.add(measure)
            if kind == "delta":
                self.pairs.setdefault((key[1], versus))
            else:
                levels.setdefault(measure, []).append(parse_number(row, "value", self.path, line))
        # catalogue order, not file order: the same measure sits on the same row in every table
        self.measures = [m for m in self.record.measures if m.name in present]
        self.decimals = {m.name: decimals_for(levels.get(m.name, [])) for m in self.measures if m.kind == "mean"}

    def values(self, kind: str, arm: str, versus: str, category: str, measure: str) -> _Values | None:
        return _values(self.index.get((kind, arm, versus, category, measure)), self.path)


def _audit(run: RunDir) -> dict[str, Located]:
    if not run.has(CORPUS_AUDIT):  # optional: a probe-only run has no tuning corpus
        return {}
    return {row.get("measure", ""): (line, row) for line, row in enumerate(run.read_table(CORPUS_AUDIT), start=2)}


def digest_summary(run: RunDir) -> SummaryDigest:
    """Summary and between-arms tables of a run; a malformed cell raises naming file and line."""
    summary = _Summary(run)
    record = run.record
    reference = record.reference_arm or ""
    arms = [a.name for a in record.arms]
    others = [a for a in arms if a != reference]
    audit = _audit(run)
    audit_path = run.file(CORPUS_AUDIT)

    def table(category: str) -> MeasureTable:
        # the tuning corpus's own rate, what a tuned arm could amplify: the corpus has no probe categories
        with_corpus = category == ALL and bool(audit)
        columns = ["tuning corpus [95% CI]"] if with_corpus else []
        columns += [f"{arm} [95% CI]" for arm in arms]
        columns += [f"Δ {arm}−{reference} [95% CI]" for arm in others]
        rows = []
        for spec in summary.measures:
            decimals = summary.decimals.get(spec.name, 2)
            cells = [_level(spec, _values(audit.get(spec.name), audit_path), decimals)] if with_corpus else []
            cells += [_level(spec, summary.values("level", arm, "", category, spec.name), decimals) for arm in arms]
            cells += [
                _delta(spec, summary.values("delta", arm, reference, category, spec.name), decimals) for arm in others
            ]
            rows.append(MeasureRow(spec.name, spec.description, spec.harmful, cells))
        return MeasureTable(category, columns, rows)

    between_pairs = [(arm, versus) for arm, versus in summary.pairs if versus != reference]

    def between(category: str) -> MeasureTable:
        rows = [
            MeasureRow(
                spec.name,
                spec.description,
                spec.harmful,
                [
                    _delta(
                        spec,
                        summary.values("delta", arm, versus, category, spec.name),
                        summary.decimals.get(spec.name, 2),
                    )
                    for arm, versus in between_pairs
                ],
            )
            for spec in summary.measures
        ]
        return MeasureTable(category, [f"Δ {arm}−{versus} [95% CI]" for arm, versus in between_pairs], rows)

    categories = list(summary.categories)
    return SummaryDigest(
        [table(c) for c in categories],
        [between(c) for c in categories] if between_pairs else [],
        bool(audit),
    )


def digest_vocab(run: RunDir, hidden: set[str]) -> list[VocabBlock] | None:
    """Vocabulary-shift blocks, one per (arm, versus); None when vocab_shift.csv is absent.

    Lemmas in ``hidden`` (the flagged terms and matched text) and rows marked
    ``flagged`` (a dictionary form seen inside a flagged span, e.g. 馬鹿 for a
    matched バカ) get a masked form of ``●``; the page shows it while masking is
    on and the lemma once revealed.
    """
    if not run.has(VOCAB_TABLE):
        return None
    path = run.file(VOCAB_TABLE)
    blocks: dict[tuple[str, str], list[tuple[float, VocabRow]]] = {}
    for line, row in enumerate(run.read_table(VOCAB_TABLE), start=2):
        z = parse_number(row, "z", path, line)
        if z is None:
            raise InputError("column 'z' is empty", path, line)
        lemma = row.get("lemma", "")
        flagged = lemma in hidden or row.get("flagged") == "1"
        shown = MASK_CHAR * len(lemma) if flagged else lemma
        vocab_row = VocabRow(
            lemma, shown, row.get("pos", ""), row.get("count_versus", ""), row.get("count_arm", ""), f"{z:+.2f}", z
        )
        blocks.setdefault((row.get("arm", ""), row.get("versus", "")), []).append((z, vocab_row))
    out = []
    for (arm, versus), rows in blocks.items():
        toward_arm = sorted((r for r in rows if r[0] > 0), key=lambda r: -r[0])[:TOP_LEMMAS]
        toward_versus = sorted((r for r in rows if r[0] < 0), key=lambda r: r[0])[:TOP_LEMMAS]
        out.append(VocabBlock(arm, versus, [r for _, r in toward_arm], [r for _, r in toward_versus]))
    return out
