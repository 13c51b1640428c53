"""Flagging quality: P, R, F1, Se, Sp on the blind split of labelled forum posts; false alarms on neutral text.

Labels: ``labels/open2ch-dev.csv`` (docs/labelling.md): keys into
``../shared/corpora/open2ch-ranking-dev/dev.tsv``, whose text is read at run
time and never stored here.  ``test`` rows are the blind split: measured,
never tuned on.  Every figure is stratum-weighted (weight N_h/n_h), so it
estimates the whole file, with a 95% percentile bootstrap over posts within
strata (``harness.analysis.prevalence``).  Neutral false alarms: every
sentence of ``../shared/corpora/ud-japanese-gsd-dev``.  For continuity, the
old 400 labels (``tests/data/dev_labels.csv``, its test split, unweighted).

    .venv/bin/python benchmarks/flagging_quality.py                      # blind split
    .venv/bin/python benchmarks/flagging_quality.py --write-quality      # and write the quality record
    .venv/bin/python benchmarks/flagging_quality.py --classifier PATH    # also the classifier and the combination
    .venv/bin/python benchmarks/flagging_quality.py --classifier build/classifier --write-quality  # all three entries
    .venv/bin/python benchmarks/flagging_quality.py --split dev --show   # while building: dev misses and false alarms
    .venv/bin/python benchmarks/flagging_quality.py --ood labels/ood-written.csv --split dev [--show]  # written set

``--ood FILE`` measures the out-of-domain set written for this project
(``harness.labels.ood``; docs/labelling.md section 9) instead: unweighted
P, R, F1 with a 95% bootstrap over items, false alarms on its not-toxic items
(clean and profanity apart), and a table by the kind each item was written
as.  It needs no ``../shared``.  ``--split held-out`` measures its held-out
batches whole (``harness.labels.ood.HELD_OUT_BATCHES``: writers no detector
trained on); ``dev`` and ``test`` are the halves of the other batches.
``--batch n`` keeps the items of that batch only (``n001`` …; a comma list
for several): one writer's figures, e.g. a new held-out batch measured whole
before anything used it.

``--show`` lists texts of the dev split only: the blind split's texts are not
read by people building a detector.
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pydantic import ValidationError  # noqa: E402

from harness.analysis.prevalence import JudgedPost, measure_detector  # noqa: E402
from harness.analysis.suite import AnalysisSuite  # noqa: E402
from harness.config import AnalysisConfig, WordListConfig, classifier_files  # noqa: E402
from harness.data.lexicon_file import read_lexicon_file  # noqa: E402
from harness.errors import InputError  # noqa: E402
from harness.io import atomic_write_text, sha256_file  # noqa: E402
from harness.labels.labelfile import MERGED  # noqa: E402
from harness.labels.merge import read_merged  # noqa: E402
from harness.labels.ood import HELD_OUT, batch_of, read_ood  # noqa: E402
from harness.labels.posts import DEFAULT_CORPUS, post_text, read_corpus  # noqa: E402
from harness.record.schema import DetectorQualityFile  # noqa: E402
from harness.resources import default_lexicon, detector_quality_file  # noqa: E402

NEUTRAL = ROOT.parent / "shared" / "corpora" / "ud-japanese-gsd-dev" / "sentences.txt"
OLD_LABELS = ROOT / "tests" / "data" / "dev_labels.csv"
N_BOOT, SEED = 2000, 0


def old_labels(lines: list[list[str]], path: Path = OLD_LABELS) -> list[tuple[str, str, int]]:
    """(split, text, label) of the 400 labels of issue ≤ 15 (label 1 = toxic)."""
    rows = []
    with open(path, encoding="utf-8") as handle:
        for row in csv.DictReader(line for line in handle if not line.startswith("#")):
            text = lines[int(row["line"]) - 1][int(row["post"])].replace(" __BR__ ", "\n")
            rows.append((row["split"], text, int(row["label"])))
    return rows


def scores(gold: list[int], pred: list[int]) -> tuple[float, float, float]:
    """Unweighted precision, recall and F1 of ``pred`` against ``gold`` (0 where undefined)."""
    tp = sum(1 for g, p in zip(gold, pred) if g and p)
    fp = sum(1 for g, p in zip(gold, pred) if not g and p)
    fn = sum(1 for g, p in zip(gold, pred) if g and not p)
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def fmt(estimate) -> str:
    """``0.600 [0.512–0.690]``."""
    if estimate.value is None:
        return "–"
    return f"{estimate.value:.3f} [{estimate.ci_low:.3f}–{estimate.ci_high:.3f}]"


def suites(args) -> dict[str, tuple[AnalysisSuite, str]]:
    """Detector name → (suite, measure column): the lexicon alone; with --classifier also the two others."""
    lists = [WordListConfig(path=Path(p), category=c) for p, c in (w.rsplit(":", 1) for w in args.word_list)]
    out = {"lexicon": (AnalysisSuite(AnalysisConfig(word_lists=lists, detectors=["lexicon"])), "flagged")}
    if args.classifier:
        try:
            config = AnalysisConfig(word_lists=lists, detectors=["lexicon", f"classifier:{args.classifier}"])
        except ValidationError as err:
            why = err.errors()[0]["msg"]
            raise SystemExit(f"--classifier: this checkout has no classifier detector ({why})") from None
        combined = AnalysisSuite(config)
        out["classifier"] = (combined, "clf_flagged")
        out["combined"] = (combined, "flagged")
    return out


def print_quality(name: str, quality, items: list[JudgedPost]) -> None:
    """One detector's weighted figures, then its unweighted ones."""
    gold, pred = [int(i.toxic) for i in items], [int(i.flagged) for i in items]
    p, r, f = scores(gold, pred)
    print(
        f"{name:10s} precision {fmt(quality.precision)}  recall {fmt(quality.sensitivity)}  F1 {fmt(quality.f1)}  "
        f"specificity {fmt(quality.specificity)}   (unweighted: P {p:.3f} R {r:.3f} F1 {f:.3f})"
    )


