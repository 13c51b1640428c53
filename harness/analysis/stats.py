"""Small statistics: Wilson intervals, bootstrap means and deltas, log-odds with a prior.

Pure functions of their inputs (the bootstrap takes a seed), tested against
hand-computed values.  numpy only; no scipy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Generic, Hashable, Mapping, Sequence, TypeVar

import numpy as np

Z95 = 1.959963984540054  # standard normal quantile at 0.975

K = TypeVar("K", bound=Hashable)

# Bootstrap resamples are drawn in blocks so that memory stays ~8M indices
# (64 MB) however many pairs there are.
_MAX_BLOCK_CELLS = 8_000_000


def wilson_interval(k: float, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for ``k`` successes in ``n`` trials.

    ``k`` may be fractional: an effective count (a rate times an effective
    sample size, see ``collapsed_interval``).  ``n == 0`` returns ``(nan, nan)``: there is no estimate, and a (0, 1)
    interval would look like a measured result.  Bounds are clipped to [0, 1]
    and are exactly 0 when ``k == 0`` and exactly 1 when ``k == n``.
    """
    if n < 0 or k < 0 or k > n:
        raise ValueError(f"wilson_interval needs 0 <= k <= n, got k={k}, n={n}")
    if n == 0:
        return (math.nan, math.nan)
    p = k / n
    z2 = z * z
    denom = 1.0 + z2 / n
    centre = (p + z2 / (2 * n)) / denom
    half = z / denom * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    low = 0.0 if k == 0 else max(0.0, centre - half)
    high = 1.0 if k == n else min(1.0, centre + half)
    return (low, high)


@dataclass(frozen=True)
class Delta:
    """A mean (of values or of paired differences) with a bootstrap percentile interval."""

    mean: float
    low: float
    high: float
    n: int


def bootstrap_mean(values: Sequence[float], n_boot: int = 2000, seed: int = 0, level: float = 0.95) -> Delta:
    """Mean of ``values`` with a seeded percentile bootstrap interval (resampling values)."""
    _check_bootstrap(n_boot, level)
    n = len(values)
    if n == 0:
        return Delta(math.nan, math.nan, math.nan, 0)
    data = np.asarray(values, dtype=np.float64)
    rng = np.random.default_rng(seed)
    block = max(1, _MAX_BLOCK_CELLS // n)
    means = np.empty(n_boot, dtype=np.float64)
    for lo in range(0, n_boot, block):
        hi = min(n_boot, lo + block)
        idx = rng.integers(0, n, size=(hi - lo, n))
        means[lo:hi] = data[idx].mean(axis=1)
    tail = (1.0 - level) / 2.0
    low, high = np.quantile(means, [tail, 1.0 - tail])
    return Delta(float(data.mean()), float(low), float(high), n)


def cluster_bootstrap_difference(
    clusters_a: Sequence[Sequence[float]],
    clusters_b: Sequence[Sequence[float]],
    n_boot: int = 2000,
    seed: int = 0,
    level: float = 0.95,
) -> Delta:
    """Difference of means (B − A) of two unpaired samples, bootstrapping clusters.

    Each cluster is one prompt's samples: they share a prompt and are not
    independent, so whole clusters are resampled, independently in A and B.
    The statistic is the mean over all values of the resampled clusters.
    ``n`` of the result is the number of values in B.
    """
    _check_bootstrap(n_boot, level)
    sums_a, counts_a = _cluster_sums(clusters_a)
    sums_b, counts_b = _cluster_sums(clusters_b)
    if not len(sums_a) or not len(sums_b):
        return Delta(math.nan, math.nan, math.nan, 0)
    rng = np.random.default_rng(seed)
    idx_a = rng.integers(0, len(sums_a), size=(n_boot, len(sums_a)))
    idx_b = rng.integers(0, len(sums_b), size=(n_boot, len(sums_b)))
    boot = sums_b[idx_b].sum(axis=1) / counts_b[idx_b].sum(axis=1) - sums_a[idx_a].sum(axis=1) / counts_a[idx_a].sum(
        axis=1
    )
    tail = (1.0 - level) / 2.0
    low, high = np.quantile(boot, [tail, 1.0 - tail])
    estimate = sums_b.sum() / counts_b.sum() - sums_a.sum() / counts_a.sum()
    return Delta(float(estimate), float(low), float(high), int(counts_b.sum()))


def _cluster_sums(clusters: Sequence[Sequence[float]]) -> tuple[np.ndarray, np.ndarray]:
    nonempty = [c for c in clusters if len(c)]
    sums = np.asarray([float(np.sum(c)) for c in nonempty], dtype=np.float64)
    counts = np.asarray([len(c) for c in nonempty], dtype=np.float64)
    return sums, counts


def _check_bootstrap(n_boot: int, level: float) -> None:
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level}")
    if n_boot < 1:
        raise ValueError(f"n_boot must be positive, got {n_boot}")


