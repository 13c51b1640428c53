"""Causal-LM training: packing, evaluation and the training loop.

Reads top to bottom: documents → token ids → packed blocks (EOS between
documents) → AdamW with warm-up and cosine decay → eval loss before/after on
a held-out split that never overlaps the training split.
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass, field
from typing import Sequence

from harness.errors import InputError


def encode_documents(tokenizer, texts: Sequence[str]) -> list[list[int]]:
    """Token ids per document, without special tokens (EOS is added by packing)."""
    if not texts:
        return []
    return tokenizer(list(texts), add_special_tokens=False)["input_ids"]


def pack_blocks(token_lists: Sequence[Sequence[int]], eos_id: int, block_size: int):
    """Concatenate documents with EOS after each and cut into equal blocks.

    Returns a LongTensor [n_blocks, block]; the ragged tail is dropped, except
    that a stream shorter than one block becomes a single shorter block.
    """
    import torch

    stream: list[int] = []
    for ids in token_lists:
        stream.extend(ids)
        stream.append(eos_id)
    if len(stream) < 2:
        raise InputError("corpus produced no tokens to train on")
    block = min(block_size, len(stream))
    n_blocks = len(stream) // block
    return torch.tensor(stream[: n_blocks * block], dtype=torch.long).view(n_blocks, block)


def evaluate_loss(model, blocks, batch_size: int, device: str) -> float:
    """Mean next-token cross-entropy (nats/token) over all blocks."""
    import torch

    model.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for start in range(0, len(blocks), batch_size):
            batch = blocks[start : start + batch_size].to(device)
            loss = model(input_ids=batch, labels=batch).loss
            n_tokens = batch.numel() - batch.shape[0]  # one fewer target per row
            total += loss.item() * n_tokens
            count += n_tokens
    return total / max(count, 1)


@dataclass
class TrainResult:
    steps: int
    tokens: int
    seconds: float
    losses: list[float] = field(default_factory=list)

    @property
    def tokens_per_second(self) -> float:
        return self.tokens / self.seconds if self.seconds else 0.0


def train_blocks(
    model,
    blocks,
    *,
    steps: int,
    batch_size: int,
    lr: float,
    device: str,
    seed: int,
    warmup_steps: int = 10,
    weight_decay: float = 0.0,
    grad_clip: float = 1.0,
    desc: str = "train",
    progress: bool = True,
) -> TrainResult:
    """Train ``model`` on ``blocks`` for ``steps`` optimiser steps.

    tokens per step = batch_size × block.  Batches walk seeded permutations of
    the blocks (epoch after epoch), so a run is reproducible for a seed.
    """
    import torch

    from harness.progress import Progress

    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)

    def lr_factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        progress_frac = (step - warmup_steps) / max(1, steps - warmup_steps)
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress_frac))  # cosine to 10%

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_factor)
    model.train()
    order: list[int] = []
    losses: list[float] = []
    started = time.perf_counter()
    bar = Progress(range(steps), steps, desc, enabled=progress)
    for _ in bar:
        if len(order) < batch_size:
            order.extend(torch.randperm(len(blocks), generator=generator).tolist())
        idx, order = order[:batch_size], order[batch_size:]
        batch = blocks[idx].to(device)
        loss = model(input_ids=batch, labels=batch).loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
        optimizer.step()
        scheduler.step()
        losses.append(loss.item())
        bar.note(f"loss {losses[-1]:.3f}")
    model.eval()
    return TrainResult(
        steps=steps, tokens=steps * batch_size * blocks.shape[1], seconds=time.perf_counter() - started, losses=losses
    )


def split_documents(texts: Sequence[str], val_fraction: float, seed: int) -> tuple[list[str], list[str]]:
    """Seeded document-level split: validation documents are never trained on."""
    if len(texts) < 2:
        raise InputError(f"need at least 2 documents to hold out a validation split, got {len(texts)}")
    order = list(range(len(texts)))
    random.Random(seed).shuffle(order)
    n_val = min(len(texts) - 1, max(1, round(len(texts) * val_fraction)))
    val = [texts[i] for i in sorted(order[:n_val])]
    train = [texts[i] for i in sorted(order[n_val:])]
    return train, val
