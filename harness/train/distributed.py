"""Data parallelism (DDP) under ``torchrun`` / ``accelerate launch``.

The launcher sets ``WORLD_SIZE``/``RANK``/``LOCAL_RANK``/``MASTER_ADDR``; when
``WORLD_SIZE`` > 1 the process group starts here (NCCL on CUDA, gloo on CPU),
each process trains on its slice of every global batch (engine.batch_indices)
and gradients are averaged by DDP.  Rank 0 alone writes checkpoints and the
model; ``shutdown`` ends the group when the job is done.  With one process
every function here is a no-op.
"""

from __future__ import annotations

import os
from contextlib import nullcontext


def world_size() -> int:
    """Processes in the job (1 without a launcher)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size()
    return 1


def rank() -> int:
    """This process's rank (0 without a launcher)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank()
    return 0


def init_from_env(device: str) -> str:
    """Start the process group when launched with WORLD_SIZE > 1; return this process's device."""
    import torch
    import torch.distributed as dist

    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or dist.is_initialized():
        return device
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if device.startswith("cuda"):
        torch.cuda.set_device(local)
        dist.init_process_group("nccl")
        return f"cuda:{local}"
    dist.init_process_group("gloo")
    return device


def shutdown() -> None:
    """End the process group, if this process started one (no-op alone).

    Without it gloo's threads may still run while the interpreter exits, and a rank whose work is done can
    abort with "terminate called without an active exception" (exit -6), failing the whole torchrun job.
    """
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def wrap(module, device: str):
    """DDP-wrap ``module`` when running distributed."""
    if world_size() == 1:
        return module
    from torch.nn.parallel import DistributedDataParallel

    ids = [int(device.split(":")[1])] if device.startswith("cuda:") else None
    return DistributedDataParallel(module, device_ids=ids)


def no_sync(module):
    """Skip the gradient all-reduce on accumulation micro-steps."""
    return module.no_sync() if hasattr(module, "no_sync") else nullcontext()


def mean(value):
    """Average a scalar tensor over processes (for logging)."""
    if world_size() == 1:
        return value
    import torch.distributed as dist

    value = value.detach().clone()
    dist.all_reduce(value)
    return value / world_size()


def barrier() -> None:
    """Wait for every process (no-op alone)."""
    if world_size() > 1:
        import torch.distributed as dist

        dist.barrier()
