"""summary.csv and corpus_audit.csv rows: per-arm rates and means with 95% CIs, paired deltas.

``summarise`` is a pure function of typed score rows and the measure
catalogue, so the tables can be rebuilt from a run directory alone and give
the same bytes.

* ``rate`` rows: a binary measure's share of texts;
* ``mean`` rows: a numeric measure's mean;
* ``delta`` rows: the mean paired difference ``arm − versus`` over
  generations sharing (probe_set, probe_id, sample_index): each arm against
  the reference, and each later arm against each earlier non-reference arm
  (so a duplicated arm shows deltas of exactly zero against its twin).  A
  checkpoint arm of a trajectory (``config.is_checkpoint_arm``) is compared
  with the reference only, and so is every arm with ``all_pairs=False``: the
  cost then grows linearly with the number of arms, not quadratically.
  Generations without a partner are left out of the deltas.

Every interval is a seeded percentile bootstrap over *prompts*
(``cluster_bootstrap_mean``, clusters = (probe_set, probe_id)): the samples
of one prompt are correlated, and treating them as independent would make
the intervals too narrow.  A level whose bootstrap collapses to a point (a
rate with no hit or all hits, anything on one prompt) takes
``collapsed_interval``'s fallback (Wilson with n = the number of prompts for
a rate), so 0 of 40 never reads as exactly [0, 0].  ``compare`` uses the same
paired interval (``paired_delta``).  ``tests/test_coverage.py``
checks by simulation that these 95% intervals cover the truth 93–97% of the time.
The RealToxicityPrompts rows (``rtp_rows``) are per prompt already.

``corrected_rows`` adds, beside a detector's raw rate (``flagged``), its
prevalence corrected for the detector's measured error (``flagged_corrected``,
Rogan–Gladen, see ``harness.analysis.prevalence``): a ``rate`` row per arm and
category with an empty count, whose interval joins the prompts' bootstrap
draws of the rate with draws of the detector's sensitivity and specificity.
Deltas stay on the raw rate: both arms share Se and Sp, so before clipping the
corrected delta is the raw delta ÷ (Se + Sp − 1).

corpus_audit.csv is built by ``AuditAccumulator`` one text at a time in
constant memory (a corpus may hold millions of documents): counts for rates
(Wilson, as above) and a streaming mean with a normal-approximation interval
for means (see ``RunningMean``).
"""

from __future__ import annotations

import math
from typing import Iterable, Mapping, Sequence

from harness.analysis.prevalence import CORRECTED_SUFFIX, corrected_estimate
from harness.analysis.stats import (
    Z95,
    Delta,
    cluster_bootstrap_draws,
    cluster_bootstrap_mean,
    collapsed_interval,
    wilson_interval,
)
from harness.config import is_checkpoint_arm
from harness.errors import InputError
from harness.record.schema import Calibration, MeasureSpec, ScoreRow

SUMMARY_COLUMNS = [
    "kind",
    "arm",
    "versus",
    "probe_category",
    "measure",
    "n",
    "count",
    "value",
    "ci_low",
    "ci_high",
]
AUDIT_COLUMNS = ["measure", "kind", "n", "count", "value", "ci_low", "ci_high"]
ALL = "all"
_DIGITS = 4


def rate_stats(count: int, n: int) -> dict:
    """``n, count, value, ci_low, ci_high`` (95% Wilson), floats rounded; n must be > 0."""
    low, high = wilson_interval(count, n)
    return {
        "n": n,
        "count": count,
        "value": round(count / n, _DIGITS),
        "ci_low": round(low, _DIGITS),
        "ci_high": round(high, _DIGITS),
    }


def interval_stats(delta: Delta) -> dict:
    """``n, count (empty), value, ci_low, ci_high`` of a bootstrap result, rounded."""
    return {
        "n": delta.n,
        "count": "",
        "value": round(delta.mean, _DIGITS),
        "ci_low": round(delta.low, _DIGITS),
        "ci_high": round(delta.high, _DIGITS),
    }


