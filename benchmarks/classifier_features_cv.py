"""Would other features help the learned detector?  Dev only: the scorer's own cross-validation, paired.

Two blocks of features are tried beside the shipped TF-IDF block of
character 1–3-grams, each against the same code without it:

* ``pieces``: TF-IDF over the rinna tokenizer's SentencePiece pieces and
  piece bigrams (``../shared/tokenizers/rinna-japanese-gpt2/spiece.model``,
  read at run time), a segmentation learned from a large Japanese corpus;
* ``vectors`` (with ``--vocab``): pretrained word vectors.  The only
  pretrained Japanese representation that installs from PyPI here (no model
  hub) is the word-vector table inside GiNZA's ``ja_ginza`` package: chiVe
  vectors (Works Applications, Apache-2.0), 20,000 rows of 300 shared by
  480,443 words, read from a folder given at run time.  A text's features:
  the mean and the maximum, over its MeCab tokens (symbols and spaces left
  out), of the unit vectors of its words, each looked up by surface,
  dictionary form, lemma and kana spellings; standardised on the training
  fold and scaled to a block norm of about each of ``--scales`` (the TF-IDF
  rows have norm 1).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/classifier_features_cv.py                 # pieces
    .venv/bin/pip install spacy
    .venv/bin/pip download --no-deps ja_ginza -d /tmp/ginza && unzip -q /tmp/ginza/ja_ginza-*.whl -d /tmp/ginza
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/classifier_features_cv.py \
        --vocab /tmp/ginza/ja_ginza/ja_ginza-5.3.0/vocab

Everything else is the shipped procedure (``harness scorer train``): its
training split, the candidate (C 10, the kinds of text weighing the same; C 3
too for the pieces), the folds (``train.fold_ids``: the written set's batches
held out whole, so a fold is scored on writers its model never saw), a Platt
sigmoid, and the threshold and objective of ``train.best_threshold`` (mean F1
over the kinds of text, under the precision floor, with the lexicon's flags
OR'ed in).  The first line is ``train.cross_validated`` itself, for reference
(its sigmoid is fitted with the stratum weights, hence other thresholds).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from functools import partial
from pathlib import Path
from typing import Callable

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from harness.analysis.classifier import char_ngrams  # noqa: E402
from harness.analysis.tokenize import JapaneseTokenizer  # noqa: E402
from harness.labels.posts import DEFAULT_CORPUS  # noqa: E402
from harness.scorer import train  # noqa: E402
from harness.scorer.data import training_set  # noqa: E402
from harness.text import hiragana, katakana  # noqa: E402

LABELS = [ROOT / "labels" / "open2ch-dev.csv", ROOT / "tests" / "data" / "dev_labels.csv",
          ROOT / "labels" / "ood-written.csv"]  # fmt: skip  (the Makefile's CLASSIFIER_LABELS)
SPIECE = ROOT.parent / "shared" / "tokenizers" / "rinna-japanese-gpt2" / "spiece.model"
SHIPPED = train.Candidate(1, 3, 10.0, False, True)
_SKIPPED_POS = ("補助記号", "空白")
Blocks = Callable[[np.ndarray, np.ndarray], tuple]  # (train rows, test rows) → (train matrix, test matrix)


def load_vectors(folder: Path):
    """The spaCy vocabulary of ``folder`` (a ``vocab`` directory): strings and the vector table."""
    try:
        from spacy.vocab import Vocab
    except ImportError:
        raise SystemExit("classifier_features_cv: reading the vector table needs spaCy: pip install spacy") from None
    if not (folder / "vectors").is_file():
        raise SystemExit(f"classifier_features_cv: {folder}: no 'vectors' file (give ja_ginza's vocab folder)")
    try:
        return Vocab().from_disk(folder)
    except (OSError, ValueError) as err:  # a truncated or foreign table
        raise SystemExit(f"classifier_features_cv: {folder}: not a readable spaCy vocab ({err})") from None


def vector_features(texts: list[str], vocab) -> np.ndarray:
    """Mean and max of the unit vectors of each text's tokens (zeros where no token has a vector); the share
    of tokens found is printed."""
    table = vocab.vectors.data
    unit = table / np.maximum(np.linalg.norm(table, axis=1, keepdims=True), 1e-9)
    tokenizer, found, seen = JapaneseTokenizer(), 0, 0
    out = np.zeros((len(texts), 2 * table.shape[1]))
    for i, text in enumerate(texts):
        rows = []
        for tok in tokenizer.tokenize(text):
            if not tok.surface.strip() or tok.pos1 in _SKIPPED_POS:
                continue
            seen += 1
            for key in (tok.surface, tok.orth_base, tok.lemma, hiragana(tok.surface), katakana(tok.surface)):
                row = vocab.vectors.find(key=vocab.strings[key]) if key in vocab.strings else -1
                if row >= 0:
                    rows.append(row)
                    break
        found += len(rows)
        if rows:
            out[i] = np.concatenate([unit[rows].mean(axis=0), unit[rows].max(axis=0)])
    print(f"tokens with a vector: {found / max(seen, 1):.3f} of {seen:,}")
    return out


def tfidf_block(docs: list, analyzer) -> Blocks:
    """A TF-IDF block (sublinear tf, min_df 2, as shipped) over ``docs`` read by ``analyzer``."""
    tfidf, *_ = train.sklearn_parts()

    def blocks(train_rows, test_rows):
        vectorizer = tfidf(analyzer=analyzer, min_df=2, sublinear_tf=True)
        return (vectorizer.fit_transform([docs[i] for i in train_rows]),
                vectorizer.transform([docs[i] for i in test_rows]))  # fmt: skip
    return blocks


def dense_block(dense: np.ndarray, scale: float) -> Blocks:
    """Standardised ``dense`` features scaled to a block norm of about ``scale``."""
    from scipy import sparse
    from sklearn.preprocessing import StandardScaler

    def blocks(train_rows, test_rows):
        scaler, factor = StandardScaler().fit(dense[train_rows]), scale / math.sqrt(dense.shape[1])
        return tuple(sparse.csr_matrix(scaler.transform(dense[rows]) * factor) for rows in (train_rows, test_rows))
    return blocks


def cross_validated(examples, blocks: list[Blocks], C: float) -> np.ndarray:
    """Out-of-fold calibrated probabilities of a balanced logistic regression over ``blocks`` side by side."""
    from scipy import sparse

    _, logreg, calibrated, kfold = train.sklearn_parts()
    y = np.array([e.label for e in examples])
    folds, prob = train.fold_ids(examples), np.zeros(len(examples))
    for k in sorted(set(folds)):
        rows, held = np.where(folds != k)[0], np.where(folds == k)[0]
        parts = [block(rows, held) for block in blocks]
        x_train, x_test = (sparse.hstack([p[j] for p in parts]).tocsr() for j in (0, 1))
        model = calibrated(logreg(C=C, max_iter=2000), method="sigmoid", ensemble=False,
                           cv=kfold(train.FOLDS, shuffle=True, random_state=train.SEED))  # fmt: skip
        model.fit(x_train, y[rows], sample_weight=train.domain_balance([examples[i] for i in rows]))
        prob[held] = model.predict_proba(x_test)[:, 1]
    return prob


def report(name: str, examples, prob: np.ndarray, lexicon: np.ndarray) -> None:
    """The objective, threshold and each kind of text's P/R/F1 of ``lexicon OR prob ≥ t``."""
    objective, threshold = train.best_threshold(examples, prob, lexicon)
    kinds = train.by_domain(examples, lexicon | (prob >= threshold))
    parts = "  ".join(f"{d}: P {m['precision']:.3f} R {m['recall']:.3f} F1 {m['f1']:.3f}" for d, m in kinds.items())
    print(f"{name:28s} objective {objective:.4f}  t {threshold:.2f}  {parts}", flush=True)


