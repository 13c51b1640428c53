"""Analysis speed: every analyser on the shared forum posts vs a bare fugashi token walk, and the process pool.

Baseline: one unidic-lite ``fugashi.Tagger`` iterating the nodes of each post
(no feature reads) — the floor any token-based analysis pays.  Run it alone:
it prints the load average at start and end, and figures taken with other
work on the machine are not comparable.  Harness:
``AnalysisSuite.score_batch`` over batches of ``BATCH`` posts with every
analyser of ``ANALYSERS`` (flags with variants and context rules, toxicity,
tone, length, PII, vocab counts are per-arm tables and cost nothing per text
here) — the path the audit, its workers and ``score_generations`` take; and,
on its own line, ``score_text`` post by post.  They alternate in rounds
(machine speed drifts), and the best round of each is reported; times are
CPU seconds of this process (``time.process_time``), so other processes on
the machine slow each side less unevenly:

    ratio X = harness chars/s ÷ token-walk chars/s

Linearity: the harness on the posts and on 10× the posts (every post ten
times, tagged so nothing is cached by text) — ``time ratio`` ≤ 11 is linear.
``--workers N``: the corpus audit driver on N processes vs 1 (speed-up).
``--classifier DIR``: also time the suite with ``analysis.detectors: [lexicon,
classifier:DIR]`` in the same rounds, text by text and in batches of 256 (its
batches and the lexicon's alone take turns going first, round by round: the
one run right after the walk or the text-by-text runs meets other caches);
its cost over the lexicon alone is also given as the median of the rounds' pairs.
Where the classifier runs, it scans n-grams in C if ``ngram_scan`` is built (printed).
``--parts``: CPU µs a post of each step of ``score_batch`` (the tokenizer, each
analyser's ``score_many``, merging the columns), beside the walk and MeCab
alone, and what building each text's dicts costs a caller that reads them
(``ScoredBatch.scored``; the audit and its workers add columns instead).
``--repo DIR``: another checkout's ``score_batch`` (e.g. before this change,
``git archive daf955e | tar -x -C DIR``) against this one with its default
detectors (the classifier too where ``build/classifier`` is built;
``HARNESS_CLASSIFIER=/nonexistent`` for the lexicon alone), each in its own
process, alternating: two passes each, the first with cold caches, the second
warm (as the rounds above) — a fair relative speed even on a busy machine.

    .venv/bin/python benchmarks/analysis.py [--rounds 3] [--limit 21013] [--workers 2] [--repo DIR]
                                            [--classifier DIR] [--parts]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from harness.analysis.corpus_audit import audit_corpus_docs  # noqa: E402
from harness.analysis.ngram_index import NATIVE  # noqa: E402
from harness.analysis.tokenize import BATCH  # noqa: E402
from harness.analysis.suite import AnalysisSuite  # noqa: E402
from harness.config import AnalysisConfig  # noqa: E402
from harness.data.corpus import Document  # noqa: E402
from harness.text import normalize  # noqa: E402

POSTS = ROOT.parent / "shared" / "corpora" / "open2ch-ranking-dev" / "dev.tsv"


def read_posts(limit: int) -> list[str]:
    """Unique posts of the shared ranking file, NFKC, in file order."""
    seen: dict[str, None] = {}
    for line in POSTS.read_text(encoding="utf-8").splitlines():
        for post in line.split("\t")[1:]:
            seen.setdefault(normalize(post.replace(" __BR__ ", "\n")), None)
    return list(seen)[:limit]


def walk(tagger, posts: list[str]) -> float:
    start = time.process_time()
    for post in posts:
        for node in tagger(post):
            node.surface  # noqa: B018  (touch the node, as any analysis must)
    return time.process_time() - start


def harness(suite: AnalysisSuite, posts: list[str], batch: int = BATCH) -> float:
    """CPU seconds to score ``posts``: ``score_batch`` over ``batch`` posts a call (0: ``score_text`` each)."""
    start = time.process_time()
    if not batch:
        for post in posts:
            suite.score_text(post)
        return time.process_time() - start
    for i in range(0, len(posts), batch):
        suite.score_batch(posts[i : i + batch])
    return time.process_time() - start


def parts(suite: AnalysisSuite, tagger, posts: list[str], rounds: int) -> None:
    """CPU µs a post of each step of ``score_batch`` (best of ``rounds``), and of the walk and MeCab alone."""
    from harness.analysis.suite import ScoredBatch, merge_columns

    chunks = [posts[i : i + BATCH] for i in range(0, len(posts), BATCH)]
    best: dict[str, float] = {}

    def keep(name: str, seconds: float, into: dict[str, float]) -> None:
        into[name] = into.get(name, 0.0) + seconds

    for _ in range(rounds):
        spent: dict[str, float] = {"walk": walk(tagger, posts)}
        start = time.process_time()
        for post in posts:
            suite.tokenizer._tagger.parse(post)  # noqa: SLF001  (MeCab alone, with the harness's node format)
        keep("MeCab, harness format", time.process_time() - start, spent)
        for chunk in chunks:
            start = time.process_time()
            batch = suite.tokenizer.tokenize_many(chunk)
            keep("tokenize_many (MeCab included)", time.process_time() - start, spent)
            results = []
            for analyser in suite.analysers:
                start = time.process_time()
                if hasattr(analyser, "score_many"):
                    results.append(analyser.score_many(batch))
                else:  # a plug-in without a batch method: text by text, as the suite does
                    results.append(list(map(analyser.score, batch.texts, batch.tokens())))
                keep(analyser.name, time.process_time() - start, spent)
            start = time.process_time()
            columns = merge_columns(results)
            for analyser in suite.combiners:
                analyser.combine_many(*columns)
            keep("merging (columns)", time.process_time() - start, spent)
            # not part of score_batch: what a caller that reads each text's dicts pays on top
            start = time.process_time()
            ScoredBatch(batch, *columns).scored  # noqa: B018
            keep("dicts per text (when read)", time.process_time() - start, spent)
        best = {k: min(v, best.get(k, v)) for k, v in spent.items()}
    for name, seconds in best.items():
        print(f"  {name:32s} {seconds / len(posts) * 1e6:6.2f} µs a post")


_TIMER = """
import sys, time
sys.path.insert(0, sys.argv[1])
from harness.analysis.suite import AnalysisSuite
from harness.config import AnalysisConfig
posts = open(sys.argv[2], encoding="utf-8").read().split("\\x00")
suite = AnalysisSuite(AnalysisConfig(lexicons=[sys.argv[3]]))
suite.score_text("x")