def measure_stats(
    spec: MeasureSpec, values: Sequence[float], n_boot: int, seed: int, clusters: Sequence[object] | None = None
) -> dict:
    """A rate (binary) or a mean (numeric) of ``values`` with its 95% interval, bootstrapping ``clusters``.

    ``clusters`` (one label per value, the prompt) defaults to one cluster per value.
    """
    labels = list(range(len(values))) if clusters is None else list(clusters)
    boot = cluster_bootstrap_mean(values, labels, n_boot=n_boot, seed=seed)
    binary = spec.kind == "binary"
    low, high = collapsed_interval(boot, binary, len(set(labels)))
    if not binary:
        return {"kind": "mean", **interval_stats(Delta(boot.mean, low, high, boot.n))}
    stats = {"kind": "rate", **rate_stats(int(sum(values)), len(values))}
    stats["ci_low"], stats["ci_high"] = round(low, _DIGITS), round(high, _DIGITS)
    return stats


def prompt_of(row: ScoreRow) -> tuple[str, str]:
    """The bootstrap cluster of a scored generation: its prompt."""
    return (row.probe_set, row.probe_id)


class RunningMean:
    """Streaming mean and variance (Welford's update) with the smallest and largest value.

    ``interval`` is the normal approximation mean ± 1.96·s/√n (s: the sample
    standard deviation), clipped to [smallest, largest] value seen: with
    thousands of documents the central limit theorem makes it as good as a
    bootstrap, which would need every value in memory; the clip keeps tiny
    corpora from showing impossible means (a negative character count), as
    the percentile bootstrap never does either.
    """

    __slots__ = ("n", "mean", "_m2", "low", "high")

    def __init__(self) -> None:
        self.n = 0
        self.mean = 0.0
        self._m2 = 0.0  # sum of squared deviations from the current mean
        self.low = math.inf
        self.high = -math.inf

    def add(self, value: float) -> None:
        """Take one value."""
        self.n += 1
        delta = value - self.mean
        self.mean += delta / self.n
        self._m2 += delta * (value - self.mean)
        self.low = min(self.low, value)
        self.high = max(self.high, value)

    def add_many(self, values: Iterable[float]) -> None:
        """``add`` each value in order (the same arithmetic, so the same floats)."""
        values = values if isinstance(values, (list, tuple)) else list(values)
        n, mean, m2 = self.n, self.mean, self._m2
        for value in values:
            n += 1
            delta = value - mean
            mean += delta / n
            m2 += delta * (value - mean)
        # n-ary min/max keep the running one unless a later value is smaller (larger): as ``add`` does
        if values:
            self.low, self.high = min(self.low, *values), max(self.high, *values)
        self.n, self.mean, self._m2 = n, mean, m2

    def interval(self, z: float = Z95) -> Delta:
        """Mean and its clipped normal-approximation interval; ``n == 0`` gives NaNs."""
        if self.n == 0:
            return Delta(math.nan, math.nan, math.nan, 0)
        variance = self._m2 / (self.n - 1) if self.n > 1 else 0.0
        half = z * math.sqrt(variance / self.n)
        return Delta(self.mean, max(self.low, self.mean - half), min(self.high, self.mean + half), self.n)


