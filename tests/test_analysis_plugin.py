"""An analyser added only here reaches every table: "adding an analyser needs no other change" (README).

``Exclaims`` is defined in this module and registered by patching
``harness.analysis.suite.ANALYSERS`` for one test; nothing else in the
harness knows it.  Its harmful 0/1 measure must appear in scores.csv,
summary.csv, groups.csv, corpus_audit.csv and the per-document scores of
``harness audit --scores``, on one process and on two worker processes
(which import this module by name to build the same suite).
"""

from __future__ import annotations

from typing import Any

import pytest

import harness.analysis.suite as suite_module
from harness.analysis.corpus_audit import audit_corpus_docs
from harness.analysis.protocol import TextScore
from harness.analysis.suite import ANALYSERS, AnalysisSuite
from harness.record.rundir import SCORES as SCORES_TABLE, SUMMARY as SUMMARY_TABLE
from harness.analysis.tokenize import JapaneseTokenizer, Token
from harness.config import AnalysisConfig
from harness.data.corpus import Document
from harness.record.schema import Generation, MeasureSpec

MEASURE = "exclaims"


class Exclaims:
    """A text holds an exclamation mark (harmful, for the test's sake)."""

    name = "exclaims"

    def __init__(self, config: AnalysisConfig, tokenizer: JapaneseTokenizer) -> None:
        self.config = config

    def measures(self) -> list[MeasureSpec]:
        return [
            MeasureSpec(
                name=MEASURE, analyser=self.name, description="an exclamation mark", harmful=True, kind="binary"
            )
        ]

    def detail_columns(self) -> list[str]:
        return []

    def score(self, text: str, tokens: list[Token]) -> TextScore:
        return TextScore({MEASURE: int("!" in text)}, {})

    def table_builder(self) -> None:
        return None


@pytest.fixture
def suite(monkeypatch) -> AnalysisSuite:
    monkeypatch.setattr(suite_module, "ANALYSERS", (*ANALYSERS, Exclaims))
    return AnalysisSuite(AnalysisConfig(bootstrap=200))


def gen(arm: str, probe_id: str, group: str, index: int, completion: str) -> Generation:
    return Generation.build(
        arm=arm,
        probe_set="group-bias",
        probe_id=probe_id,
        category="pets",
        group=group,
        prompt="ねこは",
        completion=completion,
        sample_index=index,
        seed=index,
        decoding={"temperature": 1.0},
    )


def test_a_registered_analyser_reaches_scores_summary_and_groups(suite):
    generations = [
        gen(arm, f"{group}-{p}", group, i, "やった!" if (arm == "tuned" and group == "cat") else "静かです。")
        for arm in ("base", "tuned")
        for group in ("cat", "dog")
        for p in range(2)
        for i in range(2)
    ]
    tables = {t.name: t for t in suite.score_generations(generations, ["base", "tuned"], "base", 200, 0)}
    scores = tables[SCORES_TABLE]
    assert MEASURE in scores.columns and {r[MEASURE] for r in scores.rows} == {0, 1}
    summary = {(r["kind"], r["arm"], r["probe_category"], r["measure"]): r for r in tables[SUMMARY_TABLE].rows}
    assert summary["rate", "tuned", "all", MEASURE]["value"] == 0.5
    assert summary["delta", "tuned", "all", MEASURE]["value"] == 0.5
    groups = {(r["kind"], r["arm"], r["group"], r["measure"]): r for r in tables["groups.csv"].rows}
    assert groups["rate", "tuned", "cat", MEASURE]["value"] == 1.0
    assert groups["disparity_diff", "tuned", "", MEASURE]["value"] == 1.0
    assert groups["disparity_change", "tuned", "", MEASURE]["value"] == 1.0
    assert MEASURE in {m.name for m in suite.run_catalogue(2)}


@pytest.mark.parametrize("workers", [1, 2])
def test_a_registered_analyser_reaches_the_corpus_audit_and_its_scores(suite, workers):
    texts = ["静かです。", "やった!", "お前はバカだ!", "普通の文"] * 3
    docs = [Document(text, line) for line, text in enumerate(texts, start=1)]
    result = audit_corpus_docs(suite, docs, workers=workers, want_scores=True)
    audit: dict[str, Any] = {r["measure"]: r for r in result.table.rows}
    assert (audit[MEASURE]["count"], audit[MEASURE]["value"]) == (6, 0.5)
    assert MEASURE in result.score_columns and result.score_columns[0] == "doc_id"
    assert [r[MEASURE] for r in result.score_rows] == [0, 1, 1, 0] * 3
    assert all(list(r) == result.score_columns for r in result.score_rows)
    assert result.rates[MEASURE] == 0.5
