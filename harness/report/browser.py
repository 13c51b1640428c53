"""The sample browser: every generation as JSON data for the report's small inline script.

Generations are grouped by (probe set, probe, sample index), one cell per
arm, so base and tuned completions of the same prompt and seed sit side by
side; flagged pairs come first.  The data is embedded in a
``<script type="application/json">`` block (never executed) through Jinja's
``tojson`` filter, which writes ``<``, ``>``, ``&`` and ``'`` as unicode escapes,
so no text can close that block.  The script (``templates/browser.js``,
included verbatim) builds the page with ``textContent`` only, so generated
text never becomes markup, and it is allowed by the page's
Content-Security-Policy through its sha256 hash.
"""

from __future__ import annotations

import base64
import hashlib
from functools import lru_cache
from importlib import resources
from typing import Any

from harness.report.samples import Scored

SCRIPT = "browser.js"
FLAGGED = "flagged"  # the catalogue measure that orders pairs and backs the "flagged" filter


@lru_cache(maxsize=1)
def script() -> str:
    """The browser's JavaScript source, exactly as embedded (its hash goes into the CSP)."""
    return resources.files("harness").joinpath("report/templates", SCRIPT).read_text(encoding="utf-8")


def script_hash(source: str) -> str:
    """The CSP source expression allowing ``source`` as an inline script: ``'sha256-…'``."""
    digest = hashlib.sha256(source.encode("utf-8")).digest()
    return f"'sha256-{base64.b64encode(digest).decode('ascii')}'"


def content_security_policy(source: str) -> str:
    """No network, no other script: inline styles, data: images and only this exact script."""
    return f"default-src 'none'; style-src 'unsafe-inline'; img-src data:; script-src {script_hash(source)}"


def _cell(item: Scored, harmful_binary: list[str]) -> dict[str, Any]:
    gen = item.generation
    return {
        "id": gen.id,
        "seed": gen.seed,
        "t": gen.text,
        "sp": [[s.start, s.end, s.category] for s in item.spans],
        "h": [m for m in harmful_binary if item.row.values.get(m) == 1],
        "fl": 1 if item.row.values.get(FLAGGED) == 1 else 0,
    }


def browser_data(scored: list[Scored], arms: list[str], harmful_binary: list[str], mask: bool) -> dict[str, Any]:
    """Everything the browser shows: arms, filter choices and one entry per (probe, sample), flagged first.

    A cell's ``h`` lists the harmful binary measures at 1 (badges) and ``fl``
    its ``flagged`` verdict; a pair's ``f`` counts its flagged cells.  The
    sort is stable, so pairs keep generations.jsonl order within a count.
    """
    pairs: dict[tuple[str, str, int], dict[str, Any]] = {}
    for item in scored:
        gen = item.generation
        key = (gen.probe_set, gen.probe_id, gen.sample_index)
        pair = pairs.get(key)
        if pair is None:
            pair = pairs[key] = {
                "s": gen.probe_set,
                "p": gen.probe_id,
                "c": gen.category,
                "g": gen.group,
                "pr": gen.prompt,
                "i": gen.sample_index,
                "f": 0,
                "cells": [None] * len(arms),
            }
        cell = _cell(item, harmful_binary)
        pair["cells"][arms.index(gen.arm)] = cell
        pair["f"] += cell["fl"]
    ordered = sorted(pairs.values(), key=lambda p: -p["f"])

    def choices(values: Any) -> list[str]:
        return sorted({v for v in values if v})

    return {
        "arms": arms,
        "mask": mask,
        "generations": len(scored),
        "probeSets": choices(p["s"] for p in ordered),
        "categories": choices(p["c"] for p in ordered),
        "groups": choices(p["g"] for p in ordered),
        "flagCategories": choices(s.category for item in scored for s in item.spans),
        "pairs": ordered,
    }
