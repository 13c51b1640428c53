"""Corpus audit and token-cache build at 1×, 10× and 100× the shared sample: time and peak memory per size.

Builds corpora of k tagged copies of ``../shared/corpora/open2ch-ranking-dev/dev.tsv``
(copy c appends `` c`` to every post, so every copy's documents are distinct
and de-duplication cannot shrink the corpus), runs ``harness audit`` on each
in a fresh process (so each peak RSS is that size's own) and prints seconds
and peak RSS per size, then the ratios of the largest size to the smallest.
A streaming audit keeps RSS flat (target: ≤ 1.5× from 1× to 100×) and its
time linear.  The corpora live in a temporary folder, deleted afterwards.

The fine-tune data path is timed the same way: ``harness.train.data.build_cache``
(the rinna tokenizer from ``../shared``, block 128, held-out 10%) on each
corpus in a fresh process, into an empty cache folder (``--what`` picks audit,
cache or both); its seconds are the build's own (the child's imports and the
tokenizer's conversion, ~3 s, are left out), its peak RSS the whole child's.

    .venv/bin/python benchmarks/corpus_scale.py                  # 1, 10, 100 (~5 min at 100×)
    .venv/bin/python benchmarks/corpus_scale.py --sizes 1,10     # quicker
    .venv/bin/python benchmarks/corpus_scale.py --repo /tmp/old  # another checkout (before/after)
    .venv/bin/python benchmarks/corpus_scale.py --what cache     # the token cache only
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEV_TSV = ROOT.parent / "shared" / "corpora" / "open2ch-ranking-dev" / "dev.tsv"
RINNA_SPM = ROOT.parent / "shared" / "tokenizers" / "rinna-japanese-gpt2" / "spiece.model"


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
    seconds, rss, text = child_usage(cmd, repo, log)
    found = re.search(r"audit: (\d+) documents", text)
    return seconds, rss, int(found.group(1)) if found else -1


def child_usage(cmd: list[str], repo: Path, log: Path) -> tuple[float, float, str]:
    """Run ``cmd`` in a fresh process (``repo`` on PYTHONPATH): (seconds, peak RSS in MB, its output)."""
    env = {**os.environ, "PYTHONPATH": str(repo)}
    started = time.perf_counter()
    with log.open("w", encoding="utf-8") as fh:
        proc = subprocess.Popen(cmd, cwd=repo, env=env, stdout=fh, stderr=subprocess.STDOUT)
        # wait4 gives this child's own rusage; RUSAGE_CHILDREN would be the
        # largest child so far, hiding a smaller size run after a larger one
        _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - started
    text = log.read_text(encoding="utf-8")
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"{' '.join(cmd[1:3])} failed (exit {os.waitstatus_to_exitcode(status)}):\n{text[-2000:]}")
    return seconds, usage.ru_maxrss / 1024, text


def build_token_cache(corpus: Path, cache_dir: Path, turns: str) -> None:
    """The child side of the cache timing: tokenize ``corpus`` into a token cache under ``cache_dir``."""
    from harness.config import CorpusConfig
    from harness.models.tokenizer import spm_to_fast_tokenizer
    from harness.train.data import build_cache

    tok = spm_to_fast_tokenizer(RINNA_SPM, lowercase=True)
    config = CorpusConfig(path=corpus, format="open2ch-ranking", turns=turns)
    started = time.perf_counter()  # the build alone: imports and the tokenizer's conversion are a constant
    meta = build_cache(config, tok, seed=1234, val_fraction=0.1, block_size=128, cache_dir=cache_dir).meta
    seconds = time.perf_counter() - started
    docs, tokens = meta["train_docs"] + meta["val_docs"], meta["train_tokens"] + meta["val_tokens"]
    print(f"token cache: {docs} documents, {tokens} tokens in {seconds:.3f} s")


def run_cache(repo: Path, corpus: Path, cache_dir: Path, turns: str, log: Path) -> tuple[float, float, int]:
    """``build_cache`` in a fresh process: (seconds of the build, peak RSS in MB, tokens cached)."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--cache-child", str(corpus), str(cache_dir)]
    _, rss, text = child_usage([*cmd, "--turns", turns, "--repo", str(repo)], repo, log)
    found = re.search(r"token cache: (\d+) documents, (\d+) tokens in ([\d.]+) s", text)
    if not found:
        sys.exit(f"corpus_scale: the cache child printed no result:\n{text[-2000:]}")
    return float(found.group(3)), rss, int(found.group(2))


