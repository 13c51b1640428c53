"""The classifier's n-gram search (harness.analysis.ngram_index) against slicing and a dict."""

from __future__ import annotations

import random

import numpy as np
import pytest

from harness.analysis.classifier import char_ngrams
from harness.analysis.ngram_index import MAX_N, NgramIndex, packed_key

AWKWARD = ["", " ", "ズンドコ  な\nお前", "𠮷野家でズンドコ𠮷", "\x00ズ\x00ン", "ズ", "公園で散歩しました", "ｗｗｗｗ",
           "\t\n"]


def by_dict(vocabulary: list[str], texts: list[str], low: int, high: int) -> list[tuple[int, int]]:
    index = {gram: i for i, gram in enumerate(vocabulary)}
    return sorted((d, index[g]) for d, t in enumerate(texts) for g in char_ngrams(t, low, high) if g in index)


def found(index: NgramIndex, texts: list[str], low: int, high: int) -> list[tuple[int, int]]:
    docs, cols = index.hits(texts, low, high)
    return sorted(zip(docs.tolist(), cols.tolist()))


@pytest.mark.parametrize("low,high", [(1, 1), (1, 2), (1, 3), (2, 3), (3, 3)])
def test_hits_are_the_windows_a_dict_finds(low, high):
    texts = AWKWARD + ["お前のズンドコ野家", "な お", "ンズ ド"]
    vocabulary = sorted({g for t in texts for g in char_ngrams(t, low, high)})[::2]  # half of them, every size
    vocabulary += ["\x00", "ズ\x00", " お", "野家で", "𠮷"]  # grams that must not match across a text's end
    vocabulary = list(dict.fromkeys(g for g in vocabulary if low <= len(g) <= high))
    assert found(NgramIndex(vocabulary), texts, low, high) == by_dict(vocabulary, texts, low, high)


def test_a_crowded_table_finds_every_key_and_nothing_else():
    rng = random.Random(0)
    alphabet = "あいうえおかきくけこズンドコ漢字𠮷 "
    grams = list(dict.fromkeys("".join(rng.choices(alphabet, k=rng.randint(1, 3))) for _ in range(3000)))
    vocabulary, others = grams[: len(grams) // 2], grams[len(grams) // 2 :]
    index = NgramIndex(vocabulary)
    cols = index.columns(np.array([packed_key(g) for g in vocabulary + others], np.int64))
    assert cols.tolist() == list(range(len(vocabulary))) + [-1] * len(others)


def test_a_repeated_gram_keeps_its_last_column_as_a_dict_does():
    index = NgramIndex(["あ", "い", "あ"])
    assert found(index, ["ああい"], 1, 1) == [(0, 1), (0, 2), (0, 2)]


def test_sizes_outside_the_packed_range_are_refused():
    with pytest.raises(ValueError, match="longer than"):
        NgramIndex(["あいうえ"])
    with pytest.raises(ValueError, match="within"):
        NgramIndex(["あ"]).hits(["あ"], 1, MAX_N + 1)


def test_an_empty_batch_has_no_hits():
    docs, cols = NgramIndex(["あ"]).hits([], 1, 3)
    assert len(docs) == len(cols) == 0
