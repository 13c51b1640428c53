"""Memorization: does a generation reproduce ≥ N characters of the fine-tuning corpus verbatim?

The corpus is streamed once into a set of hashed character N-grams: every
window of N characters of every document (NFKC text) is hashed to 64 bits
(deterministically: ``window_hashes``) and kept in a sorted numpy array.  The
audit stage stores that array in the run directory (corpus_stats/, see
``harness.analysis.corpus_stats``), so the analysis never re-reads the
corpus.  A generation reproduces a span of at least N characters exactly
when one of its N-character windows is in the set (up to a 64-bit hash
collision: with 20M windows, ~1e-12 per window looked up).

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

MEMO_COLUMNS = ["arm", "source", "min_chars", "n", "count", "value", "ci_low", "ci_high"]
MEMORIZATION_SET = "memorization"
_BATCH = 1_000_000  # hashes buffered before they are merged into the sorted set
_TEXT_BATCH = 1_000_000  # characters of documents hashed together


_MOD = 1 << 64
_BASE = 0x9E3779B97F4A7C15  # odd: a multiplier invertible mod 2**64
_SHIFT_30, _SHIFT_27, _SHIFT_31 = np.uint64(30), np.uint64(27), np.uint64(31)
_MIX_1, _MIX_2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)


def _window_polynomials(codes: np.ndarray, n: int) -> np.ndarray:
    """Σ codes[i+j]·B^(n−1−j) mod 2**64 for every window i, built by doubling (≈ 2·log2 n array operations)."""
    size = len(codes)
    result: np.ndarray | None = None
    length = 0
    block, width = codes, 1  # block[i] = polynomial of codes[i : i + width]
    remaining = n
    while True:
        if remaining & 1:
            if result is None:
                result, length = block, width
            else:
                keep = size - (length + width) + 1
                result = result[:keep] * np.uint64(pow(_BASE, width, _MOD)) + block[length : length + keep]
                length += width
        remaining >>= 1
        if not remaining:
            assert result is not None
            return result
        keep = size - 2 * width + 1
        block = block[:keep] * np.uint64(pow(_BASE, width, _MOD)) + block[width : width + keep]
        width *= 2


def window_hashes(text: str, n: int) -> np.ndarray:
    """64-bit hashes of every ``n``-character window of ``text`` (empty when shorter).

    Deterministic across processes and machines (a polynomial over the code
    points mod 2**64, then the splitmix64 finaliser so every bit — the stride
    keeps hashes by their low bits — depends on the whole window): an index
    stored by the audit stage answers the lookups of a later ``harness report``.
    """
    if len(text) < n:
        return np.empty(0, dtype=np.uint64)
    codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    x = _window_polynomials(codes, n)
    x = x ^ (x >> _SHIFT_30)
    x = x * _MIX_1
    x = x ^ (x >> _SHIFT_27)
    x = x * _MIX_2
    return x ^ (x >> _SHIFT_31)


def texts_window_hashes(texts: Sequence[str], n: int) -> np.ndarray:
    """``window_hashes`` of every text, concatenated: one pass of array operations for many short documents.

    The texts are joined and hashed together; windows that cross from one
    text into the next are dropped.
    """
    joined = "".join(texts)
    if len(joined) < n:
        return np.empty(0, dtype=np.uint64)
    hashes = window_hashes(joined, n)
    ends = np.cumsum(np.fromiter(map(len, texts), dtype=np.int64, count=len(texts)))
    starts = np.arange(len(hashes))
    end_of_text = ends[np.searchsorted(ends, starts, side="right")]
    return hashes[starts + n <= end_of_text]


class MemorizationIndex:
    """The set of hashed N-character windows of a corpus, bounded to ``max_ngrams`` entries."""

    def __init__(self, n: int = 32, max_ngrams: int = 20_000_000) -> None:
        if n < 1 or max_ngrams < 1:
            raise ValueError(f"n and max_ngrams must be positive, got {n}, {max_ngrams}")
        self.n = n
        self.max_ngrams = max_ngrams
        self.stride = 1
        self.documents = 0
        self._set = np.empty(0, dtype=np.uint64)
        self._buffer: list[np.ndarray] = []
        self._buffered = 0
        self._texts: list[str] = []  # documents not hashed yet (hashed in batches: numpy calls cost per call)
        self._text_chars = 0

    def add(self, text: str) -> None:
        """Add one document's windows."""
        self.documents += 1
        text = normalize(text)
        self._texts.append(text)
        self._text_chars += len(text)
        if self._text_chars >= _TEXT_BATCH:
            self._hash_texts()

    def _hash_texts(self) -> None:
        hashes = self._kept(texts_window_hashes(self._texts, self.n))
        self._texts, self._text_chars = [], 0
        self._buffer.append(hashes)
        self._buffered += len(hashes)
        if self._buffered >= _BATCH:
            self._merge()

    def _kept(self, hashes: np.ndarray) -> np.ndarray:
        return hashes[hashes % np.uint64(self.stride) == 0] if self.stride > 1 else hashes

    def _merge(self) -> None:
        merged = np.unique(np.concatenate([self._set, *self._buffer]))
        self._buffer, self._buffered = [], 0
        while len(merged) > self.max_ngrams:
            self.stride *= 2
            merged = self._kept(merged)
        self._set = merged

    def finish(self) -> MemorizationIndex:
        """Merge what is buffered; call before lookups (``contains_span`` does it too)."""
        if self._texts:
            self._hash_texts()
        if self._buffer:
            self._merge()
        return self

    def __len__(self) -> int:
        self.finish()
        return len(self._set)

    def contains_span(self, text: str) -> bool:
        """True when ``text`` (normalised here) shares an N-character window with the corpus."""
        self.finish()
        hashes = self._kept(window_hashes(normalize(text), self.n))
        if not len(hashes) or not len(self._set):
            return False
        pos = np.searchsorted(self._set, hashes)
        pos[pos == len(self._set)] = 0
        return bool((self._set[pos] == hashes).any())

    def hashes(self) -> np.ndarray:
        """The sorted hash set (what ``from_hashes`` takes back)."""
        self.finish()
        return self._set

    @classmethod
    def from_hashes(
        cls, hashes: np.ndarray, n: int, max_ngrams: int, stride: int, documents: int
    ) -> MemorizationIndex:
        """An index rebuilt from a stored hash set; ``ValueError`` when the set cannot be one."""
        if hashes.dtype != np.uint64 or hashes.ndim != 1:
            raise ValueError(f"expected a 1-D uint64 array, got {hashes.ndim}-D {hashes.dtype}")
        if len(hashes) > max_ngrams or (len(hashes) > 1 and not bool((hashes[1:] > hashes[:-1]).all())):
            raise ValueError("the hash set is not sorted, unique and within max_ngrams")
        if stride < 1 or stride & (stride - 1):
            raise ValueError(f"stride must be a power of two, got {stride}")
        index = cls(n, max_ngrams)
        index._set, index.stride, index.documents = hashes, stride, documents
        return index


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