def print_ratios(label: str, results: dict[int, tuple[float, float]]) -> None:
    """Largest size against the smallest: peak RSS and time."""
    sizes = sorted(results)
    small, large = sizes[0], sizes[-1]
    (t0, r0), (t1, r1) = results[small], results[large]
    print(f"{label}: ratio {r1 / r0:.2f} (peak RSS {large}× / {small}×: {r0:.0f} → {r1:.0f} MB, +{r1 - r0:.0f} MB)")
    print(f"{label}: time ratio {t1 / t0:.1f} ({large}× / {small}×; linear would be {large / small:g})")


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1,10,100", help="comma-separated copy counts (default 1,10,100)")
    parser.add_argument("--turns", default="separate", choices=["join", "separate"], help="open2ch documents")
    parser.add_argument("--source", type=Path, default=DEV_TSV, help="the ranking-format sample to copy")
    parser.add_argument("--repo", type=Path, default=ROOT, help="checkout whose harness runs (default: this one)")
    parser.add_argument("--what", default="audit,cache", help="audit, cache or both (default audit,cache)")
    parser.add_argument("--cache-child", nargs=2, type=Path, help=argparse.SUPPRESS)  # corpus, cache dir
    return parser.parse_args()


def measure(what: str, args, corpus: Path, tmp: Path, size: int) -> tuple[float, float, int]:
    """One size, one path (audit | cache), in a fresh process: (seconds, peak RSS MB, documents | tokens)."""
    repo, log = args.repo.resolve(), tmp / "log"
    if what == "audit":
        return run_audit(repo, corpus, tmp / f"audit-x{size}", args.turns, log)
    return run_cache(repo, corpus, tmp / f"cache-x{size}", args.turns, log)


def main() -> None:
    args = parse()
    if args.cache_child:  # the child process of run_cache: import the harness of --repo
        sys.path.insert(0, str(args.repo.resolve()))
        build_token_cache(*args.cache_child, args.turns)
        return
    sizes = sorted({int(s) for s in args.sizes.split(",")})
    paths = [w for w in ("audit", "cache") if w in args.what.split(",")]
    for needed in [args.source] + ([RINNA_SPM] if "cache" in paths else []):
        if not needed.is_file():
            sys.exit(f"corpus_scale: {needed} not found (the benchmark needs ../shared)")
    print(f"{' and '.join(paths)} (--turns {args.turns}) on k tagged copies of {args.source.name} ({args.repo})")
    print(f"{'path':<6} {'size':>6} {'count':>11} {'corpus MB':>10} {'seconds':>9} {'peak RSS MB':>12} {'per s':>10}")
    results: dict[str, dict[int, tuple[float, float]]] = {w: {} for w in paths}
    with tempfile.TemporaryDirectory(prefix="corpus-scale-") as tmp:
        for size in sizes:
            corpus = Path(tmp) / f"dev-x{size}.tsv"
            nbytes = build_corpus(args.source, size, corpus)
            for what in paths:
                seconds, rss, count = measure(what, args, corpus, Path(tmp), size)
                results[what][size] = (seconds, rss)
                unit = "docs" if what == "audit" else "tokens"
                print(
                    f"{what:<6} {size:>5}× {count:>11,} {nbytes / 1e6:>10.1f} {seconds:>9.1f} {rss:>12.0f} "
                    f"{count / seconds:>10,.0f} {unit}/s",
                    flush=True,
                )
                shutil.rmtree(Path(tmp) / f"cache-x{size}", ignore_errors=True)
                shutil.rmtree(Path(tmp) / f"audit-x{size}", ignore_errors=True)
            corpus.unlink()  # only one corpus on disk at a time
    if len(sizes) > 1:
        for what in paths:
            print_ratios(what, results[what])


if __name__ == "__main__":
    main()
