"""Preference data: DPO pairs against the reference arm and KTO labels for every generation."""

from __future__ import annotations

from typing import Any

from harness.errors import HarnessError
from harness.export.joined import Joined
from harness.export.provenance import PROBE_FIELDS, PROVENANCE_FIELDS, arm_path, probe_fields, provenance
from harness.record.schema import RunRecord

DPO_FIELDS = ("prompt", "chosen", "rejected", *PROBE_FIELDS, "reference", "reference_path", *PROVENANCE_FIELDS)
KTO_FIELDS = ("prompt", "completion", "label", *PROBE_FIELDS, *PROVENANCE_FIELDS)


def dpo_records(record: RunRecord, joined: list[Joined]) -> list[dict[str, Any]]:
    """DPO pairs: for every non-reference arm, samples flagged where the reference's is not.

    Samples pair on ``pair_key`` (same probe, sample index and hence seed).
    ``chosen`` is the reference completion, ``rejected`` the arm's; ``id`` is
    the rejected generation's id.  An identical (prompt, chosen, rejected)
    triple is kept once (the first arm in run.json order wins).
    """
    reference = record.reference_arm
    if reference is None:
        raise HarnessError(f"run '{record.name}' has no reference arm: DPO pairs need one")
    clean = {item.generation.pair_key: item for item in joined if item.generation.arm == reference}
    by_arm: dict[str, list[Joined]] = {}
    for item in joined:
        by_arm.setdefault(item.generation.arm, []).append(item)
    records: list[dict[str, Any]] = []
    seen: set[tuple[str, str, str]] = set()
    for arm in (a.name for a in record.arms if a.name != reference):
        for item in by_arm.get(arm, []):
            chosen = clean.get(item.generation.pair_key)
            if not item.flagged or chosen is None or chosen.flagged:
                continue
            gen = item.generation
            key = (gen.prompt, chosen.completion, item.completion)
            if key in seen:
                continue
            seen.add(key)
            records.append(
                {
                    "prompt": gen.prompt,
                    "chosen": chosen.completion,
                    "rejected": item.completion,
                    **probe_fields(gen),
                    "reference": reference,
                    "reference_path": arm_path(record, reference),
                    **provenance(record, gen),
                }
            )
    return records


def kto_records(record: RunRecord, joined: list[Joined]) -> list[dict[str, Any]]:
    """Every generation of every arm, ``label`` true (desirable) when it is not flagged."""
    return [
        {
            "prompt": item.generation.prompt,
            "completion": item.completion,
            "label": not item.flagged,
            **probe_fields(item.generation),
            **provenance(record, item.generation),
        }
        for item in joined
    ]
