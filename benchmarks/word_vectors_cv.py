"""Would pretrained Japanese word vectors help the learned detector?  Dev only: the scorer's own cross-validation.

The only pretrained Japanese representation that installs from PyPI here
(no model hub) is the word-vector table inside GiNZA's ``ja_ginza`` package:
chiVe vectors (Works Applications, Apache-2.0), 20,000 rows of 300 shared by
480,443 words.  This script reads that table from a folder given at run time
(nothing of it enters the repository) and compares, on the training split of
``harness scorer train``, the shipped model with the same model given a block
of vector features beside its TF-IDF block.

    .venv/bin/pip install spacy
    .venv/bin/pip download --no-deps ja_ginza -d /tmp/ginza && unzip -q /tmp/ginza/ja_ginza-*.whl -d /tmp/ginza
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/word_vectors_cv.py --vocab /tmp/ginza/ja_ginza/ja_ginza-5.3.0/vocab

Features of a text: the mean and the maximum, over its MeCab tokens (symbols
and spaces left out), of the unit vectors of the words, each looked up by
surface, dictionary form, lemma and kana spellings; standardised on the
training fold and scaled to a block norm of about ``--scales`` (the TF-IDF
rows have norm 1).  Everything else is the shipped procedure: the candidate
(character 1–3-grams, C 10, the kinds of text weighing the same), the folds
(``train.fold_ids``: the written set's batches held out whole), a Platt
sigmoid, and the threshold and objective of ``train.best_threshold`` (mean F1
over the kinds of text, under the precision floor, with the lexicon's flags
OR'ed in).  Scale 0 is the same code without vectors, the paired baseline;
the first line is ``train.cross_validated`` itself, for reference.
"""

from __future__ import annotations

import argparse
import math
import sys
from functools import partial
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from harness.analysis.classifier import char_ngrams  # noqa: E402
from harness.analysis.tokenize import JapaneseTokenizer  # noqa: E402
from harness.labels.posts import DEFAULT_CORPUS  # noqa: E402
from harness.scorer import train  # noqa: E402
from harness.scorer.data import training_set  # noqa: E402

LABELS = [ROOT / "labels" / "open2ch-dev.csv", ROOT / "tests" / "data" / "dev_labels.csv",
          ROOT / "labels" / "ood-written.csv"]  # fmt: skip  (the Makefile's CLASSIFIER_LABELS)
SHIPPED = train.Candidate(1, 3, 10.0, False, True)
_SKIPPED_POS = ("補助記号", "空白")


def load_vectors(folder: Path):
    """The spaCy vocabulary of ``folder`` (a ``vocab`` directory): strings and the vector table."""
    try:
        from spacy.vocab import Vocab
    except ImportError:
        raise SystemExit("word_vectors_cv: needs spaCy to read the vector table: pip install spacy") from None
    if not (folder / "vectors").is_file():
        raise SystemExit(f"word_vectors_cv: {folder}: no 'vectors' file (give ja_ginza's vocab folder)")
    return Vocab().from_disk(folder)


def _kana_forms(word: str) -> tuple[str, str]:
    hira = "".join(chr(ord(c) - 0x60) if "ァ" <= c <= "ヶ" else c for c in word)
    kata = "".join(chr(ord(c) + 0x60) if "ぁ" <= c <= "ゖ" else c for c in word)
    return hira, kata


def text_features(texts: list[str], vocab) -> np.ndarray:
    """Mean and max of the unit vectors of each text's tokens (zeros where no token has a vector); and the
    share of tokens found, printed."""
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
            for key in (tok.surface, tok.orth_base, tok.lemma, *_kana_forms(tok.surface)):
                row = vocab.vectors.find(key=vocab.strings[key]) if key in vocab.strings else -1
                if row >= 0:
                    rows.append(row)
                    break
        found += len(rows)
        if rows:
            out[i] = np.concatenate([unit[rows].mean(axis=0), unit[rows].max(axis=0)])
    print(f"tokens with a vector: {found / max(seen, 1):.3f} of {seen:,}")
    return out


