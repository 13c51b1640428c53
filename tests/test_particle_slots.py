"""Particle slots of multi-word lexicon terms (harness.analysis.particle_slots), on real MeCab tokens.

Every sentence here was written for this test.
"""

from __future__ import annotations

import pytest

from harness.analysis.flagged import find_flags
from harness.analysis.lexicon import build_lexicon
from harness.analysis.particle_slots import particle_forms
from harness.analysis.tokenize import JapaneseTokenizer
from harness.data.lexicon_file import read_lexicon_file


@pytest.fixture(scope="module")
def tok() -> JapaneseTokenizer:
    return JapaneseTokenizer()


def forms(tok, term: str) -> set[str]:
    return {"".join(t.surface for t in form) for form in particle_forms(tok.tokenize(term), tok.tokenize)}


def test_adjective_slot_takes_every_subject_particle_or_none(tok):
    assert forms(tok, "頭が悪い") == {"頭悪い", "頭は悪い", "頭も悪い", "頭の悪い"}


def test_verb_slot_may_drop_its_particle_only(tok):
    assert forms(tok, "首を吊る") == {"首吊る"}
    assert forms(tok, "地獄に落ちろ") == {"地獄には落ちろ", "地獄落ちろ"}


def test_no_particle_is_put_where_the_term_has_none(tok):
    # 気持ち悪い (gross) must not become 気持ちが悪い (feeling sick); a one-word term has no slot
    assert forms(tok, "気持ち悪い") == set()
    assert forms(tok, "バカ") == set()


@pytest.fixture(scope="module")
def lexicon(tok, tmp_path_factory):
    path = tmp_path_factory.mktemp("lex") / "lex.yaml"
    path.write_text(
        "name: slots\nversion: 1\ncategories:\n  insult: {severity: harmful}\nterms:\n"
        "  - {term: 頭が悪い, category: insult}\n  - {term: 気持ち悪い, category: insult}\n"
        "  - {term: 知能が低い, category: insult, variants: false}\n",
        encoding="utf-8",
    )
    return build_lexicon(read_lexicon_file(path), tok)


@pytest.mark.parametrize(
    "text, terms",
    [
        ("お前って頭悪いな", ["頭が悪い"]),  # the dropped particle
        ("あいつは頭は悪いけど優しい", ["頭が悪い"]),  # は in the slot: the term is reported as written
        ("頭の悪い書き込み", ["頭が悪い"]),
        ("朝から気持ちが悪い", []),  # no particle was put into 気持ち悪い
        ("知能低すぎ", []),  # variants: false turns the forms off with the spelling variants
        ("頭が痛い", []),  # the slot frees the particle, not the words
    ],
)
def test_forms_match_as_their_term(tok, lexicon, text, terms):
    tokens = tok.tokenize(text)
    assert [m.term for m in find_flags(tokens, lexicon, text)] == terms