def one_pass():
    start = time.process_time()
    if hasattr(suite, "score_batch"):  # this checkout's batch path; older ones score text by text
        for i in range(0, len(posts), 256):
            suite.score_batch(posts[i : i + 256])
    else:
        for p in posts:
            suite.score_text(p)
    return time.process_time() - start


# the first pass fills the caches (MeCab's lines); the second is what a long audit's batches cost
print(one_pass(), one_pass())
"""


def compare_repos(other: Path, posts: list[str], rounds: int) -> None:
    """This checkout vs ``other``, each timing two passes of ``score_batch`` over ``posts`` in a fresh process,
    alternating: the first pass (cold caches) and the second (warm, as the rounds of ``main`` are)."""
    import subprocess
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "posts.txt"
        data.write_text("\x00".join(posts), encoding="utf-8")
        times: dict[str, list[list[float]]] = {"this": [], "other": []}
        for _ in range(rounds):
            for name, repo in (("other", other), ("this", ROOT)):
                lexicon = repo / "probes" / "lexicons" / "flagged.yaml"
                out = subprocess.run(
                    [sys.executable, "-c", _TIMER, str(repo), str(data), str(lexicon)],
                    capture_output=True,
                    text=True,
                    check=True,
                )
                times[name].append([float(t) for t in out.stdout.strip().splitlines()[-1].split()])
    chars = sum(len(p) for p in posts)
    for k, label in enumerate(("first pass (cold caches)", "second pass (warm)")):
        this, that = (chars / min(t[k] for t in times[name]) for name in ("this", "other"))
        paired = statistics.median(b[k] / a[k] for a, b in zip(times["this"], times["other"]))
        print(
            f"{label}: this checkout {this:,.0f} chars/s, {other}: {that:,.0f} chars/s: ratio {this / that:.2f}"
            f" (best of each); median of the {rounds} rounds' pairs {paired:.2f}"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--limit", type=int, default=25_000)
    parser.add_argument("--workers", type=int, default=0, help="also time the audit on this many processes")
    parser.add_argument("--repo", type=Path, help="another checkout to time against this one")
    parser.add_argument("--classifier", type=Path, help="also time with this classifier model folder")
    parser.add_argument("--parts", action="store_true", help="also time each step of score_batch")
    args = parser.parse_args()
    if not POSTS.is_file():
        print(f"skipped: {POSTS} is missing")
        return 0
    import fugashi
    import unidic_lite

    posts = read_posts(args.limit)
    chars = sum(len(p) for p in posts)
    # other processes skew every figure: say how busy the machine was (1-minute load average)
    print(f"load average at start: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    if args.repo:
        compare_repos(args.repo.resolve(), posts, args.rounds)
    tagger = fugashi.Tagger(f'-d "{unidic_lite.DICDIR}" -r "{unidic_lite.DICDIR}/mecabrc"')
    suite = AnalysisSuite(AnalysisConfig())
    suite.score_text("ウォームアップ")
    with_clf = None
    if args.classifier:
        with_clf = AnalysisSuite(AnalysisConfig(detectors=["lexicon", f"classifier:{args.classifier.resolve()}"]))
    walks, runs, singles, clf_one, clf_batch = [], [], [], [], []
    for r in range(args.rounds):
        walks.append(walk(tagger, posts))
        if with_clf is not None and r % 2:
            clf_batch.append(harness(with_clf, posts))
        runs.append(harness(suite, posts))
        if with_clf is not None and not r % 2:
            clf_batch.append(harness(with_clf, posts))
        singles.append(harness(suite, posts, batch=0))
        if with_clf is not None:
            clf_one.append(harness(with_clf, posts, batch=0))
    w, h, one = chars / min(walks), chars / min(runs), chars / min(singles)
    print(f"{len(posts)} posts, {chars:,} chars, best of {args.rounds} interleaved rounds (CPU seconds)")
    print(f"bare fugashi token walk: {w:,.0f} chars/s")
    print(f"harness, every analyser, batches of {BATCH}: {h:,.0f} chars/s")
    print(f"harness, every analyser, score_text post by post: {one:,.0f} chars/s (ratio {one / w:.2f})")
    print(f"ratio {h / w:.2f}")
    if with_clf is not None:
        one, batched = chars / min(clf_one), chars / min(clf_batch)
        print(f"with the classifier, text by text: {one:,.0f} chars/s (ratio {one / w:.2f})")
        print(f"with the classifier, batches of {BATCH}: {batched:,.0f} chars/s (ratio {batched / w:.2f})")
        cost = statistics.median(c / r - 1 for c, r in zip(clf_batch, runs))
        print(f"the classifier's cost in batches: {cost:+.1%} time (median of the {args.rounds} rounds' pairs)")
    scan = "C (harness/analysis/ngram_scan.c)" if NATIVE else "numpy (ngram_scan is not built: pip install -e .)"
    print(f"the classifier's n-gram scan, where a run has one: {scan}")
    if args.parts:
        print(f"each step, best of {args.rounds} (CPU):")
        parts(suite, tagger, posts, args.rounds)
    tenfold = [f"{p} {i}" for i in range(10) for p in posts]
    small = min(harness(suite, posts) for _ in range(2))
    large = min(harness(suite, tenfold) for _ in range(2))  # best of 2 on both sides: one run is load-biased
    print(f"linearity: 1× {small:.2f} s, 10× {large:.2f} s: time ratio {large / small:.2f}")
    if args.workers > 1:
        import resource

        docs = [Document(p, i + 1) for i, p in enumerate(tenfold)]
        one, one_cpu = time.perf_counter(), time.process_time()
        audit_corpus_docs(suite, docs, workers=1)
        one, one_cpu = time.perf_counter() - one, time.process_time() - one_cpu
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        many, parent_cpu = time.perf_counter(), time.process_time()
        audit_corpus_docs(suite, docs, workers=args.workers)
        many, parent_cpu = time.perf_counter() - many, time.process_time() - parent_cpu
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        worker_cpu = (after.ru_utime + after.ru_stime) - (children.ru_utime + children.ru_stime)
        print(f"audit of 10× on 1 process {one:.1f} s, on {args.workers}: {many:.1f} s: speed-up {one / many:.2f}")
        # load-independent: what the pool costs in CPU, and the speed-up its CPU allows on free cores
        bound = one_cpu / max(parent_cpu, (parent_cpu + worker_cpu) / args.workers)
        print(
            f"  CPU seconds: 1 process {one_cpu:.1f}; pool: parent {parent_cpu:.1f} + workers {worker_cpu:.1f}"
            f" (speed-up their CPU allows on {args.workers} free cores: {bound:.2f})"
        )
    print(f"load average at end: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
