"""Lexicon matching on real fugashi tokens: surface, lemma, spans, longest match."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.analysis.flagged import FlagMatch, find_flags, spans_json
from harness.analysis.lexicon import Lexicon, load_lexicon
from harness.analysis.tokenize import JapaneseTokenizer, normalize

LEXICON = """\
name: flags-test
version: 1
categories:
  insult: {severity: harmful}
  threat: {severity: harmful}
  topic: {severity: topic}
terms:
  - {term: バカ, category: insult}
  - {term: アホ, category: insult, match: surface}
  - {term: 痴, category: insult}
  - {term: ゴミ, category: insult}
  - {term: ゴミ人間, category: insult}
  - {term: 頭悪い, category: insult}
  - {term: 殺す, category: threat}
  - {term: 死ね, category: threat, match: surface}
  - {term: 消えろ, category: threat}
  - {term: まとも, category: topic}
"""


@pytest.fixture(scope="module")
def tok() -> JapaneseTokenizer:
    return JapaneseTokenizer()


@pytest.fixture(scope="module")
def lexicon(tok, tmp_path_factory) -> Lexicon:
    path = tmp_path_factory.mktemp("lex") / "flags.yaml"
    path.write_text(LEXICON, encoding="utf-8")
    return load_lexicon(path, tok)


def flags(tok, lexicon, text: str) -> list[tuple[str, str]]:
    """(matched text, entry term) pairs, checking each span against the text."""
    norm = normalize(text)
    out = []
    for m in find_flags(tok.tokenize(text), lexicon):
        out.append((norm[m.start : m.end], m.term))
    return out


@pytest.mark.parametrize(
    "text, expected",
    [
        # lemma matching: spelling variants of a dictionary-form entry
        ("ばかだな、馬鹿め、バカ", [("ばか", "バカ"), ("馬鹿", "バカ"), ("バカ", "バカ")]),
        ("ｱｲﾂはﾊﾞｶ", [("バカ", "バカ")]),  # half-width, NFKC first
        # inflections of a dictionary-form verb
        ("殺してやる、殺せ、殺された", [("殺し", "殺す"), ("殺せ", "殺す"), ("殺さ", "殺す")]),
        ("消えろ、消えた", [("消えろ", "消えろ")]),  # entry is inflected: that form only
        # match: surface turns lemma matching off (阿呆), but the generated kana
        # variant of the written form still matches (あほ)
        ("アホ、あほ、阿呆", [("アホ", "アホ"), ("あほ", "アホ")]),
        # inflected entry 死ね (orthBase 死ぬ) never fires on 死ぬ
        ("死ぬかと思った", []),
        ("死ね", [("死ね", "死ね")]),
        # whole tokens only: 愚痴 is one token, so 痴 does not match inside it
        ("愚痴を言う", []),
        # ゴミ箱 is one dictionary word; ゴミ人間 is two tokens and its own entry
        ("ゴミ箱に捨てる", []),
        ("ゴミだ", [("ゴミ", "ゴミ")]),
        ("ゴミ人間だ", [("ゴミ人間", "ゴミ人間")]),  # longest entry wins, no overlap
        # multi-token entry: consecutive tokens, last one inflected via lemma
        ("あいつは頭悪い", [("頭悪い", "頭悪い")]),
        ("頭悪かった", [("頭悪かっ", "頭悪い")]),
        ("頭が悪い", []),  # not consecutive
        # same lemma 正面, other reading: not the same word
        ("まともな人", [("まとも", "まとも")]),
        ("正面から見る", []),
        ("", []),
    ],
)
def test_matching_rule(tok, lexicon, text, expected):
    assert flags(tok, lexicon, text) == expected


def test_spans_are_offsets_in_normalised_text(tok, lexicon):
    text = "  本当に\nｵﾏｴは　ﾊﾞｶだろ ゴミ人間"
    norm = normalize(text)
    found = find_flags(tok.tokenize(text), lexicon)
    baka = norm.index("バカ")
    gomi = norm.index("ゴミ人間")
    assert found == [
        FlagMatch("バカ", "insult", baka, baka + 2, 0.7),
        FlagMatch("ゴミ人間", "insult", gomi, gomi + 4, 0.7),
    ]


def test_context_split_is_a_documented_miss(tok, lexicon):
    # MeCab reads お前頭悪い as お|前頭|悪い, so the entry 頭悪い (頭|悪い) cannot
    # match there: entries are tokenized in isolation.
    assert [t.surface for t in tok.tokenize("お前頭悪いな")][:2] == ["お", "前頭"]
    assert flags(tok, lexicon, "お前頭悪いな") == []


def test_auto_inflected_entry_matches_its_surface_only(tok, tmp_path):
    path = Path(tmp_path) / "auto.yaml"
    path.write_text(
        textwrap.dedent("""\
        name: a
        version: 1
        categories: {threat: {severity: harmful}}
        terms:
          - {term: 死ね, category: threat}
        """),
        encoding="utf-8",
    )
    lex = load_lexicon(path, tok)
    assert flags(tok, lex, "死ね") == [("死ね", "死ね")]
    assert flags(tok, lex, "もう死ぬ") == []


def test_index_lookup_scales_with_tokens(tok, lexicon):
    # Each text token is looked up in two dicts; entries are never scanned.
    index = lexicon.index
    assert set(index.by_surface) >= {"バカ", "ゴミ", "頭", "殺す", "死ね"}
    assert ("馬鹿", "バカ") in index.by_lemma
    # ゴミ and ゴミ人間 share their first token
    assert len(index.by_surface["ゴミ"]) == 2
    # inflected or surface-only entries are not in the lemma index
    assert all(
        lexicon.entries[i].term not in ("死ね", "アホ", "消えろ") for ids in index.by_lemma.values() for i in ids
    )


_SPAN_TEXT = st.text(st.sampled_from(list('ab"\\/\n\t\x00\x1f\x7fé馬鹿ｗ\u2028\ud800\U0001f600')), max_size=12)


@settings(max_examples=300, deadline=None)
@given(_SPAN_TEXT, st.lists(st.tuples(st.integers(0, 12), st.integers(0, 12), _SPAN_TEXT, _SPAN_TEXT), max_size=4))
def test_spans_json_is_json_dumps(text, spans):
    """``spans_json`` writes exactly what ``json.dumps(..., ensure_ascii=False)`` writes (int subclasses too)."""
    flags = [FlagMatch(term, category, start, end) for start, end, term, category in spans]
    expected = json.dumps(
        [[f.start, f.end, f.term, f.category, text[f.start : f.end]] for f in flags], ensure_ascii=False
    )
    assert spans_json(text, flags) == expected
    if flags:
        odd = [FlagMatch("t", "c", True, 2)]
        assert spans_json(text, odd) == json.dumps([[True, 2, "t", "c", text[1:2]]], ensure_ascii=False)
