"""The mitigation's training data: the export's own preference records, from the train split only.

The generations are joined to their scores exactly as the export joins them
(``harness.export.joined.load_joined``) and kept only for the reference arm
and the arm being mitigated, on the ``mitigation-train`` side of the split;
the export's builders (``harness.export.preference``) then make the DPO pairs
(``chosen``: the reference arm's clean completion for the same prompt and
sample; ``rejected``: the arm's undesirable one) or the KTO examples, with the
export's deduplication and its label-imbalance warning.  Nothing from a
``mitigation-eval`` prompt can reach training.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.config import MitigateConfig
from harness.export.context import ExportContext
from harness.export.joined import load_joined
from harness.export.preference import dpo_records, kto_records
from harness.export.provenance import Provenance
from harness.mitigate.split import MitigationSplit
from harness.record.rundir import RunDir


@dataclass
class TrainingData:
    """Records in TRL's columns (DPO: prompt/chosen/rejected; KTO: prompt/completion/label) and what they cover."""

    records: list[dict]
    units: list[str]  # the split units (``Unit.label``) the records come from, sorted
    notes: list[str] = field(default_factory=list)  # the builder's warnings (KTO label imbalance)

    def labels(self) -> tuple[int, int] | None:
        """KTO (desirable, undesirable) counts; None for DPO pairs."""
        if not self.records or "label" not in self.records[0]:
            return None
        desirable = sum(1 for r in self.records if r["label"])
        return desirable, len(self.records) - desirable


def training_data(run: RunDir, settings: MitigateConfig, split: MitigationSplit) -> TrainingData:
    """DPO pairs or KTO examples for ``settings.from_arm`` from the train side of ``split``."""
    record = run.record
    reference = record.reference_arm
    # every arm joined (the export's arm filter must not drop the reference's chosen side)
    options = record.config.export.model_copy(update={"arms": []})
    keep = {reference, settings.from_arm}
    joined = [
        item
        for item in load_joined(run, mask=False, options=options)
        if item.generation.arm in keep
        and not split.is_eval(item.generation.probe_set, item.generation.probe_id, item.generation.sample_index)
    ]
    context = ExportContext(record, Provenance(record), options)
    built = (dpo_records if settings.method == "dpo" else kto_records)(context, joined)
    units = {split.unit(r["probe_set"], r["probe_id"], r["sample_index"]).label() for r in built.records}
    return TrainingData(built.records, sorted(units), list(built.notes))


def trl_rows(data: TrainingData) -> list[dict]:
    """The records cut to the columns TRL reads."""
    columns = ("prompt", "completion", "label") if data.labels() is not None else ("prompt", "chosen", "rejected")
    return [{c: r[c] for c in columns} for r in data.records]
