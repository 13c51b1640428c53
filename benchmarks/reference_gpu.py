"""The whole reference experiment on one GPU, at rinna-medium shape: seconds per stage and in total.

The reference blog fine-tunes rinna/japanese-gpt2-medium on 10,000 open2ch
dialogues for 2 epochs, samples the prompt 「ww」, and reads the samples: 15–20
minutes on a free Colab GPU.  Here the same experiment runs through the
harness pipeline (``harness.pipeline.run``: base → audit → finetune → probe →
analyse → gates → export → report), with nothing downloaded:

* model: GPT-2, 24 layers, 1,024 dims, 16 heads, vocabulary 32,000 (rinna
  medium's shape), random weights, saved as a local model folder;
* tokenizer: one token per character over 32,000 characters (specials with
  rinna's ids, ASCII, kana, CJK ideographs, Hangul to fill), built here;
* corpus: 10,000 synthetic dialogues (open2ch format, 2–4 turns, ~60
  characters, written from the word lists below with a seeded RNG);
* fine-tune 2 epochs, block 128; probes 「ww」 (probes/seed.yaml) and the
  continuation set (probes/continuation.yaml), 25 samples each, up to 100 new
  tokens, top-p 0.95; the analysis with the bundled lexicon; the report.

Printed: each stage's seconds (from run.json) and the pipeline's wall time
(the total; target ≤ 60 s on one H100-class card), the fine-tune stage's
tokens/s and MFU (its whole loop, compile included), then

* ``--sweep``: steady-state training MFU per option (micro-batch sizes,
  torch.compile off / default / max-autotune, fused vs foreach AdamW) on the
  run's own token cache (target ≥ 40%); MFU as in benchmarks/finetune_gpu.py;
* the generation check: the tuned model's samples/s with the harness engine
  (every probe) vs the reference loop (one ``generate`` call per prompt, on the
  first ``--reference-prompts`` probes), target ratio ≥ 10×.

Everything also goes to ``--out/results.json``.  ``--toy`` shrinks the shape,
corpus, samples and tokens so the same code runs on a CPU in seconds
(tests/test_reference_gpu_script.py).

    python benchmarks/reference_gpu.py --out $OUT/ref --sweep          # one GPU
    .venv/bin/python benchmarks/reference_gpu.py --toy --out /tmp/ref   # CPU smoke run

Needs the harness's own dependencies (pyproject.toml: pydantic, fugashi,
unidic-lite, pyarrow, jinja2, …) beside torch and transformers; no network.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the checkout, without an install
sys.path.insert(0, str(ROOT / "benchmarks"))  # finetune_gpu: the MFU formula, defined there once

VOCAB = 32000
SPECIALS = ["<unk>", "<s>", "</s>", "<pad>"]  # ids 0–3, as rinna's (bos 1, eos 2, pad 3)
SHAPES = {
    "medium": {"n_layer": 24, "n_embd": 1024, "n_head": 16, "n_positions": 1024},
    "toy": {"n_layer": 2, "n_embd": 64, "n_head": 4, "n_positions": 128},
}
# Characters in vocabulary order: ASCII, CJK punctuation, kana, full/half-width forms, CJK ideographs
# (ext. A, then unified), Hangul syllables to fill 32,000.
CHAR_RANGES = [(0x20, 0x7E), (0x3000, 0x30FF), (0xFF01, 0xFF9F), (0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xAC00, 0xD7A3)]
# Word lists written for this script (no third-party text).
NOUNS = (
    "今日 明日 昨日 電車 会社 学校 先生 友達 天気 雨 雪 夏 冬 駅 店 ラーメン カレー 寿司 コーヒー 猫 犬 "
    "スマホ ゲーム 映画 音楽 仕事 宿題 試験 部屋 家 車 自転車 公園 海 山 ニュース 動画 写真 弁当 野球 サッカー"
).split()
PARTICLES = "は が を に で と も の".split()
PREDICATES = (
    "いいね 最高 微妙 つらい 眠い 暑い 寒い 楽しい 面白い 高い 安い 遅い 早い 好き 嫌い "
    "行きたい 食べたい 見た 買った 忘れた"
).split()
ENDINGS = ["", "よね", "な", "わ", "かな", "じゃん", "だろ", "ですね", "ｗ", "ｗｗ", "！", "？", "。", "草", "…"]


def vocabulary() -> list[str]:
    """The 32,000 tokens: the specials, then single characters from ``CHAR_RANGES``."""
    chars = [chr(c) for lo, hi in CHAR_RANGES for c in range(lo, hi + 1)]
    return SPECIALS + chars[: VOCAB - len(SPECIALS)]


def write_tokenizer(folder: Path):
    """A character-level fast tokenizer of ``vocabulary()`` saved into ``folder``; returns it."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {token: i for i, token in enumerate(vocabulary())}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Split(Regex("."), behavior="isolated")  # one token per character
    backend.decoder = decoders.Fuse()  # join characters without spaces
    tok = PreTrainedTokenizerFast(
        tokenizer_object=backend, unk_token="<unk>", bos_token="<s>", eos_token="</s>", pad_token="<pad>"
    )
    tok.save_pretrained(folder)
    return tok


