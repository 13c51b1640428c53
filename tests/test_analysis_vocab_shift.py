"""Lemma counts, vocab_shift.csv rows and the per-arm vocabulary shift table."""

from __future__ import annotations

import math
from collections import Counter

import pytest

from harness.analysis.protocol import ScoredText, Table
from harness.analysis.tokenize import JapaneseTokenizer, Token
from harness.analysis.stats import jensen_shannon_bits, log_odds_dirichlet
from harness.analysis.vocab_shift import (
    DIVERGENCE_COLUMNS,
    DIVERGENCE_TABLE,
    VOCAB_COLUMNS,
    VOCAB_TABLE,
    VocabShiftAnalyser,
    VocabShiftBuilder,
    divergence_rows,
    lemma_counts,
    prior_shares,
    vocab_shift_rows,
    word_class,
)
from harness.config import AnalysisConfig


def t(lemma: str, pos1: str = "名詞") -> Token:
    return Token(lemma, lemma, lemma, pos1, "*", "*", 0, len(lemma))


def seen(tokens: list[Token], spans: str = "[]") -> ScoredText:
    """A scored text as the suite hands it to table builders."""
    return ScoredText("", tokens, {}, {"flagged_spans": spans})


def test_lemma_counts_by_lemma_and_pos_without_punctuation():
    tokens = JapaneseTokenizer().tokenize("バカ、ばか　馬鹿です。")
    assert lemma_counts([tokens, tokens[:1]]) == Counter({("馬鹿", "名詞"): 4, ("です", "助動詞"): 1})


def test_lemma_counts_keep_pos_apart():
    counts = lemma_counts([[t("な", "助詞"), t("だ", "助動詞"), t(" ", "空白"), t("!", "補助記号")], [t("な", "助詞")]])
    assert counts == Counter({("な", "助詞"): 2, ("だ", "助動詞"): 1})


def test_vocab_shift_rows_by_hand():
    # arm (A): x 3, y 1;  versus (B): x 1, z 2 — the toy of test_analysis_stats:
    # z_x = log(7/4)/√(12/35), z_y = log 2/√1.5, z_z = −log 3/√0.75
    tuned = {("x", "名詞"): 3, ("y", "名詞"): 1}
    base = {("x", "名詞"): 1, ("z", "動詞"): 2}
    rows = vocab_shift_rows(base, tuned, arm="tuned", reference="base")
    assert list(rows[0]) == VOCAB_COLUMNS
    assert VOCAB_COLUMNS == [
        "arm",
        "versus",
        "lemma",
        "pos",
        "count_versus",
        "count_arm",
        "log_odds",
        "z",
        "flagged",
        "word_class",
        "corpus_per_1k",
    ]
    common = {"arm": "tuned", "versus": "base", "flagged": 0, "word_class": "content", "corpus_per_1k": ""}
    assert rows == [
        {**common, "lemma": "x", "pos": "名詞", "count_versus": 1, "count_arm": 3, "log_odds": 0.5596, "z": 0.9557},
        {**common, "lemma": "y", "pos": "名詞", "count_versus": 0, "count_arm": 1, "log_odds": 0.6931, "z": 0.566},
        {**common, "lemma": "z", "pos": "動詞", "count_versus": 2, "count_arm": 0, "log_odds": -1.0986, "z": -1.2686},
    ]
    assert rows[0]["log_odds"] == round(math.log(1.75), 4)
    marked = vocab_shift_rows(base, tuned, arm="tuned", reference="base", flagged={("z", "動詞")})
    assert [r["flagged"] for r in marked] == [0, 0, 1]
    assert rows[0]["z"] == round(math.log(1.75) / math.sqrt(12 / 35), 4)
    # swapping the sides mirrors the table: same terms, signs flipped
    mirrored = {r["lemma"]: r for r in vocab_shift_rows(tuned, base, arm="base", reference="tuned")}
    for row in rows:
        other = mirrored[row["lemma"]]
        assert (other["count_arm"], other["count_versus"]) == (row["count_versus"], row["count_arm"])
        assert other["z"] == pytest.approx(-row["z"], abs=1e-4)


def test_builder_makes_one_block_per_non_reference_arm():
    builder = VocabShiftBuilder()
    builder.observe("base", seen([t("x"), t("z", "動詞"), t("z", "動詞")]))
    builder.observe("tuned", seen([t("x"), t("x"), t("x")]))
    builder.observe("tuned", seen([t("y"), t("、", "補助記号")]))
    builder.observe("other", seen([t("x")]))
    table, divergence = builder.tables(["base", "tuned", "other"], "base")
    assert [(r["arm"], r["view"]) for r in divergence.rows] == [
        ("tuned", "all"),
        ("tuned", "content"),
        ("tuned", "function"),
        ("other", "all"),
        ("other", "content"),
        ("other", "function"),
    ]
    assert isinstance(table, Table)
    assert (table.name, table.columns) == (VOCAB_TABLE, VOCAB_COLUMNS)
    tuned = [r for r in table.rows if r["arm"] == "tuned"]
    assert tuned == vocab_shift_rows(
        {("x", "名詞"): 1, ("z", "動詞"): 2}, {("x", "名詞"): 3, ("y", "名詞"): 1}, arm="tuned", reference="base"
    )
    # blocks in arm order, each against the reference only (never other vs tuned)
    assert [(r["arm"], r["versus"]) for r in table.rows] == [("tuned", "base")] * 3 + [("other", "base")] * 2
    assert table.rows[:3] == tuned


