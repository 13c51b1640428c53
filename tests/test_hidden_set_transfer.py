"""benchmarks/hidden_set_transfer.py and the prevalence algebra it rests on (harness.analysis.prevalence).

The algebra is checked by hand-worked numbers and by the round trip prevalence → precision → prevalence;
the benchmark's pairing by a tiny hand-made set whose joint cells are known; the bootstrap by the invariant
that every draw redistributes each stratum's posts without changing their number.  The full run needs the
shared corpus and two audits, so it lives in the benchmark; a bad baseline commit is one line before any work.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import load_benchmark
from harness.analysis.prevalence import (
    bootstrap_cells,
    bootstrap_counts,
    precision_at,
    prevalence_for_precision,
)
from harness.record.schema import StratumCounts

ROOT = Path(__file__).resolve().parents[1]
bench = load_benchmark("hidden_set_transfer")


def test_prevalence_for_precision_by_hand():
    # Se 0.5, Sp 0.9, P 0.6: 0.6·0.1 / (0.5·0.4 + 0.6·0.1) = 0.06 / 0.26
    assert prevalence_for_precision(0.6, 0.5, 0.9) == pytest.approx(0.06 / 0.26)
    # and back: at π = 0.06/0.26 the detector's precision is 0.6
    assert precision_at(0.06 / 0.26, 0.5, 0.9) == pytest.approx(0.6)
    # a perfectly specific detector is precise at any prevalence above 0
    assert precision_at(0.01, 0.3, 1.0) == pytest.approx(1.0)


def test_prevalence_precision_round_trip_on_arrays():
    rng = np.random.default_rng(3)
    se, sp, pi = rng.uniform(0.2, 0.95, 50), rng.uniform(0.6, 0.99, 50), rng.uniform(0.02, 0.9, 50)
    assert np.allclose(prevalence_for_precision(precision_at(pi, se, sp), se, sp), pi)


def test_bootstrap_counts_is_bootstrap_cells_for_four_cells():
    strata = [StratumCounts(stratum="a", weight=2.0, tp=3, fp=1, fn=2, tn=10),
              StratumCounts(stratum="b", weight=9.5, tp=0, fp=4, fn=1, tn=30)]
    as_pairs = [(s.weight, np.array([s.tp, s.fp, s.fn, s.tn], dtype=float)) for s in strata]
    assert np.array_equal(bootstrap_counts(as_pairs, 50, 7), bootstrap_cells(strata, 50, 7))


def test_bootstrap_counts_keeps_each_strata_size():
    strata = [(2.0, np.array([1, 0, 3, 0, 0, 2, 0, 4], dtype=float)), (5.0, np.array([0, 6, 0, 0, 1, 0, 0, 0.0]))]
    draws = bootstrap_counts(strata, 200, 0)
    assert draws.shape == (200, 8)
    assert np.allclose(draws.sum(axis=1), 2.0 * 10 + 5.0 * 7)
    assert (draws[:, 3] == 0).all() and (draws[:, 6] == 0).all()  # a cell no post is in stays empty


def test_joint_counts_and_detector_cells_pair_the_verdicts():
    J = bench.Judged
    items = [J("s", 1.0, True, "a"), J("s", 1.0, True, "b"), J("s", 1.0, False, "c"),
             J("s", 1.0, False, "d"), J("t", 3.0, True, "e")]
    base = [True, False, True, False, False]
    now = [True, True, False, False, True]
    joint = bench.joint_counts(items, base, now)
    assert [w for w, _ in joint] == [1.0, 3.0]
    # s: toxic,base,now = (1,1,1) (1,0,1) (0,1,0) (0,0,0); t: (1,0,1)
    assert joint[0][1].tolist() == [1, 0, 1, 0, 0, 1, 0, 1]
    assert joint[1][1].tolist() == [0, 0, 0, 0, 0, 1, 0, 0]
    base_cells, now_cells = bench.detector_cells(sum(w * c for w, c in joint))
    assert base_cells.tolist() == [1, 1, 4, 1]  # tp, fp, fn (1 + t's 3), tn
    assert now_cells.tolist() == [5, 0, 0, 2]


def test_transfer_by_hand():
    base = {"sensitivity": np.float64(0.5), "specificity": np.float64(0.9)}
    now = {"sensitivity": np.float64(0.7), "specificity": np.float64(0.95)}
    out = bench.transfer(base, now, 0.6)
    pi = 0.06 / 0.26
    precision = 0.7 * pi / (0.7 * pi + 0.05 * (1 - pi))
    assert float(out["prevalence"]) == pytest.approx(pi)
    assert float(out["precision"]) == pytest.approx(precision)
    assert float(out["f1"]) == pytest.approx(2 * precision * 0.7 / (precision + 0.7))


def test_recall_share_and_mixture():
    assert float(bench.recall_share(np.float64(0.5), np.float64(0.3), 0.41)) == pytest.approx(0.55)
    assert float(bench.recall_share(np.float64(0.5), np.float64(0.3), 0.6)) == 1.0  # clipped
    forum = {"sensitivity": np.float64(0.5), "specificity": np.float64(0.95)}
    written = {"sensitivity": np.float64(0.3), "specificity": np.float64(0.7)}
    mixed = bench.mixed(forum, written, np.float64(0.55))
    assert float(mixed["sensitivity"]) == pytest.approx(0.41)
    assert float(mixed["specificity"]) == pytest.approx(0.55 * 0.95 + 0.45 * 0.7)


def test_measure_reports_every_proxy_and_the_mixture():
    """On made-up verdicts: a block per proxy with the transfer line, then the mixture's."""
    J = bench.Judged
    rng = np.random.default_rng(0)
    proxies = {
        "forum blind (weighted)": [J("rest" if i % 2 else "hit", 1.0 + 4 * (i % 2), bool(i % 5 == 0), "")
                                   for i in range(200)],
        "written held-out": [J("held-out", 1.0, bool(i % 2), "") for i in range(120)],
    }
    base = {n: [bool(x) for x in rng.random(len(v)) < 0.3] for n, v in proxies.items()}
    now = {n: [t.toxic or bool(x) for t, x in zip(v, rng.random(len(v)) < 0.05)] for n, v in proxies.items()}
    lines = bench.measure(proxies, base, now)
    assert sum(line.startswith("  today there: P ") for line in lines) == 3
    assert sum(line.startswith("  share of draws meeting the bar") for line in lines) == 3
    assert lines[0].startswith("forum blind (weighted): n 200")
    assert any(line.startswith("forum+written mixed to the filed recall: forum share α ") for line in lines)


