"""The classifier's C scan (harness/analysis/ngram_scan.c) against its numpy path: the same decisions, bit for bit."""

from __future__ import annotations

import random
import shutil

import numpy as np
import pytest

from harness.analysis import ngram_index
from harness.analysis.classifier import ClassifierModel, char_ngrams
from harness.analysis.ngram_index import NATIVE, ngram_scan

needs_native = pytest.mark.skipif(not NATIVE, reason="harness.analysis.ngram_scan is not built (pip install -e .)")

AWKWARD = ["", " ", "ズンドコ  な\nお前", "𠮷野家でズンドコ𠮷", "\x00ズ\x00ン", "ズ", "公園で散歩しました", "ｗ" * 700,
           "\t\n", "あ\ud800い", "ｗｗｗ ｗｗｗ", "\u3000お前\u3000\u3000バカ\x1c\x1dだ\x85な\u2028", "\x1f", " 　 "]


def model(texts: list[str], low: int, high: int, seed: int = 0) -> ClassifierModel:
    """A model over half the n-grams of ``texts`` (and a repeated one), with random weights."""
    rng = random.Random(seed)
    grams = sorted({g for t in texts for g in char_ngrams(t, low, high)})
    vocabulary = [g for g in grams if rng.random() < 0.5] + grams[:1]  # the first gram twice: last column wins
    weights = np.random.default_rng(seed)
    meta = {"ngram_range": [low, high], "vocabulary": vocabulary, "intercept": -0.25,
            "calibration": {"a": -1.5, "b": 0.5}, "threshold": 0.5}
    return ClassifierModel(meta, weights.uniform(1, 5, len(vocabulary)), weights.normal(0, 1, len(vocabulary)))


def both(clf: ClassifierModel, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    assert clf.native
    native = clf.decision(texts)
    clf.native = False
    try:
        return native, clf.decision(texts)
    finally:
        clf.native = True


def test_the_scan_is_built_where_there_is_a_compiler():
    if shutil.which("cc") or shutil.which("gcc"):
        assert NATIVE, "a C compiler is here but harness.analysis.ngram_scan is not built: pip install -e ."


@needs_native
def test_the_c_constants_are_the_index_s():
    assert (ngram_scan.BITS, ngram_scan.MAX_N, ngram_scan.EMPTY) == (
        ngram_index.BITS, ngram_index.MAX_N, ngram_index.EMPTY)
    assert ngram_scan.MULT == int(ngram_index.MULT)


@needs_native
@pytest.mark.parametrize("low,high", [(1, 1), (1, 2), (1, 3), (2, 3), (3, 3)])
def test_c_and_numpy_decide_alike_to_the_bit(low, high):
    rng = random.Random(low * 10 + high)
    alphabet = "あいうえおかきくけこズンドコ漢字𠮷 ｗ\n\u3000\x1c"
    texts = AWKWARD + ["".join(rng.choices(alphabet, k=rng.randint(0, 60))) for _ in range(300)]
    clf = model(texts, low, high)
    native, numpy_path = both(clf, texts)
    assert native.tobytes() == numpy_path.tobytes()
    assert len(set(native.tolist())) > 100  # the texts differ: a check that cannot fail would pass on constants


@needs_native
def test_a_text_longer_than_the_tf_table_grows_it():
    clf = model(["ｗｗ草"], 1, 3)
    long = "ｗ" * 5000 + "草"
    native, numpy_path = both(clf, [long, "ｗ"])
    assert native.tobytes() == numpy_path.tobytes()
    assert len(clf.sublinear_tf(0)) > 5000


@needs_native
def test_an_empty_batch_and_texts_without_a_known_gram():
    clf = model(["あい"], 1, 2)
    assert len(clf.decision([])) == 0
    assert clf.decision(["ズン", ""]).tolist() == [clf.intercept, clf.intercept]


@needs_native
def test_bad_arguments_are_refused_not_read_past():
    clf = model(["あいう"], 1, 3)
    keys, cols, shift = clf.grams.table
    tf, out = clf.sublinear_tf(10)[:10], np.empty(1)

    def call(texts=("あい",), low=1, high=3, k=keys, c=cols, idf=clf.idf, coef=clf.coef, t=tf, o=out):
        ngram_scan.decisions(list(texts), low, high, shift, k, c, idf, coef, t, o)

    call()
    with pytest.raises(ValueError, match="out of range"):
        call(high=4)
    with pytest.raises(TypeError, match="cols"):
        call(c=cols.astype(np.int64))
    with pytest.raises(ValueError, match="differ in length"):
        call(coef=clf.coef[:-1])
    with pytest.raises(ValueError, match="differ in length"):
        call(o=np.empty(2))
    with pytest.raises(ValueError, match="tf has"):
        call(texts=("あ" * 20,))
    with pytest.raises(TypeError, match="not a str"):
        call(texts=(b"x",))
    with pytest.raises(ValueError, match="past the vocabulary"):
        call(c=np.full_like(cols, len(clf.idf)), k=keys)
