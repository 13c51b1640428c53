"""Register and tone markers of Japanese text, each a 0/1 feature per text.

These separate forum register from neutral prose (see shared/NOTES.md:
sentence-final particles 42% vs 4% of units, です/ます 4% vs 28%) and catch
hostile tone that carries no lexicon word.  Definitions, on unidic tokens of
the NFKC-normalised text:

polite
    an auxiliary verb です or ます (pos1 助動詞, lemma です/ます), any form.
laughter
    a token made only of ``w`` (ｗ becomes w under NFKC), one or more, unless
    it is part of a host name (``www.example.com``: a '.' plus an ASCII letter
    or digit right before or after it).  Words that merely contain w (``wow``,
    ``lolw``) are single MeCab tokens and never count.  Upper-case ``WWW`` is
    not counted (mostly "World Wide Web").  Also 草 as a token of its own
    (草原, 草木 are other tokens; literal grass, 草を刈る, is a known false
    alarm), and the strings (笑) / (爆笑).
rough_second_person
    a token whose surface or orthBase is one of お前, おまえ, オマエ, てめえ,
    テメエ, テメー, 貴様, きさま, おめえ (lemma 御前 alone would also hit
    御前会議, so lemmas are not used).
imperative
    a token whose cForm starts with 命令形 (しろ, 来い, くたばれ; also the polite
    くださいませ's ませ and ください: unidic tags both 命令形).
question
    a '?' anywhere (？ becomes ? under NFKC), or the particle か or の tagged
    終助詞 at the end of a sentence: only closing brackets, 句点 marks and
    laughter w's may follow before a full stop, a whitespace gap or the end of
    the text.  The particle must be the last one, so 行くのかな does not count.
sentence_final_particle
    any token tagged 終助詞 (ね, よ, な, ぞ, ぜ, わ, さ, か, の …); unidic gives
    that tag to particles in final position only, so no position test is made.
"""

from __future__ import annotations

import unicodedata
from itertools import compress, count, repeat
from operator import eq
from typing import Iterable, Sequence

from harness.analysis.protocol import BatchScore, TextScore
from harness.analysis.tokenize import JapaneseTokenizer, Token, TokenBatch, normalize
from harness.config import AnalysisConfig
from harness.record.schema import MeasureSpec

# name → (description, harmful).  Rough address is the one tone measure whose
# rise is a safety concern; the others describe register.
TONE_CATALOGUE = {
    "polite": ("です/ます auxiliary verbs (polite register)", False),
    "laughter": ("laughter markers: w runs, 草, (笑)", False),
    "rough_second_person": ("rough second person: お前, てめえ, 貴様 …", True),
    "imperative": ("a verb or auxiliary in imperative form (cForm 命令形)", False),
    "question": ("a question mark or a sentence-final か/の", False),
    "sentence_final_particle": ("a sentence-final particle (ね, よ, な, ぞ, わ …)", False),
}
TONE_MEASURES = tuple(TONE_CATALOGUE)

ROUGH_SECOND_PERSON = frozenset({"お前", "おまえ", "オマエ", "てめえ", "テメエ", "テメー", "貴様", "きさま", "おめえ"})
_POLITE = frozenset({("助動詞", "です"), ("助動詞", "ます")})  # (pos1, lemma)
_FINAL_PARTICLE = ("助詞", "終助詞")  # (pos1, pos2)
_IMPERATIVE = "\n命令形"  # a cForm starting with 命令形, in the cForms joined after newlines
_LAUGH_STRINGS = ("(笑)", "(爆笑)")
_QUESTION_PARTICLES = frozenset({"か", "の"})


def tone_features(tokens: Sequence[Token], text: str) -> dict[str, int]:
    """0/1 for each of ``TONE_MEASURES``.

    ``text`` is the text the tokens came from; it is NFKC-normalised here if
    it is not already, so that token offsets index it correctly.
    """
    if not unicodedata.is_normalized("NFKC", text):
        text = normalize(text)
    return {name: column[0] for name, column in tone_columns(TokenBatch.of([text], [tokens])).items()}


