"""The worker pool of ``harness.analysis.parallel``: raw batches, input order, errors, and the running mean it feeds."""

from __future__ import annotations

import math
import os
from collections import Counter

import pytest

from harness.analysis.parallel import score_batches
from harness.analysis.protocol import TextScore
from harness.analysis.suite import ANALYSERS, AnalysisSuite
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


class Breaks:
    """An analyser that fails on a marked text: raises (``BREAK``) or kills its process (``DIE``).

    Defined at module level so that spawned workers, which import this module by name
    to build the suite from ``analysers``, get it too (the pool forks or spawns, see
    ``parallel.start_method``): the error paths are tested whichever method runs.
    """

    name = "breaks"
    BREAK, DIE = "壊れる", "落ちる"

    def __init__(self, config: AnalysisConfig, tokenizer) -> None:
        self.config = config

    def measures(self) -> list:
        return []

    def detail_columns(self) -> list[str]:
        return []

    def score(self, text: str, tokens) -> TextScore:
        if self.DIE in text:
            os._exit(3)
        if self.BREAK in text:
            raise ValueError(f"cannot score {text!r}")
        return TextScore({}, {})

    def table_builder(self) -> None:
        return None


def test_a_worker_error_is_raised_in_the_caller(suite: AnalysisSuite) -> None:
    classes = (*ANALYSERS, Breaks)
    with pytest.raises(ValueError, match="cannot score '壊れる'"):
        list(score_batches(suite.config, [["普通の文"], ["壊れる"]], 2, analysers=classes))


def test_a_worker_that_dies_stops_the_caller(suite: AnalysisSuite) -> None:
    classes = (*ANALYSERS, Breaks)
    with pytest.raises(RuntimeError, match="exit code 3"):
        list(score_batches(suite.config, [["落ちる"]], 2, analysers=classes))


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
