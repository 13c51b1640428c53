"""Harmful katakana words inside an unknown katakana compound (harness.analysis.kana_compounds).

Every sentence here was written for this test.
"""

from __future__ import annotations

import json

import pytest

from conftest import assert_batch_equals_single, own_lexicon

from harness.analysis.flagged import VARIANT, FlagMatch
from harness.analysis.kana_compounds import kana_compounds_for


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


def test_a_known_word_is_not_searched(analyser, tok):
    # ガイジン (外人) is a word the dictionary knows (it has a lemma reading): the key inside it is not looked at
    (token,) = [t for t in tok.tokenize("ガイジンさん") if "ガイジ" in t.surface]
    assert token.surface == "ガイジン" and token.l_form
    assert analyser.kana_compounds.add_matches([token], [], FlagMatch) == []
    unknown = token._replace(surface="ガイジンズ", l_form="")  # the same characters in an unknown token
    assert [m.term for m in analyser.kana_compounds.add_matches([unknown], [], FlagMatch)] == ["ガイジ"]


def test_batch_and_single_agree(analyser, tok):
    texts = ["ガチガイジやん", "今日はいい天気", "ガイジ", "ジョコビッチ強すぎる", "キモオタゲーマーやな", "デブリ"]
    assert_batch_equals_single(analyser, tok, texts, [1, 0, 1, 0, 1, 0])


def test_layer_follows_the_lexicon(tok, tmp_path):
    # keys come from the lexicon's own harmful katakana entries of three or more characters, context any
    terms = "  - {term: ラーメン, category: food}\n  - {term: ボンクラ, category: insult, context: target}\n"
    plain = own_lexicon(tmp_path / "mine.yaml", terms, tok)
    assert kana_compounds_for(plain.lexicon) is None and plain.kana_compounds is None
    text = "ガチボンクラやん"
    assert plain.score(text, tok.tokenize(text)).values["flagged"] == 0
    mine = own_lexicon(tmp_path / "mine.yaml", terms.replace(", context: target", ""), tok)
    assert mine.score(text, tok.tokenize(text)).values["flagged"] == int(not tok.tokenize(text)[0].l_form)
