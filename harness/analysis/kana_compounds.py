"""Harmful katakana words inside a katakana compound MeCab does not know: 「ガチガイジ」, 「キモオタゲーマー」.

Forum slang glues a katakana insult or slur to another katakana word
(ガイジムーブ, スレガイジ, ネトウヨブサヨ, クソガイジレスバ).  MeCab does not
know the compound and reads the whole katakana run as one unknown word, so the
lexicon's token match never sees the entry inside it.  Issue 16's wave-2 dev
labels showed it: 17 dev posts hold such a compound, 15 of them toxic, and the
lexicon flagged one (docs: the change log of ``probes/lexicons/flagged.yaml``,
version 10).

This layer reads the surface of those tokens, in one frame only:

* the token is **unknown to the dictionary** (unidic gives it no lemma
  reading, ``Token.l_form == ""``) and written in **katakana only**; a known
  word that happens to contain an entry (a name, a loanword) is left alone;
* the **key** is the term of a lexicon entry of a harmful category, in
  katakana, of at least ``MIN_KEY`` characters, that flags anywhere
  (``context: any``): an entry that needs a target frame keeps needing one, and
  two-character keys (ブス, デブ, カス) sit inside too many ordinary words;
* the token is **longer than the key** (the key alone is the lexicon's match)
  and is none of the entry's ``not_in`` compounds.

The match takes the entry's term, category and weight, ``via="variant"`` (a
spelling of the entry: the entry inside a compound), and never overlaps a
match already found.  Why characters here, when the lexicon matches tokens:
the token is exactly what hides the entry.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from harness.analysis.kana_orders import texts_holding
from harness.analysis.lexicon import Lexicon

MIN_KEY = 3
_KATAKANA = re.compile(r"[\u30a1-\u30faー]+")
_KATAKANA_ONLY = re.compile(r"^[\u30a1-\u30faー]+$")


@dataclass(frozen=True)
class KanaCompounds:
    """The compiled keys and the entry each one is the term of."""

    keys_pattern: re.Pattern[str]  # any key, anywhere (candidates); the token test comes after
    entry_of: dict[str, Any]  # katakana term → lexicon Entry

    def candidates(self, texts: Sequence[str]) -> list[int]:
        """The positions of ``texts`` holding a key (a superset of those ``add_matches`` adds to)."""
        return texts_holding(self.keys_pattern, texts)

    def add_matches(self, tokens: Sequence[Any], flags: list[Any], make: Callable[..., Any]) -> list[Any]:
        """``flags`` plus each key inside an unknown katakana token of ``tokens`` that overlaps none of them.

        ``make(term, category, start, end, weight)`` builds a match (``flagged.FlagMatch``, ``via="variant"``).
        """
        found = []
        for token in tokens:
            surface = token.surface
            if token.l_form or len(surface) <= MIN_KEY or not _KATAKANA_ONLY.match(surface):
                continue
            for m in self.keys_pattern.finditer(surface):
                entry = self.entry_of[m.group()]
                start, end = token.start + m.start(), token.start + m.end()
                if surface in entry.not_in or any(start < f.end and f.start < end for f in [*flags, *found]):
                    continue
                found.append(make(entry.term, entry.category, start, end, entry.weight))
        return sorted([*flags, *found], key=lambda f: f.start) if found else flags


def kana_compounds_for(lexicon: Lexicon) -> KanaCompounds | None:
    """The layer for ``lexicon``'s katakana entries of harmful categories (None when it has none)."""
    harmful = lexicon.harmful_categories()
    entry_of: dict[str, Any] = {}
    for entry in lexicon.entries:
        term = entry.term
        if entry.category in harmful and entry.context == "any" and len(term) >= MIN_KEY:
            if _KATAKANA_ONLY.match(term):
                entry_of.setdefault(term, entry)
    if not entry_of:
        return None
    keys = sorted(entry_of, key=len, reverse=True)  # longest first: キチガイ before ガイジ at one position
    return KanaCompounds(re.compile("|".join(map(re.escape, keys))), entry_of)
