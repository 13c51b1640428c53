"""Spelling variants, context rules, exceptions and plain word lists, on real fugashi tokens.

Content note: the test strings contain insults and threats on purpose; they
were written for this project.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.analysis.context_rules import has_target, inside_phrase
from harness.analysis.flagged import FlaggedAnalyser, find_flags
from harness.analysis.lexicon import load_lexicon, load_word_list
from harness.analysis.tokenize import JapaneseTokenizer, normalize
from harness.analysis.variants import MASK, fold, spoken_adjective, variant_keys
from harness.config import AnalysisConfig, WordListConfig
from harness.data.lexicon_file import LexiconError

LEXICON = """\
name: variants-test
version: 1
categories:
  insult: {severity: harmful}
  threat: {severity: harmful, weight: 0.9}
  sexual: {severity: harmful}
terms:
  - {term: バカ, category: insult}
  - {term: 死ね, category: threat, match: surface}
  - {term: 殺す, category: threat}
  - {term: ゴミ, category: insult, context: target}
  - {term: カス, category: insult, pos: [名詞], match: surface}
  - {term: 野郎, category: insult, variants: false}
  - {term: 生理, category: sexual, not_in: [生理学]}
  - {term: ニガー, category: insult}
exceptions: [バカにされ]
"""


@pytest.fixture(scope="module")
def tok() -> JapaneseTokenizer:
    return JapaneseTokenizer()


@pytest.fixture(scope="module")
def lexicon(tok, tmp_path_factory):
    path = tmp_path_factory.mktemp("lex") / "variants.yaml"
    path.write_text(LEXICON, encoding="utf-8")
    return load_lexicon(path, tok)


def hits(tok, lexicon, text: str) -> list[tuple[str, str, str]]:
    """(matched text, entry term, via) for every flag in ``text``."""
    norm = normalize(text)
    return [(norm[m.start : m.end], m.term, m.via) for m in find_flags(tok.tokenize(norm), lexicon, norm)]


def test_fold():
    assert fold("バーカ") == "ばか"  # katakana → hiragana, elongation dropped
    assert fold("ばかぁぁぁ") == "ばかあ"  # small kana made large, runs collapsed
    assert fold("死○") == "死" + MASK and fold("し＊ね") == "し" + MASK + "ね"
    assert fold("し・ね") == "しね" and fold("ABC") == "abc"


def test_variant_keys_of_a_kanji_term():
    keys = variant_keys("死ね", "シネ")
    assert {"死ね", "しね", "氏ね", "市ね", "たひね", "死" + MASK, MASK + "ね", "し" + MASK} <= keys
    assert MASK * 2 not in keys  # nothing but masks would match every censored word
    assert variant_keys("糞", None) == {"糞"}  # one character: no generated variants


def test_spoken_adjective_forms():
    assert spoken_adjective("うざい") == {"うぜえ", "うざっ"}  # ai → ee, cut short
    assert spoken_adjective("きもい") == {"きめえ", "きもっ"}  # oi → ee
    assert spoken_adjective("わるい") == {"わりい", "わるっ"}  # ui → ii
    assert spoken_adjective("うっとうしい") == {"うっとうしっ"}  # no fusion of しい
    assert spoken_adjective("よい") == set() and spoken_adjective("ばか") == set()  # too short / not an adjective
    assert "うぜえ" in variant_keys("ウザい", "ウザイ", adjective=True)
    assert "うぜえ" not in variant_keys("ウザい", "ウザイ")


@pytest.mark.parametrize(
    "text, expected",
    [
        ("氏ね", [("氏ね", "死ね", "variant")]),
        ("タヒね", [("タヒね", "死ね", "variant")]),
        ("死●", [("死●", "死ね", "variant")]),
        ("しねええええ", [("しねええええ", "死ね", "variant")]),  # drawn-out ending
        ("ころす", [("ころす", "殺す", "token")]),  # unidic reads it as 殺す: the lemma rule
        ("コロス", [("コロス", "殺す", "variant")]),  # the reading of a kanji entry
        ("ばかぁぁぁ", [("ばかぁぁぁ", "バカ", "variant")]),
        ("バカ", [("バカ", "バカ", "token")]),
        # kana spellings never fire on function words
        ("まぁ元々多いしね", []),
        ("そんなことしねえよ", []),  # one trailing え: "won't do", not 死ね
        ("ずっと見ていたい", []),
        # nor end on a case particle the entry lacks: ニー+が folds to にが, not ニガー
        ("ディバニーがゼネラル", []),
        # variants: false keeps to the token rule (やろう is "let's do")
        ("やろうか", []),
    ],
)
def test_variant_matching(tok, lexicon, text, expected):
    assert hits(tok, lexicon, text) == expected


@pytest.mark.parametrize(
    "text, flagged",
    [
        ("ゴミを出す日", False),  # no target: an ordinary noun
        ("お前はゴミだ", True),  # second person
        ("このゴミが", True),  # demonstrative before the term
        ("ゴミやん", True),  # predicative ending after it
        ("ゴミ箱に捨てた", False),  # one dictionary word, never a match
        ("カスが", True),  # a noun: pos rule holds
        ("生理学の講義", False),  # inside a not_in compound
        ("生理が来た", True),
        ("作品までバカにされてる", False),  # inside a lexicon-wide exception
    ],
)
def test_context_rules(tok, lexicon, text, flagged):
    assert bool(hits(tok, lexicon, text)) is flagged


def test_has_target_frames(tok):
    def frame(text: str, term: str) -> bool:
        tokens = tok.tokenize(text)
        i = next(k for k, t in enumerate(tokens) if t.surface == term)
        return has_target(tokens, i, i)

    assert frame("消えろゴミ", "ゴミ")  # an imperative in the sentence
    assert frame("こいつゴミすぎ", "ゴミ")
    assert not frame("ゴミを拾った。お前は偉い", "ゴミ")  # the second person is in another sentence


def test_inside_phrase():
    text = "生理学と生理"
    assert inside_phrase(text, 0, 2, ("生理学",)) and not inside_phrase(text, 4, 6, ("生理学",))
    assert not inside_phrase(text, 0, 2, ())


def test_toxicity_is_the_noisy_or_of_distinct_terms(tok, tmp_path):
    path = tmp_path / "lex.yaml"
    path.write_text(LEXICON, encoding="utf-8")
    analyser = FlaggedAnalyser(AnalysisConfig(lexicons=[path]), tok)
    score = lambda text: analyser.score(normalize(text), tok.tokenize(text))  # noqa: E731
    assert score("今日は晴れ").values["toxicity"] == 0.0
    assert score("バカ").values["toxicity"] == 0.7  # insult's default weight
    assert score("バカ、バカ").values["toxicity"] == 0.7  # one distinct term counts once
    # バカ (0.7) and 死ね (0.9, the category's weight): 1 − 0.3 × 0.1
    both = score("バカ死ね")
    assert both.values["toxicity"] == pytest.approx(0.97)


@pytest.mark.parametrize(
    "text, detectors",
    [
        ("今日は晴れ", ""),  # nothing matched
        ("バカ", "lexicon"),  # a dictionary hit
        ("ばかぁぁぁ", "variant"),  # only a folded spelling matches
        ("お前はゴミだ", "context;lexicon"),  # an ordinary word, counted because of its target frame
        ("バカ死ね", "lexicon;variant"),  # MeCab splits 死ね differently here: found by its folded form
    ],
)
def test_detectors_name_what_found_the_harmful_matches(tok, tmp_path, text, detectors):
    path = tmp_path / "lex.yaml"
    path.write_text(LEXICON, encoding="utf-8")
    analyser = FlaggedAnalyser(AnalysisConfig(lexicons=[path]), tok)
    assert analyser.score(normalize(text), tok.tokenize(normalize(text))).details["detectors"] == detectors


def test_word_list_is_a_custom_category(tok, tmp_path, lexicon):
    words = tmp_path / "words.txt"
    words.write_text("# a comment\nアホ\n\nアホ\nバカ\nクソ野郎\n", encoding="utf-8")
    lex = load_word_list(words, "mylist", tok, exclude=["クソ野郎"])
    assert [e.term for e in lex.entries] == ["アホ", "バカ"]  # repeated and excluded terms dropped
    assert lex.categories["mylist"].weight == 0.6 and lex.entries[0].line == 2
    analyser = FlaggedAnalyser(
        AnalysisConfig(lexicons=[Path(lexicon.path)], word_lists=[WordListConfig(path=words, category="mylist")]),
        tok,
    )
    assert "cat_mylist" in {m.name for m in analyser.measures()}
    scored = analyser.score("あほ", tok.tokenize("あほ"))  # kana variant of the list's アホ
    assert scored.values["cat_mylist"] == 1 and scored.values["flagged"] == 1
    # バカ is in both: the YAML lexicon's entry wins, no error
    assert analyser.score("バカ", tok.tokenize("バカ")).details["flagged_categories"] == "insult"


def test_word_list_errors(tok, tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("# nothing\n\n", encoding="utf-8")
    with pytest.raises(LexiconError, match="word list has no terms"):
        load_word_list(empty, "x", tok)
    bad = tmp_path / "bad.txt"
    bad.write_bytes("アホ\n".encode() + b"\xff\xfe\n")
    with pytest.raises(LexiconError, match=r"bad\.txt:2: not UTF-8"):
        load_word_list(bad, "x", tok)


def test_shared_word_lists_load(tok):
    root = Path(__file__).resolve().parents[2] / "shared" / "lexicons" / "inappropriate-words-ja"
    if not root.is_dir():
        pytest.skip("../shared/lexicons is not here")
    lex = load_word_list(root / "Sexual.txt", "sexual_list", tok)
    assert len(lex.entries) > 200 and all(e.folded for e in lex.entries)


def test_kana_conversions():
    from harness.text import hiragana, katakana

    assert katakana("しね、バカ") == "シネ、バカ" and hiragana("シネ、ばか") == "しね、ばか"
    assert hiragana(katakana("ぁゖ")) == "ぁゖ"  # the whole range, small kana too, both ways
