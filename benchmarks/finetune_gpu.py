"""GPU fine-tuning benchmark: a rinna-medium-shaped GPT-2 trained with the harness engine.

Model: GPT-2, 24 layers, 1024 dims, 16 heads, vocabulary 32,000 (the
rinna/japanese-gpt2-medium architecture, ~336M parameters, random weights: no
download).  Data: token ids of the shared open2ch posts (rinna tokenizer),
prepared once on a machine that has the tokenizer:

    .venv/bin/python benchmarks/finetune_gpu.py --prepare /tmp/open2ch-rinna.npy

and read from that .npy at run time, so the GPU machine needs torch,
transformers, peft and pydantic only (no sentencepiece/fugashi, no network):

    python benchmarks/finetune_gpu.py --tokens /tmp/open2ch-rinna.npy --out /tmp/ftgpu

Runs, in one process: (1) the harness engine, full fine-tune (bf16 autocast,
SDPA, fused AdamW, torch.compile, chunked loss) for ~620k tokens (10,000
newsplus lines × 2 epochs); (2) the baseline in the same run: the same model
through transformers' own loss (full logits), same precision, plain AdamW, no
compile (what a hand-written loop or Trainer does) → ``ratio``; (3) LoRA r=8
with the engine; (4) the 16 GB check: batch 8 × 1024 with gradient
checkpointing + the chunked loss, peak ``torch.cuda.max_memory_allocated``
(and the same with the full-logits loss for contrast).

MFU = (6·N + 12·L·d·T) × tokens/s ÷ peak, N = parameters in matmuls (all but
the position and token embeddings, plus the tied LM head once), L layers, d
width, T block (attention scores/values, PaLM appendix B); the 12·L·d·T
term counts the causal attention as if unmasked, the usual convention.
Peak assumed: 989 TFLOP/s (H100 SXM / H200 bf16 dense).  LoRA is reported
with the same formula (its real arithmetic is ~2/3 of it: no weight gradients
for frozen matrices).  ``--toy`` shrinks everything to run on a CPU in seconds.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the checkout, without an install

PEAK_TFLOPS = {"H100": 989.0, "H200": 989.0}
SHARED_POSTS = Path(__file__).resolve().parents[2] / "shared/corpora/open2ch-ranking-dev/dev.tsv"
RINNA_SPM = Path(__file__).resolve().parents[2] / "shared/tokenizers/rinna-japanese-gpt2/spiece.model"
EOS_ID = 2  # rinna's </s>


def prepare(out: Path) -> None:
    """Tokenize the shared posts (one document per post, EOS after each) into a uint16 .npy."""
    import numpy as np

    from harness.config import CorpusConfig
    from harness.data.corpus import iter_corpus
    from harness.models.tokenizer import spm_to_fast_tokenizer

    for needed in (SHARED_POSTS, RINNA_SPM):
        if not needed.is_file():
            sys.exit(f"finetune_gpu: {needed} not found (../shared is needed to prepare the tokens)")
    tok = spm_to_fast_tokenizer(RINNA_SPM, lowercase=True)
    texts = [d.text for d in iter_corpus(CorpusConfig(path=SHARED_POSTS, format="open2ch-ranking", turns="separate"))]
    ids: list[int] = []
    for row in tok(texts, add_special_tokens=False)["input_ids"]:
        ids.extend(row)
        ids.append(EOS_ID)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.save(out, np.asarray(ids, dtype=np.uint16))
    print(f"wrote {out}: {len(ids):,} tokens from {len(texts):,} posts")


def model_shape(toy: bool) -> dict:
    if toy:
        return {"n_layer": 2, "n_embd": 64, "n_head": 4, "vocab_size": 32000, "n_positions": 128}
    return {"n_layer": 24, "n_embd": 1024, "n_head": 16, "vocab_size": 32000, "n_positions": 1024}


def build_model(shape: dict, device: str, seed: int = 0):
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(seed)
    config = GPT2Config(bos_token_id=1, eos_token_id=EOS_ID, pad_token_id=3, **shape)
    return GPT2LMHeadModel(config).to(device)


def matmul_params(model) -> int:
    """Parameters that take part in matmuls per token (embedding lookups excluded, tied head counted once)."""
    n = sum(p.numel() for p in model.parameters())
    return n - model.transformer.wpe.weight.numel()  # wte is used once, as the LM head


def flops_per_token(model, shape: dict, block: int) -> float:
    return 6 * matmul_params(model) + 12 * shape["n_layer"] * shape["n_embd"] * block


def blocks_from(tokens_path: Path, block: int):
    import numpy as np
    import torch

    ids = np.load(tokens_path).astype(np.int64)
    n = len(ids) // block
    if n < 1:
        sys.exit(f"finetune_gpu: {tokens_path} has {len(ids)} tokens, fewer than one block of {block}")
    return torch.from_numpy(ids[: n * block]).view(n, block)


def sync(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def run_engine(label, model, blocks, steps, batch, device, *, warmup, lora=False, baseline=False, **overrides):
    """Train ``steps`` timed steps (after ``warmup`` untimed ones: compile, allocator) and measure."""
    import torch

    from harness.train.engine import TrainPlan, prepare_model, train
    from harness.train.precision import apply_global, resolve_settings

    options = {"compile": device.startswith("cuda"), "loss": "chunked", "loss_chunk_tokens": 4096}
    if baseline:  # transformers' own loss path, plain AdamW, no compile
        options = {"compile": False, "loss": "full", "fused_adamw": False}
    options.update(overrides)
    settings = resolve_settings(device, **options)
    apply_global(settings)
    if lora:
        from peft import LoraConfig, get_peft_model

        model = get_peft_model(
            model, LoraConfig(r=8, lora_alpha=16, lora_dropout=0.0, target_modules=["c_attn"], fan_in_fan_out=True)
        )
    prepare_model(model, settings)
    trained = sum(p.numel() for p in model.parameters() if p.requires_grad)
    started = time.perf_counter()
    if warmup:
        train(model, blocks, TrainPlan(steps=warmup, batch_size=batch, lr=1e-4, seed=1), settings, progress=False)
    sync(device)
    warm_s = time.perf_counter() - started
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    result = train(
        model,
        blocks,
        TrainPlan(steps=steps, batch_size=batch, lr=1e-4, seed=2, warmup_steps=5),
        settings,
        progress=False,
    )
    row = {
        "run": label,
        "settings": settings.as_dict(),
        "trained_parameters": trained,
        "steps": steps,
        "tokens": result.tokens,
        "warmup_seconds": round(warm_s, 2),
        "train_seconds": round(result.seconds, 3),
        "wall_seconds": round(warm_s + result.seconds, 2),
        "tokens_per_second": round(result.tokens_per_second, 1),
        "final_loss": result.loss_curve[-1]["loss"] if result.loss_curve else None,
        "peak_gpu_bytes": torch.cuda.max_memory_allocated() if device.startswith("cuda") else None,
    }
    return model, row


def memory_check(shape, device, block, batch, loss) -> dict:
    """Peak GPU memory of a few steps at batch × block with gradient checkpointing."""
    import torch

    from harness.train.engine import TrainPlan, prepare_model, train
    from harness.train.precision import resolve_settings

    model = build_model(shape, device)
    settings = resolve_settings(device, gradient_checkpointing=True, loss=loss, compile=False)
    prepare_model(model, settings)
    blocks = torch.randint(0, shape["vocab_size"], (batch * 3, block))
    if device.startswith("cuda"):
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    train(model, blocks, TrainPlan(steps=3, batch_size=batch, lr=1e-4, seed=3), settings, progress=False)
    peak = torch.cuda.max_memory_allocated() if device.startswith("cuda") else None
    del model
    if device.startswith("cuda"):
        torch.cuda.empty_cache()
    return {
        "batch": batch,
        "block": block,
        "loss": loss,
        "peak_gpu_bytes": peak,
        "fits_16GB": None if peak is None else peak < 16e9,
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--prepare", type=Path, help="write the shared posts' token ids to this .npy and stop")
    parser.add_argument("--tokens", type=Path, help="uint16 token ids (.npy) from --prepare")
    parser.add_argument("--out", type=Path, default=Path("finetune_gpu_out"), help="folder for results.json")
    parser.add_argument("--toy", action="store_true", help="tiny model and token budget (CPU smoke run)")
    parser.add_argument("--device", default="auto", help="auto | cuda | cpu")
    parser.add_argument(
        "--target-tokens", type=int, default=620_000, help="tokens per timed run (~10k lines × 2 epochs)"
    )
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--block", type=int, default=1024)
    parser.add_argument("--skip", default="", help="comma list of runs to skip: baseline,lora,memory")
    args = parser.parse_args(argv)
    if args.prepare:
        prepare(args.prepare)
        return 0
    if not args.tokens or not args.tokens.is_file():
        parser.error("--tokens PATH (an .npy from --prepare) is required")

    import torch

    from harness.train.precision import resolve_settings  # noqa: F401 - fail early when harness is missing

    device = args.device if args.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
    shape = model_shape(args.toy)
    block = 64 if args.toy else args.block
    batch = 2 if args.toy else args.batch
    target = 2048 if args.toy else args.target_tokens
    steps = max(1, math.ceil(target / (batch * block)))
    warmup = 1 if args.toy else 3
    skip = set(filter(None, args.skip.split(",")))
    blocks = blocks_from(args.tokens, block)
    name = torch.cuda.get_device_name() if device.startswith("cuda") else platform.processor() or "cpu"
    peak = next((v for k, v in PEAK_TFLOPS.items() if k in name), None)
    results = {
        "device": name,
        "torch": torch.__version__,
        "peak_tflops_assumed": peak,
        "shape": shape,
        "batch": batch,
        "block": block,
        "blocks_available": len(blocks),
        "runs": [],
        "memory": [],
    }

    def report(row, model):
        fpt = flops_per_token(model, shape, block)
        row["flops_per_token"] = fpt
        row["mfu"] = round(fpt * row["tokens_per_second"] / (peak * 1e12), 4) if peak else None
        results["runs"].append(row)
        gb = f"{row['peak_gpu_bytes'] / 1e9:.1f} GB" if row["peak_gpu_bytes"] else "n/a"
        mfu = f"{row['mfu']:.1%}" if row["mfu"] is not None else "n/a"
        print(
            f"{row['run']:<10} {row['tokens']:>9,} tokens  train {row['train_seconds']:7.2f} s  "
            f"(+{row['warmup_seconds']:.1f} s warm-up/compile)  {row['tokens_per_second']:>10,.0f} tokens/s  "
            f"MFU {mfu}  peak {gb}  trained params {row['trained_parameters']:,}",
            flush=True,
        )

    model, row = run_engine("harness", build_model(shape, device), blocks, steps, batch, device, warmup=warmup)
    report(row, model)
    del model
    if "baseline" not in skip:
        model, row = run_engine(
            "baseline", build_model(shape, device), blocks, steps, batch, device, warmup=warmup, baseline=True
        )
        report(row, model)
        del model
        ratio = results["runs"][0]["tokens_per_second"] / max(row["tokens_per_second"], 1e-9)
        results["ratio_tokens_per_second"] = round(ratio, 3)
        print(f"ratio {ratio:.2f} (harness tokens/s ÷ baseline tokens/s)")
    if "lora" not in skip:
        model, row = run_engine(
            "lora-r8", build_model(shape, device), blocks, steps, batch, device, warmup=warmup, lora=True
        )
        report(row, model)
        del model
    if "memory" not in skip:
        for loss in ("chunked", "full"):
            if device.startswith("cuda"):
                torch.cuda.empty_cache()
            try:
                mem = memory_check(shape, device, block, 8 if not args.toy else batch, loss)
            except torch.OutOfMemoryError:
                mem = {"batch": 8, "block": block, "loss": loss, "peak_gpu_bytes": None, "fits_16GB": False}
            results["memory"].append(mem)
            gb = f"{mem['peak_gpu_bytes'] / 1e9:.2f} GB" if mem["peak_gpu_bytes"] else "n/a"
            print(
                f"memory    batch {mem['batch']} × {mem['block']}, checkpointing + {loss} loss: peak {gb}, "
                f"fits 16 GB: {mem['fits_16GB']}",
                flush=True,
            )
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(results, indent=2), encoding="utf-8")
    print(f"wrote {args.out / 'results.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
