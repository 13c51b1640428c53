"""Chart geometry for the report's inline SVG: interval plots, word-shift bars, line charts.

Functions here turn numbers into coordinates (plain dataclasses); the
templates (``charts.j2``) draw them, so every label still goes through Jinja's
autoescaping.  No JavaScript and no external library: the page stays
self-contained and the charts render with scripts disabled.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

# one colour per arm, in run.json order (colour-blind-safe Okabe–Ito palette)
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000")

WIDTH = 720  # SVG user units; the SVG scales to the page width
LABEL_WIDTH = 220  # room for a category or lemma label on the left
ROW_HEIGHT = 16


def arm_colour(index: int) -> str:
    """The colour of the ``index``-th arm."""
    return PALETTE[index % len(PALETTE)]


@dataclass
class Tick:
    """An axis tick: x (or y) position and its label."""

    pos: float
    label: str


@dataclass
class Interval:
    """One estimate with its 95% interval, drawn as a dot on a line."""

    x: float
    x_low: float
    x_high: float
    y: float
    colour: str
    title: str  # tooltip: "tuned: 25.0% [4.6–69.9] (1/4)"


@dataclass
class IntervalRow:
    """A labelled row (one category) holding one interval per arm."""

    label: str
    y: float
    intervals: list[Interval]


@dataclass
class IntervalPlot:
    """A whole interval plot: rows, x ticks, legend and the SVG height."""

    rows: list[IntervalRow]
    ticks: list[Tick]
    legend: list[tuple[str, str]]  # (arm, colour)
    height: float
    plot_left: float = LABEL_WIDTH
    plot_right: float = WIDTH - 20


@dataclass
class IntervalInput:
    """One arm's estimate for ``interval_plot``: value, CI bounds (fractions) and a tooltip."""

    arm: str
    value: float
    low: float
    high: float
    title: str


def nice_ticks(top: float, count: int = 5) -> list[float]:
    """Round tick values from 0 to at least ``top`` (1, 2 or 5 times a power of ten apart)."""
    if top <= 0:
        return [0.0, 1.0]
    raw = top / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    return [round(i * step, 12) for i in range(int(math.ceil(top / step)) + 1)]


def interval_plot(rows: list[tuple[str, list[IntervalInput]]], arms: list[str], percent: bool = True) -> IntervalPlot:
    """An interval plot of rates (``percent``: fractions shown as %), one row per label, arms offset."""
    top = max((i.high for _, items in rows for i in items), default=0.0)
    ticks = nice_ticks(top)
    right = WIDTH - 20
    span = ticks[-1] or 1.0

    def x(value: float) -> float:
        return LABEL_WIDTH + (right - LABEL_WIDTH) * max(0.0, min(value, span)) / span

    colours = {arm: arm_colour(i) for i, arm in enumerate(arms)}
    band = ROW_HEIGHT * max(1, len(arms)) + 8
    out: list[IntervalRow] = []
    for index, (label, items) in enumerate(rows):
        top_y = 10 + index * band
        intervals = [
            Interval(
                x(i.value),
                x(i.low),
                x(i.high),
                top_y + 8 + arms.index(i.arm) * ROW_HEIGHT if i.arm in arms else top_y + 8,
                colours.get(i.arm, "#444"),
                i.title,
            )
            for i in items
        ]
        out.append(IntervalRow(label, top_y + band / 2, intervals))
    fmt = (lambda v: f"{v * 100:g}%") if percent else (lambda v: f"{v:g}")
    return IntervalPlot(
        out,
        [Tick(x(t), fmt(t)) for t in ticks],
        [(arm, colours[arm]) for arm in arms],
        10 + len(rows) * band + 30,
    )


@dataclass
class ShiftBar:
    """A word-shift bar: a lemma (and its masked form), its z and the bar's geometry."""

    lemma: str
    masked: str  # what shows while masking is on (equal to lemma when not flagged)
    z: float
    x: float
    width: float
    y: float
    toward_arm: bool
    title: str


