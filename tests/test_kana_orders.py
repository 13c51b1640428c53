"""Kana orders glued to a lead word (harness.analysis.kana_orders), and し+ねー as the casual negative of する.

Every sentence here was written for this test.
"""

from __future__ import annotations

import json

import pytest

from conftest import assert_batch_equals_single, own_lexicon

from harness.analysis.flagged import VARIANT
from harness.analysis.kana_orders import kana_orders_for


def spans(analyser, tok, text: str) -> list[list]:
    return json.loads(analyser.score(text, tok.tokenize(text)).details["flagged_spans"] or "[]")


@pytest.mark.parametrize(
    "text, term, surface",
    [
        ("お前しね", "死ね", "しね"),  # MeCab: お前 + し (particle) + ね
        ("はよしねや", "死ね", "しね"),  # は + よしね (a name)
        ("まじでしねや", "死ね", "しね"),  # まじ + でし (です) + ね
        ("お前まじでしね！", "死ね", "しね"),
        ("お前もシネ", "死ね", "シネ"),  # katakana, folded to hiragana
        ("おまえきえろ", "消えろ", "きえろ"),
    ],
)
def test_kana_orders_after_a_lead_flag(analyser, tok, text, term, surface):
    scored = analyser.score(text, tok.tokenize(text))
    found = spans(analyser, tok, text)
    assert scored.values["flagged"] == 1 and scored.values["cat_threat" if term == "死ね" else "cat_harassment"] == 1
    assert [s[2] for s in found] == [term] and found[0][4] == surface
    assert scored.details["detectors"] == VARIANT


@pytest.mark.parametrize(
    "text",
    [
        "このケーキおいしね",  # 美味し + ね: an adjective, no lead
        "早くしねーと遅れるぞ",  # し + ねー: しない said casually (flagged as 死ね before lexicon v9)
        "もうしねーよ",  # "I won't do it again"
        "お前しねーの？",  # the same negative after a second-person word
        "楽しんで！",  # しんで inside 楽しむ
        "はよしねま行こう",  # the kana go on: no end of an order
    ],
)
def test_look_alikes_do_not_flag(analyser, tok, text):
    assert analyser.score(text, tok.tokenize(text)).values["flagged"] == 0


def test_lone_kana_order_still_found_by_the_variant_scan(analyser, tok):
    for text in ("しね", "しねよ", "さっさとしねよ"):
        assert analyser.score(text, tok.tokenize(text)).values["flagged"] == 1


def test_batch_and_single_agree(analyser, tok):
    # the batch looks only at texts holding a kana key (a substring test); one text alone always looks
    texts = ["お前しね", "今日はいい天気", "はよしねや", "早くしねーと遅れるぞ", "まじでしねや、クズ", "楽しんで！"]
    assert_batch_equals_single(analyser, tok, texts, [1, 0, 1, 0, 1, 0])


def test_rule_follows_the_lexicon(tok, tmp_path):
    # the keys come from the lexicon's own harmful entries of the order categories: none, no rule
    terms = "  - {term: すし, category: food}\n  - {term: バカ, category: insult}\n"
    plain = own_lexicon(tmp_path / "mine.yaml", terms, tok)
    assert kana_orders_for(plain.lexicon) is None and plain.kana_orders is None
    assert plain.score("お前しね", tok.tokenize("お前しね")).values["flagged"] == 0
