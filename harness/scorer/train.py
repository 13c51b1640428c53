"""``harness scorer train``: choose, fit and write the learned detector (scikit-learn, then no pickle).

Model: ``TfidfVectorizer`` over ``char_ngrams`` (sublinear tf, l2) →
``LogisticRegression`` → Platt sigmoid fitted on cross-validated decision
values of the training split (``CalibratedClassifierCV(ensemble=False)``: one
regression on all training rows, the sigmoid on out-of-fold scores).

Everything is chosen on the training split only (split ``dev`` of the label
files, see ``harness.scorer.data``), by one cross-validation (``fold_ids``:
rows with a group, the written set's batches, are held out a whole batch at
a time, so a fold is scored on phrasing its model never saw; the others by
label-stratified folds):

* the candidate (n-gram range, C, whether the fit is weighted or balanced over the kinds of text) and the
  threshold of ``clf_flagged``, together (``best_threshold``): the pair of
  ``CANDIDATES`` × ``THRESHOLDS`` whose combined ``flagged`` (the project
  lexicon's flag OR ``clf_flagged``, the rule of
  ``harness.analysis.classifier``: what a run reads) has the best mean
  weighted F1 over the kinds of text (``Example.domain``: the forum corpus,
  the written set; each counts once, whatever its size or weights), among
  those that keep each kind's precision at ``PRECISION_FLOOR`` (the team's
  bar) or at the lexicon's own where that is lower.  A threshold tuned on the
  forum's stratum weights alone let the classifier add little on other text;
  one tuned for the classifier alone (0.2 on the first labels) added too many
  false alarms on top of the lexicon's.  The lexicon's sha256 is recorded.

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
# The team's bar for flagged (issue 16: precision ≥ 0.60): the classifier may not take any kind of text's
# cross-validated precision below it (nor below the lexicon's own where that is lower).
PRECISION_FLOOR = 0.60


class Candidate(NamedTuple):
    """One model setting tried by cross-validation."""

    low: int
    high: int
    C: float
    weighted: bool  # fit the regression with the rows' weights
    balanced: bool = False  # fit the regression so that each kind of text (``Example.domain``) weighs the same


CANDIDATES = [
    Candidate(1, 2, 10.0, False),
    Candidate(1, 3, 10.0, False),
    Candidate(1, 3, 30.0, False),
    Candidate(2, 4, 10.0, False),
    Candidate(1, 3, 10.0, False, True),
    Candidate(1, 3, 30.0, False, True),
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
    else:  # the regression unweighted (or balanced), the sigmoid weighted: P(toxic) on the population
        balance = domain_balance(examples) if cand.balanced else None
        model.fit(x, y, sample_weight=balance)
        inner = model.calibrated_classifiers_[0]
        decision = _oof_decision(x, y, cand, seed, balance)
        inner.calibrators[0].fit(decision, y, sample_weight=w)
    return vectorizer, model


def domain_balance(examples: Sequence[Example]) -> np.ndarray:
    """Fit weights under which every kind of text has the same total (the mean weight is 1): the forum's
    labels outnumber the written set's, and an unbalanced fit learns mostly the forum's register."""
    domain = [e.domain for e in examples]
    sizes = {d: domain.count(d) for d in set(domain)}
    return np.array([len(domain) / (len(sizes) * sizes[d]) for d in domain])


def _oof_decision(x, y, cand: Candidate, seed: int, balance: np.ndarray | None = None) -> np.ndarray:
    """Out-of-fold decision values of an unweighted (or domain-balanced) regression: the sigmoid's training data."""
    _, logreg, _, kfold = sklearn_parts()
    out = np.zeros(len(y))
    for train, test in kfold(FOLDS, shuffle=True, random_state=seed).split(x, y):
        part = None if balance is None else balance[train]
        model = logreg(C=cand.C, max_iter=2000).fit(x[train], y[train], sample_weight=part)
        out[test] = model.decision_function(x[test])
    return out


def fold_ids(examples: Sequence[Example], seed: int = SEED) -> np.ndarray:
    """The outer fold (0 … FOLDS-1) of each example: grouped rows by ``GroupKFold`` over their groups, the
    others by a label-stratified ``StratifiedKFold`` (seeded apart from the inner folds)."""
    from sklearn.model_selection import GroupKFold

    *_, kfold = sklearn_parts()
    out = np.zeros(len(examples), dtype=int)
    grouped = np.array([bool(e.group) for e in examples])
    for rows, splitter in ((np.where(~grouped)[0], "stratified"), (np.where(grouped)[0], "grouped")):
        if len(rows) == 0:
            continue
        y = np.array([examples[i].label for i in rows])
        if splitter == "grouped":
            groups = [examples[i].group for i in rows]
            parts = GroupKFold(min(FOLDS, len(set(groups)))).split(rows, y, groups)
        else:
            parts = kfold(FOLDS, shuffle=True, random_state=seed + 1).split(np.zeros(len(y)), y)
        for k, (_, test) in enumerate(parts):
            out[rows[test]] = k
    return out


