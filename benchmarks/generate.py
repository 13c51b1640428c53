"""Generation throughput: the harness's sampler vs the reference loop, interleaved in one run.

Reference loop (the notebook's): one ``model.generate(input_ids, do_sample=True,
top_p=0.95, num_return_sequences=k)`` call per prompt.  transformers' default
``top_k=50`` applies to that call, so the harness samples with the same
effective decoding (top-k 50, top-p 0.95) unless ``--top-k`` says otherwise.
Both sides see the same model, prompts (random token ids), k and token budget;
rounds alternate which side goes first, so machine-speed drift hits both.

Cases (each prints samples/s of both sides and ``ratio X``):

* ``exact``: every sample makes exactly ``--new-tokens`` tokens (no end-of-text);
* ``eos``: the model's end-of-text logit is raised (the EOS row of the output
  layer is set so that P(EOS) ≈ 1/16 per step on the random model), so samples
  stop early and the harness must retire and refill rows.

Model shapes: the pinned CPU model (GPT-2, vocab 32,000, 256 dims, 4 layers,
4 heads, random weights; 32 prompts × 8 samples × 48 tokens); ``--gpu``: a
rinna-medium-shaped model (24 layers, 1,024 dims, 16 heads; 256 prompts × 25
samples × 64 tokens, bf16), where the reference is timed on
``--reference-prompts`` prompts (default 16) to stay within ~3 minutes;
``--toy``: a tiny model for the smoke test.

    .venv/bin/python benchmarks/generate.py                 # CPU, pinned model
    python benchmarks/generate.py --gpu --out results/      # one GPU; writes results/generate.json

Needs torch and transformers only (no tokenizer, no pydantic).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bare_engine.py, beside this script

from bare_engine import allow_engine_import  # noqa: E402

allow_engine_import()

from harness.models.rng import sample_seed  # noqa: E402
from harness.models.sampler import Job, SamplerSettings, sample  # noqa: E402
from harness.models.topp import DrawSettings  # noqa: E402

EOS, PAD = 2, 3  # rinna's </s> and [PAD] ids
SHAPES = {
    "cpu": dict(vocab=32000, dims=256, layers=4, heads=4, prompts=32, k=8, new_tokens=48, batch=128, rounds=3),
    "gpu": dict(vocab=32000, dims=1024, layers=24, heads=16, prompts=256, k=25, new_tokens=64, batch=640, rounds=1),
    "toy": dict(vocab=1000, dims=32, layers=2, heads=2, prompts=4, k=3, new_tokens=8, batch=8, rounds=1),
}


def build_model(shape: dict, device: str, dtype):
    """A GPT-2 with random weights (seed 0) of the given shape."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    config = GPT2Config(
        vocab_size=shape["vocab"],
        n_embd=shape["dims"],
        n_layer=shape["layers"],
        n_head=shape["heads"],
        n_positions=256,
        bos_token_id=EOS,
        eos_token_id=EOS,
        pad_token_id=PAD,
    )
    return GPT2LMHeadModel(config).to(device=device, dtype=dtype).eval()


def raise_eos(model, prompts: list[list[int]], top_k: int, device: str) -> float:
    """Make end-of-text likely: a constant EOS logit c with P(EOS) ≈ 1/16 at the first step.

    The final layer norm's dimension 0 is pinned to 1 and the EOS row of the
    (tied) output layer becomes c·e₀, so the EOS logit is c at every step;
    c is solved from the other candidates' mass on the prompts.
    """
    import torch

    with torch.no_grad():
        model.transformer.ln_f.weight[0] = 0.0
        model.transformer.ln_f.bias[0] = 1.0
        model.lm_head.weight[EOS].zero_()
        ids = torch.tensor([p[-4:] for p in prompts], device=device)
        logits = model(input_ids=ids).logits[:, -1].float()
        logits[:, EOS] = float("-inf")
        if top_k:
            logits = logits.topk(top_k - 1, -1).values  # EOS displaces one of the k
        others = torch.logsumexp(logits, -1).exp().mean().item()
        c = math.log(others / 15.0)
        model.lm_head.weight[EOS, 0] = c
    return c


def reference(model, prompts, k: int, new_tokens: int, eos: int | None, top_k: int | None, device: str) -> int:
    """The reference loop: one ``generate`` call per prompt; returns new tokens made."""
    import torch

    made = 0
    for index, prompt in enumerate(prompts):
        torch.manual_seed(index)
        ids = torch.tensor([prompt], device=device)
        kwargs = {} if top_k is None else {"top_k": top_k}
        out = model.generate(
            input_ids=ids,
            attention_mask=torch.ones_like(ids),
            do_sample=True,
            top_p=0.95,
            num_return_sequences=k,
            max_new_tokens=new_tokens,
            eos_token_id=eos,
            pad_token_id=PAD,
            **kwargs,
        )
        new = out[:, len(prompt) :]
        made += int((new != PAD).sum()) if eos is not None else new.numel()
    return made


def harness(model, prompts, k: int, new_tokens: int, eos: int | None, top_k: int, batch: int, device: str) -> int:
    """The harness's sampler over every (prompt, sample) job; returns new tokens made."""
    jobs = [
        Job(i * k + j, prompt, sample_seed(0, "bench", str(i), j), new_tokens)
        for i, prompt in enumerate(prompts)
        for j in range(k)
    ]
    settings = SamplerSettings(DrawSettings(True, 1.0, 0.95, top_k, 1.0), eos_id=eos, pad_id=PAD, batch_size=batch)
    return sum(len(f.tokens) for f in sample(model, jobs, settings, device))


