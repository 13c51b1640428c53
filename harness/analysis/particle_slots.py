"""Particle slots: the forms of a multi-word term that differ only in the particle after a noun.

Japanese drops or swaps the particle between a noun and its predicate
freely, most of all in casual writing: 頭が悪い, 頭悪い, 頭は悪い and
頭も悪い say the same of someone; 首を吊る is typed 首吊る.  A lexicon that
lists each form by hand grows by phrase and still misses the form nobody
listed, so the lexicon builder (``harness.analysis.lexicon.build_lexicon``)
asks this module for the other forms of each term and adds them as entries
of the same term.  This is grammar, not vocabulary: no word is written here.

A *slot* is a particle written between a noun and the predicate right
after it.  Casual writing drops it, and before an adjective swaps it:

* before an adjective, a written が, は, も or の may be any of them or
  nothing (頭が悪い: 頭悪い, 頭は悪い, 頭の悪い);
* before a verb, a written を or が may be dropped (首を吊る: 首吊る), and
  に may also be には or dropped (地獄に落ちろ: 地獄には落ちろ);
* no particle is put where the term has none: 気持ち悪い (gross) is not
  気持ちが悪い (feeling sick), and は/も before a verb mostly come with a
  negation (嘘はつかない).

Only the form's tokens change: the term, its category, weight and context
rules stay those of the entry written in the file.  A form whose tokens do
not tokenize back into the same content words (a different split by MeCab)
is not used, so no form ever matches words the term does not contain.
"""

from __future__ import annotations

from itertools import product
from typing import Callable, Sequence

from harness.analysis.tokenize import Token

_ADJECTIVAL = frozenset({"形容詞", "形状詞"})
_BEFORE_ADJECTIVE = ("が", "は", "も", "の", "")
_BEFORE_VERB = {"を": ("を", ""), "が": ("が", ""), "に": ("に", "には", "")}
MAX_SLOTS = 2  # a term with more slots varies only its first two (forms grow as 5^slots)


def _slot_fillers(noun: Token, particle: Token, predicate: Token) -> tuple[str, ...] | None:
    """What the written ``particle`` between ``noun`` and ``predicate`` may become, or None: no slot."""
    if noun.pos1 != "名詞" or particle.pos1 != "助詞":
        return None
    if predicate.pos1 in _ADJECTIVAL:
        return _BEFORE_ADJECTIVE if particle.surface in _BEFORE_ADJECTIVE else None
    if predicate.pos1 == "動詞":
        return _BEFORE_VERB.get(particle.surface)
    return None


def _pieces(tokens: Sequence[Token]) -> list[str | tuple[str, ...]]:
    """The term as fixed surfaces and slots (a tuple of fillers), in order."""
    out: list[str | tuple[str, ...]] = []
    i, slots = 0, 0
    while i < len(tokens):
        out.append(tokens[i].surface)
        if i + 2 < len(tokens) and slots < MAX_SLOTS:
            fillers = _slot_fillers(tokens[i], tokens[i + 1], tokens[i + 2])
            if fillers:
                out.append(fillers)
                slots += 1
                i += 2
                continue
        i += 1
    return out


def particle_forms(tokens: Sequence[Token], tokenize: Callable[[str], list[Token]]) -> list[tuple[Token, ...]]:
    """The other forms of a term (its ``tokens``), each tokenized; none when the term has no slot.

    A form is kept only when its words other than the slot particles are the
    term's own, split the same way."""
    pieces = _pieces(tokens)
    if all(isinstance(p, str) for p in pieces):
        return []
    content = [t.surface for t in tokens if not _in_slot(t)]
    original = "".join(t.surface for t in tokens)
    forms: list[tuple[Token, ...]] = []
    seen = {original}
    for choice in product(*(p if isinstance(p, tuple) else (p,) for p in pieces)):
        text = "".join(choice)
        if text in seen:
            continue
        seen.add(text)
        form = tuple(tokenize(text))
        if [t.surface for t in form if not _in_slot(t)] == content:
            forms.append(form)
    return forms


_SLOT_PARTICLES = frozenset({*_BEFORE_ADJECTIVE, *(p for fillers in _BEFORE_VERB.values() for p in fillers)} - {""})


def _in_slot(tok: Token) -> bool:
    """A particle that a slot could hold (the comparison of content words ignores these)."""
    return tok.pos1 == "助詞" and tok.surface in _SLOT_PARTICLES