def fit_predict(examples, train_rows, test_rows, dense: np.ndarray, scale: float) -> np.ndarray:
    """Calibrated probabilities of ``test_rows``: TF-IDF (plus the scaled vector block when ``scale``) →
    balanced logistic regression → Platt sigmoid."""
    from scipy import sparse
    from sklearn.preprocessing import StandardScaler

    tfidf, logreg, calibrated, kfold = train.sklearn_parts()
    texts = [e.text for e in examples]
    vectorizer = tfidf(analyzer=partial(char_ngrams, low=SHIPPED.low, high=SHIPPED.high), min_df=2,
                       sublinear_tf=True)  # fmt: skip
    x_train = vectorizer.fit_transform([texts[i] for i in train_rows])
    x_test = vectorizer.transform([texts[i] for i in test_rows])
    if scale:
        scaler = StandardScaler().fit(dense[train_rows])
        factor = scale / math.sqrt(dense.shape[1])
        x_train = sparse.hstack([x_train, sparse.csr_matrix(scaler.transform(dense[train_rows]) * factor)]).tocsr()
        x_test = sparse.hstack([x_test, sparse.csr_matrix(scaler.transform(dense[test_rows]) * factor)]).tocsr()
    y = np.array([e.label for e in examples])
    model = calibrated(logreg(C=SHIPPED.C, max_iter=2000), method="sigmoid", ensemble=False,
                       cv=kfold(train.FOLDS, shuffle=True, random_state=train.SEED))  # fmt: skip
    model.fit(x_train, y[train_rows], sample_weight=train.domain_balance([examples[i] for i in train_rows]))
    return model.predict_proba(x_test)[:, 1]


def report(name: str, examples, prob: np.ndarray, lexicon: np.ndarray) -> None:
    """The objective, threshold and each kind of text's P/R/F1 of ``lexicon OR prob ≥ t``."""
    objective, threshold = train.best_threshold(examples, prob, lexicon)
    kinds = train.by_domain(examples, lexicon | (prob >= threshold))
    parts = "  ".join(f"{d}: P {m['precision']:.3f} R {m['recall']:.3f} F1 {m['f1']:.3f}" for d, m in kinds.items())
    print(f"{name:24s} objective {objective:.4f}  t {threshold:.2f}  {parts}", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vocab", type=Path, required=True, help="ja_ginza's vocab folder (vectors, strings.json)")
    parser.add_argument("--scales", default="0,0.5,1,3", help="comma-separated block norms (0: no vectors)")
    args = parser.parse_args()
    if not DEFAULT_CORPUS.is_file():
        print(f"skipped: {DEFAULT_CORPUS} missing")
        return 0
    from threadpoolctl import threadpool_limits

    vocab = load_vectors(args.vocab)
    examples, _ = training_set(LABELS, DEFAULT_CORPUS)
    print(f"training split: {len(examples)} texts, {sum(e.label for e in examples)} toxic; "
          f"vectors {vocab.vectors.shape[0]:,} rows × {vocab.vectors.shape[1]}, {vocab.vectors.n_keys:,} words")
    dense = text_features([e.text for e in examples], vocab)
    folds = train.fold_ids(examples)
    with threadpool_limits(1):
        lexicon = train.lexicon_flags(examples)
        report("shipped (reference)", examples, train.cross_validated(examples, SHIPPED), lexicon)
        for scale in (float(s) for s in args.scales.split(",")):
            prob = np.zeros(len(examples))
            for k in sorted(set(folds)):
                rows, held = np.where(folds != k)[0], np.where(folds == k)[0]
                prob[held] = fit_predict(examples, rows, held, dense, scale)
            report(f"vectors, block norm {scale:g}", examples, prob, lexicon)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
