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

from itertools import accumulate
from operator import eq
from typing import Sequence

from harness.analysis.protocol import BatchScore, TextScore
import numpy as np

from harness.analysis.tokenize import JapaneseTokenizer, RowProperty, Token, TokenBatch
from harness.config import AnalysisConfig
from harness.record.schema import MeasureSpec

MIN_TOKENS = 8
MIN_DISTINCT_2 = 0.5
MAX_PERIOD = 4
MIN_REPEATS = 4
_DIGITS = 4
# per distinct token: its surface's number, and whether it is whitespace (not counted)
_SURFACE_ID = RowProperty(lambda table, row: table.surface_id[row])
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
        """Every text of ``batch``: a text without a repeated token needs no bigram count (distinct-2 is 1).

        Tokens are compared by surface number (``RowTable.surface_id``); the
        texts with a repeated token are found for the whole batch at once
        (numpy: sort by text and surface, compare neighbours).
        """
        n = len(batch)
        ids, owners = _SURFACE_ID.of(batch), batch.owners
        drop = _SPACE.of(batch)
        # whitespace tokens do not count (MeCab skips most whitespace itself)
        if drop.any():
            keep = drop == 0
            ids, owners = ids[keep], owners[keep]
            sizes = np.bincount(owners, minlength=n)
        else:
            sizes = np.diff(np.asarray(batch.bounds, dtype=np.int64))
        bounds = [0, *accumulate(sizes.tolist())]
        d2 = [1.0] * n
        degenerate = [0] * n
        order = np.lexsort((ids, owners))
        by_text, by_id = owners[order], ids[order]
        repeated = (by_text[1:] == by_text[:-1]) & (by_id[1:] == by_id[:-1])
        for i in np.unique(by_text[1:][repeated]).tolist():
            text = ids[bounds[i] : bounds[i + 1]].tolist()
            size, distinct = len(text), len(set(text))
            d = distinct_2(text)
            d2[i] = d
            # a unit repeated MIN_REPEATS times repeats its first token MIN_REPEATS − 1 times
            loops = (size >= MIN_TOKENS and d < MIN_DISTINCT_2) or (
                size - distinct >= MIN_REPEATS - 1 and repeats_at_least(text, MIN_REPEATS)
            )
            degenerate[i] = int(loops)
        values = {
            "characters": list(map(len, batch.texts)),
            "tokens": sizes.tolist(),
            "distinct_2": [round(d, _DIGITS) for d in d2],
            "degenerate_repetition": degenerate,
        }
        return BatchScore(values, {})

    def table_builder(self) -> None:
        return None
