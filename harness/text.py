"""The one text normalisation every stage shares.

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
