"""Preference data with TRL's column names: DPO pairs against the reference arm, KTO labels.

DPO (``prompt``, ``chosen``, ``rejected``): for the same prompt and sample
index (hence seed), ``chosen`` is the reference arm's clean completion and
``rejected`` another arm's undesirable one.  KTO (``prompt``, ``completion``,
``label``): every undesirable (false) and clean (true) generation; texts that
are flagged but not selected by the export's filters are left out rather than
mislabelled.  Both are deduplicated like the negatives, and a KTO label
imbalance is warned about and recorded.
"""

from __future__ import annotations

from harness.errors import HarnessError
from harness.export.context import Built, ExportContext
from harness.export.dedup import deduplicate
from harness.export.joined import Joined, clean
from harness.export.provenance import arm_path, probe_fields

# TRL's KTO docs advise a desirable:undesirable ratio near 1:1 (weights can make up for up to ~4:3);
# beyond this the export warns and records it
IMBALANCE_RATIO = 4.0


def dpo_records(context: ExportContext, joined: list[Joined]) -> Built:
    """DPO pairs (``schema.DPO_FEATURES``): per non-reference arm, samples undesirable where the reference's is clean.

    ``id`` and the provenance fields are the rejected generation's;
    ``chosen_id`` names the chosen one.  Pairs whose rejected text repeats an
    earlier one (exactly or nearly) are dropped.
    """
    record = context.record
    reference = record.reference_arm
    if reference is None:
        raise HarnessError(f"run '{record.name}' has no reference arm: DPO pairs need one")
    chosen_by_key = {item.generation.pair_key: item for item in joined if item.generation.arm == reference}
    records = []
    for arm in (a.name for a in record.arms if a.name != reference):
        for item in joined:
            chosen = chosen_by_key.get(item.generation.pair_key)
            if item.generation.arm != arm or not item.undesirable or chosen is None or not clean(chosen):
                continue
            records.append(
                {
                    "prompt": item.prompt,
                    "chosen": chosen.completion,
                    "rejected": item.completion,
                    **probe_fields(item.generation),
                    "chosen_id": chosen.generation.id,
                    "reference": reference,
                    "reference_path": arm_path(record, reference),
                    **context.provenance(item),
                }
            )
    result = deduplicate(records, lambda r: r["rejected"], context.options.near_duplicates)
    return Built(result.kept, result.exact, result.near)


def kto_records(context: ExportContext, joined: list[Joined]) -> Built:
    """KTO records (``schema.KTO_FEATURES``): undesirable (``label`` false) and clean (true) generations.

    Deduplicated like the negatives; a label imbalance is warned about.
    """
    records = [
        {
            "prompt": item.prompt,
            "completion": item.completion,
            "label": clean(item),
            **probe_fields(item.generation),
            **context.provenance(item),
        }
        for item in joined
        if item.undesirable or clean(item)
    ]
    result = deduplicate(records, lambda r: r["completion"], context.options.near_duplicates)
    built = Built(result.kept, result.exact, result.near)
    desirable = sum(1 for r in built.records if r["label"])
    undesirable = len(built.records) - desirable
    if built.records and max(desirable, undesirable) > IMBALANCE_RATIO * max(1, min(desirable, undesirable)):
        built.notes.append(
            f"KTO label imbalance: {desirable} desirable : {undesirable} undesirable; set TRL's "
            "KTOConfig desirable_weight/undesirable_weight or subsample the larger side"
        )
    return built