def post(rng: random.Random) -> str:
    """One forum post: 1–3 short clauses."""
    clauses = [
        f"{rng.choice(NOUNS)}{rng.choice(PARTICLES)}{rng.choice(PREDICATES)}{rng.choice(ENDINGS)}"
        for _ in range(rng.randint(1, 3))
    ]
    return "、".join(clauses)


def write_corpus(path: Path, docs: int, seed: int = 0) -> int:
    """``docs`` dialogues in open2ch format (turns separated by tabs); returns the characters written."""
    rng = random.Random(seed)
    chars = 0
    with path.open("w", encoding="utf-8") as fh:
        for n in range(docs):
            turns = [post(rng) for _ in range(rng.randint(2, 4))]
            turns[-1] += f" {n}"  # every dialogue distinct, so de-duplication never shrinks the corpus
            line = "\t".join(turns)
            chars += len(line)
            fh.write(line + "\n")
    return chars


def write_model(folder: Path, shape: dict, seed: int = 0) -> int:
    """A randomly initialised GPT-2 of ``shape`` with the 32k tokenizer, as a model folder; returns parameters."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    tok = write_tokenizer(folder)
    torch.manual_seed(seed)
    config = GPT2Config(vocab_size=VOCAB, bos_token_id=1, eos_token_id=2, pad_token_id=3, **shape)
    model = GPT2LMHeadModel(config)
    model.save_pretrained(folder, safe_serialization=True)
    assert len(tok) == VOCAB
    return sum(p.numel() for p in model.parameters())


def write_config(work: Path, args, model_dir: Path, corpus: Path) -> Path:
    """The run's config (YAML, absolute paths): the reference experiment's settings, sized by ``args``."""
    import yaml

    config = {
        "name": "reference-gpu",
        "seed": 1234,
        "base": {"model": str(model_dir)},
        "corpus": {"path": str(corpus), "format": "open2ch", "turns": "join", "dedupe": False},
        "finetune": {
            "epochs": args.epochs,
            "batch_size": args.batch,
            "block_size": args.block,
            "lr": 5.0e-5,
            "warmup_steps": 2 if args.toy else 50,
            "val_fraction": 0.1,
            "compile": args.compile,
            "fused_adamw": None if args.fused_adamw == "auto" else args.fused_adamw == "on",
            "cache_dir": str(work / "token-cache"),
        },
        "probes": {
            "files": [str(ROOT / "probes/seed.yaml"), str(ROOT / "probes/continuation.yaml")],
            "samples_per_prompt": args.samples,
            "batch_size": args.gen_batch,
            "decoding": {"do_sample": True, "top_p": 0.95, "top_k": 0, "max_new_tokens": args.new_tokens},
        },
        "analysis": {"lexicons": [str(ROOT / "probes/lexicons/flagged.yaml")], "bootstrap": args.bootstrap},
    }
    path = work / "reference-gpu.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def run_pipeline(config_path: Path, out_dir: Path) -> tuple[object, float]:
    """``harness.pipeline.run`` on the config; returns (the run record, wall seconds)."""
    from harness.config import load_config
    from harness.pipeline import run

    config = load_config(config_path)
    started = time.perf_counter()
    result = run(config, out_dir=out_dir, force=True, progress=False, log=lambda message: None)
    return result.record, time.perf_counter() - started


def mfu(model, shape: dict, block: int, tokens_per_second: float, peak_tflops: float | None) -> float | None:
    """Model FLOPs utilisation (benchmarks/finetune_gpu.py's formula) or None without a known peak."""
    from finetune_gpu import flops_per_token

    if not peak_tflops:
        return None
    return flops_per_token(model, shape, block) * tokens_per_second / (peak_tflops * 1e12)


def sweep_options(args) -> list[dict]:
    """The option grid of ``--sweep``: micro-batch sizes × compile modes × AdamW kernels."""
    batches = [int(b) for b in args.sweep_batches.split(",")]
    modes = args.sweep_compile.split(",")
    adamw = ["fused", "foreach"]
    return [{"batch": b, "compile": mode, "adamw": kernel} for b in batches for mode in modes for kernel in adamw]


def sweep_one(option: dict, blocks, shape: dict, device: str, steps: int, warmup: int, peak) -> dict:
    """Steady-state training throughput of one option: ``warmup`` untimed steps, then ``steps`` timed."""
    import torch
    from finetune_gpu import build_model

    from harness.train.engine import TrainPlan, prepare_model, train
    from harness.train.precision import apply_global, resolve_settings

    settings = resolve_settings(
        device, compile=option["compile"] != "off", fused_adamw=option["adamw"] == "fused", loss="chunked"
    )
    apply_global(settings)
    model = build_model({**shape, "vocab_size": VOCAB}, device)
    prepare_model(model, settings, compile_mode=None if option["compile"] in ("off", "default") else option["compile"])
    started = time.perf_counter()
    train(model, blocks, TrainPlan(steps=warmup, batch_size=option["batch"], lr=1e-4, seed=1), settings, progress=False)
    warm = time.perf_counter() - started
    result = train(
        model, blocks, TrainPlan(steps=steps, batch_size=option["batch"], lr=1e-4, seed=2), settings, progress=False
    )
    row = {
        **option,
        "warmup_seconds": round(warm, 2),
        "tokens_per_second": round(result.tokens_per_second, 1),
        "mfu": mfu(model, shape, blocks.block_size, result.tokens_per_second, peak),
        "peak_gpu_bytes": torch.cuda.max_memory_allocated() if device.startswith("cuda") else None,
    }
    del model
    if device.startswith("cuda"):
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    return row


def generation_check(model_dir: Path, args, device: str) -> dict:
    """The tuned model's samples/s: harness engine on every probe vs the reference loop on the first few."""
    from harness.config import DecodingConfig
    from harness.data.probes import load_probe_sets
    from harness.models.hf import generate_samples
    from harness.models.loading import load_model

    probes = [
        p for s in load_probe_sets([ROOT / "probes/seed.yaml", ROOT / "probes/continuation.yaml"]) for p in s.probes
    ]
    decoding = DecodingConfig(do_sample=True, top_p=0.95, top_k=0, max_new_tokens=args.new_tokens)
    loaded = load_model(model_dir, device=device)
    rows = {}
    for engine, subset in (("harness", probes), ("reference", probes[: args.reference_prompts])):
        started = time.perf_counter()
        samples = generate_samples(
            loaded,
            engine,
            subset,
            decoding,
            args.samples,
            1234,
            progress=False,
            batch_size=args.gen_batch,
            engine=engine,
        )
        seconds = time.perf_counter() - started
        rows[engine] = {
            "prompts": len(subset),
            "samples": len(samples),
            "seconds": round(seconds, 2),
            "samples_per_second": round(len(samples) / seconds, 1),
            "mean_new_tokens": round(sum(s.completion_tokens for s in samples) / max(len(samples), 1), 1),
        }
    rows["ratio"] = round(rows["harness"]["samples_per_second"] / rows["reference"]["samples_per_second"], 2)
    return rows


def sizes(args) -> None:
    """Fill the size options left unset: the reference experiment, or ``--toy``'s seconds-on-a-CPU sizes."""
    toy = {"docs": 60, "epochs": 1.0, "batch": 4, "block": 32, "samples": 2, "new_tokens": 8, "gen_batch": 64}
    full = {"docs": 10_000, "epochs": 2.0, "batch": 64, "block": 128, "samples": 25, "new_tokens": 100}
    full |= {"gen_batch": 1024}
    for key, value in (toy if args.toy else full).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    args.bootstrap = 100 if args.toy else 2000
    args.reference_prompts = args.reference_prompts or (2 if args.toy else 4)


def parse(argv) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("reference_gpu_out"), help="work folder and results.json")
    parser.add_argument("--toy", action="store_true", help="tiny shape, 60 documents, 2 samples × 8 tokens (CPU)")
    parser.add_argument("--device", default="auto", help="auto | cuda | cpu")
    parser.add_argument("--docs", type=int, help="dialogues in the corpus (default 10,000)")
    parser.add_argument("--epochs", type=float, help="default 2")
    parser.add_argument("--batch", type=int, help="fine-tune micro-batch, blocks (default 64: 8,192 tokens a step)")
    parser.add_argument("--block", type=int, help="tokens per block (default 128, as the reference config)")
    parser.add_argument("--compile", action="store_true", help="torch.compile the fine-tune (its compile time counts)")
    parser.add_argument("--fused-adamw", choices=["auto", "on", "off"], default="auto", help="fine-tune optimizer")
    parser.add_argument("--samples", type=int, help="samples per prompt (default 25)")
    parser.add_argument("--new-tokens", type=int, help="max new tokens per sample (default 100)")
    parser.add_argument("--gen-batch", type=int, help="rows per forward of the harness engine (default 1024)")
    parser.add_argument("--reference-prompts", type=int, help="prompts the reference loop samples (default 4)")
    parser.add_argument("--skip-generation-check", action="store_true")
    parser.add_argument("--sweep", action="store_true", help="steady-state MFU per training option")
    parser.add_argument("--sweep-batches", default="32,64,128", help="micro-batch sizes the sweep tries")
    parser.add_argument("--sweep-compile", default="off,default,max-autotune", help="compile modes the sweep tries")
    parser.add_argument("--sweep-steps", type=int, default=20, help="timed steps per sweep option")
    args = parser.parse_args(argv)
    sizes(args)
    return args


