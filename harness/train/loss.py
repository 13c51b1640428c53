"""Chunked (memory-lean) causal-LM cross-entropy over a large vocabulary.

The usual path materialises ``[batch, block, vocab]`` float32 logits, their
log-softmax and their gradient: 3 × 262 MB for batch 16 × block 128 × 32k
vocabulary, which dominates both memory and time on small models (NOTES.md).
Here the LM head and the loss run over chunks of positions; each chunk's
logits live only while that chunk is processed.  Because the loss is the last
operation, the gradient w.r.t. the hidden states and the head weight is
computed in the same pass (torch's log-softmax backward on the chunk, two
matmuls) and kept: the backward pass only scales it, so no logits are
recomputed and the arithmetic equals the standard path's.
"""

from __future__ import annotations

import torch

IGNORE_INDEX = -100


class _ChunkedLinearCrossEntropy(torch.autograd.Function):
    """sum_i CE(hidden_i · Wᵀ, label_i) / n_valid, with the gradient fused into the forward."""

    @staticmethod
    def forward(ctx, hidden, weight, labels, chunk: int, compute_dtype):  # noqa: D401 - autograd API
        import torch.nn.functional as F

        need_h, need_w = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        # a tensor, not .item(): no host sync per step on a GPU
        denom = (labels != IGNORE_INDEX).sum().clamp(min=1).float()
        w = weight.detach().to(compute_dtype)
        total = torch.zeros((), dtype=torch.float32, device=hidden.device)
        grad_hidden = torch.empty_like(hidden) if need_h else None
        grad_weight = torch.zeros_like(weight, dtype=torch.float32) if need_w else None
        for start in range(0, hidden.shape[0], chunk):
            h = hidden[start : start + chunk].detach().to(compute_dtype)
            y = labels[start : start + chunk]
            if not (need_h or need_w):
                logits = h @ w.t()  # [chunk, vocab]: the only vocabulary-sized tensor alive
                total += F.cross_entropy(logits.float(), y, ignore_index=IGNORE_INDEX, reduction="sum")
                continue
            # torch's own fused log-softmax forward/backward on this chunk (fewer passes over the
            # [chunk, vocab] logits than hand-written softmax − one-hot), then the chunk's logits are freed
            with torch.enable_grad():
                h.requires_grad_(need_h)
                wc = w.requires_grad_(need_w) if need_w else w
                # no name for the logits: autograd keeps only the log-softmax output, so the
                # [chunk, vocab] logits are freed as soon as it exists (one vocabulary-sized
                # tensor less at the loss's peak; measured in benchmarks/README.md)
                loss = F.cross_entropy((h @ wc.t()).float(), y, ignore_index=IGNORE_INDEX, reduction="sum")
                inputs = [t for t, need in ((h, need_h), (wc, need_w)) if need]
                grads = torch.autograd.grad(loss, inputs)
            total += loss.detach()
            if need_h:
                grad_hidden[start : start + chunk] = grads[0].to(hidden.dtype)
            if need_w:
                grad_weight.add_(grads[-1])
            del loss, grads
        if need_h:
            grad_hidden.div_(denom.to(grad_hidden.dtype))
        if need_w:
            grad_weight.div_(denom)
        if need_h or need_w:
            ctx.save_for_backward(
                grad_hidden if grad_hidden is not None else torch.empty(0),
                grad_weight if grad_weight is not None else torch.empty(0),
            )
        return total / denom

    @staticmethod
    def backward(ctx, grad_output):
        grad_hidden, grad_weight = ctx.saved_tensors
        gh = grad_hidden * grad_output.to(grad_hidden.dtype) if ctx.needs_input_grad[0] else None
        gw = (grad_weight * grad_output).to(grad_weight.dtype) if ctx.needs_input_grad[1] else None
        return gh, gw, None, None, None


def chunked_cross_entropy(
    hidden: torch.Tensor,
    weight: torch.Tensor,
    labels: torch.Tensor,
    chunk: int = 2048,
    compute_dtype: torch.dtype | None = None,
) -> torch.Tensor:
    """Mean CE of ``hidden @ weight.T`` against ``labels`` (−100 = ignore), ``chunk`` rows at a time.

    ``hidden`` is ``[n, dim]`` (already shifted: row i predicts ``labels[i]``),
    ``weight`` the ``[vocab, dim]`` output embedding.  ``compute_dtype`` is the
    matmul dtype (bf16/fp16 under mixed precision); the softmax runs in float32.
    """
    if compute_dtype is None:
        compute_dtype = hidden.dtype
    with torch.autocast(device_type=hidden.device.type, enabled=False):
        return _ChunkedLinearCrossEntropy.apply(hidden, weight, labels, chunk, compute_dtype)


def causal_lm_loss(
    model, input_ids: torch.Tensor, labels: torch.Tensor | None = None, *, chunked: bool, chunk: int, compute_dtype=None
) -> torch.Tensor:
    """Next-token loss of a causal LM on ``input_ids`` ``[batch, block]``, mean over the counted targets.

    ``labels`` (same shape, unshifted: position t holds the target predicted
    from t-1; ``IGNORE_INDEX`` = not counted, e.g. a chat's non-assistant
    tokens, harness.train.data.batch_of) defaults to ``input_ids``.
    ``chunked`` runs the transformer body, then the head + loss chunk by chunk
    (never the full logits); otherwise the model's own ``labels=`` path (which
    shifts the same way).  Models whose head has a bias fall back to the model's own path.
    """
    if labels is None:
        labels = input_ids
    head = model.get_output_embeddings()
    if not chunked or getattr(head, "bias", None) is not None:
        return model(input_ids=input_ids, labels=labels).loss
    body = body_of(model)
    hidden = body(input_ids=input_ids).last_hidden_state  # [batch, block, dim]
    hidden = hidden[:, :-1].reshape(-1, hidden.shape[-1])
    labels = labels[:, 1:].reshape(-1)
    if compute_dtype is None and torch.is_autocast_enabled(hidden.device.type):
        compute_dtype = torch.get_autocast_dtype(hidden.device.type)
    return chunked_cross_entropy(hidden, head.weight, labels, chunk=chunk, compute_dtype=compute_dtype)


def counted_targets(input_ids: torch.Tensor, labels: torch.Tensor | None) -> int:
    """How many next-token targets ``causal_lm_loss`` averages over (labels None: all but each row's first)."""
    if labels is None:
        return input_ids.numel() - input_ids.shape[0]
    return int((labels[:, 1:] != IGNORE_INDEX).sum())


def body_of(model):
    """The transformer without its LM head (also through a peft wrapper)."""
    inner = model.get_base_model() if hasattr(model, "get_base_model") else model
    return getattr(inner, inner.base_model_prefix)
