"""Sharding the probe stage across processes or machines.

The global batch plan is every (probe, sample index) of the plan, bucketed by
prompt length (sorted by prompt characters, then plan order) and cut into
batches of ``probes.batch_size`` rows.  Shard ``i/n`` takes the whole batches
``b`` with ``b mod n = i − 1``, so shards never overlap, cover the plan, and
do not depend on what any cache already holds.  Each shard streams its
samples into its own part file of the generation cache
(``…shard-i-of-n.jsonl``); a run without ``--shard`` then finds every sample
there and assembles ``generations.jsonl`` in plan order — byte-identical to
an unsharded run, because each sample's draws depend only on its own stream.
``merge_parts`` gathers the part files of shards that ran on other machines.
"""

from __future__ import annotations

import filecmp
import os
import re
import shutil
from pathlib import Path
from typing import Mapping, NamedTuple, Sequence, TypeVar

from harness.errors import ConfigError, InputError

T = TypeVar("T")
_SPEC = re.compile(r"^(\d+)/(\d+)$")


class Shard(NamedTuple):
    """Shard ``index`` (1-based) of ``count``."""

    index: int
    count: int

    @property
    def label(self) -> str:
        return f"shard-{self.index}-of-{self.count}"


def parse_shard(text: str, environ: Mapping[str, str] | None = None) -> Shard:
    """``"i/n"`` → ``Shard(i, n)`` with 1 ≤ i ≤ n; ``"env"`` → from ``RANK``/``WORLD_SIZE``.

    torchrun and accelerate launch one process per GPU and set ``RANK`` (0-based)
    and ``WORLD_SIZE`` in each, so ``--shard env`` makes process r shard r + 1.
    """
    if text.strip() == "env":
        environ = os.environ if environ is None else environ
        if "RANK" not in environ or "WORLD_SIZE" not in environ:
            raise ConfigError("--shard env: RANK and WORLD_SIZE are not set (launch with torchrun or accelerate)")
        text = f"{int(environ['RANK']) + 1}/{environ['WORLD_SIZE']}"
    match = _SPEC.match(text.strip())
    if not match or not 1 <= int(match.group(1)) <= int(match.group(2)):
        raise ConfigError(f"--shard {text!r}: expected i/n with 1 ≤ i ≤ n, e.g. 1/4")
    return Shard(int(match.group(1)), int(match.group(2)))


def global_batches(pairs: Sequence[tuple], batch_size: int, length) -> list[list[tuple]]:
    """The plan's (probe, index) pairs bucketed by ``length(probe)`` and cut into batches."""
    order = sorted(range(len(pairs)), key=lambda i: (length(pairs[i][0]), i))
    ordered = [pairs[i] for i in order]
    return [ordered[start : start + batch_size] for start in range(0, len(ordered), batch_size)]


def select(pairs: Sequence[tuple], batch_size: int, shard: Shard) -> list[tuple]:
    """The pairs of ``shard``'s batches, in plan order."""
    mine = {
        id(pair)
        for b, batch in enumerate(global_batches(pairs, batch_size, lambda probe: len(probe.text)))
        if b % shard.count == shard.index - 1
        for pair in batch
    }
    return [pair for pair in pairs if id(pair) in mine]


def merge_parts(sources: Sequence[Path], into: Path) -> list[Path]:
    """Copy the part files (``*.jsonl``) of shard cache folders into ``into``; returns the files copied.

    A part file already in ``into`` must be identical (the same shard ran twice); otherwise it is an error.
    """
    into.mkdir(parents=True, exist_ok=True)
    copied = []
    for source in sources:
        if not Path(source).is_dir():
            raise InputError("not a generation cache folder", source)
        for part in sorted(Path(source).glob("*.jsonl")):
            target = into / part.name
            if target.exists():
                if target.resolve() == part.resolve() or filecmp.cmp(part, target, shallow=False):
                    continue
                raise InputError(f"{target} exists with different content; remove one of them", part)
            shutil.copyfile(part, target)
            copied.append(target)
    return copied


def use_local_gpu(environ: Mapping[str, str] | None = None) -> None:
    """Under torchrun/accelerate (``LOCAL_RANK`` set), make this process's default CUDA device its own GPU."""
    environ = os.environ if environ is None else environ
    if "LOCAL_RANK" not in environ:
        return
    import torch

    if torch.cuda.is_available():
        torch.cuda.set_device(int(environ["LOCAL_RANK"]) % torch.cuda.device_count())
