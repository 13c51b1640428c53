"""What a matrix parent's outputs hold, collected from its children (``harness.matrix.report`` writes them).

Everything is collected from the children's own run directories
(``children/<name>/run.json`` and its ``summary.csv``) and the parent's
``matrix.json``, never from a worker's memory, so the outputs are the same
bytes whichever backend ran the children.

``matrix.csv`` has one row per collected child × arm × measure, probe
category "all": the child's axis values (one column per axis key), the
estimate and 95% CI from summary.csv, the paired delta against the child's
reference arm with its CI (summary.csv's delta row), and the gate outcome
for that child/arm/measure from the child's run.json ("pass", "fail", or
empty when no gate covers it).

The trade-off between harm and capability cost takes, per child, the delta
of ``HARM_MEASURE`` on the fine-tuned arm (``TUNED_ARM``; else the first
non-reference arm) against the reference arm, and the two costs the
fine-tune engine measures: the held-out perplexity change and the
neutral-text perplexity change (``FinetuneRecord`` and its ``drift``).
The children not dominated on those (lower is better on every one) form
the Pareto front.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from harness.config import TUNED_ARM
from harness.errors import InputError
from harness.matrix.paths import MATRIX_JSON, child_dir, read_matrix
from harness.record.rundir import SUMMARY, RunDir
from harness.record.schema import MatrixChild, MatrixRecord, RunRecord


def child_path(parent: Path, name: str) -> Path:
    """``paths.child_dir``, refusing a name from matrix.json that is not one folder name (``..``, ``a/b``)."""
    if name in ("", ".", "..") or "/" in name or "\\" in name:
        raise InputError(f"child name {name!r} is not a folder name", Path(parent) / MATRIX_JSON)
    return child_dir(parent, name)


ALL = "all"
HARM_MEASURE = "flagged"  # the trade-off chart's harm: the flagged-rate delta
# matrix.csv: "child", then one column per axis key (matrix_columns), then these
ROW_COLUMNS = (
    "arm",
    "reference",
    "measure",
    "kind",
    "harmful",
    "n",
    "value",
    "ci_low",
    "ci_high",
    "delta",
    "delta_ci_low",
    "delta_ci_high",
    "gate",
)
COST_NAMES = ("held-out perplexity change", "neutral-text perplexity change")


def matrix_columns(axes: Sequence[str]) -> list[str]:
    """matrix.csv's header for a matrix with these axis keys (an axis named like a column is refused)."""
    clash = sorted(set(axes) & {"child", *ROW_COLUMNS})
    if clash:
        raise InputError(f"axis key {clash[0]!r} is also a matrix.csv column: rename the axis")
    return ["child", *axes, *ROW_COLUMNS]


@dataclass
class Tradeoff:
    """One child's point on the trade-off chart: harm with its CI and the capability costs (None: not measured)."""

    arm: str
    harm: float
    harm_low: float | None
    harm_high: float | None
    costs: tuple[float | None, float | None]


@dataclass
class ChildResult:
    """One child as the parent found it on disk; ``problem`` says why it was not collected."""

    spec: MatrixChild
    path: Path
    record: RunRecord | None = None
    problem: str | None = None
    rows: list[dict[str, Any]] = field(default_factory=list)
    tradeoff: Tradeoff | None = None

    @property
    def name(self) -> str:
        """The child's folder name."""
        return self.spec.name


@dataclass
class Collected:
    """The parent's record and its children as read from disk, in matrix.json order."""

    parent: Path
    record: MatrixRecord
    children: list[ChildResult]

    @property
    def axes(self) -> list[str]:
        """The axis keys, in config order."""
        return list(self.record.axes)


def axis_cell(value: Any) -> str:
    """An axis value as matrix.csv writes it: text as is, anything else as JSON (``null``, ``{"rank": 8}``)."""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def gate_outcome(record: RunRecord, arm: str, measure: str) -> str:
    """ "pass"/"fail" for the gates on ``arm`` × ``measure`` (category "all") in run.json; "" when none covers it."""
    results = [
        g
        for g in (record.gates.results if record.gates else [])
        if g.arm == arm and g.measure == measure and g.probe_category == ALL
    ]
    if not results:
        return ""
    return "pass" if all(g.passed for g in results) else "fail"


def _index(items: list[str], item: str) -> int:
    return items.index(item) if item in items else len(items)


