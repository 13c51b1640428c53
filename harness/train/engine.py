"""The training engine: mixed precision, accumulation, chunked loss, checkpoints, DDP.

One optimiser step = ``grad_accum_steps`` micro-batches of ``batch_size``
blocks on each of ``world_size`` processes.  The data order is a pure function
of (seed, samples consumed): epoch ``e`` walks ``randperm(n, seed + e)`` and
each micro-batch hands rank ``r`` its slice, so a resumed run and a fresh run
see the same blocks, and 1 or N processes split the same global batches.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from harness.train.precision import EngineSettings, autocast, autocast_dtype, make_optimizer, make_scaler


@dataclass
class TrainPlan:
    """Optimisation hyper-parameters for one training run."""

    steps: int
    batch_size: int  # blocks per micro-batch per process
    lr: float
    seed: int
    warmup_steps: int = 10
    weight_decay: float = 0.0
    grad_clip: float = 1.0
    min_lr_ratio: float = 0.1  # cosine decays to this share of lr


@dataclass
class CheckpointPolicy:
    """Where and how often to checkpoint; ``every`` None = only at the end; ``keep`` None = never prune.

    ``write_model(model, folder)`` writes each checkpoint's model part (see
    ``checkpoint.save_checkpoint``).
    """

    root: str
    every: int | None = None
    keep: int | None = 2
    write_model: Callable[[object, Path], None] | None = None


@dataclass
class TrainResult:
    """What a training run did."""

    steps: int
    tokens: int
    seconds: float
    losses: list[float] = field(default_factory=list)  # per step, this session's steps only
    loss_curve: list[dict] = field(default_factory=list)  # {step, loss, lr}, whole run
    eval_curve: list[dict] = field(default_factory=list)  # {step, loss}
    resumed_from: int | None = None

    @property
    def tokens_per_second(self) -> float:
        return self.tokens / self.seconds if self.seconds else 0.0


def lr_lambda(plan: TrainPlan) -> Callable[[int], float]:
    """Linear warm-up then cosine decay to ``min_lr_ratio``."""

    def factor(step: int) -> float:
        if step < plan.warmup_steps:
            return (step + 1) / plan.warmup_steps
        frac = (step - plan.warmup_steps) / max(1, plan.steps - plan.warmup_steps)
        return plan.min_lr_ratio + (1 - plan.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * min(frac, 1.0)))

    return factor


def batch_indices(n_blocks: int, seed: int, start: int, count: int) -> list[int]:
    """Block indices for samples ``start .. start+count`` of the seeded epoch-by-epoch order."""
    import torch

    out: list[int] = []
    position = start
    while len(out) < count:
        epoch, offset = divmod(position, n_blocks)
        perm = torch.randperm(n_blocks, generator=torch.Generator().manual_seed(seed * 100_003 + epoch))
        take = perm[offset : offset + count - len(out)].tolist()
        out.extend(take)
        position += len(take)
    return out


class LossModule:
    """``forward(ids, labels=None) → loss`` as an nn.Module, so DDP and torch.compile wrap the whole step."""

    def __new__(cls, model, settings: EngineSettings):
        import torch

        from harness.train.loss import causal_lm_loss

        class _Loss(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.model = model

            def forward(self, input_ids, labels=None):
                return causal_lm_loss(
                    self.model,
                    input_ids,
                    labels,
                    chunked=settings.loss == "chunked",
                    chunk=settings.loss_chunk_tokens,
                    compute_dtype=autocast_dtype(settings),
                )

        return _Loss()


def prepare_model(model, settings: EngineSettings, compile_mode: str | None = None):
    """Attention kernel, gradient checkpointing and compile, in place.

    ``compile_mode`` is torch.compile's ``mode`` (e.g. "max-autotune", which
    tries CUDA graphs and tuned matmul kernels); None = torch's default.
    benchmarks/reference_gpu.py --sweep reports what each mode gives.
    """
    from harness.train.loss import body_of
    from harness.train.precision import set_attention

    set_attention(model, settings.attn_implementation)
    if settings.fused_gelu:
        fuse_gelu(model)
    if settings.gradient_checkpointing:
        kwargs = {"use_reentrant": False}
        if hasattr(model, "activation_checkpointing_enable"):  # transformers 5.24 renamed it
            model.activation_checkpointing_enable(activation_checkpointing_kwargs=kwargs)
        else:  # older transformers (the GPU image has 5.17)
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kwargs)
        model.config.use_cache = False
    if settings.compile:
        # in place: state-dict keys stay the same
        body_of(model).compile(**({"mode": compile_mode} if compile_mode else {}))
    return model


def fuse_gelu(model) -> int:
    """Swap transformers' ``NewGELUActivation`` (GPT-2's ``gelu_new``) for one fused kernel; return the count.

    ``gelu_new`` is written as 7 elementwise ops, and autograd keeps each
    intermediate: ~6 extra [tokens, 4·dim] tensors per layer, more than all
    the other activations together (measured: ~390 MB per forward of
    16 × 128 tokens on the pinned 4-layer model).  ``F.gelu(approximate="tanh")``
    is the same function in one op (differences ~1e-7, rounding).
    """
    import torch

    class FusedTanhGELU(torch.nn.Module):
        def forward(self, x):
            return torch.nn.functional.gelu(x, approximate="tanh")

    swapped = 0
    for module in list(model.modules()):
        for name, child in list(module.named_children()):
            if type(child).__name__ == "NewGELUActivation":
                setattr(module, name, FusedTanhGELU())
                swapped += 1
    return swapped


def evaluate_loss(model, blocks, batch_size: int, settings: EngineSettings) -> float:
    """Mean next-token loss (nats/token) over the counted targets of ``blocks`` (a [n, block] tensor or
    block source; a loss mask, as in a chat corpus's cache, limits it to the assistant tokens)."""
    import torch

    from harness.train.data import batch_of
    from harness.train.loss import causal_lm_loss, counted_targets

    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    with torch.no_grad(), autocast(settings):
        for start in range(0, len(blocks), batch_size):
            ids, labels = batch_of(blocks, list(range(start, min(start + batch_size, len(blocks)))))
            ids, labels = ids.to(settings.device), None if labels is None else labels.to(settings.device)
            loss = causal_lm_loss(
                model,
                ids,
                labels,
                chunked=settings.loss == "chunked",
                chunk=settings.loss_chunk_tokens,
                compute_dtype=autocast_dtype(settings),
            )
            n_tokens = counted_targets(ids, labels)
            total += float(loss) * n_tokens
            count += n_tokens
    model.train(was_training)
    return total / max(count, 1)


def train(
    model,
    blocks,
    plan: TrainPlan,
    settings: EngineSettings,
    *,
    checkpoints: CheckpointPolicy | None = None,
    evaluate: Callable[[], float] | None = None,
    eval_every: int | None = None,
    desc: str = "train",
    progress: bool = True,
    curve_points: int = 500,
) -> TrainResult:
    """Train ``model`` (already on ``settings.device``) on ``blocks`` for ``plan.steps`` optimiser steps.

    Resumes from the newest checkpoint under ``checkpoints.root`` when there is one.
    ``evaluate`` (held-out loss) is called every ``eval_every`` steps for the eval curve.
    """
    import torch

    from harness.progress import Progress
    from harness.train import distributed

    world, rank = distributed.world_size(), distributed.rank()
    torch.manual_seed(plan.seed + rank)
    opt = Optimisation.create(model, plan, settings)
    loss_module = distributed.wrap(LossModule(model, settings), settings.device)
    run = resume(checkpoints, model, opt)
    start, per_step = run.step, settings.grad_accum_steps * plan.batch_size * world  # global samples a step
    every_curve = max(1, math.ceil(plan.steps / curve_points))

    model.train()
    losses: list[float] = []
    started = time.perf_counter()
    bar = Progress(range(start, plan.steps), plan.steps - start, desc, enabled=progress and rank == 0)
    for step in bar:
        indices = batch_indices(len(blocks), plan.seed, step * per_step, per_step)
        step_loss = accumulate_gradients(loss_module, blocks, indices, opt.scaler, settings, plan.batch_size)
        lr = opt.step(plan.grad_clip)
        done = run.step = step + 1
        if done % every_curve == 0 or done == plan.steps:
            run.pending.append((done, distributed.mean(step_loss), lr))  # a tensor: no host sync here
        if progress:
            losses.append(float(step_loss))
            bar.note(f"loss {losses[-1]:.3f}")
        if evaluate is not None and eval_every and done % eval_every == 0 and done < plan.steps:
            run.eval_curve.append({"step": done, "loss": round(evaluate(), 5)})
            model.train()
        if done == plan.steps or (checkpoints and checkpoints.every and done % checkpoints.every == 0):
            run.flush()
            if checkpoints and rank == 0:
                save(checkpoints, model, opt, run, samples=done * per_step)
        distributed.barrier()
    if settings.device.startswith("cuda"):
        torch.cuda.synchronize()
    seconds = time.perf_counter() - started
    model.eval()
    block = blocks.shape[1] if hasattr(blocks, "shape") else blocks.block_size
    return TrainResult(
        steps=plan.steps,
        tokens=(plan.steps - start) * per_step * block,
        seconds=seconds,
        losses=losses,
        loss_curve=run.loss_curve,
        eval_curve=run.eval_curve,
        resumed_from=run.resumed_from,
    )


@dataclass
class Optimisation:
    """Optimizer, learning-rate schedule and grad scaler of one run, and the parameters they update."""

    optimizer: object
    scheduler: object
    scaler: object
    trainable: list

    @classmethod
    def create(cls, model, plan: TrainPlan, settings: EngineSettings) -> "Optimisation":
        """AdamW (precision.make_optimizer), warm-up + cosine schedule, and the device's scaler."""
        import torch

        optimizer = make_optimizer(model.parameters(), settings, plan.lr, plan.weight_decay)
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda(plan))
        trainable = [p for p in model.parameters() if p.requires_grad]
        return cls(optimizer, scheduler, make_scaler(settings), trainable)

    def step(self, grad_clip: float) -> float:
        """Unscale, clip, step, zero the gradients and advance the schedule; return the lr the step used."""
        import torch

        self.scaler.unscale_(self.optimizer)
        torch.nn.utils.clip_grad_norm_(self.trainable, grad_clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.optimizer.zero_grad(set_to_none=True)
        lr = self.scheduler.get_last_lr()[0]
        self.scheduler.step()
        return lr


@dataclass
class RunState:
    """Where a run stands: steps done, the curves so far, the step it resumed from."""

    step: int = 0
    loss_curve: list[dict] = field(default_factory=list)  # {step, loss, lr}
    eval_curve: list[dict] = field(default_factory=list)  # {step, loss}
    resumed_from: int | None = None
    pending: list = field(default_factory=list)  # (step, loss tensor, lr) not yet copied to the host

    def flush(self) -> None:
        """Copy the pending losses to the host (one sync per checkpoint, not per step) onto the loss curve."""
        self.loss_curve += [{"step": k, "loss": round(float(v), 5), "lr": r} for k, v, r in self.pending]
        self.pending = []


def resume(checkpoints: CheckpointPolicy | None, model, opt: Optimisation) -> RunState:
    """Restore the newest checkpoint under ``checkpoints.root`` into ``model`` and ``opt``, or start fresh."""
    from harness.train import checkpoint as ckpt

    last = ckpt.latest_checkpoint(checkpoints.root) if checkpoints else None
    if last is None:
        return RunState()
    state = ckpt.load_checkpoint(last, model, opt.optimizer, opt.scheduler, opt.scaler)
    return RunState(state["step"], state["loss_curve"], state["eval_curve"], resumed_from=state["step"])


def save(checkpoints: CheckpointPolicy, model, opt: Optimisation, run: RunState, samples: int) -> None:
    """Checkpoint the run after ``run.step`` steps (``samples`` consumed)."""
    from harness.train import checkpoint as ckpt

    state = {"samples": samples, "loss_curve": run.loss_curve, "eval_curve": run.eval_curve}
    parts = (opt.optimizer, opt.scheduler, opt.scaler)
    ckpt.save_checkpoint(checkpoints.root, run.step, model, *parts, state, checkpoints.keep, checkpoints.write_model)


def accumulate_gradients(loss_module, blocks, indices: list[int], scaler, settings: EngineSettings, micro: int):
    """Forward and backward over this process's micro-batches of one optimiser step; return the step's loss.

    Micro-batch ``k`` hands rank ``r`` its slice ``(k * world + r) * micro`` of the
    global batch; gradients are synchronised across processes only on the last one.
    """
    from contextlib import nullcontext

    import torch

    from harness.train import distributed
    from harness.train.data import batch_of

    world, rank, accum = distributed.world_size(), distributed.rank(), settings.grad_accum_steps
    step_loss = torch.zeros((), device=settings.device)
    for k in range(accum):
        lo = (k * world + rank) * micro
        ids, labels = batch_of(blocks, indices[lo : lo + micro])
        ids = ids.to(settings.device, non_blocking=True)
        labels = None if labels is None else labels.to(settings.device, non_blocking=True)
        sync = distributed.no_sync(loss_module) if k < accum - 1 else nullcontext()
        with sync:
            with autocast(settings):
                loss = loss_module(ids, labels) / accum
            scaler.scale(loss).backward()
        step_loss += loss.detach()
    return step_loss