def run_case(name: str, model, shape: dict, prompts, args, eos: int | None, device: str) -> dict:
    """Interleaved rounds of both sides; samples/s of each and the ratio."""
    import torch

    ref_prompts = prompts[: args.reference_prompts or len(prompts)]
    top_k = shape["top_k"]
    sides = {
        "harness": lambda: (
            harness(model, prompts, shape["k"], shape["new_tokens"], eos, top_k, shape["batch"], device),
            len(prompts) * shape["k"],
        ),
        "reference": lambda: (
            reference(model, ref_prompts, shape["k"], shape["new_tokens"], eos, None if top_k == 50 else top_k, device),
            len(ref_prompts) * shape["k"],
        ),
    }
    seconds = {side: 0.0 for side in sides}
    samples = {side: 0 for side in sides}
    tokens = {side: 0 for side in sides}
    for round_index in range(shape["rounds"]):
        order = list(sides) if round_index % 2 == 0 else list(reversed(sides))
        for side in order:
            if device == "cuda":
                torch.cuda.synchronize()
            started = time.perf_counter()
            made, count = sides[side]()
            if device == "cuda":
                torch.cuda.synchronize()
            seconds[side] += time.perf_counter() - started
            samples[side] += count
            tokens[side] += made
    rate = {side: samples[side] / seconds[side] for side in sides}
    result = {
        "case": name,
        "samples_per_s": rate,
        "mean_new_tokens": {side: tokens[side] / samples[side] for side in sides},
        "samples_timed": samples,
        "seconds": seconds,
        "ratio": rate["harness"] / rate["reference"],
    }
    print(
        f"{name}: harness {rate['harness']:.1f} samples/s ({result['mean_new_tokens']['harness']:.1f} tokens/sample), "
        f"reference {rate['reference']:.1f} samples/s ({result['mean_new_tokens']['reference']:.1f} tokens/sample) "
        f"on {len(ref_prompts)} prompts; ratio {result['ratio']:.2f}X",
        flush=True,
    )
    return result


def main(argv: list[str] | None = None) -> dict:
    """Run the benchmark; returns (and with ``--out`` writes) the results."""
    import torch
    import transformers

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--gpu", action="store_true", help="the rinna-medium-shaped case on one CUDA GPU")
    size.add_argument("--toy", action="store_true", help="a tiny model (smoke test)")
    parser.add_argument("--rounds", type=int, help="interleaved rounds (default: 3 on CPU, 1 on GPU)")
    parser.add_argument("--reference-prompts", type=int, help="time the reference on this many prompts only")
    parser.add_argument("--batch-size", type=int, help="harness rows per batch")
    parser.add_argument("--top-k", type=int, default=50, help="top-k of both sides (50 = generate's default)")
    parser.add_argument("--cases", default="exact,eos", help="comma-separated: exact, eos")
    parser.add_argument("--out", type=Path, help="write generate.json into this folder")
    args = parser.parse_args(argv)
    kind = "gpu" if args.gpu else "toy" if args.toy else "cpu"
    shape = dict(SHAPES[kind], top_k=args.top_k)
    shape["rounds"] = args.rounds or shape["rounds"]
    shape["batch"] = args.batch_size or shape["batch"]
    if args.gpu and args.reference_prompts is None:
        args.reference_prompts = 16
    device = "cuda" if args.gpu else "cpu"
    dtype = torch.bfloat16 if args.gpu else torch.float32
    generator = torch.Generator().manual_seed(1)
    prompts = [
        torch.randint(
            10, shape["vocab"], (int(torch.randint(4, 17, (1,), generator=generator)),), generator=generator
        ).tolist()
        for _ in range(shape["prompts"])
    ]
    report = {
        "device": torch.cuda.get_device_name() if args.gpu else f"cpu ({torch.get_num_threads()} threads)",
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "shape": shape,
        "reference_prompts": args.reference_prompts or shape["prompts"],
        "cases": [],
    }
    print(
        f"{kind}: GPT-2 vocab {shape['vocab']}, {shape['dims']} dims, {shape['layers']} layers, "
        f"{shape['heads']} heads, random weights; {shape['prompts']} prompts × {shape['k']} samples × "
        f"{shape['new_tokens']} new tokens; top-k {shape['top_k']}, top-p 0.95; {report['device']}",
        flush=True,
    )
    model = build_model(shape, device, dtype)
    warm = prompts[:2]
    harness(model, warm, 2, 4, None, shape["top_k"], 4, device)  # first-call costs (kernels, allocator)
    reference(model, warm, 2, 4, None, None, device)
    for case in args.cases.split(","):
        if case == "exact":
            report["cases"].append(run_case("exact", model, shape, prompts, args, None, device))
        elif case == "eos":
            report["eos_logit"] = raise_eos(model, prompts, shape["top_k"], device)
            report["cases"].append(run_case("eos", model, shape, prompts, args, EOS, device))
        else:
            parser.error(f"unknown case {case!r}")
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "generate.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return report


if __name__ == "__main__":
    main()
