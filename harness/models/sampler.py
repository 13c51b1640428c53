"""The harness's own sampling loop: many prompts × samples per forward, with a KV cache.

Every (prompt, sample) pair is a ``Job``.  Jobs are bucketed by prompt length
(sorted, so a batch's rows need little left padding) and run in one batch of
up to ``batch_size`` rows:

1. prefill: the new rows' prompts, left-padded, with explicit ``position_ids``
   (so padding never shifts a row's positions) and ``logits_to_keep=1``;
2. each step draws one token per row with the row's own random stream (``rng.py``,
   ``topp.py``), appends it, and feeds the batch's new tokens through the
   model with the cache — one [B, 1] forward per step;
3. rows that draw a stop id (end of text, or a chat model's end of turn:
   ``SamplerSettings.stops``) or reach their token budget leave at once (their
   result is yielded, so the caller can stream it to disk); when at least
   ``refill`` slots are free, queued jobs are prefilled and joined into the
   cache (``kvcache.py``) instead of waiting for the longest row.

Because a row's random draws depend only on (its seed, its step) and its logits
only on its own tokens (padding is masked), a sample's tokens do not depend on
the batch it ran in, up to float noise.
"""

from __future__ import annotations

import inspect
from collections import deque
from typing import Iterator, NamedTuple, Sequence

from harness.models import kvcache
from harness.models.rng import row_keys
from harness.models.topp import DrawSettings, draw, penalise_repeats


class Job(NamedTuple):
    """One sample to draw: a prompt's token ids, the sample's seed and its new-token budget."""

    key: int  # the caller's index for this job
    prompt: Sequence[int]
    seed: int
    budget: int  # most new tokens (≥ 1)


class Finished(NamedTuple):
    """A finished sample: new tokens (the stop id excluded) and whether the budget ran out."""

    key: int
    tokens: list[int]
    hit_max_tokens: bool


class SamplerSettings(NamedTuple):
    """Decoding and scheduling knobs of ``sample``."""

    draw: DrawSettings
    eos_id: int | None
    pad_id: int
    min_new_tokens: int = 0
    batch_size: int = 64
    refill: int = 0  # refill when this many slots are free; 0 = a quarter of batch_size
    stop_ids: tuple[int, ...] = ()  # more ids that end a sample (harness.models.chat.stop_ids)

    def stops(self) -> list[int]:
        """Every id that ends a sample (``eos_id`` and ``stop_ids``), sorted; banned under ``min_new_tokens``."""
        return sorted({*self.stop_ids, *([self.eos_id] if self.eos_id is not None else [])})


class _Rows:
    """The live batch: per-row state plus the shared KV cache and attention mask."""

    def __init__(self, jobs: list[Job], cache, mask, logits, seen, device) -> None:
        import torch

        self.keys = [j.key for j in jobs]
        self.tokens: list[list[int]] = [[] for _ in jobs]
        self.seeds = torch.tensor([j.seed for j in jobs], dtype=torch.long, device=device)
        self.budgets = torch.tensor([j.budget for j in jobs], dtype=torch.long, device=device)
        self.steps = torch.zeros(len(jobs), dtype=torch.long, device=device)
        self.positions = torch.tensor([len(j.prompt) for j in jobs], dtype=torch.long, device=device)
        self.cache, self.mask, self.logits, self.seen = cache, mask, logits, seen

    def __len__(self) -> int:
        return len(self.keys)

    def keep(self, rows: list[int]) -> None:
        import torch

        index = torch.tensor(rows, dtype=torch.long, device=self.seeds.device)
        self.keys = [self.keys[i] for i in rows]
        self.tokens = [self.tokens[i] for i in rows]
        for name in ("seeds", "budgets", "steps", "positions", "logits"):
            setattr(self, name, getattr(self, name).index_select(0, index))
        if self.seen is not None:
            self.seen = self.seen.index_select(0, index)
        self.mask = kvcache.trim_left(self.cache, kvcache.select_rows(self.cache, self.mask, index))

    def extend(self, other: "_Rows") -> None:
        import torch

        self.keys += other.keys
        self.tokens += other.tokens
        for name in ("seeds", "budgets", "steps", "positions", "logits"):
            setattr(self, name, torch.cat([getattr(self, name), getattr(other, name)]))
        if self.seen is not None:
            self.seen = torch.cat([self.seen, other.seen])
        self.mask = kvcache.join(self.cache, self.mask, other.cache, other.mask)


