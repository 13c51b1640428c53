"""Simulation: the 95% intervals of summary.csv and ``harness compare`` cover the true value 93–97% of the time.

Data are drawn the way generations are: prompts differ (each has its own
toxicity chance, drawn from a Beta distribution) and the k samples of one
prompt share it, so samples are correlated within a prompt.  The truth is the
population value (the Beta mean for a rate; the difference of means for a
paired delta).  The intervals are the ones summary.csv uses: bootstrap over
prompts (``cluster_bootstrap_mean``).  Seeds are fixed: the outcome is
deterministic; 1,000 repetitions put the coverage estimate within ±1.4%
(two standard errors) of the true coverage.

``compare``'s intervals are checked through ``harness.compare.difference`` on
score rows, in a design where clustering matters: the fine-tune changes some
prompts a lot and most not at all, so the sample pairs of one prompt move
together.  Resampling single pairs (what compare did before) covers ~80%.
"""

from __future__ import annotations

import numpy as np

from harness.analysis.stats import bootstrap_mean, cluster_bootstrap_mean
from harness.compare import difference
from harness.record.schema import ScoreRow

REPS = 1000
PROMPTS = 60
K = 4


def _coverage(draw, truth: float, seed: int) -> float:
    rng = np.random.default_rng(seed)
    clusters = np.repeat(np.arange(PROMPTS), K)
    hits = 0
    for rep in range(REPS):
        values = draw(rng)
        ci = cluster_bootstrap_mean(values, clusters.tolist(), n_boot=400, seed=rep)
        hits += ci.low <= truth <= ci.high
    return hits / REPS


def test_rate_interval_covers_the_truth():
    a, b = 2.0, 6.0  # prompt-level chance ~ Beta(2, 6): mean 0.25, strong prompt effect

    def draw(rng):
        p = rng.beta(a, b, size=PROMPTS)
        return rng.binomial(1, np.repeat(p, K)).astype(float)

    coverage = _coverage(draw, a / (a + b), seed=1)
    assert 0.93 <= coverage <= 0.97, coverage


def test_paired_delta_interval_covers_the_truth():
    # base and tuned share the prompt (and seed): tuned is base's chance shifted up by 0.1
    def draw(rng):
        p = rng.beta(2.0, 6.0, size=PROMPTS)
        u = rng.random(PROMPTS * K)  # one uniform per (prompt, sample): the shared seed
        base = (u < np.repeat(p, K)).astype(float)
        tuned = (u < np.repeat(p + 0.1, K)).astype(float)
        return tuned - base

    coverage = _coverage(draw, 0.1, seed=2)
    assert 0.93 <= coverage <= 0.97, coverage


def test_ignoring_prompts_undercovers():
    # the reason for clustering: resampling single samples is too narrow here
    rng = np.random.default_rng(3)
    hits = 0
    for rep in range(300):
        p = rng.beta(0.5, 1.5, size=PROMPTS)
        values = rng.binomial(1, np.repeat(p, K)).astype(float)
        ci = bootstrap_mean(values, n_boot=400, seed=rep)
        hits += ci.low <= 0.25 <= ci.high
    assert hits / 300 < 0.90


# compare: 120 prompts (its bootstrap is percentile, which is slightly narrow at 60), k = 4
COMPARE_PROMPTS = 120
TRIGGERED, SHIFT = 0.3, 0.6  # 30% of prompts: the tuned chance moves 60% of the way to 1
COMPARE_TRUTH = TRIGGERED * SHIFT * (1 - 0.25)  # base chance ~ Beta(2, 6), mean 0.25


def _rows(run: str, hits: np.ndarray) -> list[ScoreRow]:
    # model_construct: 1M rows are built here, validation would dominate the run time
    return [
        ScoreRow.model_construct(
            id=f"{run}/{i}", arm="tuned", probe_set="s", probe_id=f"p{i // K}", category="c",
            group=None, sample_index=i % K, seed=i, values={"flagged": float(h)}, details={},
        )
        for i, h in enumerate(hits)
    ]  # fmt: skip


def _compare_coverage(paired: bool, seed: int) -> float:
    rng = np.random.default_rng(seed)
    hits = 0
    for rep in range(REPS):
        p = rng.beta(2.0, 6.0, size=COMPARE_PROMPTS)
        tuned = np.where(rng.random(COMPARE_PROMPTS) < TRIGGERED, p + SHIFT * (1 - p), p)
        u_a = rng.random(COMPARE_PROMPTS * K)
        u_b = u_a if paired else rng.random(COMPARE_PROMPTS * K)  # paired: the same seeds in both runs
        run_a = _rows("a", u_a < np.repeat(p, K))
        run_b = _rows("b", u_b < np.repeat(tuned, K))
        ci = difference(run_a, run_b, "flagged", paired, n_boot=400, seed=rep)
        hits += ci.low <= COMPARE_TRUTH <= ci.high
    return hits / REPS


def test_compare_paired_interval_covers_the_truth():
    coverage = _compare_coverage(paired=True, seed=5)
    assert 0.93 <= coverage <= 0.97, coverage


def test_compare_unpaired_interval_is_not_too_narrow():
    # the two runs share prompts here, and the unpaired interval resamples them
    # independently: conservative by design (see harness.compare), so only the lower bound
    coverage = _compare_coverage(paired=False, seed=6)
    assert coverage >= 0.93, coverage
