"""``export_run``: one registered format of a run into ``negatives/``, then the manifest and dataset card.

``negatives/export.json`` records what each format's last export wrote
(records, duplicates removed, warnings, masking, filters, features); the card
(README.md) is rendered from it, so it describes every file in the folder,
not only the last one.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

from harness.config import ExportConfig
from harness.export.card import dataset_card
from harness.export.context import ExportContext
from harness.export.joined import load_joined
from harness.export.negatives import negative_records
from harness.export.provenance import Provenance
from harness.export.registry import format_named
from harness.export.schema import yaml_features
from harness.record.rundir import NEGATIVES, RunDir

CARD = "README.md"
MANIFEST = "export.json"


def read_manifest(run: RunDir) -> dict[str, Any]:
    """negatives/export.json, or an empty manifest when there is none (or it is not a JSON object)."""
    name = f"{NEGATIVES}/{MANIFEST}"
    if not run.has(name):
        return {}
    try:
        data = json.loads(run.file(name).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}  # rebuilt from this export on; the card then lists only formats exported again
    return data if isinstance(data, dict) else {}


def export_run(
    run: RunDir,
    fmt: str,
    mask: bool = False,
    options: ExportConfig | None = None,
    log: Callable[[str], None] | None = None,
) -> list[Path]:
    """Export ``run`` as ``fmt`` (a name of ``FORMATS``) into ``negatives/``; return the paths written.

    ``options`` (default: the run's ``export`` config) selects arms,
    categories, severities and a score threshold, and sets deduplication and
    PII masking; ``mask`` replaces flagged spans with ● in every exported
    text.  Warnings (e.g. a KTO label imbalance) go to ``log`` and into the
    manifest and card.  The format's file (or folder) comes first, the
    manifest and the card last.  Nothing is written when the format is
    unknown (``HarnessError``), its optional package is missing
    (``MissingDependency``), a filter names something the run lacks
    (``ConfigError``) or the run's files are inconsistent (``InputError``).
    """
    spec = format_named(fmt)
    spec.check_dependency(fmt)
    options = options or run.record.config.export
    joined = load_joined(run, mask, options)
    context = ExportContext(run.record, Provenance(run.record), options)
    built = spec.build(context, joined)
    target = spec.write(run, f"{NEGATIVES}/{spec.target}", built.records, spec.features)
    for note in built.notes:
        (log or print)(f"warning: {fmt} export: {note}")
    manifest = read_manifest(run)
    manifest[fmt] = {
        "target": spec.target,
        "config": spec.config,
        "records": len(built.records),
        "exact_duplicates_removed": built.exact_duplicates,
        "near_duplicates_removed": built.near_duplicates,
        "notes": built.notes,
        "mask": mask,
        "mask_pii": options.mask_pii,
        "filters": options.model_dump(
            mode="json", include={"arms", "categories", "severities", "min_score", "score_measure", "near_duplicates"}
        ),
        "features": yaml_features(spec.features),
    }
    manifest_path = run.write_text(f"{NEGATIVES}/{MANIFEST}", json.dumps(manifest, ensure_ascii=False, indent=2))
    # the card counts negatives whatever the format was
    negatives = negative_records(context, joined).records
    card = run.write_text(f"{NEGATIVES}/{CARD}", dataset_card(run, joined, negatives, manifest))
    return [target, manifest_path, card]