def piece_docs(texts: list[str], model: Path) -> list[list[str]]:
    """Each text's SentencePiece pieces and piece bigrams; what encoding costs a text (CPU, best of 3) is
    printed, the price the analysis would pay per text before scoring them."""
    try:
        import sentencepiece
    except ImportError:
        raise SystemExit("classifier_features_cv: the pieces need sentencepiece: pip install sentencepiece") from None
    if not model.is_file():
        raise SystemExit(f"classifier_features_cv: {model}: no SentencePiece model (--spiece)")
    try:
        processor = sentencepiece.SentencePieceProcessor(model_file=str(model))
    except (OSError, RuntimeError) as err:
        raise SystemExit(f"classifier_features_cv: {model}: not a SentencePiece model ({err})") from None
    costs = []
    for _ in range(3):
        start = time.process_time()
        pieces = processor.encode(texts, out_type=str)
        costs.append(time.process_time() - start)
    chars = sum(map(len, texts)) / len(texts)
    print(f"SentencePiece batch encoding: {min(costs) / len(texts) * 1e6:.2f} µs of CPU a text ({chars:.0f} chars)")
    return [p + [f"{a} {b}" for a, b in zip(p, p[1:])] for p in pieces]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spiece", type=Path, default=SPIECE, help="SentencePiece model of the pieces block")
    parser.add_argument("--vocab", type=Path, help="ja_ginza's vocab folder (vectors, strings.json): vectors block")
    parser.add_argument("--scales", default="0.5,1,3", help="comma-separated block norms of the vectors")
    args = parser.parse_args()
    try:
        scales = [float(s) for s in args.scales.split(",")]
    except ValueError:
        parser.error(f"--scales: comma-separated numbers, got {args.scales!r}")
    if not DEFAULT_CORPUS.is_file():
        print(f"skipped: {DEFAULT_CORPUS} missing")
        return 0
    from threadpoolctl import threadpool_limits

    vocab = load_vectors(args.vocab) if args.vocab else None  # its errors before any work
    examples, _ = training_set(LABELS, DEFAULT_CORPUS)
    texts = [e.text for e in examples]
    print(f"training split: {len(examples)} texts, {sum(e.label for e in examples)} toxic")
    chars = tfidf_block(texts, partial(char_ngrams, low=SHIPPED.low, high=SHIPPED.high))
    pieces = tfidf_block(piece_docs(texts, args.spiece), lambda doc: doc)
    arms: list[tuple[str, list[Blocks], float]] = [
        ("chars (paired baseline)", [chars], SHIPPED.C), ("pieces alone, C 3", [pieces], 3.0),
        ("chars + pieces", [chars, pieces], SHIPPED.C), ("chars + pieces, C 3", [chars, pieces], 3.0),
    ]  # fmt: skip
    if vocab is not None:
        print(f"vectors: {vocab.vectors.shape[0]:,} rows × {vocab.vectors.shape[1]}, {vocab.vectors.n_keys:,} words")
        dense = vector_features(texts, vocab)
        arms += [(f"chars + vectors, norm {s:g}", [chars, dense_block(dense, s)], SHIPPED.C) for s in scales]
    with threadpool_limits(1):
        lexicon = train.lexicon_flags(examples)
        report("shipped (reference)", examples, train.cross_validated(examples, SHIPPED), lexicon)
        for name, blocks, C in arms:
            report(name, examples, cross_validated(examples, blocks, C), lexicon)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