@dataclass(frozen=True)
class LogOdds(Generic[K]):
    """One term's log-odds ratio (A vs B) and its z-score; positive z leans to A."""

    term: K
    count_a: int
    count_b: int
    delta: float
    z: float


def log_odds_dirichlet(
    counts_a: Mapping[K, int],
    counts_b: Mapping[K, int],
    alpha0: float | None = None,
    prior: Mapping[K, float] | None = None,
) -> list[LogOdds[K]]:
    """Log-odds ratios with an informative Dirichlet prior (Monroe, Colaresi & Quinn 2008).

    The prior for term w is α_w = α0 · (y_aw + y_bw) / (n_a + n_b): the pooled
    frequency share scaled by α0.  With the default α0 = n_a + n_b (the pooled
    total), α_w is simply the pooled count of w — a strong prior that shrinks
    rare terms toward zero, which is what keeps one-off words off the top.

        δ_w = log((y_aw+α_w) / (n_a+α0−y_aw−α_w)) − log((y_bw+α_w) / (n_b+α0−y_bw−α_w))
        var(δ_w) ≈ 1/(y_aw+α_w) + 1/(y_bw+α_w);   z_w = δ_w / √var

    ``prior`` replaces the pooled share (y_aw + y_bw) / (n_a + n_b) by another
    share per term (e.g. the term's frequency in the fine-tuning corpus, or
    1/V for a uniform prior); every share must be positive.

    Terms with a zero pooled count are skipped.  When a single term is the
    whole of both corpora the odds are undefined; it gets δ = z = 0.
    Sorted by z descending (ties by ``repr`` of the term, for a stable order).
    """
    terms = list(dict.fromkeys([*counts_a, *counts_b]))
    for counts in (counts_a, counts_b):
        for term, value in counts.items():
            if value < 0:
                raise ValueError(f"negative count {value} for {term!r}")
    n_a = sum(counts_a.values())
    n_b = sum(counts_b.values())
    total = n_a + n_b
    if alpha0 is None:
        alpha0 = float(total)
    if alpha0 <= 0 and total > 0:
        raise ValueError(f"alpha0 must be positive, got {alpha0}")
    rows: list[LogOdds[K]] = []
    for term in terms:
        y_a = counts_a.get(term, 0)
        y_b = counts_b.get(term, 0)
        pooled = y_a + y_b
        if pooled == 0:
            continue
        if pooled == total:
            # The only term: both "rest" counts are zero and the odds undefined.
            rows.append(LogOdds(term, y_a, y_b, 0.0, 0.0))
            continue
        alpha = alpha0 * (pooled / total if prior is None else prior[term])
        if alpha <= 0:
            raise ValueError(f"prior share of {term!r} must be positive")
        rest_a = n_a + alpha0 - y_a - alpha
        rest_b = n_b + alpha0 - y_b - alpha
        delta = math.log((y_a + alpha) / rest_a) - math.log((y_b + alpha) / rest_b)
        var = 1.0 / (y_a + alpha) + 1.0 / (y_b + alpha)
        rows.append(LogOdds(term, y_a, y_b, delta, delta / math.sqrt(var)))
    rows.sort(key=lambda r: (-r.z, repr(r.term)))
    return rows