def test_by_proxy_slices_in_order():
    J = bench.Judged
    proxies = {"a": [J("s", 1.0, True, "")] * 2, "b": [J("s", 1.0, False, "")] * 3}
    flags = [True, False, False, True, True, False]
    assert bench.by_proxy(flags, proxies) == {"a": [True, False], "b": [False, True, True], "neutral": [False]}


def test_bad_baseline_is_one_line():
    if not bench.DEFAULT_CORPUS.is_file():
        pytest.skip("../shared is absent: the benchmark says it skips before it reads the baseline")
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "hidden_set_transfer.py"),
                           "--baseline", "no-such-commit"], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1 and "--baseline no-such-commit: not a commit" in done.stderr
    assert done.stdout == ""


def test_meets_bar_counts_draws_clearing_both_and_fails_nan():
    draws = {"f1": np.array([0.61, 0.65, 0.59, np.nan]), "precision": np.array([0.7, 0.55, 0.9, 0.9])}
    assert bench.meets_bar(draws) == 0.25


# --- benchmarks/forum_label_curve.py (the other dev-only question behind the same conclusion) ---------------


def test_forum_label_curve_shares_are_nested_and_keep_every_written_row():
    curve = load_benchmark("forum_label_curve")
    folds = np.array([0, 0, 1, 1, 2, 2, 0, 1])
    forum = np.array([True, True, True, True, True, False, False, True])
    draw = np.array([0.1, 0.6, 0.3, 0.9, 0.2, 0.95, 0.99, 0.4])
    for k in range(3):
        small, large = (set(curve.kept_rows(folds, forum, draw, s, k).tolist()) for s in (0.35, 0.7))
        assert small <= large
        assert not any(folds[i] == k for i in large)  # never the held-out fold
        assert {i for i in range(8) if not forum[i] and folds[i] != k} <= small  # written rows at any share
    assert curve.kept_rows(folds, forum, draw, 0.35, 2).tolist() == [0, 2, 6]


@pytest.mark.parametrize("shares", ["0.5,x", "0,1", "1.5"])
def test_forum_label_curve_bad_shares_are_one_usage_line(shares):
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "forum_label_curve.py"), "--shares", shares],
                          capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.strip().splitlines()[-1].startswith("forum_label_curve.py: error: --shares")


@pytest.mark.parametrize("value", ["0.1", "0.1,x", "0,0.5", "0.2,1"])
def test_forum_label_curve_bad_prevalences_are_one_usage_line(value):
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "forum_label_curve.py"), "--at-prevalence",
                           value], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.strip().splitlines()[-1].startswith("forum_label_curve.py: error: --at-prevalence")


def test_forum_label_curve_f1_at_prevalence_by_hand():
    curve = load_benchmark("forum_label_curve")
    y = np.array([1, 1, 0, 0, 0])
    flagged = np.array([True, False, True, False, False])
    w = np.array([1.0, 1.0, 2.0, 1.0, 1.0])
    assert curve.se_sp(y, flagged, w) == (0.5, 0.5)  # toxic: 1 of 2 found; harmless weight 4, 2 flagged
    precision, f1 = curve.f1_at(0.5, 0.5, 0.5)
    assert precision == pytest.approx(0.5) and f1 == pytest.approx(0.5)
