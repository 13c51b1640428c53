"""``export_run``: one registered format of a run into ``negatives/``, then the dataset card."""

from __future__ import annotations

from pathlib import Path

from harness.export.card import dataset_card
from harness.export.joined import load_joined
from harness.export.negatives import negative_records
from harness.export.registry import format_named
from harness.record.rundir import NEGATIVES, RunDir

CARD = "README.md"


def export_run(run: RunDir, fmt: str, mask: bool = False) -> list[Path]:
    """Export ``run`` as ``fmt`` (a name of ``FORMATS``) into ``negatives/``; return the paths written.

    The format's file (or folder) comes first, the dataset card README.md
    last; the card is rewritten on every export so it describes what the
    folder holds.  Nothing is written when the format is unknown
    (``HarnessError``), its optional package is missing
    (``MissingDependency``) or the run's files are inconsistent (``InputError``).
    ``mask`` replaces flagged spans with ● in every exported text.
    """
    spec = format_named(fmt)
    spec.check_dependency(fmt)
    joined = load_joined(run, mask)
    records = spec.build(run.record, joined)
    target = spec.write(run, f"{NEGATIVES}/{spec.target}", records, spec.fields)
    # the card counts negatives whatever the format was
    negatives = negative_records(run.record, joined)
    export = {"format": fmt, "target": spec.target, "records": len(records), "mask": mask}
    card = run.write_text(f"{NEGATIVES}/{CARD}", dataset_card(run, joined, negatives, export))
    return [target, card]
