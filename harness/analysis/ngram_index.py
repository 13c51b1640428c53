"""Finding a vocabulary's character n-grams in a batch of texts: packed keys and one hash table.

The classifier's features are the character n-grams of a text
(``classifier.char_ngrams``: 1 to 3 characters for the default model).
Slicing every window in Python and looking it up in a dict costs about
10 µs a post, a third of all analysis.  Here each window of n characters is
one int64 (``packed_key``: n fields of 21 bits), looked up in an
open-addressing table (linear probing) whose sparseness suits the search
that reads it (``SPARE_BITS``).

Two searches use the table.  Where the optional C extension ``ngram_scan``
is built (pip compiles ``ngram_scan.c`` on install; ``NATIVE``), the
classifier scans it text by text in C.  Else ``hits`` does it in numpy:
the whole batch is one array of code points and all of its windows are
looked up at once (numpy has no hash lookup, and a sorted array would need a
sort of every batch's keys).  ``hits`` is also the reference the C scan is
tested against.  What each costs: benchmarks/README.md, "The n-gram scan in C".
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

try:  # the C scan over this module's table (harness/analysis/ngram_scan.c), built by pip where it can be
    from harness.analysis import ngram_scan
except ImportError:  # not built (no C compiler at install): the numpy search below serves, to the same values
    ngram_scan = None

NATIVE = ngram_scan is not None
BITS = 21  # a code point + 1 (≤ 0x110000) fits in 21 bits
MAX_N = 3  # three fields fit an int64; longer n-grams are looked up by dict (``classifier``)
# Between texts and after the last: a field no character packs to (> 0x110000), so no window that
# reaches past its text's end can equal a vocabulary key (keys split into fields one way only).
GAP = (1 << BITS) - 1
EMPTY = -1  # a free slot (every key is positive)
# table slots: the vocabulary's size rounded up to a power of two, times 2**SPARE_BITS.  For the C scan 1
# (between 1/4 and 1/2 full): between score_batch calls it took 1.6 instead of 1.75 µs a post on a table a
# quarter the size (2¹⁵ slots instead of 2¹⁷ for the default model's 12,798 n-grams).  For the numpy search 3
# (at most 1/8 full): each further probe is another pass over the batch, and at 1/2 full ``hits`` took 5.5
# instead of 3.5 µs a post (benchmarks/README.md, "The n-gram scan in C").
SPARE_BITS = 1 if NATIVE else 3
MULT = np.uint64(0x9E3779B97F4A7C15)  # Fibonacci hashing: the top bits of key × 2⁶⁴/φ


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
        bits = max(4, len(keys).bit_length() + SPARE_BITS)
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

    @property
    def table(self) -> tuple[np.ndarray, np.ndarray, int]:
        """``(keys, cols, shift)``: the slots' keys (``EMPTY`` where free) and columns, and the home slot's
        shift (a key's home is ``(key × MULT mod 2⁶⁴) >> shift``): what ``ngram_scan`` searches."""
        return self._keys, self._cols, int(self._shift)

    def _home(self, keys: np.ndarray) -> np.ndarray:
        return ((keys.view(np.uint64) * MULT) >> self._shift).astype(np.intp)

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
        # surrogatepass: a lone surrogate (e.g. from a JSON \ud800 escape) is its own code point, as in ``str``
        joined = "\0".join(cleaned).encode("utf-32-le", "surrogatepass")
        codes = np.frombuffer(joined, np.uint32).astype(np.int64) + 1
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
