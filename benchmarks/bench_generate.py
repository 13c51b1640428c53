"""Sampling throughput: the harness's batched probe sampler vs one call per sample.

The harness draws a prompt's k samples in one ``generate`` call; the naive
baseline (what a notebook loop does) calls ``generate`` once per sample.
Both run interleaved on the same tiny model, prompts and decoding settings,
so machine-speed drift hits both alike (NOTES.md: speed drifts within minutes).

    .venv/bin/python benchmarks/bench_generate.py [--samples 8] [--rounds 3]

Prints samples/s for each and the ratio harness/baseline.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from harness.train.base_init import init_base  # noqa: E402
from harness.config import BaseInitConfig, CorpusConfig, DecodingConfig  # noqa: E402
from harness.models.generator import prompt_seed  # noqa: E402
from harness.models.hf import generate_samples  # noqa: E402
from harness.models.loading import load_model, quiet_transformers  # noqa: E402
from harness.data.probes import load_probe_set  # noqa: E402


def baseline(loaded, probes, decoding: DecodingConfig, k: int, seed: int) -> int:
    """One generate call per sample (the reference notebook's loop, k times)."""
    import torch

    tok = loaded.tokenizer
    count = 0
    for probe in probes:
        ids = tok(probe.text, add_special_tokens=False)["input_ids"] or [tok.bos_token_id]
        for index in range(k):
            torch.manual_seed(prompt_seed(seed, probe) + index)
            input_ids = torch.tensor([ids])
            loaded.model.generate(
                input_ids=input_ids,
                attention_mask=torch.ones_like(input_ids),
                do_sample=True,
                top_p=decoding.top_p,
                top_k=decoding.top_k,
                temperature=decoding.temperature,
                max_new_tokens=decoding.max_new_tokens,
                eos_token_id=tok.eos_token_id,
                pad_token_id=tok.pad_token_id,
            )
            count += 1
    return count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=8, help="samples per prompt (k)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds")
    args = parser.parse_args()
    quiet_transformers()
    with tempfile.TemporaryDirectory() as tmp:
        config = BaseInitConfig(
            corpus=CorpusConfig(path=ROOT / "corpora/demo/polite.txt"),
            tokenizer_corpora=[CorpusConfig(path=ROOT / "corpora/demo/board.tsv")],
            vocab_size=3000,
            steps=50,
        )
        init_base(config, Path(tmp) / "m", progress=False)
        loaded = load_model(Path(tmp) / "m")
        probes = list(load_probe_set(ROOT / "probes/demo.yaml").probes)[:24]
        decoding = DecodingConfig(max_new_tokens=40)
        timings = {"harness": 0.0, "baseline": 0.0}
        counts = {"harness": 0, "baseline": 0}
        for _ in range(args.rounds):
            started = time.perf_counter()
            counts["harness"] += len(generate_samples(loaded, "m", probes, decoding, args.samples, 1, progress=False))
            timings["harness"] += time.perf_counter() - started
            started = time.perf_counter()
            counts["baseline"] += baseline(loaded, probes, decoding, args.samples, 1)
            timings["baseline"] += time.perf_counter() - started
    rates = {name: counts[name] / timings[name] for name in timings}
    print(
        f"model: tiny GPT-2 ({loaded.parameters:,} parameters), {len(probes)} prompts × {args.samples} samples, "
        f"max_new_tokens 40, {args.rounds} interleaved rounds"
    )
    print(f"baseline (one generate call per sample): {rates['baseline']:.1f} samples/s")
    print(f"harness  (k samples per call):          {rates['harness']:.1f} samples/s")
    print(f"ratio harness/baseline: {rates['harness'] / rates['baseline']:.2f}x")


if __name__ == "__main__":
    main()