def category_tables(rows, verdicts: dict[str, list[bool]], scored, split: str) -> None:
    """Per gold category, how many posts each detector flags; the gold labels of the posts each lexicon
    category flags."""
    names = list(verdicts)
    print(f"\nper gold category ({split} split, unweighted posts): n, then flagged by " + ", ".join(names))
    by_gold: dict[str, list[int]] = defaultdict(lambda: [0] * (1 + len(names)))
    for i, row in enumerate(rows):
        cells = by_gold[row.category if row.label == "toxic" else row.label]
        cells[0] += 1
        for j, name in enumerate(names, start=1):
            cells[j] += int(verdicts[name][i])
    for key, (n, *hits) in sorted(by_gold.items(), key=lambda kv: -kv[1][0]):
        print(f"  {key:15s} {n:4d}  " + "  ".join(f"{name} {h:4d} ({h / n:4.0%})" for name, h in zip(names, hits)))
    cats = sorted({k.removeprefix("cat_") for s in scored for k in s.values if k.startswith("cat_")})
    print(f"\nper lexicon category ({split} split): posts it flags, by gold label")
    labels = ("toxic", "profanity", "clean", "unreadable")
    print(f"  {'category':15s} " + " ".join(f"{x:>10s}" for x in labels))
    for cat in cats:
        counts = Counter(row.label for row, s in zip(rows, scored) if s.values.get(f"cat_{cat}"))
        if counts:
            print(f"  {cat:15s} " + " ".join(f"{counts[x]:10d}" for x in labels))


def write_quality(qualities, rows, path: Path) -> None:
    """Every measured detector's entry into ``path``: the lexicon; with ``--classifier`` also the classifier
    (``clf_flagged``, inputs: its model files) and the combination (``flagged``, inputs: the lexicon's files
    and the model files), the entry a run with ``analysis.detectors: [lexicon, classifier…]`` uses."""
    data = DetectorQualityFile(
        labels=str(MERGED.relative_to(ROOT)),
        labels_sha256=sha256_file(MERGED),
        split="test",
        guideline=max(r.guideline for r in rows),
        n_boot=N_BOOT,
        seed=SEED,
        detectors=list(qualities.values()),
    )
    atomic_write_text(path, data.model_dump_json(indent=2) + "\n")
    print(f"\nwrote {path}")


