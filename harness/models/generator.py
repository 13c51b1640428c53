"""The generator protocol: how the probe stage gets completions from an arm's model.

A backend turns (model, probes, decoding, seeds) into ``Sample`` objects; the
probe stage turns those into ``Generation`` records.  Backends are chosen in
ONE place, ``generator_for``: a local Hugging Face folder, a hub model (only
when the config allows the hub), or the fake backend used by tests and dry
runs.  Every backend derives seeds with ``prompt_seed`` so all arms see the
same seeds and their samples pair up.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import NamedTuple, Protocol

from harness.config import DecodingConfig, ProbeConfig
from harness.data.probes import Probe
from harness.errors import ModelError


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


def generator_for(model: str, config: ProbeConfig, allow_hub: bool) -> Generator:
    """The backend for one arm's model: fake (config), local folder, or hub (when allowed)."""
    if config.backend == "fake":
        from harness.models.fake import FakeGenerator

        return FakeGenerator()
    from harness.models.hf import HFHubGenerator, HFLocalGenerator

    if Path(model).is_dir():
        return HFLocalGenerator(device=config.device)
    if allow_hub:
        return HFHubGenerator(device=config.device)
    raise ModelError(f"model folder not found: {model} (hub downloads are off; set base.allow_hub: true to allow)")
