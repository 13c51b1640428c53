"""Memorization: does a generation reproduce ≥ N characters of the fine-tuning corpus verbatim?

The corpus is streamed once into a set of hashed character N-grams: every
window of N characters of every document (NFKC text) is hashed to 64 bits
and kept in a sorted numpy array.  A generation reproduces a span of at least
N characters exactly when one of its N-character windows is in the set (up
to a 64-bit hash collision: with 20M windows, ~1e-12 per window looked up).

Memory bound: at most ``max_ngrams`` hashes are kept, 8 bytes each (the
default 20,000,000 is 160 MB, plus a same-sized buffer while sorting).  A
larger corpus keeps only the windows whose hash is ≡ 0 mod ``stride``
(stride doubles until the set fits); a verbatim span of L ≥ N characters then
holds L − N + 1 windows and is found unless none of them was kept, so
recall drops only for spans close to N.  The stride in use is recorded as
``MemorizationIndex.stride`` (1 = exact).

memorization.csv (``MEMO_COLUMNS``): per arm × source, ``source`` =
``train`` / ``heldout`` (the memorization probe set, by the probe's
category) or ``other`` (every other probe set); n generations, count that
reproduce a span, their share and a 95% interval bootstrapping prompts
(``collapsed_interval``'s Wilson fallback when it collapses).
Only the completion is checked: a memorization prompt is itself a corpus
prefix.
"""

from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np

from harness.analysis.stats import cluster_bootstrap_mean, collapsed_interval
from harness.record.schema import Generation
from harness.text import normalize

MEMO_TABLE = "memorization.csv"
MEMO_COLUMNS = ["arm", "source", "min_chars", "n", "count", "value", "ci_low", "ci_high"]
MEMORIZATION_SET = "memorization"
_BATCH = 1_000_000  # hashes buffered before they are merged into the sorted set


def window_hashes(text: str, n: int) -> np.ndarray:
    """64-bit hashes of every ``n``-character window of ``text`` (empty when shorter)."""
    count = len(text) - n + 1
    if count <= 0:
        return np.empty(0, dtype=np.int64)
    # hash() of str is 64-bit and fast; it is salted per process, so an
    # index is only ever queried by the process that built it.
    return np.fromiter((hash(text[i : i + n]) for i in range(count)), dtype=np.int64, count=count)


class MemorizationIndex:
    """The set of hashed N-character windows of a corpus, bounded to ``max_ngrams`` entries."""

    def __init__(self, n: int = 32, max_ngrams: int = 20_000_000) -> None:
        if n < 1 or max_ngrams < 1:
            raise ValueError(f"n and max_ngrams must be positive, got {n}, {max_ngrams}")
        self.n = n
        self.max_ngrams = max_ngrams
        self.stride = 1
        self.documents = 0
        self._set = np.empty(0, dtype=np.int64)
        self._buffer: list[np.ndarray] = []
        self._buffered = 0

    def add(self, text: str) -> None:
        """Add one document's windows."""
        self.documents += 1
        hashes = window_hashes(normalize(text), self.n)
        if self.stride > 1:
            hashes = hashes[hashes % self.stride == 0]
        self._buffer.append(hashes)
        self._buffered += len(hashes)
        if self._buffered >= _BATCH:
            self._merge()

    def _merge(self) -> None:
        merged = np.unique(np.concatenate([self._set, *self._buffer]))
        self._buffer, self._buffered = [], 0
        while len(merged) > self.max_ngrams:
            self.stride *= 2
            merged = merged[merged % self.stride == 0]
        self._set = merged

    def finish(self) -> MemorizationIndex:
        """Merge what is buffered; call before lookups (``contains_span`` does it too)."""
        if self._buffer:
            self._merge()
        return self

    def __len__(self) -> int:
        self.finish()
        return len(self._set)

    def contains_span(self, text: str) -> bool:
        """True when ``text`` (normalised here) shares an N-character window with the corpus."""
        self.finish()
        hashes = window_hashes(normalize(text), self.n)
        if self.stride > 1:
            hashes = hashes[hashes % self.stride == 0]
        if not len(hashes) or not len(self._set):
            return False
        pos = np.searchsorted(self._set, hashes)
        pos[pos == len(self._set)] = 0
        return bool((self._set[pos] == hashes).any())


def build_index(texts: Iterable[str], n: int = 32, max_ngrams: int = 20_000_000) -> MemorizationIndex:
    """Stream ``texts`` into a ``MemorizationIndex``."""
    index = MemorizationIndex(n, max_ngrams)
    for text in texts:
        index.add(text)
    return index.finish()


def source_of(gen: Generation) -> str:
    """``train`` / ``heldout`` for memorization probes (by category), else ``other``."""
    if gen.probe_set == MEMORIZATION_SET and gen.category in ("train", "heldout"):
        return gen.category
    return "other"


def memorization_rows(
    generations: Sequence[Generation], index: MemorizationIndex, arms: Sequence[str], n_boot: int = 2000, seed: int = 0
) -> list[dict]:
    """memorization.csv rows: per arm × source with at least one generation."""
    hits: dict[tuple[str, str], list[tuple[float, tuple[str, str]]]] = {}
    for gen in generations:
        hit = 1.0 if index.contains_span(gen.text) else 0.0
        hits.setdefault((gen.arm, source_of(gen)), []).append((hit, (gen.probe_set, gen.probe_id)))
    rows = []
    for arm in arms:
        for source in ("train", "heldout", "other"):
            found = hits.get((arm, source))
            if not found:
                continue
            values = [v for v, _ in found]
            count = int(sum(values))
            boot = cluster_bootstrap_mean(values, [p for _, p in found], n_boot=n_boot, seed=seed)
            low, high = collapsed_interval(boot, True, len({p for _, p in found}))
            rows.append(
                {
                    "arm": arm,
                    "source": source,
                    "min_chars": index.n,
                    "n": len(values),
                    "count": count,
                    "value": round(count / len(values), 4),
                    "ci_low": round(low, 4),
                    "ci_high": round(high, 4),
                }
            )
    return rows
