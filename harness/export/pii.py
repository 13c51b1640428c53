"""PII masking of exported text: one function, ``mask_pii``, so a fuller detector can replace it.

The analysis stage may grow its own PII detector (``harness.analysis.pii``);
until then this minimal masker covers the kinds the run-directory contract
names (email, url, phone, postal_code, my_number, card_number) with
conservative patterns.  The text is not normalised (an unmasked export keeps
the completion exactly as generated); ``\\d`` matches full-width digits too,
and hyphens may be ASCII, ``‐`` or ``－``.  Each match becomes ``<kind>`` in
angle brackets, so a trainer sees that something was removed and what kind.
"""

from __future__ import annotations

import re
from typing import NamedTuple


class PiiPattern(NamedTuple):
    """A kind of PII and the pattern that finds it."""

    kind: str
    pattern: re.Pattern[str]


# Order matters: longer, more specific patterns first, so a card number is not
# half-eaten as a phone number.
PATTERNS: tuple[PiiPattern, ...] = (
    PiiPattern("email", re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")),
    PiiPattern("url", re.compile(r"(?:https?|ftp)://[^\s<>\"']+|www\.[A-Za-z0-9.-]+\.[A-Za-z]{2,}[^\s<>\"']*")),
    PiiPattern("card_number", re.compile(r"(?<!\d)(?:\d{4}[-‐－ ]?){3}\d{1,4}(?!\d)")),
    PiiPattern("my_number", re.compile(r"(?<!\d)\d{4}[-‐－ ]?\d{4}[-‐－ ]?\d{4}(?!\d)")),
    PiiPattern(
        "phone",
        re.compile(r"(?<!\d)(?:[0０]\d{1,4}[-‐－]\d{1,4}[-‐－]\d{3,4}|[0０][789７８９][0０]\d{8}|[0０]\d{9})(?!\d)"),
    ),
    PiiPattern("postal_code", re.compile(r"(?:〒\s?)?(?<!\d)\d{3}[-‐－]\d{4}(?!\d)")),
)


def mask_pii(text: str) -> str:
    """``text`` with every PII match replaced by ``<kind>`` (e.g. ``<email>``)."""
    for kind, pattern in PATTERNS:
        text = pattern.sub(f"<{kind}>", text)
    return text
