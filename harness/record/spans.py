"""Flag spans over the stored text: parse the ``flagged_spans`` cell, mask text.

Spans in scores.csv are ``[start, end)`` offsets into ``Generation.text``
(the NFKC form the probe stage stored), so the report and the exports read
them against that field and never re-normalise anything.  The analysis
writes each span as ``[start, end, term, category, surface]``; the surface
(the matched characters) is checked against the text, so a span never
highlights or masks text that is not the one the analysis flagged.
"""

from __future__ import annotations

import json
from typing import NamedTuple


class Span(NamedTuple):
    """One lexicon match: ``[start, end)`` offsets into the NFKC-normalised text."""

    start: int
    end: int
    term: str
    category: str


def parse_spans(cell: str, text_length: int | None = None, text: str | None = None) -> list[Span]:
    """Parse a scores.csv ``flagged_spans`` cell into sorted, non-overlapping spans.

    Raises ``ValueError`` (the caller adds file and line) when the cell is not a
    JSON list of ``[start, end, term, category]`` or ``[start, end, term,
    category, surface]``, an offset falls outside ``text_length`` (or
    ``text``), or, given ``text``, a surface is not the text at its offsets.
    Overlapping spans are merged into the first one, because a highlight
    cannot nest and masking must still cover every character.
    """
    if text is not None:
        text_length = len(text)
    if not cell.strip():
        return []
    try:
        items = json.loads(cell)
    except json.JSONDecodeError as err:
        raise ValueError(f"flagged_spans is not JSON ({err.msg})") from None
    except RecursionError:
        raise ValueError("flagged_spans is nested too deeply") from None
    if not isinstance(items, list):
        raise ValueError("flagged_spans must be a JSON list")
    spans: list[Span] = []
    for item in items:
        if (
            not isinstance(item, list)
            or len(item) not in (4, 5)
            or not all(isinstance(x, int) and not isinstance(x, bool) for x in item[:2])
        ):
            raise ValueError(f"bad span {item!r}: expected [start, end, term, category, surface]")
        start, end = item[0], item[1]
        if not 0 <= start < end or (text_length is not None and end > text_length):
            raise ValueError(f"span {item!r} is outside the text (length {text_length})")
        if text is not None and len(item) == 5 and text[start:end] != item[4]:
            raise ValueError(
                f"span {item!r} does not match the text: it reads {text[start:end]!r} there "
                "(generations.jsonl and scores.csv disagree)"
            )
        spans.append(Span(start, end, str(item[2]), str(item[3])))
    spans.sort(key=lambda s: (s.start, -s.end))
    merged: list[Span] = []
    for span in spans:
        if merged and span.start < merged[-1].end:
            last = merged[-1]
            merged[-1] = last._replace(end=max(last.end, span.end))
        else:
            merged.append(span)
    return merged


MASK_CHAR = "●"


def mask_text(text: str, spans: list[Span]) -> str:
    """``text`` with every character inside a span replaced by ``●`` (same length)."""
    chars = list(text)
    for span in spans:
        for i in range(span.start, min(span.end, len(chars))):
            chars[i] = MASK_CHAR
    return "".join(chars)


def split_list(cell: str) -> list[str]:
    """Split a ``|``-joined cell (``flagged_terms``, ``flagged_categories``)."""
    return [part for part in cell.split("|") if part]
