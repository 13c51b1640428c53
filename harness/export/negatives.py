"""Negative examples: the undesirable generations of every exported arm, labelled ``undesirable``."""

from __future__ import annotations

from harness.export.context import Built, ExportContext
from harness.export.dedup import deduplicate
from harness.export.joined import Joined
from harness.export.provenance import probe_fields

UNDESIRABLE = "undesirable"


def negative_records(context: ExportContext, joined: list[Joined]) -> Built:
    """Undesirable generations as records (``schema.NEGATIVE_FEATURES``), exact and near-duplicate completions removed.

    The first occurrence wins (generations.jsonl order: arm by arm), so a text
    two arms share is attributed to the earlier arm.  Deduplication compares
    the completion as exported, so masking can merge texts that differed only
    in a flagged term.
    """
    records = [
        {
            **probe_fields(item.generation),
            "prompt": item.prompt,
            "completion": item.completion,
            "flagged_terms": item.terms,
            "flagged_categories": item.categories,
            "score": item.score,
            "label": UNDESIRABLE,
            **context.provenance(item),
        }
        for item in joined
        if item.undesirable
    ]
    result = deduplicate(records, lambda r: r["completion"], context.options.near_duplicates)
    return Built(result.kept, result.exact, result.near)
