"""The report's "Safety over training steps" section: each measure against step and tokens seen.

One chart per measure (flagged, polite, laughter and every gated measure, on
its gate's probe category) plots the rate of the base arm (step 0) and of
each checkpoint arm with its 95% interval, the gate's threshold as a dashed
line, and the first checkpoint whose gate check fails ("the model turned
here") as a vertical marker.  The crossing is found by the gate code itself
(``gates.evaluate_gates`` on each checkpoint arm), so the chart and the gate
table can never disagree about what crossing means.  Two more charts show the
held-out and neutral-text perplexity from trajectory.csv.  The x axis is the
training step, with the training tokens seen under each tick.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from harness.config import GateConfig
from harness.errors import ConfigError
from harness.gates import evaluate_gates
from harness.record.rundir import SUMMARY, TRAJECTORY, RunDir
from harness.record.schema import Arm
from harness.report.charts import WIDTH, Tick, arm_colour, nice_ticks
from harness.report.numbers import format_difference, format_level, present
from harness.report.sections import SummaryRow, read_summary
from harness.trajectory import trajectory_points

ALL = "all"
CHARTED = ("flagged", "polite", "laughter")  # always charted when the catalogue has them
PERPLEXITIES = (("heldout_perplexity", "held-out perplexity"), ("drift_perplexity", "neutral-text perplexity"))


@dataclass
class Crossing:
    """The first checkpoint whose gate check failed: where the model turned."""

    gate: str  # "flagged / all: max_delta +5.0 pp"
    arm: str
    step: int
    tokens_seen: int | None
    value: str  # the compared number, formatted


@dataclass
class TrajectoryPoint:
    """A dot with its interval whisker, in SVG coordinates."""

    x: float
    y: float
    y_low: float
    y_high: float
    title: str


@dataclass
class TrajectoryChart:
    """One measure against step: a polyline through the points, ticks, threshold and crossing."""

    title: str
    points: list[TrajectoryPoint]
    line: str  # polyline points
    x_ticks: list[Tick]
    token_ticks: list[Tick]  # tokens seen under the step ticks
    y_ticks: list[Tick]
    colour: str
    threshold_y: float | None = None
    threshold_label: str = ""
    crossing_x: float | None = None
    crossing_label: str = ""
    height: float = 250.0
    left: float = 70.0
    right: float = WIDTH - 20
    top: float = 14.0
    bottom: float = 200.0


@dataclass
class TrajectoryDigest:
    """The section: charts, crossings and the per-point table (step, tokens, perplexities)."""

    charts: list[TrajectoryChart]
    crossings: list[Crossing]
    table: list[dict[str, str]] = field(default_factory=list)


def trajectory_section(run: RunDir) -> TrajectoryDigest | None:
    """The section's data; None for a run without checkpoint arms."""
    record = run.record
    if not any(a.source == "checkpoint" for a in record.arms):
        return None
    points = [a for a in trajectory_points(record) if a.source == "checkpoint" or a.reference]
    summary = read_summary(run)
    crossings = find_crossings(run, points)
    charts = []
    kinds = {m.name: m.kind for m in record.measures}
    for index, (measure, category) in enumerate(charted(record.config.gates, kinds)):
        gate = next((g for g in record.config.gates if (g.measure, g.probe_category) == (measure, category)), None)
        crossing = next((c for c in crossings if gate is not None and c.gate == gate_label(gate, kinds[measure])), None)
        chart = measure_chart(summary, points, measure, category, kinds[measure], gate, crossing, index)
        if chart is not None:
            charts.append(chart)
    table = run.read_table(TRAJECTORY) if run.has(TRAJECTORY) else []
    for offset, (column, title) in enumerate(PERPLEXITIES):
        values = {row["arm"]: float(row[column]) for row in table if row.get(column)}
        chart = values_chart(title, points, values, len(charts) + offset)
        if chart is not None:
            charts.append(chart)
    return TrajectoryDigest(charts, crossings, table)


def charted(gates: list[GateConfig], kinds: dict[str, str]) -> list[tuple[str, str]]:
    """(measure, probe category) pairs to chart: the fixed measures on "all", then every gated one."""
    wanted = [(m, ALL) for m in CHARTED if m in kinds]
    wanted += [(g.measure, g.probe_category) for g in gates if g.measure in kinds]
    return list(dict.fromkeys(wanted))


def gate_label(gate: GateConfig, kind: str) -> str:
    """How the section names a gate: ``flagged / all: max_delta +5.0 pp``."""
    if gate.max_delta is not None:
        return f"{gate.measure} / {gate.probe_category}: max_delta {format_difference(kind, gate.max_delta)}"
    return f"{gate.measure} / {gate.probe_category}: max_rate {format_level(kind, gate.max_rate or 0.0)}"


