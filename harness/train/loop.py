"""Causal-LM training: packing, evaluation and the training loop.

Used by the from-scratch base model (base_init): documents → token ids →
packed blocks (EOS between documents) in memory, trained by the engine
(engine.py) with the device's default settings.  Fine-tuning uses the token
cache (data.py) instead.
"""

from __future__ import annotations

import random
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
    """Mean next-token cross-entropy (nats/token) over all blocks (engine defaults for ``device``)."""
    from harness.train.engine import evaluate_loss as engine_evaluate
    from harness.train.precision import resolve_settings

    return engine_evaluate(model, blocks, batch_size, resolve_settings(device))


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
):
    """Train ``model`` on ``blocks`` for ``steps`` optimiser steps with the engine's defaults for ``device``.

    tokens per step = batch_size × block.  Batches walk seeded permutations of
    the blocks (epoch after epoch), so a run is reproducible for a seed.
    """
    from harness.train.engine import TrainPlan, train
    from harness.train.precision import resolve_settings

    plan = TrainPlan(
        steps=steps,
        batch_size=batch_size,
        lr=lr,
        seed=seed,
        warmup_steps=warmup_steps,
        weight_decay=weight_decay,
        grad_clip=grad_clip,
    )
    return train(model, blocks, plan, resolve_settings(device), desc=desc, progress=progress)


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
