"""compare.html: runs measure by measure, grouped by compared run and arm, under the report's CSP.

The caller (``harness compare``) computes the rows; this module only formats
and colours them like the run report (a harmful measure whose difference CI
lies above 0 is red) and renders ``templates/compare.html.j2``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from harness.report.numbers import MISSING, Cell, decimals_for, difference_cell, format_level
from harness.report.render import render

# which two runs a row compares (A, the reference, and B); optional for the renderer
RUN_KEYS = ("run_a", "run_b")
ROW_KEYS = (
    "arm",
    "measure",
    "kind",
    "harmful",
    "probe_category",
    "value_a",
    "value_b",
    "difference",
    "ci_low",
    "ci_high",
    "n_a",
    "n_b",
    "pairing",
)

# What each pairing means, stated on the page next to the numbers it qualifies.
PAIRING_TEXT = {
    "paired": "paired: both runs share prompts, seeds and sample indices, so the difference is taken per "
    "pair of samples and its interval bootstraps over those pairs",
    "unpaired": "unpaired: the runs do not share prompts, seeds and sample indices, so each run is bootstrapped "
    "over its prompts independently and the interval is that of the difference of the two estimates",
}


@dataclass
class CompareRow:
    """One measure of one arm: A, B and the coloured difference B − A."""

    measure: str
    harmful: bool
    probe_category: str
    value_a: str
    value_b: str
    difference: Cell
    n: str
    pairing: str


@dataclass
class CompareGroup:
    """The rows of one arm of one compared run B, in the order given; ``run`` is "" when only one B."""

    arm: str
    rows: list[CompareRow]
    run: str = ""


def _float(value: Any) -> float | None:
    if value is None or value == "":
        return None
    number = float(value)
    return None if math.isnan(number) else number


def _count(value: Any) -> str:
    number = _float(value)
    if number is None:
        return MISSING
    return f"{int(number):,}" if number.is_integer() else f"{number:,}"


def digest_compare(rows: list[dict]) -> list[CompareGroup]:
    """Rows grouped by run B and arm (first-seen order), formatted by kind and coloured by ``harmful``.

    Raises ``ValueError`` naming the first missing key or a kind other than binary/mean.
    """
    for index, row in enumerate(rows):
        missing = [k for k in ROW_KEYS if k not in row]
        if missing:
            raise ValueError(f"compare row {index}: missing key(s) {', '.join(missing)}")
        if row["kind"] not in ("binary", "mean"):
            raise ValueError(f"compare row {index}: kind {row['kind']!r} is not binary or mean")
    # one precision per mean measure, so its rows line up across arms and categories
    decimals = {
        measure: decimals_for([_float(r[k]) for r in rows if r["measure"] == measure for k in ("value_a", "value_b")])
        for measure in {r["measure"] for r in rows if r["kind"] == "mean"}
    }
    several = len({str(r.get("run_b", "")) for r in rows}) > 1
    groups: dict[tuple[str, str], list[CompareRow]] = {}
    for row in rows:
        kind, places = row["kind"], decimals.get(row["measure"], 2)
        harmful = bool(row["harmful"])
        key = (str(row.get("run_b", "")) if several else "", str(row["arm"]))
        groups.setdefault(key, []).append(
            CompareRow(
                measure=str(row["measure"]),
                harmful=harmful,
                probe_category=str(row["probe_category"]),
                value_a=format_level(kind, _float(row["value_a"]), places),
                value_b=format_level(kind, _float(row["value_b"]), places),
                difference=difference_cell(
                    kind,
                    harmful,
                    _float(row["difference"]),
                    _float(row["ci_low"]),
                    _float(row["ci_high"]),
                    "",
                    places,
                ),
                n=f"{_count(row['n_a'])} / {_count(row['n_b'])}",
                pairing=str(row["pairing"]),
            )
        )
    return [CompareGroup(arm, items, run) for (run, arm), items in groups.items()]


def render_compare_many(title: str, runs: list[tuple[str, str]], rows: list[dict], notes: list[str]) -> str:
    """compare.html as one self-contained page; ``runs`` are (role, path) lines, the reference A first.

    ``rows`` hold the keys of ``ROW_KEYS`` and, optionally, ``RUN_KEYS``
    (values are floats, possibly NaN; ``difference`` is B − A); with more
    than one ``run_b`` the rows are grouped by run B, then arm.  ``notes``
    are shown as a list under the title.
    """
    return render(
        "compare.html.j2",
        title=title,
        runs=runs,
        groups=digest_compare(rows),
        notes=notes,
        pairing_text=list(PAIRING_TEXT.values()),
    )


def render_compare(title: str, run_a: str, run_b: str, rows: list[dict], notes: list[str]) -> str:
    """compare.html for runs ``run_a`` (A) and ``run_b`` (B); see ``render_compare_many``."""
    return render_compare_many(title, [("A", run_a), ("B", run_b)], rows, notes)
