"""Lexicon loading: schema checks name file, line and entry; merging."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from harness.analysis.lexicon import Lexicon, LexiconError, load_lexicon, merge_lexicons
from harness.analysis.tokenize import JapaneseTokenizer
from harness.errors import ConfigError, InputError
from harness.resources import default_lexicon

GOOD = """\
name: test-lex
version: 2
description: small test lexicon
categories:
  insult: {severity: harmful, description: name-calling}
  politics: {severity: topic}
terms:
  - {term: バカ, category: insult}
  - {term: 死ね, category: insult, match: surface}
  - {term: ｱﾎ, category: insult}
  - {term: 頭悪い, category: insult}
  - {term: 選挙, category: politics}
"""


@pytest.fixture(scope="module")
def tok() -> JapaneseTokenizer:
    return JapaneseTokenizer()


def write(tmp_path: Path, text: str, name: str = "lex.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_load_good_lexicon(tmp_path, tok):
    lex = load_lexicon(write(tmp_path, GOOD), tok)
    assert (lex.name, lex.version) == ("test-lex", 2)
    assert list(lex.categories) == ["insult", "politics"]
    assert lex.categories["insult"].description == "name-calling"
    assert lex.harmful_categories() == {"insult"}
    terms = [(e.term, e.category, e.match, e.line) for e in lex.entries]
    assert terms == [
        ("バカ", "insult", "auto", 8),
        ("死ね", "insult", "surface", 9),
        ("アホ", "insult", "auto", 10),  # NFKC applied to the term
        ("頭悪い", "insult", "auto", 11),
        ("選挙", "politics", "auto", 12),
    ]
    assert [t.surface for t in lex.entries[3].tokens] == ["頭", "悪い"]


def test_entry_keys_follow_match_mode_and_dictionary_form(tmp_path, tok):
    lex = load_lexicon(write(tmp_path, GOOD), tok)
    baka, shine, *_ = lex.entries
    assert baka.keys == (("バカ", ("馬鹿", "バカ")),)
    # 死ね is inflected (orthBase 死ぬ) and marked surface: surface only
    assert shine.keys == (("死ね", None),)
    assert lex.index.by_surface["バカ"] == [0]
    assert lex.index.by_lemma[("馬鹿", "バカ")] == [0]


def test_match_spelling_keeps_to_the_entrys_kanji(tmp_path, tok):
    """刺す, 指す and 差す are one unidic lexeme (差す-他動詞, サス): ``match: spelling`` takes the lemma's
    inflections written with the entry's kanji (or in kana), not the other words."""
    from harness.analysis.flagged import find_flags

    text = GOOD.replace("  - {term: 選挙", "  - {term: 刺す, category: insult, match: spelling}\n  - {term: 選挙")
    lex = load_lexicon(write(tmp_path, text), tok)
    stab = next(e for e in lex.entries if e.term == "刺す")
    assert stab.keys == (("刺す", ("差す-他動詞", "サス")),) and stab.kanji == (frozenset("刺"),)
    assert lex.entries[0].kanji == (None,)  # バカ (auto): any spelling of its lemma
    for sentence, found in (("ナイフで刺した", ["刺す"]), ("何を指してるの", []), ("傘を差した", []), ("さした", [])):
        assert [m.term for m in find_flags(tok.tokenize(sentence), lex, sentence)] == found, sentence


def test_spelling_agrees():
    from harness.analysis.lexicon import spelling_agrees

    stab = frozenset("刺")
    assert spelling_agrees(stab, "刺す") and not spelling_agrees(stab, "指す")
    assert spelling_agrees(frozenset("痛"), "痛め付ける")  # one's kanji hold the other's
    assert spelling_agrees(stab, "さす") and spelling_agrees(None, "指す")


def _error(tmp_path, tok, text) -> LexiconError:
    with pytest.raises(LexiconError) as info:
        load_lexicon(write(tmp_path, text), tok)
    assert str(tmp_path / "lex.yaml") in str(info.value)
    return info.value