def weighted_prevalence(rows) -> float:
    """Σw·[toxic] / Σw over the rows: the share of toxic posts in the whole file."""
    return sum(r.weight for r in rows if r.label == "toxic") / sum(r.weight for r in rows)


def continuity(lines: list[list[str]], suite: AnalysisSuite) -> None:
    """The old 400 labels' test split (unweighted), the figure benchmarks/README.md reported before issue 16."""
    old = [(text, label) for split, text, label in old_labels(lines) if split == "test"]
    gold = [label for _, label in old]
    pred = [int(suite.score_text(text).values["flagged"]) for text, _ in old]
    p, r, f = scores(gold, pred)
    print(f"\nold 400 labels, test split (n {len(old)}, toxic {sum(gold)}, unweighted): P {p:.3f} R {r:.3f} F1 {f:.3f}")


def show(rows, texts: list[str], scored) -> None:
    """Misses and false alarms of the dev split (never the blind split)."""
    for row, text, s in zip(rows, texts, scored):
        if (row.label == "toxic") != bool(s.values["flagged"]):
            kind = f"MISS {row.category}" if row.label == "toxic" else f"FALSE {row.label}"
            print(f"{kind}\t{s.details['flagged_terms']}\t{text[:80]!r}")


def detector_inputs(name: str, suite: AnalysisSuite, args) -> list[Path]:
    """The files a detector's verdicts depend on: the classifier's model files alone; else the flag analysis's."""
    return classifier_files(args.classifier) if name == "classifier" else suite.config.lexicon_files()


def measure_all(args, rows, texts: list[str], neutral: list[str]):
    """Every detector's quality on ``rows`` (printed as it goes) and its per-post verdicts; the lexicon's suite."""
    toxic = [r.label == "toxic" for r in rows]
    version = read_lexicon_file(default_lexicon()).version
    qualities, verdicts, scored_by = {}, {}, {}
    suites_built = suites(args)
    for name, (suite, measure) in suites_built.items():
        scored = scored_by.setdefault(id(suite), [suite.score_text(t) for t in texts])
        verdicts[name] = [bool(s.values[measure]) for s in scored]
        items = [JudgedPost(r.stratum, r.weight, t, v) for r, t, v in zip(rows, toxic, verdicts[name])]
        quality = measure_detector(name, measure, detector_inputs(name, suite, args), items, N_BOOT, SEED, version)
        qualities[name] = quality
        print_quality(name, quality, items)
        alarms = sum(int(suite.score_text(x).values[measure]) for x in neutral)
        print(f"{'':10s} neutral false alarms: {alarms}/{len(neutral)} = {alarms / len(neutral):.2%}")
    lexicon_suite = suites_built["lexicon"][0]
    return qualities, verdicts, scored_by[id(lexicon_suite)], lexicon_suite


