"""Personal data in Japanese formats: find it, mask it, count it.

``find_pii(text)`` returns non-overlapping spans of these kinds:

* ``email``: local@domain.tld;
* ``url``: http(s)://… or www.…;
* ``phone``: Japanese numbers starting with 0 — mobile/IP (070/080/090/050,
  11 digits) and landlines (10 digits), with or without hyphens or
  parentheses — and +81 numbers;
* ``postal_code``: 〒 (or 郵便番号) followed by NNN-NNNN;
* ``my_number``: 12 digits (optionally 4-4-4) whose last digit is the
  Individual Number check digit;
* ``card_number``: 13–19 digits (optionally in groups) that pass the Luhn check.

Digits may be full-width (０-９) and hyphens any of - ‐ − － ー, so raw and
NFKC text both work.  Numbers must stand alone (no digit right before or
after), and the checksums keep order numbers and timestamps out.
``mask_pii`` replaces each span by ``<kind>`` (``<email>``, ``<phone>`` …).
"""

from __future__ import annotations

import re
from typing import NamedTuple

PII_KINDS = ("email", "url", "phone", "postal_code", "my_number", "card_number")

_D = "[0-9０-９]"
_H = "[-‐−－ー]"
_SEP = "[-‐−－ー  ]"
_NOT_DIGIT_BEFORE = r"(?<![0-9０-９])"
_NOT_DIGIT_AFTER = r"(?![0-9０-９])"

_EMAIL = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}")
_URL = re.compile(r"(?:https?://|www\.)[^\s<>\"'「」『』（）()、。]+", re.IGNORECASE)
_PHONE = re.compile(
    _NOT_DIGIT_BEFORE
    + rf"(?:\+81{_H}?{_D}{{1,4}}{_H}?{_D}{{1,4}}{_H}?{_D}{{3,4}}"
    + rf"|[\(（]?[0０]{_D}{{0,4}}[\)）]?{_H}?{_D}{{1,4}}{_H}?{_D}{{3,4}})"
    + _NOT_DIGIT_AFTER
)
_POSTAL = re.compile(rf"(?:〒|郵便番号[:：]?)\s?({_D}{{3}}{_H}?{_D}{{4}})" + _NOT_DIGIT_AFTER)
_LONG_NUMBER = re.compile(_NOT_DIGIT_BEFORE + rf"{_D}(?:{_SEP}?{_D}){{11,18}}" + _NOT_DIGIT_AFTER)
# A text none of the patterns above can match fails this gate, so a search may skip it (most texts):
# an e-mail has '@'; a URL starts http or www; every number that is kept has seven digits or more with
# at most two other characters between two of them (a postal code: 3 + 4 digits, a hyphen between; a
# phone: 10 digits or more, ')' and a hyphen at most between groups (_phone_ok); a long number: 12 or
# more, one separator at most between two).  That is ``@|www|http|{_D}(?:[^0-9０-９]{0,2}{_D}){6}``
# (case-insensitive), written to open with a character class: the regex engine then skips, in a C loop,
# every character that can open none of them (~3x less time a post than trying each branch at each one).
# Only ASCII letters fold to w, h, t and p, so the explicit cases are the same set.
PII_GATE = re.compile(
    rf"[@wWhH0-9０-９](?:(?<=@)|(?<=[wW])[wW][wW]|(?<=[hH])[tT][tT][pP]|(?<={_D})(?:[^0-9０-９]{{0,2}}{_D}){{6}})"
)
_TO_ASCII = str.maketrans("０１２３４５６７８９", "0123456789")


class PiiSpan(NamedTuple):
    """One piece of personal data: its kind and ``text[start:end]``."""

    kind: str
    start: int
    end: int


def _digits(s: str) -> str:
    return "".join(ch for ch in s.translate(_TO_ASCII) if ch.isdigit())


def my_number_valid(digits: str) -> bool:
    """True when 12 ``digits`` end with the Individual Number (マイナンバー) check digit.

    With P_n the n-th of the first 11 digits counted from the right and
    Q_n = n + 1 (n ≤ 6) or n − 5 (n ≥ 7): r = Σ P_n·Q_n mod 11, and the check
    digit is 0 when r ≤ 1, else 11 − r.
    """
    if len(digits) != 12 or not digits.isdigit():
        return False
    body = digits[:11]
    total = 0
    for n in range(1, 12):
        p = int(body[11 - n])
        q = n + 1 if n <= 6 else n - 5
        total += p * q
    r = total % 11
    return int(digits[11]) == (0 if r <= 1 else 11 - r)


def luhn_valid(digits: str) -> bool:
    """True when ``digits`` pass the Luhn (mod 10) check used by card numbers."""
    if not digits.isdigit() or len(digits) < 2:
        return False
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def _phone_ok(digits: str, raw: str) -> bool:
    if raw.startswith("+81"):
        return 9 <= len(digits) - 2 <= 10
    if not digits.startswith("0") or digits.startswith("00"):
        return False
    if digits[:3] in ("070", "080", "090", "050"):
        return len(digits) == 11
    if digits.startswith(("0120", "0800")):  # toll-free
        return len(digits) in (10, 11)
    # a landline: 10 digits; without any separator only when it cannot be a
    # date or an amount (those rarely start with 0 and have 10 digits)
    return len(digits) == 10


def find_pii(text: str) -> list[PiiSpan]:
    """Non-overlapping personal-data spans in ``text``, in text order (see the module docstring)."""
    found: list[PiiSpan] = []
    for m in _EMAIL.finditer(text):
        found.append(PiiSpan("email", m.start(), m.end()))
    for m in _URL.finditer(text):
        found.append(PiiSpan("url", m.start(), m.end()))
    for m in _LONG_NUMBER.finditer(text):
        digits = _digits(m.group())
        if len(digits) == 12 and my_number_valid(digits):
            found.append(PiiSpan("my_number", m.start(), m.end()))
        elif 13 <= len(digits) <= 19 and luhn_valid(digits):
            found.append(PiiSpan("card_number", m.start(), m.end()))
    for m in _PHONE.finditer(text):
        if _phone_ok(_digits(m.group()), m.group()):
            found.append(PiiSpan("phone", m.start(), m.end()))
    for m in _POSTAL.finditer(text):
        found.append(PiiSpan("postal_code", m.start(), m.end()))
    # earlier first; at one start the longer span wins; overlapping later spans are dropped
    found.sort(key=lambda s: (s.start, -(s.end - s.start)))
    spans: list[PiiSpan] = []
    for span in found:
        if spans and span.start < spans[-1].end:
            continue
        spans.append(span)
    return spans


def mask_pii(text: str) -> str:
    """``text`` with every personal-data span replaced by ``<kind>`` (e.g. ``<email>``, ``<phone>``).

    The one PII mask (exports use it): a reader sees that something was removed and what kind.
    """
    out = []
    last = 0
    for span in find_pii(text):
        out.append(text[last : span.start])
        out.append(f"<{span.kind}>")
        last = span.end
    out.append(text[last:])
    return "".join(out)