TERMS_HEAD = """\
name: t
version: 1
categories:
  insult: {severity: harmful}
terms:
"""


@pytest.mark.parametrize(
    "terms, line, message",
    [
        ("  - {term: バカ, category: threat}\n", 6, "term #0 'バカ': unknown category 'threat'"),
        ("  - {term: バカ, category: insult}\n  - {category: insult}\n", 7, "terms.1.term: Field required"),
        ("  - {term: バカ}\n", 6, "terms.0.category: Field required"),
        (
            "  - {term: バカ, category: insult, match: lemma}\n",
            6,
            "terms.0.match: Input should be 'auto', 'surface' or 'spelling'",
        ),
        (
            "  - {term: バカ, category: insult}\n  - {term: ﾊﾞｶ, category: insult}\n",
            7,
            "term #1 'ﾊﾞｶ': duplicate of term #0",
        ),
        (
            "  - {term: バカ, category: insult, note: x}\n",
            6,
            "unknown key 'terms.0.note' (allowed: category, context, match, not_in, pos, term, variants, weight)",
        ),
        ("  - {term: 123, category: insult}\n", 6, "term #0: term must be a string (quote it in YAML)"),
        ("  - {term: '  ', category: insult}\n", 6, "term #0 '  ': missing 'term'"),
        ("  - {term: バカ, category: insult}\n  - {term: null, category: insult}\n", 7, "term #1: missing 'term'"),
        ("  - {term: '{}', category: insult}\n  - {term: [a], category: insult}\n", 7, "term #1: term must be"),
        ("  - {term: '。', category: insult}\n", None, None),  # punctuation is a token: fine
        ("  - バカ\n", 6, "expected a mapping"),
        ("  - {term: バカ, term: アホ, category: insult}\n", 6, "key 'term' given twice"),
    ],
)
def test_term_errors_name_entry_and_line(tmp_path, tok, terms, line, message):
    if message is None:
        assert load_lexicon(write(tmp_path, TERMS_HEAD + terms), tok).entries
        return
    err = _error(tmp_path, tok, TERMS_HEAD + terms)
    assert err.line == line
    assert message in str(err)
    assert str(err).startswith(f"{tmp_path / 'lex.yaml'}:{line}: ")


@pytest.mark.parametrize(
    "text, line, message",
    [
        ("", None, "empty lexicon file"),
        ("# only a comment\n", None, "empty lexicon file"),
        (
            "name: t\nversion: 1\ncategories:\n  insult: {severity: bad}\nterms:\n  - {term: a, category: insult}\n",
            4,
            "categories.insult.severity: Input should be 'harmful' or 'topic'",
        ),
        (
            "name: t\nversion: 1\ncategories:\n  insult: {severity: harmful, colour: red}\n"
            "terms:\n  - {term: a, category: insult}\n",
            4,
            "unknown key 'categories.insult.colour' (allowed: description, severity, weight)",
        ),
        (
            "name: t\nversion: 1\nauthor: me\ncategories: {}\nterms: []\n",
            3,
            "unknown key 'author' (allowed: categories, ",
        ),
        ("name: t\nversion: [1]\ncategories: {}\nterms: []\n", 2, "version: must be an integer or a string"),
        ("name: t\nversion: true\ncategories: {}\nterms: []\n", 2, "version: must be an integer or a string"),
        ("name: t\nversion: 1\ncategories: {}\nterms: []\n", 3, "categories: Dictionary should have at least 1 item"),
        ("name: t\nversion: 1\ncategories:\n  insult: {severity: harmful}\n", 1, "terms: Field required"),
        ("name: t\nversion: 1\ncategories:\n  insult: {severity: harmful\nterms: []\n", 5, "YAML syntax error"),
        (
            "name: t\nversion: 1\ncategories:\n  insult: {severity: harmful}\n  insult: {severity: topic}\n"
            "terms:\n  - {term: a, category: insult}\n",
            5,
            "key 'insult' given twice (first at line 4)",
        ),
        (
            "name: t\nversion: 1\ncategories:\n  bad name: {severity: harmful}\n"
            "terms:\n  - {term: a, category: bad name}\n",
            4,
            "category name 'bad name'",
        ),
        ("- a\n- b\n", 1, "expected a mapping"),
        ("name: t\nversion: 1\ncategories:\n  insult: {severity: harmful}\nterms: [\n", 6, "YAML syntax error"),
    ],
)
def test_file_errors(tmp_path, tok, text, line, message):
    err = _error(tmp_path, tok, text)
    assert err.line == line
    assert message in str(err)
    assert isinstance(err, ConfigError)


