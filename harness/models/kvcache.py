"""Row surgery on a Hugging Face KV cache: drop finished rows, join prefilled ones, trim padding.

The sampler retires rows that hit end-of-text and refills their slots with
new prompts.  That needs three operations the ``generate`` API does not
expose: keep a subset of rows, concatenate two caches of different lengths
(the shorter is left-padded with masked zeros) and drop leading columns that
every row masks out.  Works on ``DynamicCache`` of transformers 5 (``layers``
with ``keys``/``values``) and of 4.x (``key_cache``/``value_cache`` lists).
"""

from __future__ import annotations


def _pairs(cache) -> list[tuple]:
    if hasattr(cache, "layers"):
        return [(layer.keys, layer.values) for layer in cache.layers]
    return list(zip(cache.key_cache, cache.value_cache))


def _store(cache, pairs: list[tuple]) -> None:
    if hasattr(cache, "layers"):
        for layer, (keys, values) in zip(cache.layers, pairs):
            layer.keys, layer.values = keys, values
    else:
        cache.key_cache = [k for k, _ in pairs]
        cache.value_cache = [v for _, v in pairs]


def select_rows(cache, mask, rows):
    """Keep only ``rows`` (a long tensor) of the cache and the attention mask; returns the mask."""
    _store(cache, [(k.index_select(0, rows), v.index_select(0, rows)) for k, v in _pairs(cache)])
    return mask.index_select(0, rows)


def trim_left(cache, mask):
    """Drop leading columns that every row masks out (left padding of rows that left); returns the mask."""
    import torch

    used = mask.any(0)
    if bool(used[0]):
        return mask
    first = int(torch.nonzero(used)[0]) if bool(used.any()) else mask.shape[1]
    _store(cache, [(k[:, :, first:], v[:, :, first:]) for k, v in _pairs(cache)])
    return mask[:, first:]


def join(cache, mask, other, other_mask):
    """Append the rows of ``other`` to ``cache``, left-padding the shorter one; returns the joint mask."""
    import torch

    length = max(mask.shape[1], other_mask.shape[1])

    def pad(t, width: int, dim: int):
        if width == 0:
            return t
        shape = list(t.shape)
        shape[dim] = width
        return torch.cat([t.new_zeros(shape), t], dim=dim)

    pa, pb = length - mask.shape[1], length - other_mask.shape[1]
    pairs = [
        (torch.cat([pad(k, pa, 2), pad(k2, pb, 2)]), torch.cat([pad(v, pa, 2), pad(v2, pb, 2)]))
        for (k, v), (k2, v2) in zip(_pairs(cache), _pairs(other))
    ]
    _store(cache, pairs)
    return torch.cat([pad(mask, pa, 1), pad(other_mask, pb, 1)])
