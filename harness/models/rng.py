"""Per-sample random streams: counter-based uniforms, independent of batch composition.

Every sample owns a seed derived from (run seed, probe set, probe id, sample
index) by ``sample_seed``.  At step ``t`` its row key is
``splitmix64(seed + (t + 1) · γ)``, and every candidate token ``i`` gets a
Gumbel variate from ``fmix64(key ⊕ i · γ)``: pure functions of (seed, step,
token), computed for a whole batch at once in torch.  A sample's draws
therefore never depend on which other rows share its batch, on the batch
size, or on the order in which rows were scheduled; every arm gets the same
streams, so base and tuned samples pair exactly.

Why Gumbel-max (argmax of logit + Gumbel) rather than an inverse CDF: with a
flat distribution over 30k tokens the CDF's steps are ~3e-5 apart, so the
~1e-6 float noise that a different batch shape puts on the logits flips an
inverse-CDF draw in ~1 of 8 samples; Gumbel-max flips only when the two best
perturbed scores are within that noise, which almost never happens.
"""

from __future__ import annotations

import hashlib

MASK64 = (1 << 64) - 1
GAMMA = 0x9E3779B97F4A7C15  # splitmix64's increment (the golden ratio in 64 bits)
MIX1 = 0xBF58476D1CE4E5B9
MIX2 = 0x94D049BB133111EB
FMIX1 = 0xFF51AFD7ED558CCD
FMIX2 = 0xC4CEB9FE1A85EC53
# JSON consumers (the HTML report's JavaScript) keep integers exact only up to 2**53
SEED_BITS = 53


def sample_seed(run_seed: int, probe_set: str, probe_id: str, sample_index: int) -> int:
    """The seed of one sample's stream: a 53-bit hash, identical for every arm."""
    key = f"{run_seed}/{probe_set}/{probe_id}/{sample_index}".encode()
    return int.from_bytes(hashlib.sha256(key).digest()[:8], "big") & ((1 << SEED_BITS) - 1)


def splitmix64(seed: int, step: int) -> int:
    """The reference (pure Python) 64-bit output for (seed, step); ``uniforms`` must agree with it."""
    z = (seed + (step + 1) * GAMMA) & MASK64
    z = ((z ^ (z >> 30)) * MIX1) & MASK64
    z = ((z ^ (z >> 27)) * MIX2) & MASK64
    return z ^ (z >> 31)


def uniform(seed: int, step: int) -> float:
    """The reference uniform in [0, 1) for (seed, step): the top 53 bits of ``splitmix64``."""
    return (splitmix64(seed, step) >> 11) * 2.0**-53


def fmix64(z: int) -> int:
    """MurmurHash3's 64-bit finaliser (reference for ``gumbels``)."""
    z &= MASK64
    z = ((z ^ (z >> 33)) * FMIX1) & MASK64
    z = ((z ^ (z >> 33)) * FMIX2) & MASK64
    return z ^ (z >> 33)


def token_uniform(key: int, token: int) -> float:
    """The reference uniform in (0, 1) of candidate ``token`` under row key ``key`` (24 bits)."""
    return ((fmix64(key ^ (token * GAMMA)) >> 40) + 0.5) * 2.0**-24


def _signed(value: int) -> int:
    # torch has no uint64 arithmetic: keep the bit pattern in a signed int64
    return value - (1 << 64) if value >= 1 << 63 else value


def _shift_right(z, bits: int):
    # torch's >> on int64 is arithmetic; mask off the copied sign bits to get a logical shift
    return (z >> bits) & ((1 << (64 - bits)) - 1)


def uniforms(seeds, steps):
    """Uniforms in [0, 1) (float64) for int64 tensors ``seeds`` and ``steps`` (broadcast).

    int64 multiplication wraps modulo 2**64 in torch (two's complement), which is
    exactly the unsigned arithmetic splitmix64 needs.
    """
    import torch

    z = seeds + (steps + 1) * _signed(GAMMA)
    z = (z ^ _shift_right(z, 30)) * _signed(MIX1)
    z = (z ^ _shift_right(z, 27)) * _signed(MIX2)
    z = z ^ _shift_right(z, 31)
    return _shift_right(z, 11).to(torch.float64) * 2.0**-53


def row_keys(seeds, steps):
    """int64 row keys (the splitmix64 bit pattern) for ``seeds`` and ``steps``."""
    z = seeds + (steps + 1) * _signed(GAMMA)
    z = (z ^ _shift_right(z, 30)) * _signed(MIX1)
    z = (z ^ _shift_right(z, 27)) * _signed(MIX2)
    return z ^ _shift_right(z, 31)


def gumbels(keys, tokens):
    """Gumbel(0, 1) variates (float32) [B, C] for row ``keys`` [B] and candidate token ids [B, C] or [C]."""
    import torch

    z = keys.unsqueeze(-1) ^ (tokens * _signed(GAMMA))
    z = (z ^ _shift_right(z, 33)) * _signed(FMIX1)
    z = (z ^ _shift_right(z, 33)) * _signed(FMIX2)
    z = z ^ _shift_right(z, 33)
    u = (_shift_right(z, 40).to(torch.float32) + 0.5) * 2.0**-24
    return -torch.log(-torch.log(u))
