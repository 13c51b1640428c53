"""Detector variants compared by nested cross-validation on the DEV split only (the blind split is never read).

Every variant's final ``flagged`` is predicted out of fold: 5 outer folds;
inside each outer training part the variant's threshold is chosen by an
inner 5-fold cross-validation (best weighted F1), then the model is fitted
on the whole outer training part and applied to the held-out fold.  The
figures are stratum-weighted P, R, F1 and false-alarm rate of the pooled
out-of-fold flags (the rows' ``weight``, as ``benchmarks/flagging_quality.py``
weighs the blind split), averaged over ``--seeds`` fold seeds; ``tp by
weight`` counts the true positives per stratum weight (1 = the 400 older
labels, 1.84 cue, 2.21 lexicon, 22.37 rest).  Training rows: the ``dev``
split of ``labels/open2ch-dev.csv`` and ``tests/data/dev_labels.csv``
(``harness.scorer.data.training_set``, blind texts kept out).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/detector_cv.py [--variants a,b] [--seeds 3]

Variants (``VARIANTS``):

* ``lexicon``: the lexicon engine's ``flagged``; ``veto-*``: it, minus the flags whose only
  harmful category is profanity / insult / harassment with no target frame (second person or
  imperative) — no learning;
* ``or-char``: lexicon OR the char n-gram (1–2) classifier ≥ t (the shipped combination);
* ``char``, ``lemma``: char n-grams (1–2) / MeCab lemma unigrams+bigrams alone, ≥ t;
* ``lex``: a logistic regression over the lexicon's evidence (``evidence``: category hits, target
  frame and their interactions, how matches were made, tone cues, length); ``lex+lemma``,
  ``lex+char``, ``lex+lemma+char``: with those TF-IDF blocks beside it;
* ``stack``: a learned combiner: LR over the lexicon evidence and the char (or lemma) model's
  out-of-fold probability;
* suffix ``-w``: fitted with the stratum weights; ``-c01``: C = 0.1.
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
from harness.labels.posts import DEFAULT_CORPUS  # noqa: E402
from harness.scorer.data import training_set  # noqa: E402
from harness.scorer.train import weighted_prf  # noqa: E402

LABELS = [ROOT / "labels" / "open2ch-dev.csv", ROOT / "tests" / "data" / "dev_labels.csv"]
FOLDS, SEED = 5, 0
THRESHOLDS = np.round(np.arange(0.05, 0.96, 0.01), 2)
HARMFUL = ("insult", "profanity", "sexual", "self_harm", "threat", "harassment", "discrimination", "group_contempt")
EVIDENCE = [f"cat:{c}" for c in HARMFUL] + [f"cat:{c}&target" for c in HARMFUL] + [
    "target", "via:context", "via:variant", "via:group", "profanity_only", "short", "short&flagged",
    "laughter", "question", "polite", "log_terms", "toxicity",
]  # fmt: skip


def evidence(values: dict, details: dict) -> list[float]:
    """The lexicon's evidence about one text, from the default analysis's values and details (``EVIDENCE``)."""
    cats = [int(values.get(f"cat_{c}", 0)) for c in HARMFUL]
    target = int(bool(values.get("rough_second_person")) or bool(values.get("imperative")))
    via = set(str(details.get("detectors", "")).split(";"))
    short = int(values.get("characters", 99) <= 6)
    terms = [t for t in str(details.get("flagged_terms", "")).split("|") if t]
    return [*cats, *(c * target for c in cats), target, int("context" in via), int("variant" in via),
            int("group" in via), int(cats[1] == 1 and sum(cats) == 1), short, short * int(values["flagged"]),
            int(values.get("laughter", 0)), int(values.get("question", 0)), int(values.get("polite", 0)),
            math.log1p(len(terms)), float(values.get("toxicity", 0.0))]


def analyse(texts: list[str]) -> tuple[np.ndarray, np.ndarray, list[list[str]]]:
    """Lexicon flags, evidence matrix and lemma uni+bigrams of each text (the default analysis)."""
    from harness.analysis.suite import AnalysisSuite
    from harness.config import AnalysisConfig

    suite = AnalysisSuite(AnalysisConfig(detectors=["lexicon"]))
    flags, dense, grams = [], [], []
    for text in texts:
        s = suite.score_text(text)
        lemmas = [t.lemma for t in s.tokens if t.surface.strip()]
        flags.append(bool(s.values["flagged"]))
        dense.append(evidence(s.values, s.details))
        grams.append([*lemmas, *(f"{a} {b}" for a, b in zip(lemmas, lemmas[1:]))])
    return np.array(flags), np.array(dense), grams


def folds(y: np.ndarray, seed: int) -> list:
    from sklearn.model_selection import StratifiedKFold

    return list(StratifiedKFold(FOLDS, shuffle=True, random_state=seed).split(np.zeros(len(y)), y))


def oof(fit_predict, idx: np.ndarray, y: np.ndarray, seed: int) -> np.ndarray:
    """Out-of-fold probabilities of rows ``idx`` (folds over those rows only)."""
    out = np.zeros(len(idx))
    for tr, te in folds(y[idx], seed):
        out[te] = fit_predict(idx[tr], idx[te])
    return out


def best_threshold(y, prob, w, base) -> float:
    """The threshold with the best weighted F1 of ``prob ≥ t`` (OR ``base`` when given); lowest among ties."""
    def f1(t):
        pred = prob >= t
        return weighted_prf(y, pred if base is None else pred | base, w)["f1"]
    return float(max(THRESHOLDS, key=lambda t: (round(f1(t), 12), -t)))


def nested(fit_predict, y, w, base=None, seed=SEED) -> tuple[np.ndarray, list[float]]:
    """Out-of-fold flags, each outer fold's threshold chosen by inner CV on its training part."""
    pred, chosen = np.zeros(len(y), bool), []
    for tr, te in folds(y, seed + 1):
        t = best_threshold(y[tr], oof(fit_predict, tr, y, seed), w[tr], None if base is None else base[tr])
        pred[te] = fit_predict(tr, te) >= t
        if base is not None:
            pred[te] |= base[te]
        chosen.append(t)
    return pred, chosen


