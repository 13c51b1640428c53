"""The planned work of a run, checked against hard bounds and this machine's memory before any work.

The probe and analyse stages hold every generation of a run in memory (the
records, their JSON lines, their score rows), so a config that plans
billions of samples would grow until the kernel's out-of-memory killer ends
the run with no message.  ``check_planned_work`` estimates that memory from
the config and the probe files alone and refuses, in one line naming the
key and the estimate, a plan that cannot fit.  It also refuses a token
budget longer than a model's positions, which the sampler would otherwise
find only when the probe stage starts, after training.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from harness.config import RunConfig
from harness.data.probes import ProbeSet
from harness.errors import ConfigError

# Measured with tracemalloc on 2,000 Generation records and their JSON lines:
# 3.0 KB each with 40-character completions, 6.3 KB with 400 (≈ 2.7 KB + 9 bytes a
# character).  Doubled for the score rows and the analysis's token lists, at up to
# 3 characters a token.
BYTES_PER_SAMPLE = 6_000
BYTES_PER_NEW_TOKEN = 60
# rows × token positions of one sampler batch: bounds the KV cache whatever the model
MAX_BATCH_TOKENS = 1 << 24
MAX_SAMPLES = 50_000_000
MEMORY_SHARE = 0.8  # of the memory available now: the rest is the models', MeCab's and the system's


def planned_prompts(sets: list[ProbeSet]) -> int:
    """Prompts the probe sets give (a ``from_corpus`` set counts its maximum, 2 × ``per_split``)."""
    return sum(2 * s.from_corpus.per_split if s.from_corpus is not None else len(s.probes) for s in sets)


def planned_samples(config: RunConfig, sets: list[ProbeSet]) -> int:
    """Generations the probe stage writes: prompts × samples per prompt × arms."""
    return planned_prompts(sets) * config.probes.samples_per_prompt * len(config.arm_plan())


def estimate_bytes(samples: int, new_tokens: int) -> int:
    """Memory the probe and analyse stages need for ``samples`` generations of up to ``new_tokens`` tokens."""
    return samples * (BYTES_PER_SAMPLE + BYTES_PER_NEW_TOKEN * new_tokens)


def available_memory() -> int | None:
    """Bytes of memory available now (Linux ``MemAvailable``), else physical memory; None when unknown."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def human(nbytes: float) -> str:
    """``nbytes`` as a short binary size (``1.5 GiB``)."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if nbytes < 1024 or unit == "PiB":
            return f"{nbytes:,.0f} {unit}" if unit == "B" else f"{nbytes:,.1f} {unit}"
        nbytes /= 1024
    raise AssertionError("unreachable")


def token_budget(config: RunConfig) -> tuple[str, int]:
    """The config key that bounds a sample's length and the most positions a sample may use."""
    decoding = config.probes.decoding
    if decoding.max_length is not None:
        return "probes.decoding.max_length", decoding.max_length
    # a prompt is at least one token
    return "probes.decoding.max_new_tokens", decoding.max_new_tokens + 1


def model_positions(config: RunConfig) -> list[tuple[str, int]]:
    """(arm, positions) for every arm whose positions are known before any work.

    A base built here has its shape's positions (and so has its fine-tune);
    a given local folder has them in config.json.  Hub ids and folders
    without a readable config are checked when the model loads.
    """
    known: list[tuple[str, int]] = []
    for arm in config.arm_plan():
        if arm.source in ("init", "finetune") and config.base is not None and config.base.init is not None:
            from harness.train.base_init import SIZES

            known.append((arm.name, SIZES[config.base.init.size]["n_positions"]))
        elif arm.source == "given" and arm.model:
            positions = folder_positions(Path(arm.model))
            if positions:
                known.append((arm.name, positions))
    return known


def folder_positions(folder: Path) -> int | None:
    """``n_positions`` (GPT-2) or ``max_position_embeddings`` from a model folder's config.json."""
    try:
        data = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    value = data.get("n_positions") or data.get("max_position_embeddings")
    return value if isinstance(value, int) and value > 0 else None


def check_planned_work(config: RunConfig, sets: list[ProbeSet], memory: int | None = None) -> None:
    """Refuse, before any work, a probe plan that exceeds a bound, a model's positions or the memory.

    ``memory`` (bytes) defaults to what this machine has available now.
    """
    key, length = token_budget(config)
    for arm, positions in model_positions(config):
        if length > positions:
            raise ConfigError(
                f"{key}: {length:,} positions per sample exceed the {positions:,} positions of arm '{arm}'"
            )
    batch_tokens = config.probes.batch_size * length
    if batch_tokens > MAX_BATCH_TOKENS:
        raise ConfigError(
            f"probes.batch_size: {config.probes.batch_size:,} rows × {length:,} positions = {batch_tokens:,} tokens "
            f"per batch, more than the {MAX_BATCH_TOKENS:,} allowed; lower probes.batch_size"
        )
    samples = planned_samples(config, sets)
    if samples > MAX_SAMPLES:
        raise ConfigError(
            f"probes.samples_per_prompt: {samples:,} generations planned (prompts × samples × arms), "
            f"more than the {MAX_SAMPLES:,} a run may hold"
        )
    memory = available_memory() if memory is None else memory
    need = estimate_bytes(samples, length)
    if memory is not None and need > MEMORY_SHARE * memory:
        raise ConfigError(
            f"probes.samples_per_prompt: {samples:,} generations of up to {length:,} tokens need about {human(need)} "
            f"of memory; this machine has {human(memory)} available"
        )
