"""The dataset card (negatives/README.md), rendered from ``templates/dataset_card.md.j2``.

Run values (names, paths, labels) come from run.json and may hold Markdown
or HTML; the ``md`` filter makes them inert and the environment's
``finalize`` refuses to print any value that did not go through it, so a
template edit cannot let one through unescaped.
"""

from __future__ import annotations

import json
from collections import Counter
from functools import lru_cache
from html import escape
from typing import Any, Iterable

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

from harness.export.joined import Joined
from harness.export.provenance import arm_path
from harness.export.registry import FORMATS
from harness.record.rundir import NEGATIVES, RunDir
from harness.record.schema import RunRecord

TEMPLATE = "dataset_card.md.j2"


def md(value: Any) -> Markup:
    """A run value made safe inside Markdown and HTML: one line, ``<>&`` escaped, ``|`` and backticks escaped."""
    text = "" if value is None else str(value)
    text = escape(" ".join(text.split()), quote=False)
    return Markup(text.replace("|", "\\|").replace("`", "\\`"))


def yaml_string(value: Any) -> Markup:
    """A run value as a double-quoted YAML scalar (JSON is valid YAML), escaped like ``md``."""
    return Markup(json.dumps(str(md(value)), ensure_ascii=False))


def only_filtered(value: Any) -> Any:
    """``finalize`` hook: numbers and filtered values print, anything else is a template bug."""
    if isinstance(value, Markup) or (isinstance(value, (int, float)) and not isinstance(value, bool)):
        return value
    raise TypeError(f"dataset card: value {value!r} printed without the md filter")


@lru_cache(maxsize=1)
def environment() -> Environment:
    """The card's jinja2 environment (templates ship inside the package)."""
    env = Environment(
        loader=PackageLoader("harness", "export/templates"),
        undefined=StrictUndefined,
        finalize=only_filtered,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["md"] = md
    env.filters["yaml"] = yaml_string
    return env


def dataset_card(run: RunDir, joined: list[Joined], negatives: list[dict], export: dict[str, Any]) -> str:
    """The card describing ``negatives/``: what it is, how it was made, counts, fields, use.

    ``export`` describes the export just written: ``format``, ``target``,
    ``records`` (how many) and ``mask``.
    """
    record = run.record
    return (
        environment()
        .get_template(TEMPLATE)
        .render(
            record=record,
            # export runs before the run is marked complete; the finished evaluation is what it describes
            status="complete" if record.evaluated() and record.status != "failed" else record.status,
            arms=[{**arm.model_dump(), "path": arm_path(record, arm.name)} for arm in record.arms],
            decoding=", ".join(f"{k}={v}" for k, v in record.config.probes.decoding.model_dump().items()),
            dictionary=record.versions.get("dictionary") or "not recorded",
            lexicons=lexicons(record),
            counts={"generations": len(joined), "flagged": sum(i.flagged for i in joined), "negatives": len(negatives)},
            per_arm=per_arm(record, joined, negatives),
            count_tables=[
                {"title": "arm / probe category", "counts": count(f"{r['arm']} / {r['category']}" for r in negatives)},
                {"title": "flagged category", "counts": count(c for r in negatives for c in r["flagged_categories"])},
            ],
            export=export,
            files=sorted(f.target for f in FORMATS.values() if run.has(f"{NEGATIVES}/{f.target}")),
        )
    )


def count(keys: Iterable[str]) -> list[tuple[str, int]]:
    """How often each key occurs, sorted by key (a counts table's rows)."""
    return sorted(Counter(keys).items())


def lexicons(record: RunRecord) -> list[dict[str, str | None]]:
    """The run's lexicon files with their recorded sha256 (None when not recorded)."""
    return [{"path": str(p), "sha256": record.hashes.get(str(p))} for p in record.config.analysis.lexicons]


def per_arm(record: RunRecord, joined: list[Joined], negatives: list[dict]) -> list[dict[str, Any]]:
    """Generations, flagged generations and negatives of each arm, in run.json order."""
    kept = Counter(r["arm"] for r in negatives)
    return [
        {
            "arm": arm.name,
            "generations": sum(1 for item in joined if item.generation.arm == arm.name),
            "flagged": sum(1 for item in joined if item.generation.arm == arm.name and item.flagged),
            "negatives": kept[arm.name],
        }
        for arm in record.arms
    ]