def measure_ood(args) -> int:
    """The written out-of-domain set (``--ood``): every detector on one split, by item, and by written kind."""
    batches = set(args.batch.split(",")) if args.batch else None
    items = [it for it in read_ood(args.ood) if it.part == args.split and (not batches or batch_of(it.id) in batches)]
    if not items:
        which = f" of batch {args.batch}" if batches else ""
        raise InputError(f"no items in its {args.split} part{which}", args.ood)
    toxic = [it.toxic for it in items]
    part = "held-out batches" if args.split == HELD_OUT else f"{args.split} half"
    part += f" (batch {args.batch})" if batches else ""
    print(f"{part} of {args.ood}: n {len(items)}, toxic {sum(toxic)}; unweighted, 95% bootstrap over items")
    version = read_lexicon_file(default_lexicon()).version
    verdicts: dict[str, list[bool]] = {}
    scored_by: dict[int, list] = {}
    for name, (suite, measure) in suites(args).items():
        scored = scored_by.setdefault(id(suite), [suite.score_text(it.text) for it in items])
        verdicts[name] = [bool(s.values[measure]) for s in scored]
        judged = [JudgedPost("all", 1.0, t, v) for t, v in zip(toxic, verdicts[name])]
        quality = measure_detector(name, measure, detector_inputs(name, suite, args), judged, N_BOOT, SEED, version)
        print_quality(name, quality, judged)
        for label in ("clean", "profanity"):
            flags = [v for it, v in zip(items, verdicts[name]) if it.label == label]
            rate = sum(flags) / max(1, len(flags))
            print(f"{'':10s} false alarms on {label}: {sum(flags)}/{len(flags)} = {rate:.1%}")
    names = list(verdicts)
    print("\nby written kind (label): n, then flagged by " + ", ".join(names))
    kinds = sorted({(it.intended, it.label) for it in items})
    for kind, label in kinds:
        rows = [i for i, it in enumerate(items) if (it.intended, it.label) == (kind, label)]
        hits = "  ".join(f"{name} {sum(verdicts[name][i] for i in rows):3d}" for name in names)
        print(f"  {kind:15s} {label:10s} {len(rows):4d}  {hits}")
    if args.show:  # the last detector's (the combination's, with --classifier) misses and false alarms
        for it, v in zip(items, verdicts[names[-1]]):
            if it.toxic != v:
                print(f"{'MISS' if it.toxic else 'FALSE'} {it.intended}\t{it.id}\t{it.text}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", choices=["dev", "test", HELD_OUT], default="test",
                        help=f"{HELD_OUT}: the written set's held-out batches, whole (with --ood)")
    parser.add_argument("--show", action="store_true", help="list misses and false alarms (dev split only)")
    parser.add_argument("--word-list", action="append", default=[], help="PATH:CATEGORY, a plain list to add")
    parser.add_argument("--classifier", type=Path, help="a classifier model folder: measure it too")
    parser.add_argument("--write-quality", action="store_true", help=f"write {detector_quality_file()} (test split)")
    parser.add_argument("--ood", type=Path, help="measure the written out-of-domain set (labels/ood-written.csv)")
    parser.add_argument("--batch", help="with --ood: only these batches (id letters, comma-separated)")
    args = parser.parse_args()
    if args.batch and not args.ood:
        parser.error("--batch picks batches of the written set: it goes with --ood")
    if args.show and args.split != "dev":
        parser.error("--show lists texts of the dev split only (the blind split is not read)")
    if args.split == HELD_OUT and not args.ood:
        parser.error(f"--split {HELD_OUT} is a part of the written set: it goes with --ood")
    if args.ood:
        if args.write_quality:
            parser.error("--write-quality records the open2ch blind split; it does not go with --ood")
        try:
            return measure_ood(args)
        except InputError as err:  # a missing, empty or malformed file: one line
            print(f"flagging_quality.py: error: {err}", file=sys.stderr)
            return 1
    if args.write_quality and (args.split != "test" or args.word_list):
        parser.error("--write-quality measures the bundled lexicon on the test split (no --split dev, no --word-list)")
    if not DEFAULT_CORPUS.is_file() or not NEUTRAL.is_file():
        print(f"skipped: shared data missing ({DEFAULT_CORPUS}, {NEUTRAL})")
        return 0
    lines = read_corpus()
    rows = [r for r in read_merged(MERGED) if r.split == args.split]
    texts = [post_text(lines, r.key) for r in rows]
    toxic = sum(r.label == "toxic" for r in rows)
    print(
        f"{args.split} split of {MERGED.relative_to(ROOT)}: n {len(rows)}, toxic {toxic}, "
        f"weighted prevalence {weighted_prevalence(rows):.3f}; weighted figures, 95% stratified bootstrap"
    )
    neutral = [x for x in NEUTRAL.read_text(encoding="utf-8").splitlines() if x.strip()]
    qualities, verdicts, lexicon_scored, lexicon_suite = measure_all(args, rows, texts, neutral)
    category_tables(rows, verdicts, lexicon_scored, args.split)
    continuity(lines, lexicon_suite)
    if args.show:
        show(rows, texts, lexicon_scored)
    if args.write_quality:
        write_quality(qualities, rows, detector_quality_file())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
