"""The generator protocol: how the probe stage gets completions from an arm's model.

A backend turns (model, probes, decoding, seeds) into ``Sample`` objects; the
probe stage turns those into ``Generation`` records.  Every backend derives
seeds with ``prompt_seed`` so all arms see the same seeds and their samples
pair up.  The backends themselves are listed in ``harness.models.backends``.
"""

from __future__ import annotations

import hashlib
from typing import NamedTuple, Protocol

from harness.config import DecodingConfig
from harness.data.probes import Probe


class Sample(NamedTuple):
    """One completion of one probe."""

    probe: Probe
    sample_index: int
    seed: int
    completion: str
    prompt_tokens: int | None = None
    completion_tokens: int | None = None


class SamplingPlan(NamedTuple):
    """What every arm is asked: the same probes, samples, decoding and run seed."""

    probes: tuple[Probe, ...]
    samples_per_prompt: int
    decoding: DecodingConfig
    run_seed: int


class ArmSamples(NamedTuple):
    """A backend's answer for one arm: its samples and the model's parameter count."""

    samples: list[Sample]
    parameters: int | None


class Generator(Protocol):
    """A generation backend (see the module docstring)."""

    backend: str

    def sample(self, arm: str, model: str, plan: SamplingPlan, progress: bool) -> ArmSamples:
        """Every probe × ``plan.samples_per_prompt`` samples from ``model`` (labelled ``arm``)."""


def prompt_seed(run_seed: int, probe: Probe) -> int:
    """A stable 31-bit seed per (run seed, probe set, probe id), identical for every arm."""
    key = f"{run_seed}/{probe.probe_set}/{probe.id}".encode()
    return int.from_bytes(hashlib.sha256(key).digest()[:4], "big") & 0x7FFFFFFF
