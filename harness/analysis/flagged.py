"""Lexicon matching on tokens (never on raw substrings, never with regex ``\\b``).

The rule, per entry token ``e`` and text token ``t``:

* ``t.surface == e.surface`` always matches;
* with ``match: auto`` (the default) and ``e`` written in dictionary form
  (``e.surface == e.orth_base``), ``t`` also matches when it is the same
  lexeme: ``(t.lemma, t.l_form) == (e.lemma, e.l_form)``.  That catches
  inflections (殺す → 殺し, 殺せ, 殺した) and spelling variants (バカ → ばか,
  馬鹿; ブタ → 豚), but not words that unidic files under one lemma with
  another reading (まとも vs 正面, both lemma 正面).
* An entry written in an inflected form (死ね: surface ≠ orthBase 死ぬ) matches
  that surface only, with either match mode, so 死ね never fires on 死ぬ.
  ``match: surface`` turns lemma matching off for every token of the entry
  (e.g. バカ with ``surface`` misses 馬鹿).

A multi-token entry matches a run of consecutive tokens (whitespace between
them is ignored).  Because matching is on whole tokens, a term never matches
inside a longer dictionary word: 痴 does not fire in 愚痴, ゴミ not in ゴミ箱
(one unidic token), 死 not in 死ぬ; but ゴミ does fire in ゴミ人間 (two tokens).
Entries are tokenized in isolation; when context makes MeCab split the text
differently from the entry, the entry does not match there.

Matches are leftmost-longest and never overlap: at each token the longest
matching entry wins (ties: an exact surface match, then the lexicon's order)
and scanning resumes after it, so ``flag_count`` counts each stretch of text
once and spans can be masked without conflicts.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.analysis.lexicon import Entry, Lexicon
from harness.analysis.tokenize import Token


@dataclass(frozen=True)
class FlagMatch:
    """A lexicon hit: entry term, its category, and the span in the normalised text."""

    term: str
    category: str
    start: int
    end: int


def find_flags(tokens: list[Token], lexicon: Lexicon) -> list[FlagMatch]:
    """All non-overlapping lexicon matches in ``tokens``, in text order."""
    index = lexicon.index
    entries = lexicon.entries
    matches: list[FlagMatch] = []
    n = len(tokens)
    i = 0
    while i < n:
        tok = tokens[i]
        candidates = index.by_surface.get(tok.surface, [])
        by_lemma = index.by_lemma.get(tok.lemma_key)
        if by_lemma:
            candidates = candidates + by_lemma
        best: tuple[int, int, int] | None = None  # (length, exactness, -position)
        best_entry: Entry | None = None
        for pos in candidates:
            entry = entries[pos]
            exact = _match_at(tokens, i, entry)
            if exact is None:
                continue
            rank = (len(entry.tokens), exact, -pos)
            if best is None or rank > best:
                best, best_entry = rank, entry
        if best_entry is None:
            i += 1
            continue
        last = tokens[i + len(best_entry.tokens) - 1]
        matches.append(FlagMatch(best_entry.term, best_entry.category, tok.start, last.end))
        i += len(best_entry.tokens)
    return matches


def _match_at(tokens: list[Token], i: int, entry: Entry) -> int | None:
    """None when ``entry`` does not match at token ``i``; else 1 if every token
    matched by surface, 0 if some matched only by lemma."""
    keys = entry.keys
    if i + len(keys) > len(tokens):
        return None
    exact = 1
    for (surface, lemma_key), tok in zip(keys, tokens[i : i + len(keys)]):
        if tok.surface == surface:
            continue
        if lemma_key is not None and tok.lemma_key == lemma_key:
            exact = 0
            continue
        return None
    return exact
