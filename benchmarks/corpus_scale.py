"""Corpus audit at 1×, 10× and 100× the shared sample: time and peak memory per size.

Builds corpora of k tagged copies of ``../shared/corpora/open2ch-ranking-dev/dev.tsv``
(copy c appends `` c`` to every post, so every copy's documents are distinct
and de-duplication cannot shrink the corpus), runs ``harness audit`` on each
in a fresh process (so each peak RSS is that size's own) and prints seconds
and peak RSS per size, then the ratios of the largest size to the smallest.
A streaming audit keeps RSS flat (target: ≤ 1.5× from 1× to 100×) and its
time linear.  The corpora live in a temporary folder, deleted afterwards.

    .venv/bin/python benchmarks/corpus_scale.py                  # 1, 10, 100 (~5 min at 100×)
    .venv/bin/python benchmarks/corpus_scale.py --sizes 1,10     # quicker
    .venv/bin/python benchmarks/corpus_scale.py --repo /tmp/old  # another checkout (before/after)
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEV_TSV = ROOT.parent / "shared" / "corpora" / "open2ch-ranking-dev" / "dev.tsv"


def build_corpus(source: Path, copies: int, out: Path) -> int:
    """Write ``copies`` tagged copies of the ranking file ``source`` to ``out``; return its size in bytes."""
    lines = source.read_text(encoding="utf-8").splitlines()
    with out.open("w", encoding="utf-8") as fh:
        for copy in range(copies):
            for line in lines:
                label, *posts = line.split("\t")
                fh.write("\t".join([label, *(f"{post} {copy}" for post in posts)]) + "\n")
    return out.stat().st_size


def run_audit(repo: Path, corpus: Path, out: Path, turns: str, log: Path) -> tuple[float, float, int]:
    """``harness audit`` in a fresh process: (seconds, peak RSS in MB, documents audited)."""
    cmd = [sys.executable, "-m", "harness", "audit", str(corpus), "--out", str(out), "--turns", turns]
    env = {**os.environ, "PYTHONPATH": str(repo)}
    started = time.perf_counter()
    with log.open("w", encoding="utf-8") as fh:
        proc = subprocess.Popen(cmd, cwd=repo, env=env, stdout=fh, stderr=subprocess.STDOUT)
        # wait4 gives this child's own rusage; RUSAGE_CHILDREN would be the
        # largest child so far, hiding a smaller size run after a larger one
        _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    text = log.read_text(encoding="utf-8")
    if proc.returncode != 0:
        sys.exit(f"harness audit failed (exit {proc.returncode}) on {corpus}:\n{text[-2000:]}")
    found = re.search(r"audit: (\d+) documents", text)
    return seconds, usage.ru_maxrss / 1024, int(found.group(1)) if found else -1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1,10,100", help="comma-separated copy counts (default 1,10,100)")
    parser.add_argument("--turns", default="separate", choices=["join", "separate"], help="open2ch documents")
    parser.add_argument("--source", type=Path, default=DEV_TSV, help="the ranking-format sample to copy")
    parser.add_argument("--repo", type=Path, default=ROOT, help="checkout whose harness runs (default: this one)")
    args = parser.parse_args()
    sizes = sorted({int(s) for s in args.sizes.split(",")})
    if not args.source.is_file():
        sys.exit(f"shared sample not found: {args.source}")
    print(f"harness audit --turns {args.turns} on k tagged copies of {args.source.name} ({args.repo})")
    print(f"{'size':>6} {'documents':>11} {'corpus MB':>10} {'seconds':>9} {'peak RSS MB':>12} {'docs/s':>8}")
    results: dict[int, tuple[float, float]] = {}
    with tempfile.TemporaryDirectory(prefix="corpus-scale-") as tmp:
        for size in sizes:
            corpus = Path(tmp) / f"dev-x{size}.tsv"
            nbytes = build_corpus(args.source, size, corpus)
            seconds, rss, docs = run_audit(
                args.repo.resolve(), corpus, Path(tmp) / f"audit-x{size}", args.turns, Path(tmp) / "log"
            )
            corpus.unlink()  # only one corpus on disk at a time
            results[size] = (seconds, rss)
            print(
                f"{size:>5}× {docs:>11,} {nbytes / 1e6:>10.1f} {seconds:>9.1f} {rss:>12.0f} {docs / seconds:>8,.0f}",
                flush=True,
            )
    if len(sizes) > 1:
        small, large = sizes[0], sizes[-1]
        (t0, r0), (t1, r1) = results[small], results[large]
        print(f"ratio {r1 / r0:.2f} (peak RSS {large}× / {small}×: {r0:.0f} → {r1:.0f} MB, +{r1 - r0:.0f} MB)")
        print(f"time ratio {t1 / t0:.1f} ({large}× / {small}×; linear would be {large / small:g})")


if __name__ == "__main__":
    main()