def learners(texts, dense, grams, y, w) -> dict:
    """Variant name → ``fit_predict(train_rows, test_rows)`` returning test probabilities."""
    from scipy import sparse
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    def block(kind, tr, te):
        if kind == "dense":  # scaled down beside the TF-IDF blocks, whose rows have norm 1
            scaler = StandardScaler().fit(dense[tr])
            return [sparse.csr_matrix(scaler.transform(dense[r]) * 0.3) for r in (tr, te)]
        if kind == "lemma":
            vec, data = TfidfVectorizer(analyzer=lambda x: x, min_df=2, sublinear_tf=True), grams
        else:
            high = 2 if kind == "char" else 3  # "char13": 1–3
            vec = TfidfVectorizer(analyzer=partial(char_ngrams, low=1, high=high), min_df=2, sublinear_tf=True)
            data = texts
        return [vec.fit_transform([data[i] for i in tr]), vec.transform([data[i] for i in te])]

    def linear(kinds, C=10.0, weighted=False):
        def fit_predict(tr, te):
            parts = [block(k, tr, te) for k in kinds]
            xtr, xte = (sparse.hstack([p[j] for p in parts]).tocsr() for j in (0, 1))
            model = LogisticRegression(C=C, max_iter=3000).fit(xtr, y[tr], sample_weight=w[tr] if weighted else None)
            return model.predict_proba(xte)[:, 1]
        return fit_predict

    def stack(base, C=1.0, weighted=False):
        def fit_predict(tr, te):
            inner = oof(base, tr, y, SEED + 7)
            scaler = StandardScaler().fit(dense[tr])
            xtr = np.column_stack([scaler.transform(dense[tr]), 4 * inner])
            xte = np.column_stack([scaler.transform(dense[te]), 4 * base(tr, te)])
            model = LogisticRegression(C=C, max_iter=3000).fit(xtr, y[tr], sample_weight=w[tr] if weighted else None)
            return model.predict_proba(xte)[:, 1]
        return fit_predict

    char, lemma = linear(["char"]), linear(["lemma"])

    def lex(weighted):
        def fit_predict(tr, te):
            scaler = StandardScaler().fit(dense[tr])
            model = LogisticRegression(C=1.0, max_iter=3000)
            model.fit(scaler.transform(dense[tr]), y[tr], sample_weight=w[tr] if weighted else None)
            return model.predict_proba(scaler.transform(dense[te]))[:, 1]
        return fit_predict

    return {
        "or-char": char, "char": char, "char-w": linear(["char"], weighted=True), "lemma": lemma,
        "lex": lex(False), "lex-w": lex(True),
        "lex+lemma": linear(["dense", "lemma"], C=3.0), "lex+lemma-w": linear(["dense", "lemma"], C=3.0, weighted=True),
        "lex+char": linear(["dense", "char13"], C=3.0),
        "lex+lemma+char": linear(["dense", "lemma", "char13"], C=3.0),
        "lex+lemma+char-w": linear(["dense", "lemma", "char13"], C=3.0, weighted=True),
        "stack": stack(char), "stack-w": stack(char, weighted=True), "stack-c01": stack(char, C=0.1),
        "stack-lemma": stack(lemma),
    }  # fmt: skip


