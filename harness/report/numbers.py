"""Numbers as the report shows them, and the colour of a difference.

Shared by the run report and the compare page so both print a rate, a mean
and a difference the same way.  ``binary`` measures are fractions shown as
percentages (differences in percentage points); ``mean`` measures are plain
numbers.  A missing or NaN value shows as an en dash.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, NamedTuple

from harness.errors import InputError

MISSING = "–"


class Cell(NamedTuple):
    """One table cell: its text, a CSS class (``""`` for none) and a small grey note (count/n)."""

    text: str
    css: str = ""
    note: str = ""


EMPTY_CELL = Cell(MISSING)


def present(value: float | None) -> bool:
    """True for a real number (not None, not NaN)."""
    return value is not None and not math.isnan(value)


def number_cell(cell: Any, column: str, path: Path, line: int) -> float | None:
    """One table cell (text, or a number already) as a float; empty or NaN is None, anything else
    non-numeric an ``InputError`` naming file, line and column."""
    if cell is None or isinstance(cell, (int, float)):
        return float(cell) if cell is not None and present(float(cell)) else None
    text = str(cell).strip()
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        raise InputError(f"column {column!r}: {text!r} is not a number", path, line) from None
    return value if present(value) else None


def parse_number(row: dict[str, str], column: str, path: Path, line: int) -> float | None:
    """A CSV row's cell ``column`` as a float (``number_cell``; a missing column is empty)."""
    return number_cell(row.get(column), column, path, line)


def decimals_for(values: list[float | None]) -> int:
    """Decimals for a mean measure, from the largest magnitude it takes.

    One precision per measure keeps its cells comparable: hundreds of
    characters get none, tens one, tokens (units) two, distinct-2 (a
    fraction up to 1) three.
    """
    scale = max((abs(v) for v in values if present(v)), default=0.0)
    if scale >= 100:
        return 0
    if scale >= 10:
        return 1
    if scale > 1:
        return 2
    return 3


def _plain(value: float, decimals: int, signed: bool) -> str:
    # round first, then add 0.0: a rounded -0.0 would otherwise print as "-0.0"
    shown = round(value, decimals) + 0.0
    return f"{shown:+,.{decimals}f}" if signed else f"{shown:,.{decimals}f}"


def _scaled(kind: str, value: float, decimals: int, signed: bool) -> str:
    # binary measures are shares shown in percent (one decimal); means keep their unit
    if kind == "binary":
        return _plain(value * 100, 1, signed)
    return _plain(value, decimals, signed)


def format_level(kind: str, value: float | None, decimals: int = 2) -> str:
    """A rate (``binary``: ``25.0%``) or a mean (``11.50``); ``–`` when missing."""
    if not present(value):
        return MISSING
    return _scaled(kind, value, decimals, signed=False) + ("%" if kind == "binary" else "")


def format_interval(kind: str, low: float | None, high: float | None, decimals: int = 2) -> str:
    """``[4.6–69.9]`` for a rate, ``[8.47–16.25]`` for a mean; empty when either bound is missing."""
    if not (present(low) and present(high)):
        return ""
    return f"[{_scaled(kind, low, decimals, False)}–{_scaled(kind, high, decimals, False)}]"


def format_difference(kind: str, value: float | None, decimals: int = 2) -> str:
    """A signed difference: ``+25.0 pp`` for a binary measure, ``+6.25`` for a mean."""
    if not present(value):
        return MISSING
    return _scaled(kind, value, decimals, signed=True) + (" pp" if kind == "binary" else "")


def format_difference_interval(kind: str, low: float | None, high: float | None, decimals: int = 2) -> str:
    """``[+0.0, +75.0]``: a comma, because an en dash between signed numbers misreads."""
    if not (present(low) and present(high)):
        return ""
    return f"[{_scaled(kind, low, decimals, True)}, {_scaled(kind, high, decimals, True)}]"


def difference_class(harmful: bool, low: float | None, high: float | None) -> str:
    """CSS class of a difference from the measure's catalogue entry and its CI.

    A harmful measure whose interval lies above 0 got worse (``worse``, red),
    below 0 better (``better``, green).  Any other measure whose interval
    excludes 0 moved without being good or bad (``shift``, neutral).
    """
    if not (present(low) and present(high)):
        return ""
    above, below = low > 0, high < 0
    if harmful:
        return "worse" if above else "better" if below else ""
    return "shift" if above or below else ""


def level_cell(kind: str, value: float | None, low: float | None, high: float | None, note: str, decimals: int) -> Cell:
    """A rate or mean with its interval and a note such as ``1/4`` or ``n=4``."""
    if not present(value):
        return EMPTY_CELL
    interval = format_interval(kind, low, high, decimals)
    return Cell(f"{format_level(kind, value, decimals)} {interval}".rstrip(), "", note)


def difference_cell(
    kind: str,
    harmful: bool,
    value: float | None,
    low: float | None,
    high: float | None,
    note: str,
    decimals: int,
) -> Cell:
    """A difference with its interval, coloured by ``difference_class``."""
    if not present(value):
        return EMPTY_CELL
    interval = format_difference_interval(kind, low, high, decimals)
    text = f"{format_difference(kind, value, decimals)} {interval}".rstrip()
    return Cell(text, difference_class(harmful, low, high), note)


def format_parameters(parameters: int | None) -> str:
    """``1,234,567 (1.2M)``; ``–`` when unknown."""
    if parameters is None:
        return MISSING
    return f"{parameters:,} ({parameters / 1e6:.1f}M)"