@dataclass
class ShiftChart:
    """Horizontal bars of the top shifted lemmas (shifterator-style): right toward ``arm``, left toward ``versus``."""

    arm: str
    versus: str
    bars: list[ShiftBar] = field(default_factory=list)
    centre: float = WIDTH / 2
    height: float = 0.0
    ticks: list[Tick] = field(default_factory=list)


def shift_chart(arm: str, versus: str, items: list[tuple[str, str, float, str]]) -> ShiftChart:
    """Bars for ``items`` = (lemma, masked lemma, z, tooltip), largest |z| first, each direction interleaved."""
    ordered = sorted(items, key=lambda item: -abs(item[2]))
    scale = max((abs(item[2]) for item in ordered), default=1.0) or 1.0
    centre, half = WIDTH / 2, WIDTH / 2 - 120  # room for labels at the bar ends
    bars = []
    for index, (lemma, masked, z, title) in enumerate(ordered):
        width = half * abs(z) / scale
        bars.append(
            ShiftBar(
                lemma, masked, z, centre if z > 0 else centre - width, width, 24 + index * ROW_HEIGHT, z > 0, title
            )
        )
    # z ticks both ways from 0, only as far as the longest bar
    values = [t for t in nice_ticks(scale, 3) if t <= scale * 1.0001]
    ticks = [Tick(centre, "0")] + [
        Tick(centre + sign * half * t / scale, f"{sign * t:+g}") for t in values if t > 0 for sign in (-1, 1)
    ]
    return ShiftChart(arm, versus, bars, centre, 24 + len(bars) * ROW_HEIGHT + 28, ticks)


@dataclass
class Line:
    """A polyline (``points`` in SVG coordinates) with its legend label and colour."""

    label: str
    colour: str
    points: str


@dataclass
class LineChart:
    """A line chart (e.g. training loss against step) with axis ticks."""

    lines: list[Line]
    x_ticks: list[Tick]
    y_ticks: list[Tick]
    height: float = 240.0
    left: float = 60.0
    right: float = WIDTH - 20
    top: float = 10.0
    bottom: float = 210.0


def line_chart(series: list[tuple[str, list[tuple[float, float]]]]) -> LineChart | None:
    """A line chart of ``series`` = (label, [(x, y), …]); None when no series has two points."""
    series = [(label, pts) for label, pts in series if len(pts) >= 1]
    if not any(len(pts) >= 2 for _, pts in series):
        return None
    chart = LineChart([], [], [])
    xs = [x for _, pts in series for x, _ in pts]
    ys = [y for _, pts in series for _, y in pts if math.isfinite(y)]
    x_hi = max(xs) or 1.0
    y_lo, y_hi = min(ys), max(ys)
    if y_hi == y_lo:
        y_hi = y_lo + 1.0

    def px(x: float) -> float:
        return chart.left + (chart.right - chart.left) * x / x_hi

    def py(y: float) -> float:
        return chart.bottom - (chart.bottom - chart.top) * (y - y_lo) / (y_hi - y_lo)

    for index, (label, pts) in enumerate(series):
        points = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in pts if math.isfinite(y))
        chart.lines.append(Line(label, arm_colour(index), points))
    chart.x_ticks = [Tick(px(t), f"{t:g}") for t in nice_ticks(x_hi, 4) if t <= x_hi * 1.0001]
    chart.y_ticks = [Tick(py(y_lo + (y_hi - y_lo) * f), f"{y_lo + (y_hi - y_lo) * f:.3g}") for f in (0, 0.5, 1)]
    return chart


def signed_ticks(low: float, high: float, count: int = 4) -> list[float]:
    """Round tick values covering [low, high] and 0 (1, 2 or 5 times a power of ten apart)."""
    low, high = min(low, 0.0), max(high, 0.0)
    if high - low <= 0:
        return [0.0, 1.0]
    raw = (high - low) / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    first, last = math.floor(low / step + 1e-9), math.ceil(high / step - 1e-9)
    return [round(i * step, 12) + 0.0 for i in range(first, last + 1)]