def peak_of(device_name: str) -> float | None:
    """The assumed bf16 dense peak (TFLOP/s) of a known card (finetune_gpu.PEAK_TFLOPS), else None."""
    from finetune_gpu import PEAK_TFLOPS

    return next((v for k, v in PEAK_TFLOPS.items() if k in device_name), None)


def meta_model(shape: dict):
    """The model's structure without memory (for the FLOPs formula)."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    with torch.device("meta"):
        return GPT2LMHeadModel(GPT2Config(vocab_size=VOCAB, **shape))


def prepare(args, work: Path, shape: dict) -> dict:
    """Write the corpus, the random model folder and the config; returns what was written."""
    started = time.perf_counter()
    work.mkdir(parents=True, exist_ok=True)
    corpus = work / "dialogues.tsv"
    chars = write_corpus(corpus, args.docs)
    model_dir = work / "base-model"
    model_dir.mkdir(exist_ok=True)
    parameters = write_model(model_dir, shape)
    config = write_config(work, args, model_dir, corpus)
    seconds = time.perf_counter() - started
    print(f"prepare: {args.docs:,} dialogues ({chars:,} characters), model {parameters:,} parameters: {seconds:.1f} s")
    return {"config": config, "docs": args.docs, "characters": chars, "parameters": parameters, "seconds": seconds}


def report_run(record, wall: float, shape: dict, args, peak) -> dict:
    """Print and return each stage's seconds, the total, and the fine-tune stage's tokens/s and MFU."""
    stages = {name: status.seconds for name, status in record.stages.items()}
    for name, seconds in stages.items():
        print(f"  {name:<9} {seconds if seconds is not None else float('nan'):8.2f} s  ({record.stages[name].status})")
    print(f"total     {wall:8.2f} s  (pipeline wall time; target ≤ 60 s on one H100-class card)")
    ft = record.finetune
    ft_mfu = mfu(meta_model(shape), shape, args.block, ft.tokens_per_second, peak)
    share = "n/a" if ft_mfu is None else f"{ft_mfu:.1%}"
    print(
        f"fine-tune: {ft.steps} steps × {ft.batch_size} × {ft.block_size}, {ft.train_tokens:,} training tokens, "
        f"{ft.tokens_per_second:,.0f} tokens/s over the whole loop, MFU "
        f"{share}; eval loss {ft.eval_loss_before:.2f} → {ft.eval_loss_after:.2f}"
    )
    probe = record.probe
    print(
        f"probe: {probe.prompts} prompts × {args.samples} samples × {len(probe.samples_per_arm)} arms = {probe.samples}"
    )
    return {
        "stage_seconds": stages,
        "total_seconds": round(wall, 2),
        "finetune": {
            "steps": ft.steps,
            "tokens_per_second": ft.tokens_per_second,
            "mfu": ft_mfu,
            "seconds": ft.seconds,
            "engine": ft.engine,
        },
        "probe_samples": probe.samples,
    }


def run_sweep(args, record, shape: dict, device: str, peak) -> list[dict]:
    """``--sweep``: steady-state MFU per option on the run's token cache."""
    from harness.train.data import ArrowBlocks

    blocks = ArrowBlocks(Path(record.finetune.token_cache) / "train.arrow")
    rows = []
    for option in sweep_options(args):
        if option["compile"] != "off" and not device.startswith("cuda") and not args.toy:
            continue
        row = sweep_one(option, blocks, shape, device, args.sweep_steps, 2 if args.toy else 5, peak)
        rows.append(row)
        share = "n/a" if row["mfu"] is None else f"{row['mfu']:.1%}"
        print(
            f"  sweep batch {row['batch']:>4} compile {row['compile']:<12} adamw {row['adamw']:<7} "
            f"{row['tokens_per_second']:>10,.0f} tokens/s  MFU {share}  (+{row['warmup_seconds']:.1f} s warm-up)",
            flush=True,
        )
    return rows


