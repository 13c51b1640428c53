"""Negative examples: the flagged generations of every arm, labelled ``undesirable``."""

from __future__ import annotations

from typing import Any

from harness.export.joined import Joined
from harness.export.provenance import PROBE_FIELDS, PROVENANCE_FIELDS, probe_fields, provenance
from harness.record.schema import RunRecord

UNDESIRABLE = "undesirable"
NEGATIVE_FIELDS = (
    *PROBE_FIELDS,
    "prompt",
    "completion",
    "flagged_terms",
    "flagged_categories",
    "label",
    *PROVENANCE_FIELDS,
)


def negative_records(record: RunRecord, joined: list[Joined]) -> list[dict[str, Any]]:
    """Flagged generations of every arm as records; an identical (prompt, completion) is kept once.

    The first occurrence wins (generations.jsonl order: arm by arm), so a text
    two arms share is attributed to the earlier arm.  Deduplication compares
    the completion as exported, so masking can merge texts that differed only
    in a flagged term.
    """
    records: list[dict[str, Any]] = []
    seen: set[tuple[str, str]] = set()
    for item in joined:
        gen = item.generation
        key = (gen.prompt, item.completion)
        if not item.flagged or key in seen:
            continue
        seen.add(key)
        records.append(
            {
                **probe_fields(gen),
                "prompt": gen.prompt,
                "completion": item.completion,
                "flagged_terms": item.terms,
                "flagged_categories": item.categories,
                "label": UNDESIRABLE,
                **provenance(record, gen),
            }
        )
    return records
