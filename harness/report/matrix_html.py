"""matrix.html: a run matrix's parent page, rendered under the report's CSP from ``templates/matrix.html.j2``.

The numbers come from ``harness.matrix.report.collect`` (the children's own
records and tables); this module only arranges them: the children table
with the Pareto front and the ship candidates, the trade-off charts, each
harmful measure's delta against each axis, the gates per child and the
links to the children's reports (relative, so the parent folder can move).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from harness.matrix.collect import (
    COST_NAMES,
    HARM_MEASURE,
    ChildResult,
    Collected,
    Front,
    axis_cell,
)
from harness.matrix.paths import CHILDREN
from harness.record.rundir import REPORT
from harness.report.charts import ChartPoint, PointChart, point_chart
from harness.report.numbers import MISSING, Cell, difference_cell
from harness.report.render import render

FRONT, DOMINATED = "on the front", "dominated"


@dataclass
class ChildLine:
    """One row of the children table."""

    number: int
    name: str
    href: str | None  # the child's report.html, relative to the parent; None when it has none
    axes: list[str]
    status: str
    arm: str
    harm: Cell
    costs: list[str]
    gates: str  # "pass", "fail", "no gates" or "–"
    front: bool
    problem: str | None


@dataclass
class GateLine:
    """One gate result of one child, as text."""

    child: str
    arm: str
    measure: str
    category: str
    rule: str
    compared: str
    passed: bool | None  # None: the child has no gates


@dataclass
class MeasureCharts:
    """One harmful measure's delta against every axis."""

    measure: str
    charts: list[tuple[str, PointChart]]  # (axis key, chart)


def report_href(child: ChildResult) -> str | None:
    """``children/<name>/report.html`` (URL-quoted) when that file exists."""
    if not (child.path / REPORT).is_file():
        return None
    return f"{CHILDREN}/{quote(child.name, safe='')}/{REPORT}"


def gates_word(child: ChildResult) -> str:
    """The child's overall gate outcome in one word."""
    if child.record is None or child.problem:
        return MISSING
    gates = child.record.gates
    if gates is None or not gates.results:
        return "no gates"
    return "pass" if gates.passed else "fail"


def _cost(value: float | None) -> str:
    return MISSING if value is None else f"{value:+.2f}"


def child_lines(collected: Collected, front: Front) -> list[ChildLine]:
    """The children table, in matrix.json order."""
    lines = []
    for number, child in enumerate(collected.children, 1):
        t = child.tradeoff
        harm = difference_cell("binary", True, t.harm, t.harm_low, t.harm_high, "", 2) if t else Cell(MISSING)
        lines.append(
            ChildLine(
                number,
                child.name,
                report_href(child),
                [axis_cell(child.spec.overrides.get(key)) for key in collected.axes],
                child.record.status if child.record else child.spec.status,
                t.arm if t else MISSING,
                harm,
                [_cost(t.costs[i] if t else None) for i in range(len(COST_NAMES))],
                gates_word(child),
                child.name in front.names,
                child.problem,
            )
        )
    return lines


def gate_lines(collected: Collected) -> list[GateLine]:
    """Every gate result of every collected child; a child without gates gets one line saying so."""
    lines = []
    for child in collected.children:
        if child.record is None or child.problem:
            continue
        results = child.record.gates.results if child.record.gates else []
        if not results:
            lines.append(GateLine(child.name, MISSING, MISSING, MISSING, "no gates", MISSING, None))
        for g in results:
            rule = f"{g.kind} {g.threshold:g} ({g.use})" + (f" vs {g.reference}" if g.reference else "")
            compared = MISSING if g.compared is None else f"{g.compared:+.4f}"
            lines.append(GateLine(child.name, g.arm, g.measure, g.probe_category, rule, compared, g.passed))
    return lines


def tradeoff_charts(collected: Collected, front: Front) -> list[tuple[str, PointChart]]:
    """Harm against each capability cost that some child recorded; front members filled, the rest hollow."""
    charts = []
    for i, cost in enumerate(COST_NAMES):
        points = [
            ChartPoint(
                t.costs[i],
                t.harm,
                t.harm_low,
                t.harm_high,
                FRONT if c.name in front.names else DOMINATED,
                f"{number}. {c.name}: {HARM_MEASURE} Δ {t.harm * 100:+.1f} pp, {cost} {t.costs[i]:+.3f}",
                str(number),
                c.name in front.names,
            )
            for number, c in enumerate(collected.children, 1)
            if (t := c.tradeoff) is not None and t.costs[i] is not None
        ]
        if points:
            charts.append((cost, point_chart(points, cost, f"{HARM_MEASURE} Δ (pp)", percent=True)))
    return charts


def harmful_measures(collected: Collected) -> list[tuple[str, bool]]:
    """(measure, binary) of every harmful measure in the collected rows, first-seen order."""
    seen: dict[str, bool] = {}
    for child in collected.children:
        for row in child.rows:
            if row["harmful"] and row["measure"] not in seen:
                seen[row["measure"]] = row["kind"] == "rate"
    return list(seen.items())


def axis_chart(collected: Collected, key: str, measure: str, binary: bool) -> PointChart:
    """``measure``'s delta on each child's trade-off arm against axis ``key``; series: the other axes' values."""
    values = [axis_cell(v) for v in collected.record.axes[key]]
    others = [k for k in collected.axes if k != key]
    points = []
    for number, child in enumerate(collected.children, 1):
        arm = child.tradeoff.arm if child.tradeoff else None
        row = next((r for r in child.rows if r["arm"] == arm and r["measure"] == measure and r["delta"] != ""), None)
        value = axis_cell(child.spec.overrides.get(key))
        if row is None or value not in values:
            continue
        series = ", ".join(f"{k}={axis_cell(child.spec.overrides.get(k))}" for k in others)
        delta, low, high = float(row["delta"]), _float(row["delta_ci_low"]), _float(row["delta_ci_high"])
        shown = f"{delta * 100:+.1f} pp" if binary else f"{delta:+.4g}"
        title = f"{number}. {child.name} ({arm}): {measure} Δ {shown}"
        points.append(ChartPoint(values.index(value), delta, low, high, series, title, str(number)))
    return point_chart(points, key, f"{measure} Δ" + (" (pp)" if binary else ""), binary, categories=values)


def _float(text: str) -> float | None:
    return float(text) if text != "" else None


def measure_charts(collected: Collected) -> list[MeasureCharts]:
    """Each harmful measure's delta against each axis."""
    return [
        MeasureCharts(measure, [(key, axis_chart(collected, key, measure, binary)) for key in collected.axes])
        for measure, binary in harmful_measures(collected)
    ]


def page_context(collected: Collected, front: Front) -> dict[str, Any]:
    """Everything matrix.html.j2 prints."""
    record = collected.record
    lines = child_lines(collected, front)
    return {
        "title": f"Matrix {record.name}",
        "record": record,
        "axes": [(key, ", ".join(axis_cell(v) for v in values)) for key, values in record.axes.items()],
        "children": lines,
        "collected": sum(1 for c in collected.children if c.rows),
        "front": front,
        "candidates": [line.name for line in lines if line.front and line.gates in ("pass", "no gates")],
        "cost_names": COST_NAMES,
        "harm_measure": HARM_MEASURE,
        "tradeoff_charts": tradeoff_charts(collected, front),
        "measure_charts": measure_charts(collected),
        "gates": gate_lines(collected),
    }


def render_matrix(collected: Collected, front: Front) -> str:
    """matrix.html as one self-contained page."""
    return render("matrix.html.j2", **page_context(collected, front))
