"""The worker pool of ``harness.analysis.parallel``: raw batches, input order, errors, and the running mean it feeds."""

from __future__ import annotations

import math
import os
from collections import Counter

import pytest

from harness.analysis import parallel
from harness.analysis.parallel import score_batches
from harness.analysis.suite import AnalysisSuite
from harness.analysis.summary import RunningMean
from harness.analysis.vocab_shift import lemma_counts
from harness.config import AnalysisConfig
from harness.text import normalize

# not NFKC (half-width kana, full-width letters, ？): the workers normalise them
RAW = ["お前ﾊﾞｶだろｗｗ", "今日はいい天気ですね？", "日本人はゴミ", "", "０９０-１２３４-５６７８に電話して", "ｶｽ"]


@pytest.fixture(scope="module")
def suite() -> AnalysisSuite:
    return AnalysisSuite(AnalysisConfig())


def test_raw_batches_score_as_normalised_texts_do_in_one_process(suite: AnalysisSuite) -> None:
    batches = [(RAW * 3)[i : i + 4] for i in range(0, len(RAW) * 3, 4)]
    lemmas: Counter = Counter()
    pooled = [t for b in score_batches(suite.config, batches, 2, lemmas=lemmas, suite=suite) for t in b.texts()]
    alone = suite.score_batch([normalize(t) for b in batches for t in b])
    assert [p.values for p in pooled] == [s.values for s in alone.scored]
    assert [p.details["detectors"] for p in pooled] == [s.details["detectors"] for s in alone.scored]
    assert lemmas == lemma_counts([alone.tokens])


def test_a_worker_error_is_raised_in_the_caller(suite: AnalysisSuite, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(texts: list[str]):
        raise ValueError(f"cannot score {len(texts)} texts")

    monkeypatch.setattr(parallel, "_score_batch", broken)  # forked workers inherit the patch
    if parallel.start_method() != "fork":
        pytest.skip("spawned workers import the module afresh")
    with pytest.raises(ValueError, match="cannot score 2 texts"):
        list(score_batches(suite.config, [["a", "b"]], 2, suite=suite))


def test_a_worker_that_dies_stops_the_caller(suite: AnalysisSuite, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(parallel, "_score_batch", lambda texts: os._exit(3))
    if parallel.start_method() != "fork":
        pytest.skip("spawned workers import the module afresh")
    with pytest.raises(RuntimeError, match="exit code 3"):
        list(score_batches(suite.config, [["a"]], 2, suite=suite))


@pytest.mark.parametrize(
    "values",
    [[], [3], [1, 2.0, 2, 0.0, 0, -0.0], [0.5, math.nan, 0.25, 7], [math.nan, 1.0], [True, 2, 1.5]],
)
def test_running_mean_add_many_is_add_one_by_one(values: list) -> None:
    one, many = RunningMean(), RunningMean()
    one.add(1.0)
    many.add(1.0)
    for v in values:
        one.add(v)
    many.add_many(iter(values))
    got = [(repr(a), type(a)) for a in (many.n, many.mean, many.low, many.high)]
    assert got == [(repr(a), type(a)) for a in (one.n, one.mean, one.low, one.high)]
