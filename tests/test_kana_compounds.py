"""Harmful katakana words inside an unknown katakana compound (harness.analysis.kana_compounds).

Every sentence here was written for this test.
"""

from __future__ import annotations

import json

import pytest

from harness.analysis.flagged import VARIANT, FlaggedAnalyser
from harness.analysis.kana_compounds import kana_compounds_for
from harness.analysis.lexicon import load_lexicon
from harness.config import AnalysisConfig


def spans(analyser, tok, text: str) -> list[list]:
    return json.loads(analyser.score(text, tok.tokenize(text)).details["flagged_spans"] or "[]")


@pytest.mark.parametrize(
    "text, term, surface",
    [
        ("あいつマジでガチガイジやん", "ガイジ", "ガイジ"),  # ガチガイジ: one unknown token
        ("またスレガイジが来とる", "ガイジ", "ガイジ"),
        ("ガイジムーブやめろ", "ガイジ", "ガイジ"),
        ("典型的なキモオタゲーマーやな", "キモオタ", "キモオタ"),
    ],
)
def test_an_entry_inside_an_unknown_katakana_compound_flags(analyser, tok, text, term, surface):
    scored = analyser.score(text, tok.tokenize(text))
    found = spans(analyser, tok, text)
    assert scored.values["flagged"] == 1
    assert [s[2] for s in found] == [term] and found[0][4] == surface
    assert scored.details["detectors"] == VARIANT


@pytest.mark.parametrize(
    "text",
    [
        "ジョコビッチ強すぎる",  # MeCab splits the name (ジョコ + ビッチ): ビッチ is not_in it (lexicon v10)
        "デブリが散らばっている",  # a two-character key (デブ) is never looked for inside a word
        "ガイドジャケットを買った",  # no key inside
        "パソコンのスペックが足りない",  # アスペ needs a target frame now (context: target): never inside a compound
    ],
)
def test_look_alikes_do_not_flag(analyser, tok, text):
    assert analyser.score(text, tok.tokenize(text)).values["flagged"] == 0


def test_a_known_word_is_not_searched(tok):
    # a key inside a token the dictionary knows (it has a lemma reading) is the dictionary's business
    (token,) = [t for t in tok.tokenize("ガイジンさん") if "ガイジ" in t.surface] or [None]
    if token is not None and token.l_form:
        analyser = FlaggedAnalyser(AnalysisConfig(), tok)
        assert analyser.kana_compounds.add_matches([token], [], lambda *a: a) == []


def test_batch_and_single_agree(analyser, tok):
    texts = ["ガチガイジやん", "今日はいい天気", "ガイジ", "ジョコビッチ強すぎる", "キモオタゲーマーやな", "デブリ"]
    batch = analyser.score_many(tok.tokenize_many(texts))
    single = [analyser.score(t, tok.tokenize(t)) for t in texts]
    assert batch.values["flagged"] == [s.values["flagged"] for s in single] == [1, 0, 1, 0, 1, 0]
    assert batch.details["flagged_spans"] == [s.details["flagged_spans"] for s in single]


def test_layer_follows_the_lexicon(tok, tmp_path):
    # keys come from the lexicon's own harmful katakana entries of three or more characters, context any
    path = tmp_path / "mine.yaml"
    path.write_text(
        "name: mine\nversion: 1\ncategories:\n  food: {severity: topic}\n  insult: {severity: harmful}\n"
        "terms:\n  - {term: ラーメン, category: food}\n  - {term: バカ, category: insult}\n"
        "  - {term: ボンクラ, category: insult, context: target}\n",
        encoding="utf-8",
    )
    assert kana_compounds_for(load_lexicon(path, tok)) is None
    plain = FlaggedAnalyser(AnalysisConfig(lexicons=[str(path)], group_rules=False, pair_rules=False), tok)
    assert plain.kana_compounds is None
    assert plain.score("ガチボンクラやん", tok.tokenize("ガチボンクラやん")).values["flagged"] == 0
    path.write_text(path.read_text("utf-8").replace(", context: target", ""), encoding="utf-8")
    mine = FlaggedAnalyser(AnalysisConfig(lexicons=[str(path)], group_rules=False, pair_rules=False), tok)
    text = "ガチボンクラやん"
    assert mine.score(text, tok.tokenize(text)).values["flagged"] == int(not tok.tokenize(text)[0].l_form)
