"""Causal-LM training: packing, evaluation, the loop, and fine-tuning.

Reads top to bottom: documents → token ids → packed blocks (EOS between
documents) → AdamW with warm-up and cosine decay → eval loss before/after on
a held-out split that never overlaps the training split.
"""

from __future__ import annotations

import math
import random
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from harness.config import CorpusConfig, FinetuneConfig
from harness.corpus import read_corpus
from harness.errors import InputError, ModelError
from harness.models import LoadedModel, load_model


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


def check_output_folder(out_dir: str | Path) -> None:
    """Refuse an output folder we may not replace: non-empty and not a model folder.

    Called before training (so no work is wasted) and again before saving.
    """
    out_dir = Path(out_dir)
    if out_dir.is_file() or (out_dir.exists() and any(out_dir.iterdir()) and not (out_dir / "config.json").is_file()):
        # never delete a folder we did not write (e.g. a mistyped --out)
        raise ModelError(f"{out_dir} exists and is not a model folder; choose another output folder")


def save_model(loaded: LoadedModel, out_dir: str | Path) -> Path:
    """Save weights (safetensors) and tokenizer; replace ``out_dir`` atomically."""
    out_dir = Path(out_dir)
    check_output_folder(out_dir)
    tmp = out_dir.with_name(out_dir.name + ".partial")
    if tmp.exists():
        shutil.rmtree(tmp)
    loaded.model.save_pretrained(tmp, safe_serialization=True)
    loaded.tokenizer.save_pretrained(tmp)
    if out_dir.exists():
        shutil.rmtree(out_dir)
    tmp.rename(out_dir)
    return out_dir


@dataclass
class FinetuneResult:
    """What run.json records about a fine-tuning."""

    model_dir: str
    train_docs: int
    val_docs: int
    train_tokens: int
    steps: int
    batch_size: int
    block_size: int
    eval_loss_before: float
    eval_loss_after: float
    seconds: float
    tokens_per_second: float
    device: str

    @property
    def perplexity_before(self) -> float:
        return math.exp(min(self.eval_loss_before, 50))

    @property
    def perplexity_after(self) -> float:
        return math.exp(min(self.eval_loss_after, 50))

    def to_record(self) -> dict:
        record = dict(self.__dict__)
        record["perplexity_before"] = round(self.perplexity_before, 4)
        record["perplexity_after"] = round(self.perplexity_after, 4)
        record["eval_loss_before"] = round(self.eval_loss_before, 4)
        record["eval_loss_after"] = round(self.eval_loss_after, 4)
        record["seconds"] = round(self.seconds, 2)
        record["tokens_per_second"] = round(self.tokens_per_second, 1)
        return record


def finetune(
    base_model: str | Path,
    corpus: CorpusConfig,
    config: FinetuneConfig,
    out_dir: str | Path,
    seed: int = 1234,
    progress: bool = True,
) -> FinetuneResult:
    """Fine-tune ``base_model`` on ``corpus`` and save the result to ``out_dir``."""
    check_output_folder(out_dir)
    loaded = load_model(base_model, device=config.device)
    texts = [doc.text for doc in read_corpus(corpus)]
    train_texts, val_texts = split_documents(texts, config.val_fraction, seed)
    tok = loaded.tokenizer
    train_set = pack_blocks(encode_documents(tok, train_texts), tok.eos_token_id, config.block_size)
    val_set = pack_blocks(encode_documents(tok, val_texts), tok.eos_token_id, config.block_size)
    steps = config.max_steps or max(1, math.ceil(config.epochs * len(train_set) / config.batch_size))
    before = evaluate_loss(loaded.model, val_set, config.batch_size, loaded.device)
    result = train_blocks(
        loaded.model,
        train_set,
        steps=steps,
        batch_size=config.batch_size,
        lr=config.lr,
        device=loaded.device,
        seed=seed,
        warmup_steps=min(config.warmup_steps, steps // 2),
        weight_decay=config.weight_decay,
        grad_clip=config.grad_clip,
        desc="finetune",
        progress=progress,
    )
    after = evaluate_loss(loaded.model, val_set, config.batch_size, loaded.device)
    save_model(loaded, out_dir)
    return FinetuneResult(
        model_dir=str(out_dir),
        train_docs=len(train_texts),
        val_docs=len(val_texts),
        train_tokens=int(train_set.numel()),
        steps=steps,
        batch_size=config.batch_size,
        block_size=int(train_set.shape[1]),
        eval_loss_before=before,
        eval_loss_after=after,
        seconds=result.seconds,
        tokens_per_second=result.tokens_per_second,
        device=loaded.device,
    )