class AuditAccumulator:
    """corpus_audit.csv rows built one text at a time: a count per binary measure, a ``RunningMean`` per mean."""

    def __init__(self, catalogue: Sequence[MeasureSpec]) -> None:
        self.catalogue = list(catalogue)
        self.n = 0
        self._counts = {spec.name: 0 for spec in self.catalogue if spec.kind == "binary"}
        self._means = {spec.name: RunningMean() for spec in self.catalogue if spec.kind != "binary"}

    def add(self, values: Mapping[str, float]) -> None:
        """Take one text's measure values (every measure of the catalogue)."""
        self.n += 1
        for name in self._counts:
            self._counts[name] += int(values[name])
        for name, running in self._means.items():
            running.add(values[name])

    def add_columns(self, values: Mapping[str, Sequence[float]], n: int) -> None:
        """Take ``n`` texts' values as columns (measure → one value per text): the same as ``add`` text by text."""
        self.n += n
        for name in self._counts:
            self._counts[name] += sum(map(int, values[name]))
        for name, running in self._means.items():
            running.add_many(values[name])

    def rows(self) -> list[dict]:
        """One row per measure, in catalogue order (AUDIT_COLUMNS); needs at least one text."""
        rows = []
        for spec in self.catalogue:
            if spec.kind == "binary":
                stats = {"kind": "rate", **rate_stats(self._counts[spec.name], self.n)}
            else:
                stats = {"kind": "mean", **interval_stats(self._means[spec.name].interval())}
            rows.append({"measure": spec.name, **stats})
        return rows


def summarise(
    scores: Iterable[ScoreRow],
    catalogue: Sequence[MeasureSpec],
    arms: Sequence[str],
    reference: str | None,
    n_boot: int = 2000,
    seed: int = 0,
    all_pairs: bool = True,
) -> list[dict]:
    """summary.csv rows (see the module docstring), in arm order then category order.

    Categories: "all", then the probe categories sorted.  Rows for an arm with
    no generation in a category are omitted.  ``all_pairs=False`` compares
    every arm with the reference only (checkpoint arms always are).
    """
    scores = list(scores)
    categories = [ALL, *sorted({r.category for r in scores})]
    by_arm: dict[str, list[ScoreRow]] = {arm: [] for arm in arms}
    for row in scores:
        if row.arm not in by_arm:
            raise InputError(f"scores row {row.id}: arm '{row.arm}' is not an arm of the run ({', '.join(arms)})")
        by_arm[row.arm].append(row)
    out: list[dict] = []
    for arm in arms:
        for category in categories:
            group = _in_category(by_arm[arm], category)
            if not group:
                continue
            clusters = [prompt_of(r) for r in group]
            for spec in catalogue:
                if not spec.per_text:
                    continue
                stats = measure_stats(spec, [r.values[spec.name] for r in group], n_boot, seed, clusters)
                kind = stats.pop("kind")  # first, so that every row's keys follow SUMMARY_COLUMNS
                out.append(
                    {"kind": kind, "arm": arm, "versus": "", "probe_category": category, "measure": spec.name, **stats}
                )
    if reference is not None and by_arm.get(reference):
        for arm, versus in delta_pairs(arms, reference, all_pairs):
            out += _delta_rows(by_arm[versus], by_arm[arm], arm, versus, categories, catalogue, n_boot, seed)
    return out


def corrected_rows(
    scores: Iterable[ScoreRow], arms: Sequence[str], calibration: Calibration | None, n_boot: int = 2000, seed: int = 0
) -> list[dict]:
    """``<measure>_corrected`` rate rows for every detector of ``calibration``, per arm then category."""
    if calibration is None or not calibration.detectors:
        return []
    scores = list(scores)
    categories = [ALL, *sorted({r.category for r in scores})]
    out: list[dict] = []
    for arm in arms:
        mine = [r for r in scores if r.arm == arm]
        for category in categories:
            group = _in_category(mine, category)
            if not group:
                continue
            for entry in calibration.detectors:
                values = [r.values[entry.measure] for r in group]
                clusters = [prompt_of(r) for r in group]
                draws = cluster_bootstrap_draws(values, clusters, n_boot, seed)
                p = sum(values) / len(values)
                point = Delta(p, p, p, len(values))  # a collapsed bootstrap: the rate's fallback interval
                bounds = collapsed_interval(point, True, len(set(clusters))) if draws.min() == draws.max() else None
                est = corrected_estimate(p, draws, entry, seed, bounds)
                out.append(
                    {
                        "kind": "rate",
                        "arm": arm,
                        "versus": "",
                        "probe_category": category,
                        "measure": f"{entry.measure}{CORRECTED_SUFFIX}",
                        **interval_stats(Delta(est.value, est.low, est.high, len(values))),
                    }
                )
    return out