def main(argv=None) -> int:
    args = parse(argv)
    import torch

    import transformers

    device = args.device if args.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
    name = torch.cuda.get_device_name() if device.startswith("cuda") else platform.processor() or "cpu"
    peak = peak_of(name)
    shape = SHAPES["toy" if args.toy else "medium"]
    print(f"device {name}; torch {torch.__version__}, transformers {transformers.__version__}; shape {shape}")
    work = args.out.resolve()
    made = prepare(args, work, shape)
    record, wall = run_pipeline(made.pop("config"), work / "run")
    results = {
        "device": name,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "peak_tflops_assumed": peak,
        "shape": {**shape, "vocab_size": VOCAB},
        "prepare": made,
        **report_run(record, wall, shape, args, peak),
    }
    if args.sweep:
        results["sweep"] = run_sweep(args, record, shape, device, peak)
    if not args.skip_generation_check:
        gen = results["generation"] = generation_check(work / "run" / "model", args, device)
        print(
            f"generation: harness {gen['harness']['samples_per_second']:,.1f} samples/s "
            f"({gen['harness']['samples']} samples), reference loop {gen['reference']['samples_per_second']:,.1f} "
            f"samples/s ({gen['reference']['samples']} samples): ratio {gen['ratio']:.1f}× (target ≥ 10×)"
        )
    (work / "results.json").write_text(json.dumps(results, indent=2, default=str), encoding="utf-8")
    print(f"wrote {work / 'results.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
