"""The dataset card (negatives/README.md), rendered from ``templates/dataset_card.md.j2``.

Run values (names, paths, labels) come from run.json and may hold Markdown
or HTML; the ``md`` filter makes them inert and the environment's
``finalize`` refuses to print any value that did not go through it, so a
template edit cannot let one through unescaped.
"""

from __future__ import annotations

import json
from collections import Counter

import yaml
from functools import lru_cache
from html import escape
from typing import Any, Iterable

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

from harness.export.joined import Joined
from harness.export.provenance import arm_path, lexicon_files
from harness.export.registry import FORMATS
from harness.export.schema import type_label, yaml_features
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


TASK_CATEGORIES = ["text-generation", "text-classification"]
TAGS = ["safety", "negative-examples", "preference-data", "generated", "not-for-all-audiences"]
# the Hub's size buckets, by the largest data file's record count
SIZE_BUCKETS = ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M"))


def size_category(records: int) -> str:
    """The ``size_categories`` bucket for ``records``."""
    return next((name for limit, name in SIZE_BUCKETS if records < limit), "1M<n<10M")


def front_matter(run: RunDir, manifest: dict[str, Any]) -> Markup:
    """The card's YAML header: licence, task and size categories, and one ``configs`` entry per data file.

    ``configs`` with each file's declared features (``dataset_info``) is what
    makes ``datasets.load_dataset(folder)`` work on a folder of files with
    different columns, and type columns whose values are all null.  Built
    with ``yaml.safe_dump``, which quotes anything YAML would misread; run
    values are escaped by ``md`` first, like everywhere in the card.
    """
    options = run.record.config.export
    entries = [
        (fmt, entry)
        for fmt, entry in manifest.items()
        if fmt in FORMATS and FORMATS[fmt].config and run.has(f"{NEGATIVES}/{FORMATS[fmt].target}")
    ]
    default = next((fmt for fmt, _ in entries if fmt == "jsonl"), entries[0][0] if entries else None)
    header: dict[str, Any] = {
        "language": ["ja"],
        "license": str(md(options.license)),
        "license_name": str(md(options.license_name)),
    }
    if options.license_link:
        header["license_link"] = str(md(options.license_link))
    header.update(
        {
            "pretty_name": str(md(f"Negative examples from run {run.record.name}")),
            "task_categories": TASK_CATEGORIES,
            "tags": TAGS,
            "size_categories": [size_category(max((e["records"] for _, e in entries), default=0))],
            "configs": [
                {
                    "config_name": FORMATS[f].config,
                    "data_files": FORMATS[f].target,
                    **({"default": True} if f == default else {}),
                }
                for f, _ in entries
            ],
            "dataset_info": [
                {"config_name": FORMATS[f].config, "features": yaml_features(FORMATS[f].features)} for f, _ in entries
            ],
        }
    )
    return Markup("---\n" + yaml.safe_dump(header, allow_unicode=True, sort_keys=False) + "---")


def dataset_card(run: RunDir, joined: list[Joined], negatives: list[dict], manifest: dict[str, Any]) -> str:
    """The card describing ``negatives/``: what it is, how it was made, counts, files, fields, use.

    ``manifest`` (negatives/export.json) describes each format's last export:
    records, duplicates removed, warnings, masking and features.
    """
    record = run.record
    files = [
        {"format": fmt, **entry}
        for fmt, entry in manifest.items()
        if isinstance(entry, dict) and run.has(f"{NEGATIVES}/{entry.get('target', '')}")
    ]
    return (
        environment()
        .get_template(TEMPLATE)
        .render(
            front_matter=front_matter(run, {f["format"]: f for f in files}),
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
            files=files,
            schemas=schemas(),
        )
    )


def schemas() -> list[dict[str, Any]]:
    """The card's field tables: one per declared schema, naming the files that use it."""
    tables: dict[Any, dict[str, Any]] = {}
    for spec in FORMATS.values():
        table = tables.setdefault(
            spec.features,
            {
                "targets": [],
                "fields": [{"name": f.name, "type": type_label(f.dtype), "doc": f.doc} for f in spec.features],
            },
        )
        table["targets"].append(spec.target)
    return list(tables.values())


def count(keys: Iterable[str]) -> list[tuple[str, int]]:
    """How often each key occurs, sorted by key (a counts table's rows)."""
    return sorted(Counter(keys).items())


def lexicons(record: RunRecord) -> list[dict[str, str | None]]:
    """The run's lexicon files and word lists with their recorded sha256 (None when not recorded)."""
    return [{"path": path, "sha256": record.hashes.get(path)} for path in lexicon_files(record)]


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
