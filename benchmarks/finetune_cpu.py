"""CPU fine-tuning benchmark: the harness engine vs a run_clm.py-style transformers Trainer.

Both sides train the same pinned model — GPT-2 with rinna's 32,000-piece
vocabulary, 256 dims, 4 layers, 4 heads, random init from the same seed — on
the same data (the shared open2ch posts, one document per post, tokenized by
the project's rinna tokenizer), batch 16 × block 128, same steps, lr schedule
and threads.

* harness: the token cache (harness.train.data, Arrow, memory-mapped) and the
  engine (harness.train.engine) with its CPU defaults: fp32, SDPA, the chunked
  cross-entropy (no [16, 128, 32000] fp32 logits).
* baseline: what ``examples/pytorch/language-modeling/run_clm.py`` does —
  ``datasets`` map → ``group_texts`` packing → ``Trainer`` (model's own loss
  over full logits, AdamW, linear-warm-up cosine schedule).

Each side runs in its own subprocess (peak RSS = that process's ru_maxrss),
alternating harness/baseline for ``--rounds`` rounds; the medians are printed
with ``ratio X`` for tokens/s (target ≥ 1.2) and peak RSS (target ≤ 0.6).

Allocator: the harness side runs as ``make`` runs the harness — with
tcmalloc preloaded (``LD_PRELOAD``) where ``libtcmalloc_minimal.so.4`` exists
(Debian: ``apt-get install libtcmalloc-minimal4``), glibc malloc otherwise; the
baseline runs on glibc malloc, as ``python run_clm.py`` does.
``--allocator`` / ``--baseline-allocator`` (tcmalloc | glibc) choose per side,
e.g. both on tcmalloc to see what the allocator alone gives the Trainer.

    .venv/bin/python benchmarks/finetune_cpu.py            # 3 rounds × 12 steps
    .venv/bin/python benchmarks/finetune_cpu.py --quick    # 1 round × 3 steps (smoke)
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SHARED = ROOT.parent / "shared"
POSTS = SHARED / "corpora/open2ch-ranking-dev/dev.tsv"
SPM = SHARED / "tokenizers/rinna-japanese-gpt2/spiece.model"
BATCH, BLOCK, LR, WARMUP, SEED = 16, 128, 5e-4, 2, 0
SHAPE = {"vocab_size": 32000, "n_embd": 256, "n_layer": 4, "n_head": 4, "n_positions": BLOCK}
# the same places the Makefile's TCMALLOC looks (keep the two lists alike)
TCMALLOC_GLOBS = (
    "/usr/lib/*/libtcmalloc_minimal.so.4",
    "/usr/lib64/libtcmalloc_minimal.so.4",
    "/usr/local/lib/libtcmalloc_minimal.so.4",
)


def tcmalloc_library() -> str | None:
    """The first tcmalloc (minimal) shared library found, or None."""
    return next((hit for pattern in TCMALLOC_GLOBS for hit in sorted(glob.glob(pattern))), None)


def corpus_config():
    from harness.config import CorpusConfig

    return CorpusConfig(path=POSTS, format="open2ch-ranking", turns="separate")


def tokenizer():
    from harness.models.tokenizer import spm_to_fast_tokenizer

    return spm_to_fast_tokenizer(SPM, lowercase=True)


def model():
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(SEED)
    return GPT2LMHeadModel(GPT2Config(bos_token_id=1, eos_token_id=2, pad_token_id=3, **SHAPE))


def side_harness(steps: int, cache_dir: str) -> dict:
    from harness.train.data import build_cache
    from harness.train.engine import TrainPlan, prepare_model, train
    from harness.train.precision import resolve_settings

    cache = build_cache(
        corpus_config(), tokenizer(), seed=SEED, val_fraction=0.01, block_size=BLOCK, cache_dir=cache_dir
    )
    blocks = cache.blocks("train")
    settings = resolve_settings("cpu")
    net = prepare_model(model(), settings)
    plan = TrainPlan(steps=steps, batch_size=BATCH, lr=LR, seed=SEED, warmup_steps=WARMUP)
    result = train(net, blocks, plan, settings, progress=False)
    return {
        "tokens": result.tokens,
        "seconds": result.seconds,
        "mean_loss": sum(p["loss"] for p in result.loss_curve) / len(result.loss_curve),
        "settings": settings.as_dict(),
    }


def side_baseline(steps: int, cache_dir: str) -> dict:
    """run_clm.py's recipe: tokenize with datasets.map, group_texts, Trainer."""
    from itertools import chain

    from datasets import Dataset
    from transformers import Trainer, TrainerCallback, TrainingArguments, default_data_collator

    from harness.data.corpus import iter_corpus

    tok = tokenizer()
    raw = Dataset.from_dict({"text": [d.text for d in iter_corpus(corpus_config())]})
    eos = tok.eos_token_id
    tokenized = raw.map(
        lambda b: {"input_ids": [ids + [eos] for ids in tok(b["text"], add_special_tokens=False)["input_ids"]]},
        batched=True,
        remove_columns=["text"],
        cache_file_name=f"{cache_dir}/tok.arrow",
    )

    def group_texts(examples):  # as in run_clm.py
        concatenated = {k: list(chain(*examples[k])) for k in examples.keys()}
        total = (len(concatenated["input_ids"]) // BLOCK) * BLOCK
        result = {k: [t[i : i + BLOCK] for i in range(0, total, BLOCK)] for k, t in concatenated.items()}
        result["labels"] = result["input_ids"].copy()
        return result

    lm = tokenized.map(group_texts, batched=True, cache_file_name=f"{cache_dir}/grouped.arrow")
    times: list[float] = []

    class Clock(TrainerCallback):
        def on_train_begin(self, args, state, control, **kw):
            times.append(time.perf_counter())

        def on_train_end(self, args, state, control, **kw):
            times.append(time.perf_counter())

    args = TrainingArguments(
        output_dir=f"{cache_dir}/out",
        per_device_train_batch_size=BATCH,
        max_steps=steps,
        learning_rate=LR,
        warmup_steps=WARMUP,
        lr_scheduler_type="cosine",
        weight_decay=0.0,
        max_grad_norm=1.0,
        logging_steps=steps,
        save_strategy="no",
        report_to=[],
        use_cpu=True,
        seed=SEED,
        dataloader_num_workers=0,
        disable_tqdm=True,
    )
    trainer = Trainer(
        model=model(), args=args, train_dataset=lm, data_collator=default_data_collator, callbacks=[Clock()]
    )
    out = trainer.train()
    return {"tokens": steps * BATCH * BLOCK, "seconds": times[1] - times[0], "mean_loss": out.training_loss}


def run_side(name: str, steps: int, threads: int, allocator: str) -> dict:
    """Run one side in a fresh subprocess (``allocator``: tcmalloc preloaded, or glibc); returns its measurements."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "TRANSFORMERS_VERBOSITY": "error"}
    env.pop("LD_PRELOAD", None)
    if allocator == "tcmalloc":
        env["LD_PRELOAD"] = tcmalloc_library()
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, __file__, "--side", name, "--steps", str(steps), "--threads", str(threads), "--tmp", tmp]
        done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"finetune_cpu: the {name} side failed:\n{done.stderr[-3000:]}")
    row = json.loads(done.stdout.strip().splitlines()[-1])
    return {**row, "allocator": allocator}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="1 round × 3 steps (smoke run)")
    choices = ["tcmalloc", "glibc"]
    parser.add_argument("--allocator", choices=choices, help="harness side (default: tcmalloc where found)")
    parser.add_argument("--baseline-allocator", choices=choices, default="glibc", help="baseline side")
    parser.add_argument("--side", choices=["harness", "baseline"], help=argparse.SUPPRESS)
    parser.add_argument("--tmp", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.side:  # child process
        import torch

        torch.set_num_threads(args.threads)
        fn = side_harness if args.side == "harness" else side_baseline
        row = fn(args.steps, args.tmp)
        row["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
        row["tokens_per_second"] = row["tokens"] / row["seconds"]
        print(json.dumps(row))
        return 0
    for needed in (POSTS, SPM):
        if not needed.is_file():
            sys.exit(f"finetune_cpu: {needed} not found (the benchmark needs ../shared)")
    if args.quick:
        args.steps, args.rounds = 3, 1
    allocators = {"harness": args.allocator or ("tcmalloc" if tcmalloc_library() else "glibc")}
    allocators["baseline"] = args.baseline_allocator
    if "tcmalloc" in allocators.values() and not tcmalloc_library():
        sys.exit("finetune_cpu: tcmalloc not found (apt-get install libtcmalloc-minimal4)")
    print(
        f"pinned model {SHAPE}, batch {BATCH} × block {BLOCK}, {args.steps} steps, {args.threads} threads, "
        f"{args.rounds} round(s), interleaved; allocator: harness {allocators['harness']}, "
        f"baseline {allocators['baseline']} ({tcmalloc_library() or 'no tcmalloc found'})"
    )
    rows: dict[str, list[dict]] = {"harness": [], "baseline": []}
    for r in range(args.rounds):
        order = ("harness", "baseline") if r % 2 == 0 else ("baseline", "harness")
        for name in order:
            row = run_side(name, args.steps, args.threads, allocators[name])
            rows[name].append(row)
            print(
                f"  round {r + 1} {name:<8} {row['tokens_per_second']:8.0f} tokens/s  peak RSS "
                f"{row['peak_rss_mb']:7.0f} MB  mean train loss {row['mean_loss']:.3f}",
                flush=True,
            )
    med = {
        k: {m: statistics.median(x[m] for x in v) for m in ("tokens_per_second", "peak_rss_mb")}
        for k, v in rows.items()
    }
    for name in ("harness", "baseline"):
        print(
            f"{name:<8} median {med[name]['tokens_per_second']:8.0f} tokens/s  "
            f"peak RSS {med[name]['peak_rss_mb']:7.0f} MB"
        )
    speed = med["harness"]["tokens_per_second"] / med["baseline"]["tokens_per_second"]
    rss = med["harness"]["peak_rss_mb"] / med["baseline"]["peak_rss_mb"]
    print(f"ratio {speed:.2f} tokens/s (harness ÷ baseline; target ≥ 1.2)")
    print(f"ratio {rss:.2f} peak RSS (harness ÷ baseline; target ≤ 0.6)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
