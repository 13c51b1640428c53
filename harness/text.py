"""The one text normalisation every stage shares, and the kana conversions.

Analysis, flag spans, masking and the report all work on the NFKC form of a
completion.  The probe stage stores that form next to the raw completion
(``Generation.text``), so nothing downstream re-derives it.
"""

from __future__ import annotations

import unicodedata
from itertools import repeat
from typing import Iterable

FORM = "NFKC"


def normalize(text: str) -> str:
    """NFKC-normalise ``text`` (full-width ASCII → ASCII, ｶﾅ → カナ, ？ → ?, ｗ → w)."""
    return unicodedata.normalize(FORM, text)


def normalize_all(texts: Iterable[str]) -> list[str]:
    """``normalize`` of each of ``texts``, in one C loop (a batch of posts: no Python call per text)."""
    return list(map(unicodedata.normalize, repeat(FORM), texts))


def katakana(word: str) -> str:
    """``word`` with its hiragana written in katakana (しね → シネ); anything else kept."""
    return "".join(chr(ord(c) + 0x60) if 0x3041 <= ord(c) <= 0x3096 else c for c in word)


def hiragana(word: str) -> str:
    """``word`` with its katakana written in hiragana (シネ → しね); anything else kept."""
    return "".join(chr(ord(c) - 0x60) if 0x30A1 <= ord(c) <= 0x30F6 else c for c in word)