def cluster_bootstrap_mean(
    values: Sequence[float],
    clusters: Sequence[Hashable],
    n_boot: int = 2000,
    seed: int = 0,
    level: float = 0.95,
) -> Delta:
    """Mean of ``values`` with a percentile interval that resamples whole clusters.

    ``clusters[i]`` names the cluster of ``values[i]`` — the prompt: samples of
    one prompt share it and are correlated, so resampling single values would
    make the interval too narrow.  Each bootstrap draw takes as many clusters
    as there are, with replacement, and computes the mean over all their
    values (a ratio estimator: clusters of unequal size weigh by size).  With
    one value per cluster this is ``bootstrap_mean``'s interval.  ``n`` of the
    result is the number of values; no values gives NaNs.
    """
    _check_bootstrap(n_boot, level)
    if not len(values):
        if len(clusters):
            raise ValueError(f"0 values but {len(clusters)} cluster labels")
        return Delta(math.nan, math.nan, math.nan, 0)
    means = cluster_bootstrap_draws(values, clusters, n_boot, seed)
    tail = (1.0 - level) / 2.0
    low, high = np.quantile(means, [tail, 1.0 - tail])
    return Delta(float(np.mean(np.asarray(values, dtype=np.float64))), float(low), float(high), len(values))


def cluster_bootstrap_draws(
    values: Sequence[float], clusters: Sequence[Hashable], n_boot: int = 2000, seed: int = 0
) -> np.ndarray:
    """The ``n_boot`` bootstrap means behind ``cluster_bootstrap_mean`` (same seed, same draws).

    For statistics of the mean that need the draws themselves (the corrected
    prevalence of ``harness.analysis.prevalence``).  ``values`` must not be empty.
    """
    if len(values) != len(clusters):
        raise ValueError(f"{len(values)} values but {len(clusters)} cluster labels")
    if not len(values):
        raise ValueError("no values to bootstrap")
    ids: dict[Hashable, int] = {}
    labels = np.fromiter((ids.setdefault(c, len(ids)) for c in clusters), dtype=np.int64, count=len(clusters))
    data = np.asarray(values, dtype=np.float64)
    sums = np.bincount(labels, weights=data)
    counts = np.bincount(labels).astype(np.float64)
    n_clusters = len(sums)
    rng = np.random.default_rng(seed)
    block = max(1, _MAX_BLOCK_CELLS // n_clusters)
    means = np.empty(n_boot, dtype=np.float64)
    for lo in range(0, n_boot, block):
        hi = min(n_boot, lo + block)
        idx = rng.integers(0, n_clusters, size=(hi - lo, n_clusters))
        means[lo:hi] = sums[idx].sum(axis=1) / counts[idx].sum(axis=1)
    return means


def collapsed_interval(boot: Delta, binary: bool, prompts: int) -> tuple[float, float]:
    """``boot``'s interval, or the fallback when a bootstrap over prompts collapsed to a point.

    A percentile bootstrap over prompts has zero width when every draw is the
    same: a rate with no hit or all hits, or any level measured on ONE prompt
    (there is nothing to resample).  A point reads as certainty, so:

    * a rate (``binary``) takes the Wilson interval of its value with
      n = ``prompts``, the independent units (effective count = value ×
      prompts): 0 of 40 samples from 10 prompts is Wilson(0, 10);
    * a mean measured on a single prompt has no interval: (nan, nan);
    * otherwise the bootstrap's interval stands (a mean over several prompts
      whose values are all equal really has no spread to resample).

    The one collapse rule of summary.csv, groups.csv, memorization.csv and the
    RealToxicityPrompts rows.
    """
    if boot.n == 0 or boot.low < boot.high:
        return (boot.low, boot.high)
    if binary:
        return wilson_interval(min(float(prompts), max(0.0, boot.mean * prompts)), prompts)
    if prompts < 2:
        return (math.nan, math.nan)
    return (boot.low, boot.high)


def jensen_shannon_bits(p: np.ndarray, q: np.ndarray) -> float:
    """Jensen–Shannon divergence in bits between two count (or probability) vectors over the same terms.

    0 for identical distributions, 1 for disjoint ones; NaN when either is empty.
    """
    p = np.asarray(p, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64)
    if p.sum() <= 0 or q.sum() <= 0:
        return math.nan
    p = p / p.sum()
    q = q / q.sum()
    m = (p + q) / 2

    def kl(x: np.ndarray) -> float:
        mask = x > 0
        return float(np.sum(x[mask] * np.log2(x[mask] / m[mask])))

    return max(0.0, 0.5 * kl(p) + 0.5 * kl(q))
