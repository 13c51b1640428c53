"""Finding a vocabulary's character n-grams in a batch of texts, in numpy: packed keys and one hash table.

The classifier's features are the character n-grams of a text
(``classifier.char_ngrams``: 1 to 3 characters for the default model).
Slicing every window in Python and looking it up in a dict costs about
10 µs a post, a third of all analysis.  Here the whole batch is one array
of code points, each window of n characters is one int64 (``packed_key``:
n fields of 21 bits), and all of a batch's windows are looked up at once in
an open-addressing table kept at most 1/8 full, so nine lookups in ten end at
their first slot.  numpy has no hash lookup, and a sorted array needs a sort
of every batch's keys (``np.unique``) before ``np.searchsorted``.  Measured
alone, the classifier's ``decision`` went from 3.2 to 1.8 µs a post and its
instructions in ``score_batch`` halved; its wall time inside ``score_batch``
did not measurably change (it competes for the cache with MeCab and the
lexicon: benchmarks/README.md, "Held-out writers").
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

BITS = 21  # a code point + 1 (≤ 0x110000) fits in 21 bits
MAX_N = 3  # three fields fit an int64; longer n-grams are looked up by dict (``classifier``)
# Between texts and after the last: a field no character packs to (> 0x110000), so no window that
# reaches past its text's end can equal a vocabulary key (keys split into fields one way only).
GAP = (1 << BITS) - 1
EMPTY = -1  # a free slot (every key is positive)
SPARE_BITS = 3  # table slots: the vocabulary's size rounded up to a power of two, times 2**SPARE_BITS
_MULT = np.uint64(0x9E3779B97F4A7C15)  # Fibonacci hashing: the top bits of key × 2⁶⁴/φ


def packed_key(gram: str) -> int:
    """The int64 key of an n-gram of at most ``MAX_N`` characters: each code point + 1 in ``BITS`` bits.

    The top field is never 0, so keys of different lengths never collide.
    """
    key = 0
    for ch in gram:
        key = (key << BITS) | (ord(ch) + 1)
    return key


def whitespace_runs_as_one_space(text: str) -> str:
    """The text n-grams are cut from: whitespace runs made one space, none at the ends."""
    return " ".join(text.split())


class NgramIndex:
    """The column of each n-gram of ``vocabulary`` (all of at most ``MAX_N`` characters), found in batches."""

    def __init__(self, vocabulary: Sequence[str]) -> None:
        if any(not 0 < len(gram) <= MAX_N for gram in vocabulary):
            raise ValueError(f"an n-gram of the vocabulary is empty or longer than {MAX_N} characters")
        keys = [packed_key(gram) for gram in vocabulary]
        bits = max(4, len(keys).bit_length() + SPARE_BITS)  # at most 1/8 full: few probe past the first slot
        self._shift = np.uint64(64 - bits)
        # linear probing runs past the last home slot instead of wrapping: room for every key after it,
        # and the last slot always stays free, so a lookup stops before the end
        table = [EMPTY] * ((1 << bits) + len(keys) + 1)
        cols = [0] * len(table)
        homes = self._home(np.asarray(keys, np.int64)).tolist() if keys else []
        for col, (key, slot) in enumerate(zip(keys, homes)):
            while table[slot] not in (EMPTY, key):
                slot += 1
            table[slot], cols[slot] = key, col  # a repeated n-gram keeps its last column, as a dict would
        self._keys = np.asarray(table, np.int64)
        self._cols = np.asarray(cols, np.int32 if len(keys) < 2**31 else np.int64)

    def _home(self, keys: np.ndarray) -> np.ndarray:
        return ((keys.view(np.uint64) * _MULT) >> self._shift).astype(np.intp)

    def columns(self, keys: np.ndarray) -> np.ndarray:
        """The column of each packed key (int64 array), or -1 where it is not in the vocabulary."""
        slot = self._home(keys)
        found = self._keys[slot]
        cols = np.where(found == keys, self._cols[slot], -1)
        probing = np.flatnonzero((found != keys) & (found != EMPTY))
        while len(probing):
            slot[probing] += 1
            found = self._keys[slot[probing]]
            hit = found == keys[probing]
            cols[probing[hit]] = self._cols[slot[probing[hit]]]
            probing = probing[~hit & (found != EMPTY)]
        return cols

    def hits(self, texts: Sequence[str], low: int, high: int) -> tuple[np.ndarray, np.ndarray]:
        """(text, column) of every window of ``low``–``high`` characters whose n-gram is in the vocabulary.

        The same windows as ``classifier.char_ngrams`` of each text, by size then position: the texts
        (``whitespace_runs_as_one_space``) are laid end to end with a ``GAP`` after each, and the key of
        the window at each slot grows one field per size.
        """
        if not 0 < low <= high <= MAX_N:
            raise ValueError(f"n-gram sizes {low}–{high} are not within 1–{MAX_N}")
        if not texts:
            return np.zeros(0, np.intp), np.zeros(0, np.intp)
        cleaned = [whitespace_runs_as_one_space(t) for t in texts]
        lengths = np.fromiter(map(len, cleaned), np.intp, len(cleaned))
        codes = np.frombuffer("\0".join(cleaned).encode("utf-32-le"), np.uint32).astype(np.int64) + 1
        codes = np.append(codes, 0)
        ends = np.cumsum(lengths + 1)
        codes[ends - 1] = GAP  # the separators and the slot after the last text
        doc = np.repeat(np.arange(len(cleaned)), lengths + 1)
        docs, cols = [], []
        key = codes.copy()
        for size in range(1, high + 1):
            if size > 1:  # slots whose window would run off the array keep a shorter key that ends in GAP
                key[: len(key) - size + 1] = (key[: len(key) - size + 1] << BITS) | codes[size - 1 :]
            if size >= low:
                col = self.columns(key)
                at = np.flatnonzero(col >= 0)
                docs.append(doc[at])
                cols.append(col[at])
        return np.concatenate(docs), np.concatenate(cols)