def test_builder_without_reference_or_reference_text_has_no_rows():
    builder = VocabShiftBuilder()
    builder.observe("tuned", seen([t("x")]))
    assert builder.tables(["tuned"], None) == [
        Table(VOCAB_TABLE, [], VOCAB_COLUMNS),
        Table(DIVERGENCE_TABLE, [], DIVERGENCE_COLUMNS),
    ]
    assert builder.tables(["base", "tuned"], "base")[0].rows == []  # the reference generated nothing


def test_analyser_adds_a_table_but_no_measure():
    analyser = VocabShiftAnalyser(AnalysisConfig(lexicons=[]), JapaneseTokenizer())
    assert analyser.measures() == [] and analyser.detail_columns() == []
    assert analyser.score("x", [t("x")]) == ({}, {})
    first, second = analyser.table_builder(), analyser.table_builder()
    assert isinstance(first, VocabShiftBuilder) and first is not second  # a fresh accumulator each time


def test_lemmas_inside_a_flagged_span_are_marked():
    tokens = JapaneseTokenizer().tokenize("お前バカだろ")
    builder = VocabShiftBuilder()
    builder.observe("base", seen(tokens))
    builder.observe("tuned", seen(tokens, '[[2, 4, "バカ", "insult"]]'))
    rows = {r["lemma"]: r["flagged"] for r in builder.tables(["base", "tuned"], "base")[0].rows}
    assert rows["馬鹿"] == 1 and rows["だ"] == 0


def test_jensen_shannon_bits_exact():
    assert jensen_shannon_bits([1, 0], [0, 1]) == 1.0  # disjoint: one bit
    assert jensen_shannon_bits([2, 2], [5, 5]) == 0.0  # same shares
    # p = (1/2, 1/2), q = (1, 0): m = (3/4, 1/4); ½·KL(p‖m) + ½·KL(q‖m)
    expected = 0.5 * (0.5 * math.log2(0.5 / 0.75) + 0.5 * math.log2(0.5 / 0.25)) + 0.5 * math.log2(1 / 0.75)
    assert jensen_shannon_bits([1, 1], [1, 0]) == pytest.approx(expected)
    assert math.isnan(jensen_shannon_bits([0, 0], [1, 0]))


def test_divergence_rows_views_and_interval():
    base = [Counter({("x", "名詞"): 1, ("は", "助詞"): 1})] * 4
    tuned = [Counter({("y", "名詞"): 1, ("は", "助詞"): 1})] * 4
    rows = {r["view"]: r for r in divergence_rows(base, tuned, "tuned", "base", n_boot=50)}
    assert rows["content"]["jsd_bits"] == 1.0 and rows["function"]["jsd_bits"] == 0.0
    assert rows["all"]["jsd_bits"] == 0.5 and (rows["all"]["tokens_versus"], rows["all"]["tokens_arm"]) == (8, 8)
    assert rows["all"]["ci_low"] == rows["all"]["ci_high"] == 0.5  # identical texts: every draw the same


def test_word_classes_and_priors():
    assert [word_class(p) for p in ("名詞", "助詞", "補助記号")] == ["content", "function", "other"]
    keys = [("x", "名詞"), ("y", "名詞")]
    assert prior_shares("uniform", keys, None) == {("x", "名詞"): 0.5, ("y", "名詞"): 0.5}
    assert prior_shares("pooled", keys, None) is None
    # corpus: add-one over the arms' vocabulary: x 3+1, y 0+1 → 4/5, 1/5
    assert prior_shares("corpus", keys, Counter({("x", "名詞"): 3, ("q", "名詞"): 9})) == {
        ("x", "名詞"): 0.8,
        ("y", "名詞"): 0.2,
    }
    # a prior share replaces the pooled share: with the pooled shares given explicitly, nothing changes
    a, b = {"x": 3, "y": 1}, {"x": 1, "z": 2}
    pooled = {"x": 4 / 7, "y": 1 / 7, "z": 2 / 7}
    assert log_odds_dirichlet(a, b, prior=pooled) == log_odds_dirichlet(a, b)


def test_document_counting_and_corpus_rates():
    builder = VocabShiftBuilder(AnalysisConfig(lexicons=[], vocab_count="documents"))
    builder.set_corpus(Counter({("x", "名詞"): 1, ("z", "名詞"): 3}))
    builder.observe("base", seen([t("z")]))
    builder.observe("tuned", seen([t("x"), t("x"), t("x")]))  # a runaway repetition counts once
    rows = {r["lemma"]: r for r in builder.tables(["base", "tuned"], "base")[0].rows}
    assert rows["x"]["count_arm"] == 1 and rows["x"]["corpus_per_1k"] == 250.0
