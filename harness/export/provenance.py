"""Provenance fields shared by every exported record: which run, model and sampling made it."""

from __future__ import annotations

from typing import Any

from harness.record.schema import Generation, RunRecord

# field names every exported record carries (documented in the dataset card)
PROBE_FIELDS = ("id", "probe_set", "probe_id", "sample_index", "category", "group")
PROVENANCE_FIELDS = ("arm", "arm_path", "seed", "decoding", "run", "run_created", "git_sha")


def arm_path(record: RunRecord, name: str) -> str | None:
    """The model folder behind arm ``name``, following aliases to the arm whose weights they probe.

    Relative paths are inside the run directory, as run.json records them.
    """
    arm = record.arm(name)
    seen = {arm.name}
    # an alias has no path of its own; its weights are those of ``same_as``
    while arm.path is None and arm.same_as is not None and arm.same_as not in seen:
        arm = record.arm(arm.same_as)
        seen.add(arm.name)
    return arm.path


def provenance(record: RunRecord, gen: Generation) -> dict[str, Any]:
    """``arm``, ``arm_path``, ``seed``, ``decoding``, ``run``, ``run_created``, ``git_sha`` of one generation."""
    return {
        "arm": gen.arm,
        "arm_path": arm_path(record, gen.arm),
        "seed": gen.seed,
        "decoding": gen.decoding,
        "run": record.name,
        "run_created": record.created,
        "git_sha": record.git_sha,
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
