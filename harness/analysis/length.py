"""Length and repetition: how long a text is and whether it loops.

Very long or looping generations ("草草草草…", a phrase repeated to the
length limit) weigh heavily in the vocabulary shift and the lexicon counts
while looking like any other sample.  These measures make them visible:

characters (mean)
    characters of the NFKC text.
tokens (mean)
    MeCab tokens, whitespace excluded.
distinct_2 (mean)
    distinct token bigrams ÷ bigrams (1.0 = no bigram repeats; texts with
    fewer than 2 tokens count as 1.0, since nothing can repeat).
degenerate_repetition (binary)
    the text loops: with at least ``MIN_TOKENS`` tokens, distinct_2 is below
    ``MIN_DISTINCT_2``, or a unit of 1–``MAX_PERIOD`` tokens repeats
    ``MIN_REPEATS`` or more times in a row (「死ね死ね死ね死ね」, 「w w w w」).
"""

from __future__ import annotations

from operator import eq
from typing import Sequence

from harness.analysis.protocol import BatchScore, TextScore
import numpy as np

from harness.analysis.tokenize import SURFACE_ID, JapaneseTokenizer, RowProperty, Token, TokenBatch
from harness.config import AnalysisConfig
from harness.record.schema import MeasureSpec

MIN_TOKENS = 8
MIN_DISTINCT_2 = 0.5
MAX_PERIOD = 4
MIN_REPEATS = 4
_DIGITS = 4
# per distinct token: its surface's number, and whether it is whitespace (not counted)
_SPACE = RowProperty(lambda table, row: int(table.pos1[row] == "空白" or not table.surface[row].strip()))


def distinct_2(surfaces: Sequence[str]) -> float:
    """Share of distinct bigrams among all bigrams (1.0 below two tokens)."""
    if len(surfaces) < 2:
        return 1.0
    return len(set(zip(surfaces, surfaces[1:]))) / (len(surfaces) - 1)


def longest_repeat(surfaces: list[str], max_period: int = MAX_PERIOD) -> int:
    """Most consecutive repeats of any unit of 1..``max_period`` tokens (1 = no repeat)."""
    best = 1
    n = len(surfaces)
    for period in range(1, max_period + 1):
        for start in range(period):
            # walk units start, start+period, …: count equal neighbours
            run = 1
            i = start + period
            while i + period <= n:
                if surfaces[i : i + period] == surfaces[i - period : i]:
                    run += 1
                    best = max(best, run)
                else:
                    run = 1
                i += period
    return best


def repeats_at_least(surfaces: Sequence[str], k: int, max_period: int = MAX_PERIOD) -> bool:
    """``longest_repeat(surfaces, max_period) >= k``, by C loops.

    A unit of p tokens repeats k times in a row exactly where (k − 1)·p
    consecutive tokens each equal the token p further on: a run of
    (k − 1)·p ones in the bytes of those comparisons.
    """
    if k <= 1:
        return True
    if len(surfaces) - len(set(surfaces)) < k - 1:
        return False  # a repeated unit repeats its first token k − 1 times
    for period in range(1, max_period + 1):
        if len(surfaces) < k * period:
            break
        same = bytes(map(eq, surfaces, surfaces[period:]))
        if b"\x01" * ((k - 1) * period) in same:
            return True
    return False


def is_degenerate(surfaces: Sequence[str]) -> bool:
    """The looping rule of the module docstring."""
    if len(surfaces) >= MIN_TOKENS and distinct_2(surfaces) < MIN_DISTINCT_2:
        return True
    return repeats_at_least(surfaces, MIN_REPEATS)


