"""Would more forum labels help the learned detector?  Dev only: a learning curve by the scorer's own folds.

The shipped classifier (``harness scorer train``: character 1–3-grams, C 10, the kinds of text weighing the
same) is refitted in each outer fold of ``train.fold_ids`` on all of that fold's written rows and a share of
its forum rows (the same random share of every fold, nested: a post kept at 25% is kept at 50%), then scored
on the whole held-out fold.  For each share it prints, on the forum's rows (stratum-weighted):

* the classifier's average precision: does it learn forum text from more forum labels?
* the best F1 of lexicon OR classifier over ``train.THRESHOLDS`` (optimistic: the threshold is picked on
  the same rows) beside the lexicon's own F1: does what it learns add to the lexicon?

and the written rows' F1 of lexicon OR classifier at the shipped threshold (``--threshold``).  If the first
rises and the second stays at the lexicon's, more labels of the same kind would not move ``flagged`` on
forum text.  The blind split is not read (``training_set`` keeps only the training split).

``--at-prevalence F,W`` also sweeps the threshold of the last share's model and prints each kind of text's
F1 at a prevalence of F (forum) and W (written) instead of its sample's: from each kind's weighted Se and
Sp (``harness.analysis.prevalence.precision_at``).  benchmarks/hidden_set_transfer.py gives the prevalences
the issue's filed figures imply (0.145 for forum-like texts, 0.56 for written ones).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/forum_label_curve.py                   # shares 0.25 0.5 0.75 1
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/forum_label_curve.py --shares 0.5,1
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/forum_label_curve.py --shares 1 --at-prevalence 0.145,0.56
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from harness.analysis.prevalence import precision_at  # noqa: E402
from harness.labels.posts import DEFAULT_CORPUS  # noqa: E402
from harness.scorer import train  # noqa: E402
from harness.scorer.data import training_set  # noqa: E402

LABELS = [ROOT / "labels" / "open2ch-dev.csv", ROOT / "tests" / "data" / "dev_labels.csv",
          ROOT / "labels" / "ood-written.csv"]  # fmt: skip  (the Makefile's CLASSIFIER_LABELS)
SHIPPED = train.Candidate(1, 3, 10.0, False, True)
SEED = 5  # the draw of which forum rows a share keeps
SWEEP = (0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.54, 0.6, 0.7, 0.8)


def kept_rows(folds: np.ndarray, forum: np.ndarray, draw: np.ndarray, share: float, k: int) -> np.ndarray:
    """Fold ``k``'s training rows at ``share``: every written row outside the fold, and the forum rows
    outside it whose ``draw`` is below ``share`` (so a smaller share's rows are a subset of a larger's)."""
    return np.where((folds != k) & (~forum | (draw < share)))[0]


def curve_point(examples, folds, forum, draw, share: float) -> np.ndarray:
    """Out-of-fold probabilities of every row, each fold's model fitted on ``kept_rows`` at ``share``."""
    out = np.zeros(len(examples))
    for k in sorted(set(folds)):
        rows, test = kept_rows(folds, forum, draw, share, k), np.where(folds == k)[0]
        vectorizer, model = train.fit([examples[i] for i in rows], SHIPPED, train.SEED)
        out[test] = model.predict_proba(vectorizer.transform([examples[i].text for i in test]))[:, 1]
    return out


def line(share: float, y, w, forum, lexicon, prob, threshold: float) -> str:
    """The figures of one share (see the module docstring)."""
    f, o = forum, ~forum
    ap = train.average_precision(y[f], prob[f], w[f])
    best = max((train.weighted_prf(y[f], (lexicon | (prob >= t))[f], w[f])["f1"], t) for t in train.THRESHOLDS)
    written = train.weighted_prf(y[o], (lexicon | (prob >= threshold))[o], w[o])["f1"]
    return (f"forum share {share:.2f} of {int(f.sum())} rows: classifier AP {ap:.3f}; "
            f"lexicon OR classifier best F1 {best[0]:.3f} (threshold {best[1]:.2f}); written F1 {written:.3f}")


def se_sp(y: np.ndarray, flagged: np.ndarray, w: np.ndarray) -> tuple[float, float]:
    """Weighted sensitivity and specificity."""
    toxic = y == 1
    return (float((w * (toxic & flagged)).sum() / (w * toxic).sum()),
            float((w * (~toxic & ~flagged)).sum() / (w * ~toxic).sum()))


def f1_at(prevalence: float, se: float, sp: float) -> tuple[float, float]:
    """(precision, F1) of a detector with ``se`` and ``sp`` on a population of ``prevalence``."""
    precision = float(precision_at(prevalence, se, sp))
    return precision, 2 * precision * se / (precision + se)


def sweep_lines(y, w, forum, lexicon, prob, prevalences: tuple[float, float]) -> list[str]:
    """Per threshold of ``SWEEP``: each kind's P and F1 at its given prevalence (lexicon OR classifier)."""
    out = []
    for t in SWEEP:
        flagged = lexicon | (prob >= t)
        cells = []
        for name, rows, prevalence in (("forum", forum, prevalences[0]), ("written", ~forum, prevalences[1])):
            se, sp = se_sp(y[rows], flagged[rows], w[rows])
            precision, f1 = f1_at(prevalence, se, sp)
            cells.append(f"{name} at {prevalence:g}: Se {se:.3f} Sp {sp:.3f} P {precision:.3f} F1 {f1:.3f}")
        out.append(f"threshold {t:.2f}  " + "   ".join(cells))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shares", default="0.25,0.5,0.75,1", help="comma-separated shares of the forum rows")
    parser.add_argument("--threshold", type=float, default=0.54, help="the written rows' threshold (shipped 0.54)")
    parser.add_argument("--at-prevalence", metavar="F,W", help="sweep thresholds: F1 at these prevalences")
    args = parser.parse_args()
    prevalences = None
    if args.at_prevalence:
        try:
            prevalences = tuple(float(x) for x in args.at_prevalence.split(","))
        except ValueError:
            prevalences = ()
        if len(prevalences) != 2 or not all(0 < x < 1 for x in prevalences):
            parser.error(f"--at-prevalence: two prevalences in (0, 1), forum then written, got {args.at_prevalence!r}")
    try:
        shares = [float(x) for x in args.shares.split(",")]
    except ValueError:
        parser.error(f"--shares: comma-separated numbers in (0, 1], got {args.shares!r}")
    if not all(0 < s <= 1 for s in shares):
        parser.error(f"--shares: each share must be in (0, 1], got {args.shares!r}")
    if not DEFAULT_CORPUS.is_file():
        print(f"skipped: shared data missing ({DEFAULT_CORPUS})")
        return 0
    from threadpoolctl import threadpool_limits

    examples, _ = training_set(LABELS, DEFAULT_CORPUS)
    y, w = np.array([e.label for e in examples]), np.array([e.weight for e in examples])
    forum = np.array([e.domain == DEFAULT_CORPUS.name for e in examples])
    draw = np.random.default_rng(SEED).random(len(examples))
    with threadpool_limits(1):
        lexicon = train.lexicon_flags(examples)
        folds = train.fold_ids(examples, train.SEED)
        print(f"lexicon alone: forum F1 {train.weighted_prf(y[forum], lexicon[forum], w[forum])['f1']:.3f}", flush=True)
        for share in shares:
            prob = curve_point(examples, folds, forum, draw, share)
            print(line(share, y, w, forum, lexicon, prob, args.threshold), flush=True)
        if prevalences:
            print("\n".join(sweep_lines(y, w, forum, lexicon, prob, prevalences)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