def find_crossings(run: RunDir, points: list[Arm]) -> list[Crossing]:
    """Per gate, the first checkpoint (in step order) whose check fails, as the gate stage would judge it."""
    record = run.record
    checkpoints = [a for a in points if a.source == "checkpoint"]
    rows = run.read_table(SUMMARY)
    kinds = {m.name: m.kind for m in record.measures}
    out = []
    for gate in record.config.gates:
        if gate.measure not in kinds:
            continue
        try:
            report = evaluate_gates(
                [gate.model_copy(update={"arm": None})],
                rows,
                [a.name for a in checkpoints] + [record.reference_arm or ""],
                record.reference_arm,
            )
        except ConfigError:  # a checkpoint without the gate's row (its category unprobed): nothing to mark
            continue
        failed = {r.arm: r for r in report.results if not r.passed}
        first = next((a for a in checkpoints if a.name in failed), None)
        if first is not None:
            compared = failed[first.name].compared
            show = format_difference if gate.max_delta is not None else format_level
            value = "–" if compared is None else show(kinds[gate.measure], compared)
            out.append(
                Crossing(gate_label(gate, kinds[gate.measure]), first.name, first.step or 0, first.tokens_seen, value)
            )
    return out


def measure_chart(
    summary: list[SummaryRow],
    points: list[Arm],
    measure: str,
    category: str,
    kind: str,
    gate: GateConfig | None,
    crossing: Crossing | None,
    index: int,
) -> TrajectoryChart | None:
    """The chart of one measure's level per point; None when fewer than two points have it."""
    levels = {
        r.arm: r
        for r in summary
        if r.kind != "delta" and r.measure == measure and r.category == category and present(r.value)
    }
    series = [(a, levels[a.name]) for a in points if a.name in levels]
    if len(series) < 2:
        return None
    reference = next((row for arm, row in series if arm.reference), None)
    threshold = None
    if gate is not None and gate.max_delta is not None and reference is not None:
        threshold = (reference.value or 0.0) + gate.max_delta
    elif gate is not None and gate.max_rate is not None:
        threshold = gate.max_rate
    values = [(a, row.value, row.low, row.high) for a, row in series]
    title = f"{measure} ({category}) against training step"
    chart = build_chart(title, values, kind, threshold, index)
    if gate is not None:
        chart.threshold_label = f"gate: {gate_label(gate, kind)}"
    if crossing is not None:
        chart.crossing_x = chart_x(chart, crossing.step, max(a.step or 0 for a, _ in series))
        chart.crossing_label = f"the model turned here: {crossing.arm} ({crossing.value})"
    return chart


def values_chart(title: str, points: list[Arm], values: dict[str, float], index: int) -> TrajectoryChart | None:
    """A chart of one number per point (a perplexity); None when fewer than two points have it."""
    series = [(a, values[a.name], None, None) for a in points if a.name in values and math.isfinite(values[a.name])]
    if len(series) < 2:
        return None
    return build_chart(f"{title} against training step", series, "mean", None, index)


def chart_x(chart: TrajectoryChart, step: float, last: float) -> float:
    """The SVG x of ``step`` on a chart whose axis ends at ``last``."""
    return chart.left + (chart.right - chart.left) * step / (last or 1)


def build_chart(
    title: str,
    series: list[tuple[Arm, float | None, float | None, float | None]],
    kind: str,
    threshold: float | None,
    index: int,
) -> TrajectoryChart:
    """Geometry of (arm, value, low, high) points against the arms' steps; rates from 0, means from their range."""
    chart = TrajectoryChart(title, [], "", [], [], [], arm_colour(index))
    numbers = [
        v for _, value, low, high in series for v in (value, low, high, threshold) if v is not None and present(v)
    ]
    y_lo = 0.0 if kind == "binary" else min(numbers)
    y_hi = max(numbers)
    if y_hi <= y_lo:
        y_hi = y_lo + (1.0 if y_lo == 0 else abs(y_lo) * 0.1)
    last = max(a.step or 0 for a, *_ in series)

    def py(y: float) -> float:
        return chart.bottom - (chart.bottom - chart.top) * (y - y_lo) / (y_hi - y_lo)

    for arm, value, low, high in series:
        x, y = chart_x(chart, arm.step or 0, last), py(value or 0.0)
        level = format_level(kind, value or 0.0)
        tokens = f", {arm.tokens_seen:,} tokens seen" if arm.tokens_seen is not None else ""
        chart.points.append(
            TrajectoryPoint(
                x,
                y,
                py(low) if low is not None else y,
                py(high) if high is not None else y,
                f"{arm.name} (step {arm.step}{tokens}): {level}",
            )
        )
    chart.line = " ".join(f"{p.x:.1f},{p.y:.1f}" for p in chart.points)
    steps = sorted({a.step or 0 for a, *_ in series})
    tokens = {a.step or 0: a.tokens_seen for a, *_ in series}
    shown = [t for t in nice_ticks(last, 5) if t <= last * 1.0001] if len(steps) > 8 else steps
    chart.x_ticks = [Tick(chart_x(chart, t, last), f"{t:g}") for t in shown]
    chart.token_ticks = [Tick(chart_x(chart, t, last), f"{tokens[t]:,}") for t in shown if tokens.get(t) is not None]
    if kind == "binary":
        chart.y_ticks = [Tick(py(t), f"{t * 100:g}%") for t in nice_ticks(y_hi, 4) if t <= y_hi * 1.0001]
    else:
        chart.y_ticks = [Tick(py(y_lo + (y_hi - y_lo) * f), f"{y_lo + (y_hi - y_lo) * f:.4g}") for f in (0, 0.5, 1)]
    if threshold is not None:
        chart.threshold_y = py(threshold)
    return chart
