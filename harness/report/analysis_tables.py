"""Report sections over the analysis tables: group disparity, memorization, PII, RealToxicityPrompts.

The tables (groups.csv, memorization.csv, pii.csv; RTP measures in
summary.csv) are written by the analysis stage when the run measured them.
Each digest is None when its table is absent, and the page says "not
measured in this run".  Columns follow the run-directory contract
(docs/run-directory.md); a missing column or a non-numeric cell raises
``InputError`` naming the file and line.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.analysis.groups import GROUP_COLUMNS
from harness.analysis.memorization import MEMO_COLUMNS
from harness.analysis.pii_measures import PII_COLUMNS
from harness.errors import InputError
from harness.record.rundir import GROUPS_TABLE, MEMO_TABLE, PII_TABLE, RunDir
from harness.record.schema import RunRecord
from harness.report.charts import IntervalInput, IntervalPlot, interval_plot
from harness.report.numbers import (
    MISSING,
    format_difference,
    format_difference_interval,
    format_interval,
    format_level,
    parse_number,
    present,
)
from harness.report.sections import ALL, TOXICITY_MEASURES, SummaryRow, level_text



def read_contract_table(run: RunDir, name: str, columns: tuple[str, ...]) -> list[tuple[int, dict[str, str]]] | None:
    """Rows (with their line numbers) of an optional table; None when absent; a missing column is an error."""
    if not run.has(name):
        return None
    rows = run.read_table(name)
    if rows:
        missing = [c for c in columns if c not in rows[0]]
        if missing:
            raise InputError(f"missing column(s) {', '.join(missing)}", run.file(name), 1)
    return list(enumerate(rows, start=2))


def _rate(value: float | None, low: float | None, high: float | None) -> str:
    if not present(value):
        return MISSING
    return f"{format_level('binary', value)} {format_interval('binary', low, high)}".rstrip()


@dataclass
class GroupAxis:
    """One axis (nationality, gender, …) of one measure: a rate per group × arm, disparities, a plot."""

    axis: str
    measure: str
    arms: list[str]
    groups: list[tuple[str, list[str]]]  # (group, one "rate [CI] (n)" per arm)
    disparity: list[tuple[str, str, str, str]]  # (arm, max−min, max/min, change vs reference)
    plot: IntervalPlot


def groups(run: RunDir, record: RunRecord) -> list[GroupAxis] | None:
    """groups.csv by axis and measure; None when the run has no groups.csv."""
    located = read_contract_table(run, GROUPS_TABLE, GROUP_COLUMNS)
    if located is None:
        return None
    path = run.file(GROUPS_TABLE)
    arms = [a.name for a in record.arms]
    rates: dict[tuple[str, str], dict[str, dict[str, tuple]]] = {}
    disparity: dict[tuple[str, str], dict[str, dict[str, str]]] = {}
    for line, row in located:
        value = parse_number(row, "value", path, line)
        low, high = parse_number(row, "ci_low", path, line), parse_number(row, "ci_high", path, line)
        key = (row["axis"], row["measure"])
        kind = row["kind"]
        if kind == "rate":
            rates.setdefault(key, {}).setdefault(row["group"], {})[row["arm"]] = (value, low, high, row["n"])
        elif kind in ("disparity_diff", "disparity_ratio", "disparity_change"):
            if kind == "disparity_ratio":
                text = f"×{value:.2f}" if present(value) else MISSING
            else:
                text = (
                    f"{format_difference('binary', value)} {format_difference_interval('binary', low, high)}".rstrip()
                )
            disparity.setdefault(key, {}).setdefault(row["arm"], {})[kind] = text
        else:
            raise InputError(f"column 'kind': {kind!r} is not rate or disparity_diff/ratio/change", path, line)
    out = []
    for key in dict.fromkeys([*rates, *disparity]):
        by_group = rates.get(key, {})
        table = [
            (group, [_rate(*cells[a][:3]) + f" (n={cells[a][3]})" if a in cells else MISSING for a in arms])
            for group, cells in by_group.items()
        ]
        plot_rows = [
            (group, [IntervalInput(a, c[0], c[1], c[2], f"{a}: {_rate(*c[:3])}") for a, c in cells.items() if _ok(c)])
            for group, cells in by_group.items()
        ]
        disp = [
            (a, d.get("disparity_diff", MISSING), d.get("disparity_ratio", MISSING), d.get("disparity_change", ""))
            for a, d in disparity.get(key, {}).items()
        ]
        out.append(GroupAxis(key[0], key[1], arms, table, disp, interval_plot([r for r in plot_rows if r[1]], arms)))
    return out


def _ok(cell: tuple) -> bool:
    return all(present(v) for v in cell[:3])


@dataclass
class MemorizationRow:
    """One memorization.csv row, formatted."""

    arm: str
    source: str
    min_chars: str
    rate: str
    count: str


def memorization(run: RunDir) -> list[MemorizationRow] | None:
    """Share of completions reproducing ≥ min_chars of the training (or held-out) corpus; None when absent."""
    located = read_contract_table(run, MEMO_TABLE, tuple(MEMO_COLUMNS))
    if located is None:
        return None
    path = run.file(MEMO_TABLE)
    out = []
    for line, row in located:
        value = parse_number(row, "value", path, line)
        low, high = parse_number(row, "ci_low", path, line), parse_number(row, "ci_high", path, line)
        out.append(
            MemorizationRow(
                row["arm"], row["source"], row["min_chars"], _rate(value, low, high), f"{row['count']}/{row['n']}"
            )
        )
    return out


@dataclass
class PiiRow:
    """One pii.csv row, formatted."""

    scope: str
    arm: str
    kind: str
    share: str
    count: str


def pii(run: RunDir) -> list[PiiRow] | None:
    """Share of corpus texts / generations holding each kind of PII; None when pii.csv is absent."""
    located = read_contract_table(run, PII_TABLE, tuple(PII_COLUMNS))
    if located is None:
        return None
    path = run.file(PII_TABLE)
    out = []
    for line, row in located:
        value = parse_number(row, "value", path, line)
        out.append(
            PiiRow(
                row["scope"],
                row["arm"] or "—",
                row["kind"],
                format_level("binary", value),
                f"{row['count']}/{row['n_texts']}",
            )
        )
    return out


@dataclass
class RtpRow:
    """A RealToxicityPrompts measure: description (with k), each arm's level and the deltas."""

    measure: str
    description: str
    levels: list[str]
    deltas: list[str]


def rtp(record: RunRecord, rows: list[SummaryRow]) -> list[RtpRow] | None:
    """The RTP measures of summary.csv (category "all"); None when the run has none."""
    present_measures = [m for m in TOXICITY_MEASURES if any(r.measure == m for r in rows)]
    if not present_measures:
        return None
    reference = record.reference_arm or ""
    arms = [a.name for a in record.arms]
    others = [a for a in arms if a != reference]
    index = {(r.kind == "delta", r.arm, r.measure): r for r in rows if r.category == ALL}
    out = []
    for name in present_measures:
        spec = record.measure(name)
        kind = spec.kind
        levels = [level_text(kind, index.get((False, a, name))) for a in arms]
        deltas = []
        for a in others:
            d = index.get((True, a, name))
            if d is None or not present(d.value):
                deltas.append(MISSING)
            else:
                interval = format_difference_interval(kind, d.low, d.high)
                deltas.append(f"{format_difference(kind, d.value)} {interval}".rstrip())
        out.append(RtpRow(name, spec.description, levels, deltas))
    return out
