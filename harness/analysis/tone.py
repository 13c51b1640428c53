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
from operator import contains
from typing import Sequence

from harness.analysis.protocol import BatchScore, TextScore
import numpy as np

from harness.analysis.tokenize import JapaneseTokenizer, RowProperty, RowTable, Token, TokenBatch, normalize
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
_IMPERATIVE = "命令形"  # a cForm starting with it
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


# per-row marker bits (``_tone_bits``), computed once per distinct token
_POLITE_BIT, _ROUGH_BIT, _IMPERATIVE_BIT, _FINAL_BIT, _FINAL_QUESTION_BIT = 1, 2, 4, 8, 16
_GRASS_BIT, _LAUGH_W_BIT, _ONLY_W_BIT, _PERIOD_BIT, _CLOSE_BIT = 32, 64, 128, 256, 512


def _tone_bits(table: RowTable, row: int) -> int:
    """The markers a token carries from its own fields (see the module docstring)."""
    surface, pos1, pos2 = table.surface[row], table.pos1[row], table.pos2[row]
    bits = 0
    if (pos1, table.lemma[row]) in _POLITE:
        bits |= _POLITE_BIT
    if surface in ROUGH_SECOND_PERSON or table.orth_base[row] in ROUGH_SECOND_PERSON:
        bits |= _ROUGH_BIT
    if table.c_form[row].startswith(_IMPERATIVE):
        bits |= _IMPERATIVE_BIT
    if (pos1, pos2) == _FINAL_PARTICLE:
        bits |= _FINAL_BIT | (_FINAL_QUESTION_BIT if surface in _QUESTION_PARTICLES else 0)
    if surface == "草":
        bits |= _GRASS_BIT
    if not surface.strip("w"):  # '' too, as ``is_laughter_w`` reads it
        bits |= _ONLY_W_BIT | (_LAUGH_W_BIT if surface else 0)
    if pos1 == "補助記号":
        bits |= _PERIOD_BIT if pos2 == "句点" else _CLOSE_BIT if pos2 == "括弧閉" else 0
    return bits


_TONE_BITS = RowProperty(_tone_bits)


def tone_columns(batch: TokenBatch) -> dict[str, list[int]]:
    """``tone_features`` of every text of ``batch`` (texts NFKC), as one 0/1 column per measure.

    Each token's markers are bits computed once per distinct token
    (``_TONE_BITS``); a text's are the OR of its tokens', in numpy.  Python
    looks at single tokens only for w runs (host names) and sentence-final
    か/の (what follows them).
    """
    texts, owners = batch.texts, batch.owners
    bits = _TONE_BITS.of(batch)
    per_text = _or_per_text(bits, batch.bound_array)
    starts, ends = batch.starts, batch.ends
    # ``operator.contains``, not ``str.__contains__``: a slot wrapper builds an argument tuple per call
    question = set(compress(count(), map(contains, texts, repeat("?"))))
    laughter = {i for i in compress(count(), map(contains, texts, repeat("笑)"))) if _laugh_string(texts[i])}
    laughter.update(np.flatnonzero(per_text & _GRASS_BIT).tolist())
    # the few tokens looked at one by one: their values as Python ints (a numpy scalar costs ~1k instructions);
    # found by one pass over the batch, then told apart among themselves
    special = np.flatnonzero(bits & (_LAUGH_W_BIT | _FINAL_QUESTION_BIT))
    w = special[(bits[special] & _LAUGH_W_BIT) != 0]
    for i, start, end in zip(owners[w].tolist(), starts[w].tolist(), ends[w].tolist()):
        if i not in laughter and _host_free(texts[i], start, end):
            laughter.add(i)
    final = special[(bits[special] & _FINAL_QUESTION_BIT) != 0]
    for k, i in zip(final.tolist(), owners[final].tolist()):
        if i not in question and _final_at(batch, bits, k, batch.bounds[i + 1], texts[i]):
            question.add(i)
    found = {
        "polite": per_text & _POLITE_BIT,
        "laughter": laughter,
        "rough_second_person": per_text & _ROUGH_BIT,
        "imperative": per_text & _IMPERATIVE_BIT,
        "question": question,
        "sentence_final_particle": per_text & _FINAL_BIT,
    }
    return {
        name: (hits != 0).astype(np.int64).tolist() if isinstance(hits, np.ndarray) else _ones_at(hits, len(texts))
        for name, hits in found.items()
    }


def _or_per_text(bits: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    """The OR of each text's token ``bits`` (text ``i``: tokens ``bounds[i]:bounds[i + 1]``; 0 for none),
    by one pass over the batch (``reduceat``)."""
    per_text = np.zeros(len(bounds) - 1, dtype=bits.dtype)
    if not len(bits):
        return per_text
    # the texts with tokens: each one's run ends where the next such text's begins (or the batch ends)
    filled = bounds[:-1] < bounds[1:]
    per_text[filled] = np.bitwise_or.reduceat(bits, bounds[:-1][filled])
    return per_text


def _ones_at(hits: set[int], n: int) -> list[int]:
    """A 0/1 column of ``n`` texts with 1 at ``hits`` (few: one step each)."""
    column = [0] * n
    for i in hits:
        column[i] = 1
    return column


def _final_at(batch: TokenBatch, bits: np.ndarray, k: int, end: int, text: str) -> bool:
    """Whether token ``k`` of ``batch`` ends its sentence (tokens up to ``end`` are its text's, ``text``)."""
    if k + 1 >= end:
        return True
    # the token and those after it in its text, as Python ints: one slice each, not a numpy scalar per read
    starts, ends = batch.starts[k:end].tolist(), batch.ends[k:end].tolist()
    for j, b in enumerate(bits[k + 1 : end].tolist(), 1):
        if starts[j] > ends[j - 1]:
            return True  # whitespace or a line break separates sentences
        if b & _PERIOD_BIT:
            return True
        if not (b & _CLOSE_BIT or (b & _ONLY_W_BIT and _host_free(text, starts[j], ends[j]))):
            return False
    return True


def _laugh_string(text: str) -> bool:
    return any(s in text for s in _LAUGH_STRINGS)


def is_laughter_w(tok: Token, text: str) -> bool:
    """True for a token of one or more 'w' that is not part of a host name."""
    if tok.surface.strip("w"):
        return False
    return _host_free(text, tok.start, tok.end)


def _host_free(text: str, start: int, end: int) -> bool:
    """``text[start:end]`` is not joined to an ASCII word by a dot (www.example.com / example.www)."""
    after = text[end : end + 2]
    before = text[max(start - 2, 0) : start]
    if len(after) == 2 and after[0] == "." and after[1].isascii() and after[1].isalnum():
        return False
    if len(before) == 2 and before[1] == "." and before[0].isascii() and before[0].isalnum():
        return False
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