def _forward_options(model) -> tuple[str, bool]:
    """The cache argument's name (``cache`` in transformers ≥ 5.2x, ``past_key_values`` before) and
    whether the model accepts ``logits_to_keep`` (skips the vocabulary projection of the prompt)."""
    params = inspect.signature(model.forward).parameters
    return ("cache" if "cache" in params else "past_key_values"), "logits_to_keep" in params


def _forward(model, options: tuple[str, bool], ids, mask, positions, cache):
    name, keep_last = options
    kwargs = {"input_ids": ids, "attention_mask": mask, "position_ids": positions, "use_cache": True}
    if cache is not None:
        kwargs[name] = cache
    if keep_last:
        kwargs["logits_to_keep"] = 1
    out = model(**kwargs)
    return out.logits[:, -1, :].float(), getattr(out, name)


def _prefill(model, options, jobs: list[Job], settings: SamplerSettings, device) -> _Rows:
    import torch

    width = max(len(j.prompt) for j in jobs)
    # built on the host, then copied once (row-by-row writes into a GPU tensor would sync per row)
    ids = torch.tensor([[settings.pad_id] * (width - len(j.prompt)) + list(j.prompt) for j in jobs])
    mask = torch.tensor([[0] * (width - len(j.prompt)) + [1] * len(j.prompt) for j in jobs])
    ids, mask = ids.to(device), mask.to(device)
    positions = (mask.cumsum(1) - 1).clamp_min(0)
    logits, cache = _forward(model, options, ids, mask, positions, None)
    seen = None
    if settings.draw.repetition_penalty != 1.0:
        seen = torch.zeros(logits.shape, dtype=torch.bool, device=device)
        seen.scatter_(1, ids, mask.bool())
    return _Rows(jobs, cache, mask, logits, seen, device)


def sample(model, jobs: Sequence[Job], settings: SamplerSettings, device: str = "cpu") -> Iterator[Finished]:
    """Draw every job; yields each sample as soon as it finishes (not in job order)."""
    import torch

    queue = deque(sorted(jobs, key=lambda j: (len(j.prompt), j.key)))  # bucketing by prompt length
    refill = settings.refill or max(1, settings.batch_size // 4)
    rows: _Rows | None = None
    options = _forward_options(model)
    stops = torch.tensor(settings.stops(), dtype=torch.long, device=device)
    with torch.inference_mode():
        while queue or rows is not None:
            free = settings.batch_size - (len(rows) if rows is not None else 0)
            if queue and (rows is None or free >= refill):
                fresh = _prefill(
                    model, options, [queue.popleft() for _ in range(min(free, len(queue)))], settings, device
                )
                if rows is None:
                    rows = fresh
                else:
                    rows.extend(fresh)
            logits = rows.logits
            if len(stops) and settings.min_new_tokens:
                banned = (rows.steps < settings.min_new_tokens).unsqueeze(1)
                logits[:, stops] = torch.where(banned, float("-inf"), logits[:, stops])
            if rows.seen is not None:
                logits = penalise_repeats(logits, rows.seen, settings.draw.repetition_penalty)
            picked = draw(logits, row_keys(rows.seeds, rows.steps), settings.draw)
            rows.steps += 1
            ended = torch.isin(picked, stops)
            done = (ended | (rows.steps >= rows.budgets)).tolist()
            for row, (token, stop, end) in enumerate(zip(picked.tolist(), done, ended.tolist())):
                if not end:
                    rows.tokens[row].append(token)
                if stop:
                    yield Finished(rows.keys[row], rows.tokens[row], not end)
            live = [row for row, stop in enumerate(done) if not stop]
            if not live:
                rows = None
                continue
            if len(live) < len(rows):
                picked = picked[live]
                rows.keep(live)
            if rows.seen is not None:
                rows.seen.scatter_(1, picked.unsqueeze(1), True)
            rows.mask = torch.cat([rows.mask, rows.mask.new_ones((len(rows), 1))], 1)
            rows.logits, rows.cache = _forward(
                model, options, picked.unsqueeze(1), rows.mask, rows.positions.unsqueeze(1), rows.cache
            )
            rows.positions += 1
