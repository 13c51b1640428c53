"""The generator protocol: how the probe stage gets completions from an arm's model.

A backend turns (model, probes, decoding, seeds) into ``Sample`` objects; the
probe stage turns those into ``Generation`` records.  Every sample has its own
seed, ``sample_seed(run seed, probe set, probe id, sample index)``, so all arms
see the same streams and their samples pair up.  A backend may also take a
``GenerationStore`` (``gencache.py``): it then skips the samples the store
already holds and adds each new one as soon as it finishes, which makes a
killed probe stage resumable.  The backends are listed in
``harness.models.backends``.
"""

from __future__ import annotations

import hashlib
from typing import Any, NamedTuple, Protocol

from harness.config import DecodingConfig
from harness.data.probes import Probe
from harness.models.rng import sample_seed


class Sample(NamedTuple):
    """One completion of one probe."""

    probe: Probe
    sample_index: int
    seed: int
    completion: str
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    hit_max_tokens: bool | None = None
    rendered_prompt: str | None = None  # the prompt through the chat template (chat models only)
    chat_template_sha256: str | None = None
    served_model: str | None = None  # a served arm: the model name the server's response gave
    seed_honoured: bool | None = None  # a served arm: the seed reproduced the text (None: not checked)


class SamplingPlan(NamedTuple):
    """What every arm is asked: the same probes, samples, decoding and run seed."""

    probes: tuple[Probe, ...]
    samples_per_prompt: int
    decoding: DecodingConfig
    run_seed: int
    batch_size: int = 64  # rows per forward (harness engine)
    engine: str = "harness"  # "harness" (sampler.py) or "reference" (one generate() call per prompt)
    shard: Any = None  # a shard.Shard: draw only its batches of the global batch plan (None = all)
    chat: bool | str = "auto"  # probes.chat: wrap prompts in the tokenizer's chat template (harness.models.chat)
    system: str | None = None  # probes.system: the system turn of a wrapped prompt

    def seed_of(self, probe: Probe, index: int) -> int:
        """Sample ``index`` of ``probe``'s stream seed (see ``rng.sample_seed``)."""
        return sample_seed(self.run_seed, probe.probe_set, probe.id, index)


class ArmSamples(NamedTuple):
    """A backend's answer for one arm: its samples (plan order) and the model's parameter count."""

    samples: list[Sample]
    parameters: int | None


class Generator(Protocol):
    """A generation backend (see the module docstring)."""

    backend: str

    def sample(self, arm: str, model: str, plan: SamplingPlan, progress: bool, store: Any = None) -> ArmSamples:
        """Every probe × ``plan.samples_per_prompt`` samples from ``model`` (labelled ``arm``), in plan order.

        ``store`` is a ``gencache.GenerationStore`` or None (typed ``Any``: gencache imports this module).
        """

    def fingerprint(self, arm: str, model: str) -> str:
        """What identifies the arm's model for the generation cache (content hash of its files)."""


def prompt_seed(run_seed: int, probe: Probe) -> int:
    """A stable 31-bit seed per (run seed, probe set, probe id): the reference engine seeds each call with it."""
    key = f"{run_seed}/{probe.probe_set}/{probe.id}".encode()
    return int.from_bytes(hashlib.sha256(key).digest()[:4], "big") & 0x7FFFFFFF
