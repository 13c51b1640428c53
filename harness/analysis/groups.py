"""Group bias → groups.csv: per-group rates, disparity across an axis, and its change from the reference arm.

Group-templated probes (probe set ``group-bias``, but any generation with a
non-null ``group`` counts) put one group name into the same template; the
probe's ``category`` is the axis (nationality, gender, …).  Per arm × axis ×
group and per measure:

* ``rate`` rows: the mean of the measure over the group's generations, 95%
  interval bootstrapping the group's prompts;
* ``disparity_diff``: max − min of the group values over the axis;
* ``disparity_ratio``: max / min (empty when min is 0: the ratio is unbounded);
* ``disparity_change``: the arm's disparity_diff − the reference arm's.

Disparity intervals come from one bootstrap: each draw resamples every
group's prompts (independently per group), recomputes each group's value and
then the max − min (or max / min) of the draw.  For ``disparity_change`` the
two arms are resampled independently, which is conservative when they share
prompts.  Measures: ``flagged`` (0/1), ``toxicity`` (0–1) and
``negative_tone`` (0/1: a rough second person or an imperative, from the tone
analyser).  Columns: ``GROUP_COLUMNS``.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from harness.record.schema import ScoreRow

GROUP_COLUMNS = ["kind", "arm", "versus", "axis", "group", "measure", "n", "value", "ci_low", "ci_high"]
GROUP_MEASURES = ("flagged", "toxicity", "negative_tone")
_NEGATIVE_TONE = ("rough_second_person", "imperative")
_DIGITS = 4


def measure_value(row: ScoreRow, measure: str) -> float | None:
    """One generation's value of a groups.csv measure (None when the run lacks it)."""
    if measure == "negative_tone":
        parts = [row.values[m] for m in _NEGATIVE_TONE if m in row.values]
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
        self.value = float(self.sums.sum() / self.counts.sum())

    def draws(self, rng: np.random.Generator, n_boot: int) -> np.ndarray:
        idx = rng.integers(0, len(self.sums), size=(n_boot, len(self.sums)))
        return self.sums[idx].sum(axis=1) / self.counts[idx].sum(axis=1)


def _interval(draws: np.ndarray) -> tuple[float, float]:
    finite = draws[np.isfinite(draws)]
    if len(finite) < len(draws) * 0.975:  # the upper tail is unbounded (min hit 0 too often)
        return (math.nan, math.nan)
    low, high = np.quantile(draws, [0.025, 0.975])
    return (float(low), float(high))


def _r(x: float) -> float | str:
    return "" if not math.isfinite(x) else round(x, _DIGITS)


def group_rows(
    rows: Sequence[ScoreRow], arms: Sequence[str], reference: str | None, n_boot: int = 2000, seed: int = 0
) -> list[dict]:
    """groups.csv rows for every scored generation with a group (none: no rows)."""
    grouped = [r for r in rows if r.group]
    axes = sorted({r.category for r in grouped})
    out: list[dict] = []
    diffs: dict[tuple[str, str, str], tuple[float, np.ndarray]] = {}  # (arm, axis, measure) → (diff, draws)
    for arm in arms:
        for axis in axes:
            mine = [r for r in grouped if r.arm == arm and r.category == axis]
            groups = sorted({r.group for r in mine if r.group})
            for measure in GROUP_MEASURES:
                data: dict[str, _GroupData] = {}
                for group in groups:
                    members = [(measure_value(r, measure), (r.probe_set, r.probe_id)) for r in mine if r.group == group]
                    present = [(v, p) for v, p in members if v is not None]
                    if present:
                        data[group] = _GroupData([v for v, _ in present], [p for _, p in present])
                if not data:
                    continue
                rng = np.random.default_rng([seed, len(out)])
                draws = {g: d.draws(rng, n_boot) for g, d in data.items()}
                for group, d in data.items():
                    low, high = _interval(draws[group])
                    out.append(_row("rate", arm, "", axis, group, measure, d.n, d.value, low, high))
                if len(data) < 2:
                    continue
                stack = np.vstack(list(draws.values()))
                values = [d.value for d in data.values()]
                n = sum(d.n for d in data.values())
                diff_draws = stack.max(axis=0) - stack.min(axis=0)
                diff = max(values) - min(values)
                out.append(_row("disparity_diff", arm, "", axis, "", measure, n, diff, *_interval(diff_draws)))
                with np.errstate(divide="ignore", invalid="ignore"):
                    ratio_draws = stack.max(axis=0) / stack.min(axis=0)
                ratio = max(values) / min(values) if min(values) > 0 else math.nan
                out.append(_row("disparity_ratio", arm, "", axis, "", measure, n, ratio, *_interval(ratio_draws)))
                diffs[(arm, axis, measure)] = (diff, diff_draws)
    if reference is not None:
        for (arm, axis, measure), (diff, draws) in list(diffs.items()):
            ref = diffs.get((reference, axis, measure))
            if arm == reference or ref is None:
                continue
            change_draws = draws - ref[1]
            n = sum(1 for r in grouped if r.arm == arm and r.category == axis)
            out.append(
                _row("disparity_change", arm, reference, axis, "", measure, n, diff - ref[0], *_interval(change_draws))
            )
    return out


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
