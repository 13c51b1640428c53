"""``harness scorer train``: choose, fit and write the learned detector (scikit-learn, then no pickle).

Model: ``TfidfVectorizer`` over ``char_ngrams`` (sublinear tf, l2) →
``LogisticRegression`` → Platt sigmoid fitted on cross-validated decision
values of the training split (``CalibratedClassifierCV(ensemble=False)``: one
regression on all training rows, the sigmoid on out-of-fold scores).

Everything is chosen on the training split only (split ``dev`` of the label
files, see ``harness.scorer.data``):

* the candidate (n-gram range, C, whether the fit is weighted) with the best
  cross-validated weighted average precision (``CANDIDATES``);
* the threshold of ``clf_flagged``: the one of ``THRESHOLDS`` with the best
  cross-validated weighted F1 of the combined ``flagged`` (the project
  lexicon's flag OR ``clf_flagged``, the rule of
  ``harness.analysis.classifier``), since that is what a run reads; a
  threshold tuned for the classifier alone (0.2 on the first labels) adds too
  many false alarms on top of the lexicon's.  The lexicon's sha256 is
  recorded.

Weights: each row's ``weight`` is the inverse of its stratum's selection
probability, so weighted metrics estimate the corpus as a whole (the
labelled set over-samples likely positives); the calibration sigmoid is
always fitted with them, so ``clf_toxicity`` estimates P(toxic) on the
corpus's population.

Deterministic: folds are seeded, BLAS runs on one thread, floats are written
with ``repr`` and the npz zip with fixed timestamps, so the same inputs give
a byte-identical folder.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from functools import partial
from pathlib import Path
from typing import Any, NamedTuple, Sequence

import numpy as np

from harness.analysis.classifier import FORMAT, FORMAT_VERSION, char_ngrams
from harness.config import classifier_files
from harness.errors import InputError, MissingDependency
from harness.io import atomic_write_text
from harness.labels.labelfile import guideline_version
from harness.record.provenance import sha256_file
from harness.resources import default_lexicon
from harness.scorer.data import Example, texts_sha256, training_set

FOLDS = 5
SEED = 0
THRESHOLDS = [round(t, 2) for t in np.arange(0.05, 0.96, 0.01)]
CALIBRATION_BINS = 10


class Candidate(NamedTuple):
    """One model setting tried by cross-validation."""

    low: int
    high: int
    C: float
    weighted: bool  # fit the regression with the rows' weights


CANDIDATES = [
    Candidate(1, 2, 10.0, False),
    Candidate(1, 3, 10.0, False),
    Candidate(1, 3, 10.0, True),
    Candidate(2, 4, 10.0, False),
]


def sklearn_parts():
    """The scikit-learn pieces (one clear line when the ``scorer`` extra is not installed)."""
    try:
        from sklearn.calibration import CalibratedClassifierCV
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression
        from sklearn.model_selection import StratifiedKFold
    except ImportError:
        raise MissingDependency("scikit-learn", "harness scorer train") from None
    return TfidfVectorizer, LogisticRegression, CalibratedClassifierCV, StratifiedKFold


def fit(examples: Sequence[Example], cand: Candidate, seed: int = SEED):
    """The fitted (vectorizer, calibrated classifier) of ``cand`` on ``examples``."""
    tfidf, logreg, calibrated, kfold = sklearn_parts()
    vectorizer = tfidf(analyzer=partial(char_ngrams, low=cand.low, high=cand.high), min_df=2, sublinear_tf=True)
    x = vectorizer.fit_transform([e.text for e in examples])
    y = np.array([e.label for e in examples])
    w = np.array([e.weight for e in examples])
    model = calibrated(
        logreg(C=cand.C, max_iter=2000),
        method="sigmoid",
        cv=kfold(FOLDS, shuffle=True, random_state=seed),
        ensemble=False,
    )
    if cand.weighted:
        model.fit(x, y, sample_weight=w)
    else:  # the regression unweighted, the sigmoid weighted: P(toxic) on the population
        model.fit(x, y)
        inner = model.calibrated_classifiers_[0]
        decision = _oof_decision(x, y, cand, seed)
        inner.calibrators[0].fit(decision, y, sample_weight=w)
    return vectorizer, model


def _oof_decision(x, y, cand: Candidate, seed: int) -> np.ndarray:
    """Out-of-fold decision values of an unweighted regression (the sigmoid's training data)."""
    _, logreg, _, kfold = sklearn_parts()
    out = np.zeros(len(y))
    for train, test in kfold(FOLDS, shuffle=True, random_state=seed).split(x, y):
        out[test] = logreg(C=cand.C, max_iter=2000).fit(x[train], y[train]).decision_function(x[test])
    return out


def cross_validated(examples: Sequence[Example], cand: Candidate, seed: int = SEED) -> np.ndarray:
    """Out-of-fold calibrated probabilities of ``examples`` (outer folds seeded apart from the inner ones)."""
    *_, kfold = sklearn_parts()
    y = np.array([e.label for e in examples])
    out = np.zeros(len(examples))
    for train, test in kfold(FOLDS, shuffle=True, random_state=seed + 1).split(np.zeros(len(y)), y):
        vectorizer, model = fit([examples[i] for i in train], cand, seed)
        out[test] = model.predict_proba(vectorizer.transform([examples[i].text for i in test]))[:, 1]
    return out


def weighted_prf(y: np.ndarray, pred: np.ndarray, w: np.ndarray) -> dict[str, float]:
    """Weighted precision, recall, F1 and false-alarm rate (weights: population estimates)."""
    tp, fp = float(w[(y == 1) & pred].sum()), float(w[(y == 0) & pred].sum())
    fn, tn = float(w[(y == 1) & ~pred].sum()), float(w[(y == 0) & ~pred].sum())
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    return {"precision": p, "recall": r, "f1": 2 * p * r / (p + r) if p + r else 0.0,
            "false_alarm_rate": fp / (fp + tn) if fp + tn else 0.0}


def average_precision(y: np.ndarray, prob: np.ndarray, w: np.ndarray) -> float:
    """Weighted average precision (area under the precision–recall steps)."""
    from sklearn.metrics import average_precision_score

    return float(average_precision_score(y, prob, sample_weight=w))


def best_threshold(y: np.ndarray, prob: np.ndarray, w: np.ndarray, lexicon: np.ndarray) -> float:
    """The threshold of ``THRESHOLDS`` with the best weighted F1 of ``lexicon OR prob ≥ t`` (lowest among ties)."""
    return max(THRESHOLDS, key=lambda t: (round(weighted_prf(y, lexicon | (prob >= t), w)["f1"], 12), -t))


def lexicon_flags(examples: Sequence[Example]) -> np.ndarray:
    """The project lexicon's ``flagged`` of each training text (the default analysis, lexicon only)."""
    from harness.analysis.flagged import FlaggedAnalyser
    from harness.analysis.tokenize import JapaneseTokenizer
    from harness.config import AnalysisConfig

    tokenizer = JapaneseTokenizer()
    flagged = FlaggedAnalyser(AnalysisConfig(), tokenizer)
    return np.array([bool(flagged.score(e.text, tokenizer.tokenize(e.text)).values["flagged"]) for e in examples])


def calibration_curve(y: np.ndarray, prob: np.ndarray, w: np.ndarray) -> list[dict[str, float]]:
    """Per probability decile: rows, weighted mean predicted probability and weighted observed rate."""
    bins = np.minimum((prob * CALIBRATION_BINS).astype(int), CALIBRATION_BINS - 1)
    out = []
    for b in range(CALIBRATION_BINS):
        mask = bins == b
        if mask.any():
            ws = w[mask].sum()
            out.append({"bin": [b / CALIBRATION_BINS, (b + 1) / CALIBRATION_BINS], "n": int(mask.sum()),
                        "predicted": float((prob[mask] * w[mask]).sum() / ws),
                        "observed": float((y[mask] * w[mask]).sum() / ws)})
    return out


def evaluate(examples: Sequence[Example], prob: np.ndarray, threshold: float, lexicon: np.ndarray) -> dict:
    """Cross-validated metrics at ``threshold``, weighted (population) and unweighted: the classifier
    alone, the lexicon alone and the combination."""
    y = np.array([e.label for e in examples])
    w = np.array([e.weight for e in examples])
    pred = prob >= threshold
    out: dict[str, Any] = {"threshold": threshold, "brier_weighted": float(((prob - y) ** 2 * w).sum() / w.sum())}
    for name, weights in (("weighted", w), ("unweighted", np.ones(len(y)))):
        out[name] = {
            "classifier": {**weighted_prf(y, pred, weights), "average_precision": average_precision(y, prob, weights)},
            "lexicon": weighted_prf(y, lexicon, weights),
            "combined": weighted_prf(y, lexicon | pred, weights),
        }
    return out


def train(label_files: Sequence[Path], corpus: Path, out: Path, seed: int = SEED,
          candidates: Sequence[Candidate] = CANDIDATES, guideline: Path | None = None) -> dict[str, Any]:
    """Choose by cross-validation, fit on the whole training split, write the model folder ``out``.

    Returns model.json's content without the vocabulary.
    """
    from threadpoolctl import threadpool_limits

    examples, dropped = training_set(label_files, corpus)
    if len({e.label for e in examples}) < 2 or len(examples) < 2 * FOLDS:
        raise InputError(f"the training split needs both classes and ≥ {2 * FOLDS} posts", label_files[0])
    y = np.array([e.label for e in examples])
    w = np.array([e.weight for e in examples])
    with threadpool_limits(1):  # one BLAS thread: the same sums in the same order, every time
        tried = []
        for cand in candidates:
            prob = cross_validated(examples, cand, seed)
            tried.append((average_precision(y, prob, w), cand, prob))
        score, chosen, prob = max(tried, key=lambda t: t[0])  # first best wins ties
        lexicon = lexicon_flags(examples)
        threshold = best_threshold(y, prob, w, lexicon)
        vectorizer, model = fit(examples, chosen, seed)
    meta = model_record(examples, dropped, label_files, corpus, chosen, vectorizer, model, threshold, guideline)
    meta["selection"] = [{"candidate": c._asdict(), "cv_weighted_average_precision": s} for s, c, _ in tried]
    meta["metrics"] = evaluate(examples, prob, threshold, lexicon)
    meta["calibration_curve"] = calibration_curve(y, prob, w)
    write_folder(out, meta, vectorizer.idf_, model.calibrated_classifiers_[0].estimator.coef_[0])
    return {k: v for k, v in meta.items() if k != "vocabulary"}


def model_record(examples, dropped, label_files, corpus, cand, vectorizer, model, threshold, guideline) -> dict:
    """model.json: format, features, weights' companions and the training record."""
    import sklearn

    inner = model.calibrated_classifiers_[0]
    vocabulary = sorted(vectorizer.vocabulary_, key=vectorizer.vocabulary_.get)
    keys = hashlib.sha256("".join(f"{e.source}:{e.key.line},{e.key.post}\n" for e in examples).encode()).hexdigest()
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "ngram_range": [cand.low, cand.high],
        "candidate": cand._asdict(),
        "intercept": float(inner.estimator.intercept_[0]),
        "calibration": {"method": "sigmoid", "a": float(inner.calibrators[0].a_), "b": float(inner.calibrators[0].b_)},
        "threshold": threshold,
        "training": {
            "label_files": [{"path": Path(p).name, "sha256": sha256_file(p)} for p in label_files],
            "corpus": {"path": Path(corpus).name, "sha256": sha256_file(corpus)},
            "texts_sha256": texts_sha256(examples),
            "keys_sha256": keys,
            "split": "dev (the blind test split never trains)",
            "posts": len(examples),
            "toxic": int(sum(e.label for e in examples)),
            "dropped_as_blind": dropped,
            "guideline": guideline_version(guideline) if guideline else guideline_version(),
            "seed": SEED,
            "folds": FOLDS,
            "threshold_lexicon": {"path": default_lexicon().name, "sha256": sha256_file(default_lexicon())},
        },
        "versions": {"scikit-learn": sklearn.__version__, "numpy": np.__version__},
        "vocabulary": vocabulary,
    }


def write_folder(out: Path, meta: dict, idf: np.ndarray, coef: np.ndarray) -> None:
    """model.json and weights.npz, byte-for-byte reproducible (sorted keys, fixed zip timestamps)."""
    out.mkdir(parents=True, exist_ok=True)
    meta_path, weights_path = classifier_files(out)
    atomic_write_text(meta_path, json.dumps(meta, ensure_ascii=False, indent=1, sort_keys=True) + "\n")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as npz:
        for name, array in (("idf", idf), ("coef", coef)):
            data = io.BytesIO()
            np.lib.format.write_array(data, np.ascontiguousarray(array, dtype=np.float64), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            npz.writestr(info, data.getvalue())
    tmp = weights_path.with_suffix(".npz.tmp")
    tmp.write_bytes(buffer.getvalue())
    tmp.replace(weights_path)