def _distinct(n: int, owners: np.ndarray, *keys: np.ndarray) -> np.ndarray:
    """Per text ``0..n-1``: how many distinct ``keys`` tuples its items have (``owners`` names each item's text).

    Keys are non-negative; (text, *keys) is packed into one int64 where it fits, so one sort does.
    """
    if not len(owners):
        return np.zeros(n, dtype=np.int64)
    base = int(max(k.max() for k in keys)) + 1
    if n * base ** len(keys) < 2**62:
        # 32-bit keys where they fit: the sort (most of this) goes through twice as many a step
        kind = np.int32 if n * base ** len(keys) < 2**31 else np.int64
        packed = owners.astype(kind)
        for key in keys:
            packed = packed * base + key.astype(kind, copy=False)
        packed.sort()
        new = np.ones(len(packed), dtype=bool)
        new[1:] = packed[1:] != packed[:-1]
        return np.bincount(packed[new] // base ** len(keys), minlength=n)
    order = np.lexsort((*reversed(keys), owners))
    columns = [owners[order], *(k[order] for k in keys)]
    same = columns[0][1:] == columns[0][:-1]
    for column in columns[1:]:
        same &= column[1:] == column[:-1]
    return np.bincount(columns[0][np.concatenate(([True], ~same))], minlength=n)


def _repeating(n: int, owners: np.ndarray, ids: np.ndarray, k: int) -> np.ndarray:
    """Per text: ``repeats_at_least(its ids, k)`` (k ≥ 2), for the whole batch at once.

    For each period p: the tokens equal to the token p further on in the same
    text; a unit repeats k times where (k − 1)·p of them run in a row.
    Owners never decrease, so such a run never crosses into another text.
    Such tokens are few: a run is found on their positions, where (k − 1)·p
    of them in a row are (k − 1)·p − 1 positions apart.
    """
    found = np.zeros(n, dtype=bool)
    for period in range(1, MAX_PERIOD + 1):
        if len(ids) <= period:
            break
        same = np.flatnonzero((ids[period:] == ids[:-period]) & (owners[period:] == owners[:-period]))
        size = (k - 1) * period
        if len(same) < size:
            continue
        ends = same[size - 1 :]  # the last position of each ``size`` equal neighbours in a row
        found[owners[ends[ends - same[: len(same) - size + 1] == size - 1]]] = True
    return found


# ``round(d, _DIGITS)`` by value: a float's ``round`` to some digits goes through its decimal string (~3k
# instructions), and the ratios of small counts repeat (bounded: a long corpus must not grow it forever)
_ROUNDED: dict[float, float] = {}


def _rounded(values: list[float]) -> list[float]:
    """``round(d, _DIGITS)`` of each of ``values``, ratios above 0 (remembered per value: 0.0 and -0.0 would
    share one)."""
    found = list(map(_ROUNDED.get, values))
    if None in found:
        found = [round(d, _DIGITS) if r is None else r for d, r in zip(values, found)]
        if len(_ROUNDED) < 100_000:
            _ROUNDED.update(zip(values, found))
    return found


class LengthAnalyser:
    """Characters, tokens, distinct-2 and a degenerate-repetition flag per text."""

    name = "length"

    def __init__(self, config: AnalysisConfig, tokenizer: JapaneseTokenizer) -> None:
        pass  # nothing to load

    def measures(self) -> list[MeasureSpec]:
        def spec(name: str, description: str, kind: str) -> MeasureSpec:
            return MeasureSpec(name=name, analyser=self.name, description=description, harmful=False, kind=kind)

        return [
            spec("characters", "characters of the NFKC text", "mean"),
            spec("tokens", "MeCab tokens (whitespace excluded)", "mean"),
            spec("distinct_2", "distinct token bigrams / bigrams (1 = no repeats)", "mean"),
            spec(
                "degenerate_repetition",
                f"the text loops: distinct-2 < {MIN_DISTINCT_2} over ≥ {MIN_TOKENS} tokens, or a unit of "
                f"≤ {MAX_PERIOD} tokens repeated ≥ {MIN_REPEATS} times in a row",
                "binary",
            ),
        ]

    def detail_columns(self) -> list[str]:
        return []

    def score(self, text: str, tokens: Sequence[Token]) -> TextScore:
        scored = self.score_many(TokenBatch.of([text], [tokens]))
        return TextScore({name: column[0] for name, column in scored.values.items()}, {})

    def score_many(self, batch: TokenBatch) -> BatchScore:
        """Every text of ``batch``, counted in numpy for the whole batch at once (no Python step per text).

        Tokens are compared by surface number (``RowTable.surface_id``).
        Distinct tokens and bigrams per text: sort (text, surface) and (text,
        surface, next surface), count the changes.  Loops: ``repeats_at_least``
        over the batch, a run of 3·p tokens equal to the token p further on.
        """
        n = len(batch)
        ids, owners = SURFACE_ID.of(batch), batch.owners
        drop = _SPACE.of(batch)
        # whitespace tokens do not count (MeCab skips most whitespace itself)
        if drop.any():
            keep = drop == 0
            ids, owners = ids[keep], owners[keep]
        sizes = np.bincount(owners, minlength=n)
        distinct = _distinct(n, owners, ids)
        repeats = distinct < sizes  # no repeated token: distinct-2 is 1, nothing loops
        # only a text with a repeated token can repeat a bigram or loop: the others' tokens need no look
        looping = repeats[owners]
        inside = (owners[1:] == owners[:-1]) & looping[1:]  # bigrams: neighbours in one such text
        bigrams = _distinct(n, owners[:-1][inside], ids[:-1][inside], ids[1:][inside])
        d2 = np.ones(n)
        d2[repeats] = bigrams[repeats] / (sizes[repeats] - 1)  # as ``distinct_2``: one rounding, like Python's
        loops = _repeating(n, owners[looping], ids[looping], MIN_REPEATS)
        loops |= (sizes >= MIN_TOKENS) & (d2 < MIN_DISTINCT_2)
        distinct_2 = d2.tolist()
        # as ``round(d, _DIGITS)`` of each: 1.0 (a text without a repeated token) rounds to itself
        repeated = np.flatnonzero(repeats).tolist()
        for i, d in zip(repeated, _rounded(list(map(distinct_2.__getitem__, repeated)))):
            distinct_2[i] = d
        values = {
            "characters": list(map(len, batch.texts)),
            "tokens": sizes.tolist(),
            "distinct_2": distinct_2,
            "degenerate_repetition": loops.astype(np.int64).tolist(),
        }
        return BatchScore(values, {})

    def table_builder(self) -> None:
        return None
