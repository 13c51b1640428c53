"""Provenance fields shared by every exported record: which run, model, sampling and detectors made it."""

from __future__ import annotations

from typing import Any

from harness.export.joined import Joined
from harness.record.schema import Arm, Generation, RunRecord


def weights_arm(record: RunRecord, name: str) -> Arm:
    """The arm whose weights arm ``name`` probes: itself, or the arm an alias (``same_as``) points to."""
    arm = record.arm(name)
    seen = {arm.name}
    # an alias has no model of its own; its weights are those of ``same_as``
    while arm.path is None and arm.same_as is not None and arm.same_as not in seen:
        arm = record.arm(arm.same_as)
        seen.add(arm.name)
    return arm


def arm_path(record: RunRecord, name: str) -> str | None:
    """The model folder behind arm ``name`` (relative paths are inside the run directory, as run.json has them)."""
    return weights_arm(record, name).path


def model_sha256(record: RunRecord, name: str) -> str | None:
    """The model fingerprint the probe stage recorded for arm ``name``'s weights (``Arm.fingerprint``).

    None when the run recorded none (not probed yet, or a backend without fingerprints).
    """
    return weights_arm(record, name).fingerprint


def lexicon_files(record: RunRecord) -> list[str]:
    """The run's lexicon files, then its word lists (``analysis.word_lists``), in config order."""
    return [str(p) for p in record.config.analysis.lexicon_files()]


def lexicon_sha256(record: RunRecord) -> list[str]:
    """sha256 of each of ``lexicon_files`` as run.json recorded them ("" when not recorded)."""
    return [record.hashes.get(path, "") for path in lexicon_files(record)]


def run_id(record: RunRecord) -> str:
    """A run's identity: its name and creation time (two runs of one name differ in the second)."""
    return f"{record.name}@{record.created}"


class Provenance:
    """Builds the ``schema.PROVENANCE_FEATURES`` of a run's records."""

    def __init__(self, record: RunRecord):
        self.record = record
        self.models = {arm.name: model_sha256(record, arm.name) for arm in record.arms}
        self.lexicons = lexicon_sha256(record)
        self.run_id = run_id(record)

    def __call__(self, item: Joined) -> dict[str, Any]:
        """The provenance fields of one joined generation."""
        gen, record = item.generation, self.record
        return {
            "arm": gen.arm,
            "arm_path": arm_path(record, gen.arm),
            "model_sha256": self.models.get(gen.arm),
            "seed": gen.seed,
            "decoding": gen.decoding,
            "run": record.name,
            "run_id": self.run_id,
            "git_sha": record.git_sha,
            "lexicon_sha256": list(self.lexicons),
            "detectors": item.detectors,
        }


def probe_fields(gen: Generation) -> dict[str, Any]:
    """Which probe and sample a generation answers (``id`` first)."""
    return {
        "id": gen.id,
        "probe_set": gen.probe_set,
        "probe_id": gen.probe_id,
        "sample_index": gen.sample_index,
        "category": gen.category,
        "group": gen.group,
    }
