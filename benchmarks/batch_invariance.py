"""Batch invariance: the share of samples whose tokens are identical at batch sizes 1, 7 and 64.

Each sample draws from its own counter-based stream (harness/models/rng.py),
so only float noise from a different batch shape (matmul blocking, padding)
can flip a draw.  Target: ≥ 99% identical.  Model: the pinned GPT-2 shape
(vocab 32,000, 256 dims, 4 layers, 4 heads, random weights — a nearly flat
next-token distribution, the hardest case for float noise), random prompts.

    .venv/bin/python benchmarks/batch_invariance.py [--prompts 8] [--k 8] [--new-tokens 48] [--top-k 0]
    python benchmarks/batch_invariance.py --gpu --out results/      # also writes batch_invariance.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bare_engine.py, beside this script

from bare_engine import allow_engine_import  # noqa: E402

allow_engine_import()

from harness.models.rng import sample_seed  # noqa: E402
from harness.models.sampler import Job, SamplerSettings, sample  # noqa: E402
from harness.models.topp import DrawSettings  # noqa: E402


def main(argv: list[str] | None = None) -> dict:
    """Sample the same jobs at each batch size; report the identical share."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=8)
    parser.add_argument("--k", type=int, default=8, help="samples per prompt")
    parser.add_argument("--new-tokens", type=int, default=48)
    parser.add_argument("--top-k", type=int, default=0)
    parser.add_argument("--top-p", type=float, default=0.95)
    parser.add_argument("--batch-sizes", default="1,7,64")
    parser.add_argument("--dims", type=int, default=256)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--vocab", type=int, default=32000)
    parser.add_argument("--gpu", action="store_true")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    device = "cuda" if args.gpu else "cpu"
    torch.manual_seed(0)
    config = GPT2Config(vocab_size=args.vocab, n_embd=args.dims, n_layer=args.layers, n_head=args.heads)
    model = GPT2LMHeadModel(config).to(device).eval()
    generator = torch.Generator().manual_seed(1)
    prompts = [
        torch.randint(
            10, args.vocab, (int(torch.randint(2, 17, (1,), generator=generator)),), generator=generator
        ).tolist()
        for _ in range(args.prompts)
    ]
    jobs = [
        Job(i * args.k + j, p, sample_seed(0, "invariance", str(i), j), args.new_tokens)
        for i, p in enumerate(prompts)
        for j in range(args.k)
    ]
    draw = DrawSettings(True, 1.0, args.top_p, args.top_k, 1.0)
    results = {}
    for size in [int(s) for s in args.batch_sizes.split(",")]:
        settings = SamplerSettings(draw, eos_id=None, pad_id=0, batch_size=size)
        results[size] = {f.key: f.tokens for f in sample(model, jobs, settings, device)}
    sizes = list(results)
    identical = sum(all(results[s][j.key] == results[sizes[0]][j.key] for s in sizes) for j in jobs)
    report = {
        "device": device,
        "batch_sizes": sizes,
        "samples": len(jobs),
        "identical": identical,
        "share": identical / len(jobs),
        "decoding": {"top_p": args.top_p, "top_k": args.top_k, "new_tokens": args.new_tokens},
    }
    print(
        f"{identical}/{len(jobs)} samples identical across batch sizes {sizes} "
        f"({100 * report['share']:.1f}%; target ≥ 99%) — top-p {args.top_p}, top-k {args.top_k}, "
        f"{args.new_tokens} tokens, {device}"
    )
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "batch_invariance.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return report


if __name__ == "__main__":
    main()
