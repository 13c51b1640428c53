"""Statistics: exact values worked out by hand (the arithmetic is in each test)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from harness.analysis.stats import (
    Z95,
    Delta,
    LogOdds,
    bootstrap_mean,
    collapsed_interval,
    log_odds_dirichlet,
    wilson_interval,
)


# --- Wilson -----------------------------------------------------------------


def test_wilson_five_of_ten_by_hand():
    # p = 0.5, n = 10, z² = 3.8414588206941245
    # centre = (p + z²/2n) / (1 + z²/n) = 0.69207.../1.38414... = 0.5 (symmetric)
    # half   = z / (1 + z²/n) · √(p(1−p)/n + z²/4n²) = 1.41601... · √0.0346036... = 0.2634066...
    z2 = Z95 * Z95
    half = Z95 / (1 + z2 / 10) * math.sqrt(0.25 / 10 + z2 / 400)
    low, high = wilson_interval(5, 10)
    assert low == pytest.approx(0.5 - half, abs=1e-15)
    assert high == pytest.approx(0.5 + half, abs=1e-15)
    assert (round(low, 4), round(high, 4)) == (0.2366, 0.7634)  # the textbook table value


def test_wilson_zero_and_all_are_exact_at_the_edges():
    # k = 0: low is exactly 0, high = 2·centre = (z²/n) / (1 + z²/n)
    z2n = Z95 * Z95 / 10
    assert wilson_interval(0, 10) == (0.0, pytest.approx(z2n / (1 + z2n), abs=1e-15))
    low, high = wilson_interval(10, 10)
    assert high == 1.0 and low == pytest.approx(1 - z2n / (1 + z2n), abs=1e-15)
    assert round(z2n / (1 + z2n), 4) == 0.2775


def test_wilson_one_of_three():
    # p = 1/3, n = 3: centre = (1/3 + z²/6)/(1 + z²/3), half = z/(1 + z²/3)·√(2/27 + z²/36)
    z2 = Z95 * Z95
    centre = (1 / 3 + z2 / 6) / (1 + z2 / 3)
    half = Z95 / (1 + z2 / 3) * math.sqrt(2 / 27 + z2 / 36)
    low, high = wilson_interval(1, 3)
    assert (low, high) == (pytest.approx(centre - half), pytest.approx(centre + half))
    assert (round(low, 4), round(high, 4)) == (0.0615, 0.7923)


def test_wilson_no_trials_is_nan_and_bad_counts_raise():
    low, high = wilson_interval(0, 0)
    assert math.isnan(low) and math.isnan(high)
    for k, n in ((3, 2), (-1, 5), (0, -1)):
        with pytest.raises(ValueError):
            wilson_interval(k, n)


# --- bootstrap of a mean (the paired deltas bootstrap the differences) ---------


def test_bootstrap_all_zero_differences_give_zero():
    assert bootstrap_mean([0.0] * 5) == Delta(0.0, 0.0, 0.0, 5)


def test_bootstrap_constant_shift_has_no_spread():
    # every pair differs by exactly +1, so every resampled mean is 1
    assert bootstrap_mean([1, 1, 1]) == Delta(1.0, 1.0, 1.0, 3)


def test_bootstrap_is_deterministic_and_seeded():
    diffs = [1, 0, 0, 1, 0, 0, -1, 1]
    first = bootstrap_mean(diffs, n_boot=500, seed=7)
    assert bootstrap_mean(diffs, n_boot=500, seed=7) == first
    assert first.mean == pytest.approx(2 / 8)
    assert first.n == 8 and first.low <= first.mean <= first.high


def test_bootstrap_resamples_values_with_numpy_generator():
    # The same draw written out: rows of indices, mean per row, percentiles 2.5 / 97.5.
    diffs = np.array([1, 0, 0, 1, 0, 0, -1, 1], dtype=float)
    idx = np.random.default_rng(3).integers(0, 8, size=(300, 8))
    low, high = np.quantile(diffs[idx].mean(axis=1), [0.025, 0.975])
    got = bootstrap_mean(diffs.tolist(), n_boot=300, seed=3)
    assert (got.low, got.high) == (pytest.approx(low), pytest.approx(high))


def test_bootstrap_two_values_spans_both_extremes():
    # values [1, 0]: resampled means are 0, 0.5, 1 with probability 1/4, 1/2, 1/4,
    # so the 2.5% and 97.5% percentiles of 2000 draws are 0 and 1.
    assert bootstrap_mean([1, 0]) == Delta(0.5, 0.0, 1.0, 2)


def test_bootstrap_edge_cases():
    empty = bootstrap_mean([])
    assert empty.n == 0 and math.isnan(empty.mean) and math.isnan(empty.low)
    with pytest.raises(ValueError):
        bootstrap_mean([1], level=1.0)


# --- the collapse fallback ------------------------------------------------------


def test_collapsed_rate_takes_wilson_over_prompts():
    # 0 of 40 samples from 10 prompts: the bootstrap gives [0, 0]; Wilson(0, 10) instead
    assert collapsed_interval(Delta(0.0, 0.0, 0.0, 40), True, 10) == wilson_interval(0, 10)
    assert collapsed_interval(Delta(1.0, 1.0, 1.0, 40), True, 10) == wilson_interval(10, 10)
    # one prompt, 2 of 4 samples: effective count 0.5 of 1 (p = 0.5, n = 1)
    low, high = collapsed_interval(Delta(0.5, 0.5, 0.5, 4), True, 1)
    z2 = Z95 * Z95
    half = Z95 / (1 + z2) * math.sqrt(0.25 + z2 / 4)
    assert (low, high) == (pytest.approx(0.5 - half), pytest.approx(0.5 + half))


def test_collapsed_mean_on_one_prompt_has_no_interval():
    low, high = collapsed_interval(Delta(3.0, 3.0, 3.0, 4), False, 1)
    assert math.isnan(low) and math.isnan(high)
    # several prompts that all agree: the point stands; an interval with width is kept as it is
    assert collapsed_interval(Delta(3.0, 3.0, 3.0, 8), False, 2) == (3.0, 3.0)
    assert collapsed_interval(Delta(0.5, 0.2, 0.8, 8), True, 2) == (0.2, 0.8)


# --- log-odds with an informative Dirichlet prior --------------------------------


def test_log_odds_three_words_by_hand():
    # A: x 3, y 1 (n_a = 4);  B: x 1, z 2 (n_b = 3);  α0 = 7, so α_w = pooled count:
    # α_x = 4, α_y = 1, α_z = 2.
    # x: δ = log((3+4)/(4+7−3−4)) − log((1+4)/(3+7−1−4)) = log(7/4) − log(5/5) = log 1.75
    #    var = 1/7 + 1/5 = 12/35
    # y: δ = log((1+1)/(4+7−1−1)) − log((0+1)/(3+7−0−1)) = log(2/9) − log(1/9) = log 2
    #    var = 1/2 + 1/1 = 3/2
    # z: δ = log((0+2)/(4+7−0−2)) − log((2+2)/(3+7−2−2)) = log(2/9) − log(4/6) = −log 3
    #    var = 1/2 + 1/4 = 3/4
    rows = log_odds_dirichlet({"x": 3, "y": 1}, {"x": 1, "z": 2})
    expected = [
        LogOdds("x", 3, 1, math.log(1.75), math.log(1.75) / math.sqrt(12 / 35)),
        LogOdds("y", 1, 0, math.log(2), math.log(2) / math.sqrt(1.5)),
        LogOdds("z", 0, 2, -math.log(3), -math.log(3) / math.sqrt(0.75)),
    ]
    assert [r.term for r in rows] == ["x", "y", "z"]  # z descending: 0.9557, 0.5660, −1.2686
    for got, want in zip(rows, expected):
        assert (got.count_a, got.count_b) == (want.count_a, want.count_b)
        assert got.delta == pytest.approx(want.delta, abs=1e-12)
        assert got.z == pytest.approx(want.z, abs=1e-12)
    assert [round(r.z, 4) for r in rows] == [0.9557, 0.566, -1.2686]


def test_log_odds_explicit_alpha0_scales_the_prior():
    # A: x 1, y 1 (n_a = 2); B: x 2 (n_b = 2).  α0 = 8 = twice the pooled total 4,
    # so α_w = 8 · pooled/4 doubles every pooled count: α_x = 6, α_y = 2.
    # x: δ = log((1+6)/(2+8−1−6)) − log((2+6)/(2+8−2−6)) = log(7/3) − log(8/2)
    # y: δ = log((1+2)/(2+8−1−2)) − log((0+2)/(2+8−0−2)) = log(3/7) − log(2/8)
    #    var = 1/3 + 1/2
    rows = {r.term: r for r in log_odds_dirichlet({"x": 1, "y": 1}, {"x": 2}, alpha0=8)}
    assert rows["x"].delta == pytest.approx(math.log(7 / 3) - math.log(4), abs=1e-12)
    assert rows["y"].delta == pytest.approx(math.log(3 / 7) - math.log(2 / 8), abs=1e-12)
    assert rows["y"].z == pytest.approx(rows["y"].delta / math.sqrt(1 / 3 + 1 / 2), abs=1e-12)


def test_log_odds_symmetry_and_edge_cases():
    a, b = {"x": 5, "y": 1}, {"x": 2, "y": 4}
    forward = {r.term: r.z for r in log_odds_dirichlet(a, b)}
    backward = {r.term: r.z for r in log_odds_dirichlet(b, a)}
    assert forward == {k: pytest.approx(-v) for k, v in backward.items()}
    assert log_odds_dirichlet({}, {}) == []
    assert log_odds_dirichlet({"x": 0}, {"y": 2, "x": 0}) == [LogOdds("y", 0, 2, 0.0, 0.0)]
    with pytest.raises(ValueError):
        log_odds_dirichlet({"x": -1}, {"x": 2})