def test_shift_jis_file_is_a_lexicon_error(tmp_path, tok):
    path = tmp_path / "lex.yaml"
    path.write_bytes((TERMS_HEAD + "  - {term: バカ, category: insult}\n").encode("shift_jis"))
    with pytest.raises(LexiconError) as info:
        load_lexicon(path, tok)
    assert info.value.line == 6
    assert str(info.value).startswith(f"{path}:6: not valid UTF-8 at column ")
    assert "Shift_JIS" in str(info.value)


def test_missing_file_is_input_error(tmp_path, tok):
    with pytest.raises(InputError, match="lexicon file not found"):
        load_lexicon(tmp_path / "nope.yaml", tok)


def test_merge_unites_categories_and_terms(tmp_path, tok):
    a = load_lexicon(write(tmp_path, GOOD, "a.yaml"), tok)
    b = load_lexicon(
        write(
            tmp_path,
            """\
            name: extra
            version: 1
            categories:
              insult: {severity: harmful}
              threat: {severity: harmful}
            terms:
              - {term: バカ, category: insult}
              - {term: 殺す, category: threat}
            """,
            "b.yaml",
        ),
        tok,
    )
    merged = merge_lexicons([a, b])
    assert merged.name == "test-lex+extra"
    assert list(merged.categories) == ["insult", "politics", "threat"]
    assert [e.term for e in merged.entries] == ["バカ", "死ね", "アホ", "頭悪い", "選挙", "殺す"]
    assert merge_lexicons([a]) is a


def test_merge_conflicts_are_errors(tmp_path, tok):
    a = load_lexicon(write(tmp_path, GOOD, "a.yaml"), tok)
    clash = write(
        tmp_path,
        """\
        name: c
        version: 1
        categories:
          insult: {severity: topic}
        terms:
          - {term: 馬鹿, category: insult}
        """,
        "c.yaml",
    )
    with pytest.raises(ConfigError, match="category 'insult' is 'harmful' in .*a.yaml but 'topic' in .*c.yaml"):
        merge_lexicons([a, load_lexicon(clash, tok)])
    other = write(
        tmp_path,
        """\
        name: d
        version: 1
        categories:
          politics: {severity: topic}
        terms:
          - {term: バカ, category: politics}
        """,
        "d.yaml",
    )
    with pytest.raises(ConfigError, match="term 'バカ' is 'insult'"):
        merge_lexicons([a, load_lexicon(other, tok)])
    with pytest.raises(ConfigError, match="at least one lexicon"):
        merge_lexicons([])


def test_project_lexicon_loads(tok):
    """The bundled lexicon is the one README's "Flagged terms" section describes."""
    lex = load_lexicon(default_lexicon(), tok)
    assert isinstance(lex, Lexicon) and (lex.name, lex.version) == ("ja-flagged", 11)
    # 451 terms, and 44 further particle forms of 17 of them (harness.analysis.particle_slots)
    assert (len({e.term for e in lex.entries}), len(lex.entries)) == (451, 495)
    harmful = {"insult", "harassment", "discrimination", "sexual", "threat", "profanity", "self_harm"}
    assert lex.harmful_categories() == harmful
    assert set(lex.categories) == harmful | {"politics"}