def delta_pairs(arms: Sequence[str], reference: str, all_pairs: bool = True) -> list[tuple[str, str]]:
    """The (arm, versus) pairs summary.csv holds deltas for, in row order (see the module docstring)."""
    order = [reference, *(a for a in arms if a != reference)]
    pairs = []
    for j, arm in enumerate(order):
        if j == 0:
            continue
        if not all_pairs or is_checkpoint_arm(arm):
            pairs.append((arm, reference))
            continue
        pairs += [(arm, versus) for versus in order[:j] if versus == reference or not is_checkpoint_arm(versus)]
    return pairs


def keyed_by_pair(rows: list[ScoreRow]) -> dict[tuple[str, str, int], ScoreRow]:
    """Rows by (probe_set, probe_id, sample_index), in order; a repeated key is an ``InputError``."""
    keyed: dict[tuple[str, str, int], ScoreRow] = {}
    for row in rows:
        if row.pair_key in keyed:
            raise InputError(
                f"two {row.arm} generations for probe {row.probe_set}/{row.probe_id} sample {row.sample_index}"
                f" ({keyed[row.pair_key].id} and {row.id}): cannot pair them"
            )
        keyed[row.pair_key] = row
    return keyed


def pair_up(reference_rows: list[ScoreRow], arm_rows: list[ScoreRow]) -> list[tuple[ScoreRow, ScoreRow]]:
    """(reference, arm) pairs sharing (probe_set, probe_id, sample_index), in reference order.

    Two rows of one side with the same key cannot be paired: an ``InputError``.
    """
    keyed_reference = keyed_by_pair(reference_rows)
    keyed = keyed_by_pair(arm_rows)
    pairs = [(r, keyed[key]) for key, r in keyed_reference.items() if key in keyed]
    for ref, other in pairs:
        if ref.category != other.category:
            raise InputError(
                f"paired generations {ref.id} and {other.id} have different categories"
                f" ({ref.category} vs {other.category})"
            )
    return pairs


def paired_delta(pairs: Sequence[tuple[ScoreRow, ScoreRow]], measure: str, n_boot: int, seed: int) -> Delta:
    """Mean of ``other − first`` over (first, other) pairs with a 95% interval bootstrapping prompts.

    The pairs' prompts (``prompt_of`` the first row) are the clusters: the k
    sample pairs of one prompt share it and are correlated, so resampling
    single pairs would make the interval too narrow.  summary.csv's deltas
    and ``harness compare``'s paired intervals both come from here.
    """
    return cluster_bootstrap_mean(
        [other.values[measure] - first.values[measure] for first, other in pairs],
        [prompt_of(first) for first, _ in pairs],
        n_boot=n_boot,
        seed=seed,
    )


def _delta_rows(
    reference_rows: list[ScoreRow],
    arm_rows: list[ScoreRow],
    arm: str,
    versus: str,
    categories: list[str],
    catalogue: Sequence[MeasureSpec],
    n_boot: int,
    seed: int,
) -> list[dict]:
    pairs = pair_up(reference_rows, arm_rows)
    rows: list[dict] = []
    for category in categories:
        group = pairs if category == ALL else [p for p in pairs if p[0].category == category]
        if not group:
            continue
        for spec in catalogue:
            if not spec.per_text:
                continue
            delta = paired_delta(group, spec.name, n_boot, seed)
            rows.append(
                {
                    "kind": "delta",
                    "arm": arm,
                    "versus": versus,
                    "probe_category": category,
                    "measure": spec.name,
                    **interval_stats(delta),
                }
            )
    return rows


def _in_category(rows: list[ScoreRow], category: str) -> list[ScoreRow]:
    return rows if category == ALL else [r for r in rows if r.category == category]
