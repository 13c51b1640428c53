"""Provenance fields shared by every exported record: which run, model, sampling and detectors made it."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from harness.export.joined import Joined
from harness.record.schema import Generation, RunRecord

# field names every exported record carries (documented in the dataset card)
PROBE_FIELDS = ("id", "probe_set", "probe_id", "sample_index", "category", "group")
PROVENANCE_FIELDS = (
    "arm",
    "arm_path",
    "model_sha256",
    "seed",
    "decoding",
    "run",
    "run_id",
    "git_sha",
    "lexicon_sha256",
    "detectors",
)
# the files whose bytes identify a model's weights: safetensors only, the one weight format
# harness/models/loading.py loads (no pickled .bin files)
WEIGHT_PATTERNS = ("*.safetensors", "config.json")


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


def weights_sha256(folder: Path) -> str | None:
    """sha256 over a model folder's weight files and config (name + bytes, sorted); None when it has none."""
    if not folder.is_dir():
        return None
    files = sorted({p for pattern in WEIGHT_PATTERNS for p in folder.glob(pattern) if p.is_file()})
    if not files:
        return None
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.name.encode("utf-8") + b"\0")
        with path.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def model_sha256(record: RunRecord, run_dir: Path, name: str) -> str | None:
    """The weights hash of arm ``name`` (a relative path is inside the run directory); None when not on disk."""
    path = arm_path(record, name)
    if path is None:
        return None
    folder = Path(path) if Path(path).is_absolute() else run_dir / path
    return weights_sha256(folder.resolve())


def lexicon_sha256(record: RunRecord) -> list[str]:
    """sha256 of each lexicon file of the run (config order), as run.json recorded them."""
    return [record.hashes.get(str(p), "") for p in record.config.analysis.lexicons]


def run_id(record: RunRecord) -> str:
    """A run's identity: its name and creation time (two runs of one name differ in the second)."""
    return f"{record.name}@{record.created}"


class Provenance:
    """Builds the ``PROVENANCE_FIELDS`` of a run's records; per-arm weight hashes are computed once."""

    def __init__(self, record: RunRecord, run_dir: Path):
        self.record = record
        self.models = {arm.name: model_sha256(record, run_dir, arm.name) for arm in record.arms}
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
