"""Flagging quality: precision / recall / F1 on hand-labelled forum posts, false alarms on neutral text.

Labels: ``tests/data/dev_labels.csv`` (line, post, split, label) points into
``../shared/corpora/open2ch-ranking-dev/dev.tsv``; the third-party text is
read from there at run time, never stored here.  ``dev`` rows were used while
writing the lexicon; ``test`` rows are the held-out split (measure it once).
Neutral false alarms: every sentence of ``../shared/corpora/ud-japanese-gsd-dev``.

    .venv/bin/python benchmarks/flagging_quality.py [--split dev|test|all] [--show] [--word-list PATH:CATEGORY]

Prints one line per measure; ``--show`` lists misses and false alarms (dev only).
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from harness.analysis.suite import AnalysisSuite  # noqa: E402
from harness.config import AnalysisConfig, WordListConfig  # noqa: E402

SHARED = ROOT.parent / "shared"
POSTS = SHARED / "corpora" / "open2ch-ranking-dev" / "dev.tsv"
NEUTRAL = SHARED / "corpora" / "ud-japanese-gsd-dev" / "sentences.txt"
LABELS = ROOT / "tests" / "data" / "dev_labels.csv"


def read_labels(path: Path = LABELS, posts: Path = POSTS) -> list[tuple[str, str, int]]:
    """(split, text, label) for every labelled post; the text comes from the shared corpus."""
    lines = posts.read_text(encoding="utf-8").split("\n")
    rows = []
    with open(path, encoding="utf-8") as handle:
        for row in csv.DictReader(line for line in handle if not line.startswith("#")):
            cols = lines[int(row["line"]) - 1].split("\t")
            text = cols[int(row["post"])].replace(" __BR__ ", "\n")
            rows.append((row["split"], text, int(row["label"])))
    return rows


def scores(gold: list[int], pred: list[int]) -> tuple[float, float, float]:
    """Precision, recall and F1 of ``pred`` against ``gold`` (0 where undefined)."""
    tp = sum(1 for g, p in zip(gold, pred) if g and p)
    fp = sum(1 for g, p in zip(gold, pred) if not g and p)
    fn = sum(1 for g, p in zip(gold, pred) if g and not p)
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def f1_interval(gold: list[int], pred: list[int], n_boot: int = 2000, seed: int = 0) -> str:
    """Percentile bootstrap interval of F1, resampling posts."""
    import numpy as np

    rng = np.random.default_rng(seed)
    g, p = np.asarray(gold), np.asarray(pred)
    draws = []
    for _ in range(n_boot):
        idx = rng.integers(0, len(g), size=len(g))
        draws.append(scores(g[idx].tolist(), p[idx].tolist())[2])
    low, high = np.quantile(draws, [0.025, 0.975])
    return f"{low:.3f}–{high:.3f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", choices=["dev", "test", "all"], default="dev")
    parser.add_argument("--show", action="store_true", help="list misses and false alarms (dev split only)")
    parser.add_argument("--word-list", action="append", default=[], help="PATH:CATEGORY, a plain list to add")
    args = parser.parse_args()
    if not POSTS.is_file() or not NEUTRAL.is_file():
        print(f"skipped: shared data missing ({POSTS}, {NEUTRAL})")
        return 0
    lists = [WordListConfig(path=Path(p), category=c) for p, c in (w.rsplit(":", 1) for w in args.word_list)]
    suite = AnalysisSuite(AnalysisConfig(word_lists=lists))
    rows = [r for r in read_labels() if args.split == "all" or r[0] == args.split]
    gold = [label for _, _, label in rows]
    scored = [suite.score_text(text) for _, text, _ in rows]
    pred = [s.values["flagged"] for s in scored]
    precision, recall, f1 = scores(gold, pred)
    print(f"split {args.split}: n {len(rows)}, positives {sum(gold)}, flagged {sum(pred)}")
    print(f"precision {precision:.3f}  recall {recall:.3f}  F1 {f1:.3f}  (F1 95% CI {f1_interval(gold, pred)})")
    tox = [1 if s.values["toxicity"] > 0.5 else 0 for s in scored]
    tp, tr, tf = scores(gold, tox)
    print(f"toxicity > 0.5: precision {tp:.3f}  recall {tr:.3f}  F1 {tf:.3f}")
    neutral = [x for x in NEUTRAL.read_text(encoding="utf-8").splitlines() if x.strip()]
    alarms = [(x, suite.score_text(x)) for x in neutral]
    n_alarm = sum(s.values["flagged"] for _, s in alarms)
    print(f"neutral false alarms: {n_alarm}/{len(neutral)} = {n_alarm / len(neutral):.3%}")
    if args.show and args.split == "dev":
        for (_, text, label), s in zip(rows, scored):
            if label != s.values["flagged"]:
                kind = "MISS" if label else "FALSE"
                print(f"{kind}\t{s.details['flagged_terms']}\t{text[:80]!r}")
        for text, s in alarms:
            if s.values["flagged"]:
                print(f"NEUTRAL\t{s.details['flagged_terms']}\t{text[:80]!r}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