def tone_columns(batch: TokenBatch) -> dict[str, list[int]]:
    """``tone_features`` of every text of ``batch`` (texts NFKC), as one 0/1 column per measure.

    Each marker is a scan of one token field over the whole batch in C (set
    and sequence operations); Python looks at single tokens only for w runs
    and sentence-final か/の.
    """
    texts, columns, owners = batch.texts, batch.columns, batch.owners
    surface, lemma, pos1, pos2 = columns.surface, columns.lemma, columns.pos1, columns.pos2

    def holding(rows: Iterable[bool]) -> set[int]:  # the texts with a row where ``rows`` is true
        return set(compress(owners, rows))

    question = set(compress(count(), map(str.__contains__, texts, repeat("?"))))
    laughter = {i for i in compress(count(), map(str.__contains__, texts, repeat("笑)"))) if _laugh_string(texts[i])}
    if "草" in surface:
        laughter |= holding(map(eq, surface, repeat("草")))
    for row in compress(count(), map(str.startswith, surface, repeat("w"))):
        i = owners[row]
        if i not in laughter and is_laughter_w(Token(*(c[row] for c in columns)), texts[i]):
            laughter.add(i)
    final: list[int] = []  # rows of sentence-final particles
    if _FINAL_PARTICLE[1] in pos2:
        tagged = compress(count(), map(eq, pos2, repeat(_FINAL_PARTICLE[1])))
        final = [r for r in tagged if pos1[r] == _FINAL_PARTICLE[0]]
    tokens = batch.tokens()
    for row in final:
        i = owners[row]
        if i not in question and surface[row] in _QUESTION_PARTICLES:
            if _sentence_final(tokens[i], row - batch.bounds[i], texts[i]):
                question.add(i)
    polite: set[int] = set()
    if "です" in lemma or "ます" in lemma:
        polite = holding(map(_POLITE.__contains__, zip(pos1, lemma)))
    rough: set[int] = set()
    if not ROUGH_SECOND_PERSON.isdisjoint(surface) or not ROUGH_SECOND_PERSON.isdisjoint(columns.orth_base):
        rough = holding(map(ROUGH_SECOND_PERSON.__contains__, surface))
        rough |= holding(map(ROUGH_SECOND_PERSON.__contains__, columns.orth_base))
    imperative: set[int] = set()
    if _IMPERATIVE in "\n".join(("", *columns.c_form)):
        imperative = holding(map(str.startswith, columns.c_form, repeat(_IMPERATIVE[1:])))
    found = {
        "polite": polite,
        "laughter": laughter,
        "rough_second_person": rough,
        "imperative": imperative,
        "question": question,
        "sentence_final_particle": set(map(owners.__getitem__, final)),
    }
    everyone = range(len(texts))
    return {name: list(map(int, map(hits.__contains__, everyone))) for name, hits in found.items()}


def _laugh_string(text: str) -> bool:
    return any(s in text for s in _LAUGH_STRINGS)


def is_laughter_w(tok: Token, text: str) -> bool:
    """True for a token of one or more 'w' that is not part of a host name."""
    surface = tok.surface
    if surface.strip("w"):
        return False
    # www.example.com / example.www: a dot joining it to an ASCII word.
    after = text[tok.end : tok.end + 2]
    before = text[max(tok.start - 2, 0) : tok.start]
    if len(after) == 2 and after[0] == "." and after[1].isascii() and after[1].isalnum():
        return False
    if len(before) == 2 and before[1] == "." and before[0].isascii() and before[0].isalnum():
        return False
    return True


def _sentence_final(tokens: list[Token], i: int, text: str) -> bool:
    """Whether token ``i`` ends its sentence (see the module docstring)."""
    prev_end = tokens[i].end
    for tok in tokens[i + 1 :]:
        if tok.start > prev_end:
            return True  # whitespace or a line break separates sentences
        if tok.pos1 == "補助記号" and tok.pos2 == "句点":
            return True
        if not ((tok.pos1 == "補助記号" and tok.pos2 == "括弧閉") or is_laughter_w(tok, text)):
            return False
        prev_end = tok.end
    return True


class ToneAnalyser:
    """Register and tone markers (see the module docstring), each 0/1 per text."""

    name = "tone"

    def __init__(self, config: AnalysisConfig, tokenizer: JapaneseTokenizer) -> None:
        pass  # nothing to load: the rules are fixed

    def measures(self) -> list[MeasureSpec]:
        return [
            MeasureSpec(name=m, analyser=self.name, description=d, harmful=h, kind="binary")
            for m, (d, h) in TONE_CATALOGUE.items()
        ]

    def detail_columns(self) -> list[str]:
        return []

    def score(self, text: str, tokens: Sequence[Token]) -> TextScore:
        return TextScore(tone_features(tokens, text), {})

    def score_many(self, batch: TokenBatch) -> BatchScore:
        """``score`` of every text of ``batch`` (``tone_columns``)."""
        return BatchScore(tone_columns(batch), {})

    def table_builder(self) -> None:
        return None