def cross_validated(examples: Sequence[Example], cand: Candidate, seed: int = SEED) -> np.ndarray:
    """Out-of-fold calibrated probabilities of ``examples`` (the folds of ``fold_ids``)."""
    folds = fold_ids(examples, seed)
    out = np.zeros(len(examples))
    for k in sorted(set(folds)):
        train, test = np.where(folds != k)[0], np.where(folds == k)[0]
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


def by_domain(examples: Sequence[Example], pred: np.ndarray) -> dict[str, dict[str, float]]:
    """Weighted precision, recall, F1 and false-alarm rate of ``pred`` in each kind of text (``Example.domain``)."""
    y = np.array([e.label for e in examples])
    w = np.array([e.weight for e in examples])
    domain = np.array([e.domain for e in examples])
    return {d: weighted_prf(y[domain == d], pred[domain == d], w[domain == d]) for d in dict.fromkeys(domain)}


def best_threshold(examples: Sequence[Example], prob: np.ndarray, lexicon: np.ndarray) -> tuple[float, float]:
    """(objective, threshold): the threshold of ``THRESHOLDS`` whose ``lexicon OR prob ≥ t`` has the best mean
    F1 over the kinds of text (each kind once), among those that keep every kind's precision at
    ``PRECISION_FLOOR`` or at the lexicon's own where that is lower; lowest among ties.  Without any such
    threshold, the highest (the classifier adds least)."""
    floor = {d: min(PRECISION_FLOOR, m["precision"]) for d, m in by_domain(examples, lexicon).items()}
    best = (-1.0, -THRESHOLDS[-1])
    for t in THRESHOLDS:
        metrics = by_domain(examples, lexicon | (prob >= t))
        if all(m["precision"] >= floor[d] for d, m in metrics.items()):
            best = max(best, (round(float(np.mean([m["f1"] for m in metrics.values()])), 12), -t))
    return best[0], -best[1]


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
    alone, the lexicon alone and the combination; ``by_domain``: the weighted ones of each kind of text."""
    y = np.array([e.label for e in examples])
    w = np.array([e.weight for e in examples])
    pred = prob >= threshold

    def three(rows: np.ndarray, weights: np.ndarray) -> dict:
        return {
            "classifier": {**weighted_prf(y[rows], pred[rows], weights[rows]),
                           "average_precision": average_precision(y[rows], prob[rows], weights[rows])},
            "lexicon": weighted_prf(y[rows], lexicon[rows], weights[rows]),
            "combined": weighted_prf(y[rows], lexicon[rows] | pred[rows], weights[rows]),
        }

    every = np.ones(len(y), dtype=bool)
    out: dict[str, Any] = {"threshold": threshold, "brier_weighted": float(((prob - y) ** 2 * w).sum() / w.sum())}
    out["weighted"], out["unweighted"] = three(every, w), three(every, np.ones(len(y)))
    domain = np.array([e.domain for e in examples])
    out["by_domain"] = {d: three(domain == d, w) for d in dict.fromkeys(domain)}
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
        lexicon = lexicon_flags(examples)
        tried = []
        for cand in candidates:
            prob = cross_validated(examples, cand, seed)
            tried.append((*best_threshold(examples, prob, lexicon), cand, prob))
        _, threshold, chosen, prob = max(tried, key=lambda t: t[0])  # first best wins ties
        vectorizer, model = fit(examples, chosen, seed)
    meta = model_record(examples, dropped, label_files, corpus, chosen, vectorizer, model, threshold, guideline)
    meta["selection"] = [
        {"candidate": c._asdict(), "threshold": t, "cv_objective": s, "cv_weighted_average_precision":
         average_precision(y, p, w)} for s, t, c, p in tried
    ]
    meta["metrics"] = evaluate(examples, prob, threshold, lexicon)
    meta["calibration_curve"] = calibration_curve(y, prob, w)
    write_folder(out, meta, vectorizer.idf_, model.calibrated_classifiers_[0].estimator.coef_[0])
    return {k: v for k, v in meta.items() if k != "vocabulary"}


def model_record(examples, dropped, label_files, corpus, cand, vectorizer, model, threshold, guideline) -> dict:
    """model.json: format, features, weights' companions and the training record."""
    import sklearn

    inner = model.calibrated_classifiers_[0]
    vocabulary = sorted(vectorizer.vocabulary_, key=vectorizer.vocabulary_.get)
    keys = hashlib.sha256("".join(f"{e.source}:{e.ref}\n" for e in examples).encode()).hexdigest()
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
