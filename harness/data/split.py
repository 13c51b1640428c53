"""The held-out split: which corpus documents are never trained on.

A document's side is decided by a hash of (seed, its text) alone, so the split
streams (no shuffling a list held in memory), is the same for every reader
(fine-tuning, capability drift, memorization probes) and does not move when
other documents are added or removed.
"""

from __future__ import annotations

import hashlib

_SCALE = float(1 << 64)


def heldout_score(text: str, seed: int) -> float:
    """A stable pseudo-random number in [0, 1) for (seed, text)."""
    digest = hashlib.blake2b(text.encode("utf-8"), digest_size=8, key=str(seed).encode()).digest()
    return int.from_bytes(digest, "big") / _SCALE


def is_heldout(text: str, seed: int, fraction: float) -> bool:
    """True when the document belongs to the held-out (validation) split."""
    return heldout_score(text, seed) < fraction