def vetoes(flags, dense) -> dict[str, np.ndarray]:
    """The lexicon's flags minus the untargeted single-category ones (rules, no learning)."""
    col = {name: dense[:, i] > 0 for i, name in enumerate(EVIDENCE)}
    single = dense[:, : len(HARMFUL)].sum(axis=1) == 1
    out = {"lexicon": flags}
    for c in ("profanity", "insult", "harassment"):
        out[f"veto-{c}"] = flags & ~(col[f"cat:{c}"] & single & ~col["target"])
    return out


def line(name, preds, y, w, chosen=()) -> str:
    """One variant's mean figures over the seeds."""
    res = [weighted_prf(y, p, w) for p in preds]
    mean = {k: float(np.mean([r[k] for r in res])) for k in res[0]}
    strata = " ".join(
        f"{s:.3g}:{np.mean([(p & (y == 1) & (w == s)).sum() for p in preds]):.0f}/{((y == 1) & (w == s)).sum()}"
        for s in sorted(set(w))
    )
    fp = np.mean([(p & (y == 0)).sum() for p in preds])
    ts = f"  t {min(chosen):.2f}–{max(chosen):.2f}" if chosen else ""
    return (f"{name:17s} P {mean['precision']:.3f}  R {mean['recall']:.3f}  F1 {mean['f1']:.3f}  "
            f"FA {mean['false_alarm_rate']:.4f}   tp by weight {strata}  fp {fp:.0f}{ts}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", help="comma-separated names (default: all)")
    parser.add_argument("--seeds", type=int, default=3, help="fold seeds to average over")
    args = parser.parse_args()
    if not DEFAULT_CORPUS.is_file():
        print(f"skipped: {DEFAULT_CORPUS} missing")
        return 0
    from threadpoolctl import threadpool_limits

    examples, _ = training_set(LABELS, DEFAULT_CORPUS)
    y, w = np.array([e.label for e in examples]), np.array([e.weight for e in examples])
    texts = [e.text for e in examples]
    flags, dense, grams = analyse(texts)
    rules, models = vetoes(flags, dense), learners(texts, dense, grams, y, w)
    names = args.variants.split(",") if args.variants else [*rules, *models]
    print(f"dev split: {len(y)} posts, {int(y.sum())} toxic; stratum-weighted, nested {FOLDS}-fold CV, "
          f"{args.seeds} seed(s)")
    with threadpool_limits(1):
        for name in names:
            if name in rules:
                print(line(name, [rules[name]], y, w), flush=True)
                continue
            runs = [nested(models[name], y, w, flags if name == "or-char" else None, SEED + 10 * k)
                    for k in range(args.seeds)]
            print(line(name, [p for p, _ in runs], y, w, [t for _, ts in runs for t in ts]), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
