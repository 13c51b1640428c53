"""Group bias → groups.csv: per-group rates, disparity across an axis, and its change from the reference arm.

Group-templated probes (probe set ``group-bias``, but any generation with a
non-null ``group`` counts) put one group name into the same template; the
probe's ``category`` is the axis (nationality, gender, …).  Per arm × axis ×
group and per measure:

* ``rate`` rows: the mean of the measure over the group's generations, 95%
  interval bootstrapping the group's prompts (``collapsed_interval``'s
  fallback when that collapses: Wilson over prompts for a 0/1 measure, no
  interval for a mean on one prompt);
* ``disparity_diff``: max − min of the group values over the axis;
* ``disparity_ratio``: max / min (empty when min is 0: the ratio is unbounded);
* ``disparity_change``: the arm's disparity_diff − the reference arm's.

Disparity intervals come from one bootstrap: each draw resamples every
group's prompts (independently per group), recomputes each group's value and
then the max − min (or max / min) of the draw.  When a group of the axis has
a single prompt its draws cannot vary, so the disparity intervals are left
empty rather than drawn too narrow.  For ``disparity_change`` the two arms
are resampled independently, which is conservative when they share prompts.

Measures (``group_measures``): every harmful per-text measure of the run's
catalogue, whichever analyser declares it (``flagged``, ``toxicity``, the
harmful lexicon categories …), then ``negative_tone`` (0/1: a rough second
person or an imperative, from the tone analyser) when the tone measures are
there.  Columns: ``GROUP_COLUMNS``.
"""

from __future__ import annotations

import math
from typing import NamedTuple, Sequence

import numpy as np

from harness.analysis.stats import Delta, collapsed_interval
from harness.record.schema import MeasureSpec, ScoreRow

GROUP_COLUMNS = ("kind", "arm", "versus", "axis", "group", "measure", "n", "value", "ci_low", "ci_high")
NEGATIVE_TONE = "negative_tone"
_NEGATIVE_TONE_PARTS = ("rough_second_person", "imperative")
_DIGITS = 4


class GroupMeasure(NamedTuple):
    """A groups.csv measure: its name and whether it is 0/1 (a rate) or a mean."""

    name: str
    binary: bool


def group_measures(catalogue: Sequence[MeasureSpec]) -> list[GroupMeasure]:
    """The groups.csv measures of a run with this catalogue (see the module docstring)."""
    out = [GroupMeasure(m.name, m.kind == "binary") for m in catalogue if m.per_text and m.harmful]
    if any(m.name in _NEGATIVE_TONE_PARTS for m in catalogue):
        out.append(GroupMeasure(NEGATIVE_TONE, True))
    return out


def measure_value(row: ScoreRow, measure: str) -> float | None:
    """One generation's value of a groups.csv measure (None when the run lacks it)."""
    if measure == NEGATIVE_TONE:
        parts = [row.values[m] for m in _NEGATIVE_TONE_PARTS if m in row.values]
        return float(max(parts)) if parts else None
    value = row.values.get(measure)
    return None if value is None else float(value)


class _GroupData:
    """A group's values summed per prompt (the bootstrap resamples prompts)."""

    def __init__(self, values: list[float], prompts: list[tuple[str, str]]) -> None:
        ids: dict[tuple[str, str], int] = {}
        labels = np.asarray([ids.setdefault(p, len(ids)) for p in prompts], dtype=np.int64)
        self.sums = np.bincount(labels, weights=np.asarray(values, dtype=np.float64))
        self.counts = np.bincount(labels).astype(np.float64)
        self.n = len(values)
        self.prompts = len(self.sums)
        self.value = float(self.sums.sum() / self.counts.sum())

    def draws(self, rng: np.random.Generator, n_boot: int) -> np.ndarray:
        idx = rng.integers(0, len(self.sums), size=(n_boot, len(self.sums)))
        return self.sums[idx].sum(axis=1) / self.counts[idx].sum(axis=1)


def _interval(draws: np.ndarray | None) -> tuple[float, float]:
    if draws is None:  # a group of one prompt: the draws cannot show its spread
        return (math.nan, math.nan)
    finite = draws[np.isfinite(draws)]
    if len(finite) < len(draws) * 0.975:  # the upper tail is unbounded (min hit 0 too often)
        return (math.nan, math.nan)
    low, high = np.quantile(draws, [0.025, 0.975])
    return (float(low), float(high))