@dataclass
class Point:
    """A marker with a vertical 95% interval (SVG coordinates), its colour, tooltip and an optional text label."""

    x: float
    y: float
    y_low: float
    y_high: float
    colour: str
    title: str
    label: str = ""
    filled: bool = True


@dataclass
class PointChart:
    """Points with vertical CIs over an x axis (categories or numbers); y is a signed difference."""

    points: list[Point]
    x_ticks: list[Tick]
    y_ticks: list[Tick]
    zero: float  # y of the 0 line
    x_label: str
    y_label: str
    legend: list[tuple[str, str]] = field(default_factory=list)  # (series, colour)
    height: float = 260.0
    left: float = 70.0
    right: float = WIDTH - 20
    top: float = 12.0
    bottom: float = 220.0


@dataclass
class ChartPoint:
    """One input point: x (a category index or a number), y with its CI, series, tooltip and label."""

    x: float
    y: float
    low: float | None
    high: float | None
    series: str
    title: str
    label: str = ""
    filled: bool = True


def signed_label(value: float) -> str:
    """A tick label for a signed number: ``+5``, ``-0.2``, ``0``."""
    return "0" if value == 0 else f"{value:+g}"


def _value_axis(
    values: list[float], lo_px: float, hi_px: float, fmt: Callable[[float], str]
) -> tuple[list[Tick], Callable[[float], float]]:
    ticks = signed_ticks(min(values, default=0.0), max(values, default=0.0))
    lo, hi = ticks[0], ticks[-1]

    def to_px(value: float) -> float:
        return lo_px + (hi_px - lo_px) * (value - lo) / ((hi - lo) or 1.0)

    return [Tick(round(to_px(t), 1), fmt(t)) for t in ticks], to_px


def point_chart(
    points: list[ChartPoint],
    x_label: str,
    y_label: str,
    percent: bool,
    categories: list[str] | None = None,
) -> PointChart:
    """Geometry for ``points``: over ``categories`` (x = index, series side by side) or a numeric x axis.

    ``percent``: y values are fractions shown in percentage points.  Series
    get the arm palette in first-seen order.
    """
    series = list(dict.fromkeys(p.series for p in points))
    colours = {name: arm_colour(i) for i, name in enumerate(series)}
    chart = PointChart([], [], [], 0.0, x_label, y_label, [(s, colours[s]) for s in series if s])
    ys = [v for p in points for v in (p.y, p.low, p.high) if v is not None and math.isfinite(v)]
    chart.y_ticks, py = _value_axis(ys, chart.bottom, chart.top, lambda v: signed_label(v * 100 if percent else v))
    chart.zero = round(py(0.0), 1)
    if categories is not None:
        slot = (chart.right - chart.left) / max(1, len(categories))
        gap = min(14.0, slot / (len(series) + 1))
        chart.x_ticks = [Tick(round(chart.left + slot * (i + 0.5), 1), c) for i, c in enumerate(categories)]
        xs = [chart.left + slot * (p.x + 0.5) + (series.index(p.series) - (len(series) - 1) / 2) * gap for p in points]
    else:
        margin = 20.0  # keep markers at the ends off the frame
        chart.x_ticks, px = _value_axis([p.x for p in points], chart.left + margin, chart.right - margin, signed_label)
        xs = [px(p.x) for p in points]
    for x, p in zip(xs, points):
        low = p.low if p.low is not None else p.y
        high = p.high if p.high is not None else p.y
        y, y_low, y_high = (round(py(v), 1) for v in (p.y, low, high))
        chart.points.append(Point(round(x, 1), y, y_low, y_high, colours[p.series], p.title, p.label, p.filled))
    return chart