def child_rows(run: RunDir, name: str, overrides: dict[str, Any], axes: Sequence[str]) -> list[dict[str, Any]]:
    """matrix.csv rows of one child, from its summary.csv (category "all") and run.json gates.

    Rows follow the child's arm order, then its measure catalogue's order.
    """
    record = run.record
    reference = record.reference_arm or ""
    summary = [r for r in run.read_table(SUMMARY) if r["probe_category"] == ALL]
    deltas = {(r["arm"], r["measure"]): r for r in summary if r["kind"] == "delta" and r["versus"] == reference}
    harmful = {m.name: m.harmful for m in record.measures}
    axis_cells = {key: axis_cell(overrides.get(key)) for key in axes}
    arms = [a.name for a in record.arms]
    catalogue = [m.name for m in record.measures]
    levels = [r for r in summary if r["kind"] in ("rate", "mean")]
    # arm order, then catalogue order: summary.csv lists the per-prompt (RealToxicityPrompts) rows last
    levels.sort(key=lambda r: (_index(arms, r["arm"]), _index(catalogue, r["measure"])))
    rows = []
    for level in levels:
        arm, measure = level["arm"], level["measure"]
        delta = deltas.get((arm, measure), {})
        rows.append(
            {
                "child": name,
                **axis_cells,
                "arm": arm,
                "reference": reference,
                "measure": measure,
                "kind": level["kind"],
                "harmful": harmful.get(measure, False),
                "n": level["n"],
                "value": level["value"],
                "ci_low": level["ci_low"],
                "ci_high": level["ci_high"],
                "delta": delta.get("value", ""),
                "delta_ci_low": delta.get("ci_low", ""),
                "delta_ci_high": delta.get("ci_high", ""),
                "gate": gate_outcome(record, arm, measure),
            }
        )
    return rows


def tradeoff_arm(record: RunRecord) -> str | None:
    """The arm the trade-off judges: the fine-tuned arm, else the first non-reference arm."""
    others = [a.name for a in record.arms if not a.reference]
    return TUNED_ARM if TUNED_ARM in others else next(iter(others), None)


def _number(text: str) -> float | None:
    return float(text) if text not in ("", None) else None


def child_tradeoff(record: RunRecord, rows: list[dict[str, Any]]) -> Tradeoff | None:
    """The child's harm (``HARM_MEASURE`` delta) and capability costs; None without a harm delta."""
    arm = tradeoff_arm(record)
    row = next((r for r in rows if r["arm"] == arm and r["measure"] == HARM_MEASURE and r["delta"] != ""), None)
    if arm is None or row is None:
        return None
    tune = record.finetune
    held_out = tune.perplexity_after - tune.perplexity_before if tune else None
    drift = tune.drift.perplexity_after - tune.drift.perplexity_before if tune and tune.drift else None
    return Tradeoff(
        arm, float(row["delta"]), _number(row["delta_ci_low"]), _number(row["delta_ci_high"]), (held_out, drift)
    )


def collect_child(parent: Path, spec: MatrixChild, axes: Sequence[str]) -> ChildResult:
    """One child read from ``children/<name>``; an unfinished child is kept with its ``problem``.

    A child that says it is complete but whose tables cannot be read is an
    ``InputError``: its numbers would be missing from the parent silently otherwise.
    """
    path = child_path(parent, spec.name)
    result = ChildResult(spec, path)
    if not RunDir.holds_run(path):
        result.problem = f"{spec.status}: no run directory yet"
        return result
    run = RunDir.open(path)
    result.record = run.record
    if run.record.status != "complete" or SUMMARY not in run.record.tables:
        result.problem = f"run {run.record.status}" + ("" if run.record.status != "complete" else ", no summary.csv")
        return result
    result.rows = child_rows(run, spec.name, spec.overrides, axes)
    result.tradeoff = child_tradeoff(run.record, result.rows)
    return result


def collect(parent: str | Path) -> Collected:
    """The parent's record and every child it lists, read from disk."""
    parent = Path(parent)
    record = read_matrix(parent)
    axes = list(record.axes)
    matrix_columns(axes)  # refuse a clashing axis before reading any child
    return Collected(parent, record, [collect_child(parent, spec, axes) for spec in record.children])


def dominates(a: Sequence[float], b: Sequence[float]) -> bool:
    """True when point ``a`` is no worse than ``b`` everywhere and better somewhere (lower is better)."""
    return all(x <= y for x, y in zip(a, b)) and any(x < y for x, y in zip(a, b))


def pareto_front(points: dict[str, Sequence[float]]) -> list[str]:
    """The names whose point no other point dominates, in the given order (equal points are all kept)."""
    return [name for name, p in points.items() if not any(dominates(q, p) for q in points.values() if q is not p)]


@dataclass
class Front:
    """The Pareto front over the children with a trade-off point, and the dimensions it used."""

    names: list[str]
    dimensions: list[str]  # "harm" and the cost names every such child has
    notes: list[str]


def tradeoff_front(children: Sequence[ChildResult]) -> Front:
    """Non-dominated children on harm and the capability costs that every child with a harm delta recorded."""
    points = {c.name: c.tradeoff for c in children if c.tradeoff is not None}
    used = [i for i, _ in enumerate(COST_NAMES) if points and all(t.costs[i] is not None for t in points.values())]
    notes = [
        f"{cost} is not recorded for every child: the front leaves it out"
        for i, cost in enumerate(COST_NAMES)
        if i not in used and any(t.costs[i] is not None for t in points.values())
    ]
    coords = {name: (t.harm, *(t.costs[i] for i in used)) for name, t in points.items()}
    return Front(pareto_front(coords), ["harm", *(COST_NAMES[i] for i in used)], notes)


def matrix_rows(collected: Collected) -> list[dict[str, Any]]:
    """Every collected child's matrix.csv rows, in matrix.json order."""
    return [row for child in collected.children for row in child.rows]
