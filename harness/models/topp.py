"""Choosing the next token: logit processors, then top-k/top-p inverse-CDF sampling.

The order follows ``transformers``' ``generate``: repetition penalty and the
min-new-tokens end-of-text ban first, then temperature, top-k and top-p.

Top-p without sorting the vocabulary (a sort of 64 × 32k logits costs ~150 ms
on 2 CPU cores, more than the model's forward).  The nucleus is every token
whose logit is ≥ a threshold τ, the largest τ whose tokens hold ≥ p of the
mass — the same set as the sorted-prefix definition, up to ties.  τ comes
from the ``CANDIDATES`` most likely tokens (``topk``, a partial selection)
when they already hold p of the mass, which is usual for a trained model;
the other rows (flat distributions, e.g. a random model) find τ by
``HISTOGRAM_ROUNDS`` rounds of a 2048-bin probability-weighted histogram of
their logits, each round zooming into the bin where the mass crosses p.
The token is then drawn by Gumbel-max over the nucleus with the row's own
per-token Gumbel variates (``rng.py``), so the path that found τ never
changes the draw.
"""

from __future__ import annotations

from typing import NamedTuple

from harness.models.rng import gumbels

CANDIDATES = 256  # enough for top-p 0.95 on most rows of a trained model
BINS = 2048
HISTOGRAM_ROUNDS = 2  # the logit range shrinks 2048× per round: 2 rounds reach ~float32 resolution


class DrawSettings(NamedTuple):
    """The decoding knobs that act on one step's logits."""

    do_sample: bool
    temperature: float
    top_p: float
    top_k: int
    repetition_penalty: float


def penalise_repeats(logits, seen, penalty: float):
    """HF's repetition penalty: divide positive (multiply negative) logits of tokens already seen."""
    import torch

    if penalty == 1.0:
        return logits
    scaled = torch.where(logits < 0, logits * penalty, logits / penalty)
    return torch.where(seen, scaled, logits)


def draw(logits, keys, settings: DrawSettings):
    """One token per row of ``logits`` [B, V] (processed), from row keys ``keys`` [B] (``rng.row_keys``).

    Gumbel-max: the token with the largest logit + Gumbel(key, token) among the
    allowed ones — an exact draw from the renormalised top-k/top-p distribution.
    A token's Gumbel variate depends on its id, not on where it sits in a
    candidate list, so the candidate path and the full-vocabulary path agree.
    """
    import torch

    if not settings.do_sample:
        return logits.argmax(-1)
    logits = logits.float() / settings.temperature
    vocab = logits.shape[-1]
    if settings.top_k and settings.top_k < vocab:
        values, ids = logits.topk(settings.top_k, -1)  # sorted, largest first
        return _draw_candidates(torch.softmax(values, -1), values, ids, keys, settings.top_p)
    if settings.top_p >= 1.0:
        return (logits + gumbels(keys, torch.arange(vocab, device=logits.device))).argmax(-1)
    probs = torch.softmax(logits, -1)
    values, ids = logits.topk(min(CANDIDATES, vocab), -1)
    candidate_probs = probs.gather(-1, ids)
    tokens = _draw_candidates(candidate_probs, values, ids, keys, settings.top_p)
    short = candidate_probs.sum(-1) < settings.top_p  # rows whose candidates miss top_p of the mass
    if bool(short.any()):
        rows = short.nonzero().squeeze(-1)
        flat = logits[rows]
        threshold = _histogram_threshold(flat, probs[rows], settings.top_p)
        scores = flat + gumbels(keys[rows], torch.arange(vocab, device=logits.device))
        tokens[rows] = scores.masked_fill(flat < threshold, float("-inf")).argmax(-1)
    return tokens


def _draw_candidates(probs, values, ids, keys, top_p: float):
    """Gumbel-max over sorted candidates, keeping the smallest prefix that holds ``top_p`` of the mass."""
    if top_p < 1.0:
        before = probs.cumsum(-1) - probs  # mass of the more likely candidates (the first always stays)
        values = values.masked_fill(before >= top_p, float("-inf"))
    best = (values + gumbels(keys, ids)).argmax(-1, keepdim=True)
    return ids.gather(-1, best).squeeze(-1)


def nucleus_threshold(logits, probs, top_p: float):
    """Per row, the smallest logit τ [B, 1] such that the tokens with logit ≥ τ hold ≥ ``top_p`` of the mass."""
    import torch

    width = min(CANDIDATES, logits.shape[-1])
    values, ids = logits.topk(width, -1)
    mass = probs.gather(-1, ids).cumsum(-1)
    reached = mass[:, -1] >= top_p
    # index of the first candidate whose cumulative mass reaches top_p
    first = torch.searchsorted(mass, torch.full_like(mass[:, :1], top_p)).clamp_max(width - 1)
    threshold = values.gather(-1, first)
    if not bool(reached.all()):
        rows = (~reached).nonzero().squeeze(-1)
        threshold[rows] = _histogram_threshold(logits[rows], probs[rows], top_p)
    return threshold


def _histogram_threshold(logits, probs, top_p: float):
    """``nucleus_threshold`` for rows whose mass is spread thin, by zooming histograms.

    Bin 0 collects tokens below the current range and bin ``BINS + 1`` those at or
    above its top, so the mass above the range is counted without a separate mask.
    """
    import torch

    high = logits.max(-1, keepdim=True).values
    low = torch.where(torch.isfinite(logits), logits, high).min(-1, keepdim=True).values
    for _ in range(HISTOGRAM_ROUNDS):
        span = (high - low).clamp_min(torch.finfo(logits.dtype).tiny)
        index = ((logits - low) * (BINS / span)).floor_().clamp_(-1, BINS).long() + 1
        hist = torch.zeros(len(logits), BINS + 2, dtype=probs.dtype, device=logits.device)
        hist.scatter_add_(1, index, probs)
        from_top = hist.flip(-1).cumsum(-1)  # mass at or above each bin, highest bin first
        crossing = torch.searchsorted(from_top, torch.full_like(low, top_p)).clamp_max(BINS + 1)
        chosen = (BINS + 1 - crossing).clamp_min(1)  # the bin where the mass reaches top_p
        low, high = low + span * (chosen - 1) / BINS, low + span * chosen / BINS
    return low
