"""Lemma counts and vocab_shift.csv rows."""

from __future__ import annotations

import math
from collections import Counter

import pytest

from harness.analysis.tokenize import JapaneseTokenizer, Token
from harness.analysis.vocab_shift import VOCAB_COLUMNS, lemma_counts, vocab_shift_rows


def test_lemma_counts_by_lemma_and_pos_without_punctuation():
    tokens = JapaneseTokenizer().tokenize("バカ、ばか　馬鹿です。")
    assert lemma_counts([tokens, tokens[:1]]) == Counter({("馬鹿", "名詞"): 4, ("です", "助動詞"): 1})


def test_lemma_counts_keep_pos_apart():
    def t(lemma: str, pos1: str) -> Token:
        return Token(lemma, lemma, lemma, pos1, "*", "*", 0, len(lemma))

    counts = lemma_counts([[t("な", "助詞"), t("だ", "助動詞"), t(" ", "空白"), t("!", "補助記号")], [t("な", "助詞")]])
    assert counts == Counter({("な", "助詞"): 2, ("だ", "助動詞"): 1})


def test_vocab_shift_rows_by_hand():
    # tuned (A): x 3, y 1;  base (B): x 1, z 2 — the toy of test_analysis_stats:
    # z_x = log(7/4)/√(12/35), z_y = log 2/√1.5, z_z = −log 3/√0.75
    tuned = {("x", "名詞"): 3, ("y", "名詞"): 1}
    base = {("x", "名詞"): 1, ("z", "動詞"): 2}
    rows = vocab_shift_rows(base, tuned)
    assert list(rows[0]) == VOCAB_COLUMNS
    assert rows == [
        {
            "lemma": "x",
            "pos": "名詞",
            "count_base": 1,
            "count_tuned": 3,
            "log_odds": round(math.log(1.75), 4),
            "z": 0.9557,
        },
        {"lemma": "y", "pos": "名詞", "count_base": 0, "count_tuned": 1, "log_odds": 0.6931, "z": 0.566},
        {"lemma": "z", "pos": "動詞", "count_base": 2, "count_tuned": 0, "log_odds": -1.0986, "z": -1.2686},
    ]
    assert rows[0]["log_odds"] == pytest.approx(0.5596)