def _rate_interval(data: _GroupData, draws: np.ndarray, binary: bool) -> tuple[float, float]:
    low, high = _interval(draws)
    return collapsed_interval(Delta(data.value, low, high, data.n), binary, data.prompts)


def _r(x: float) -> float | str:
    return "" if not math.isfinite(x) else round(x, _DIGITS)


def group_rows(
    rows: Sequence[ScoreRow],
    arms: Sequence[str],
    reference: str | None,
    measures: Sequence[GroupMeasure],
    n_boot: int = 2000,
    seed: int = 0,
) -> list[dict]:
    """groups.csv rows for every scored generation with a group (none: no rows); ``measures``: ``group_measures``."""
    grouped = [r for r in rows if r.group]
    axes = sorted({r.category for r in grouped})
    out: list[dict] = []
    diffs: dict[tuple[str, str, str], tuple[float, np.ndarray | None]] = {}  # (arm, axis, measure) → (diff, draws)
    for arm in arms:
        for axis in axes:
            mine = [r for r in grouped if r.arm == arm and r.category == axis]
            for measure in measures:
                data = _group_data(mine, measure.name)
                if not data:
                    continue
                rng = np.random.default_rng([seed, len(out)])
                draws = {g: d.draws(rng, n_boot) for g, d in data.items()}
                for group, d in data.items():
                    low, high = _rate_interval(d, draws[group], measure.binary)
                    out.append(_row("rate", arm, "", axis, group, measure.name, d.n, d.value, low, high))
                if len(data) > 1:
                    diff, diff_draws, disparity = _disparity(arm, axis, measure.name, data, draws)
                    out += disparity
                    diffs[(arm, axis, measure.name)] = (diff, diff_draws)
    if reference is not None:
        for (arm, axis, measure_name), (diff, draws) in list(diffs.items()):
            ref = diffs.get((reference, axis, measure_name))
            if arm == reference or ref is None:
                continue
            change = None if draws is None or ref[1] is None else draws - ref[1]
            n = sum(1 for r in grouped if r.arm == arm and r.category == axis)
            low, high = _interval(change)
            out.append(_row("disparity_change", arm, reference, axis, "", measure_name, n, diff - ref[0], low, high))
    return out


def _group_data(rows: list[ScoreRow], measure: str) -> dict[str, _GroupData]:
    """Per group (sorted) of ``rows``: the values of ``measure`` by prompt; groups lacking it are left out."""
    data: dict[str, _GroupData] = {}
    for group in sorted({r.group for r in rows if r.group}):
        members = [(measure_value(r, measure), (r.probe_set, r.probe_id)) for r in rows if r.group == group]
        present = [(v, p) for v, p in members if v is not None]
        if present:
            data[group] = _GroupData([v for v, _ in present], [p for _, p in present])
    return data


def _disparity(
    arm: str, axis: str, measure: str, data: dict[str, _GroupData], draws: dict[str, np.ndarray]
) -> tuple[float, np.ndarray | None, list[dict]]:
    """(max − min, its draws or None, the disparity_diff and disparity_ratio rows) over an axis's groups."""
    values = [d.value for d in data.values()]
    n = sum(d.n for d in data.values())
    stack = np.vstack(list(draws.values()))
    varies = all(d.prompts > 1 for d in data.values())
    diff_draws = stack.max(axis=0) - stack.min(axis=0) if varies else None
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio_draws = stack.max(axis=0) / stack.min(axis=0) if varies else None
    diff = max(values) - min(values)
    ratio = max(values) / min(values) if min(values) > 0 else math.nan
    rows = [
        _row("disparity_diff", arm, "", axis, "", measure, n, diff, *_interval(diff_draws)),
        _row("disparity_ratio", arm, "", axis, "", measure, n, ratio, *_interval(ratio_draws)),
    ]
    return diff, diff_draws, rows


def _row(kind, arm, versus, axis, group, measure, n, value, low, high) -> dict:
    return {
        "kind": kind,
        "arm": arm,
        "versus": versus,
        "axis": axis,
        "group": group,
        "measure": measure,
        "n": n,
        "value": _r(value),
        "ci_low": _r(low),
        "ci_high": _r(high),
    }
