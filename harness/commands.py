"""Library functions behind the single-stage commands (audit, base init, …).

``harness run`` chains the same building blocks through ``harness.pipeline``;
these wrappers exist so each stage can also be run alone.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from harness.config import BaseInitConfig, CorpusConfig, DecodingConfig, FinetuneConfig
from harness.errors import InputError
from harness.io import atomic_write_json, read_json, read_jsonl, write_jsonl
from harness.pipeline import REPO_ROOT, RECORD_VERSION, _now, _versions

DEFAULT_LEXICON = REPO_ROOT / "probes" / "lexicons" / "flagged.yaml"


def _lexicons(paths: Sequence[Path] | None) -> list[Path]:
    return [Path(p) for p in paths] if paths else [DEFAULT_LEXICON]


def audit_corpus(
    corpus: Path,
    fmt: str = "auto",
    out_dir: Path = Path("reports/audit"),
    lexicons: Sequence[Path] | None = None,
    turns: str = "join",
) -> Path:
    """Analyse a corpus file with the run's analysers; writes corpus_audit.csv."""
    from harness.analysis.score import Analyser
    from harness.data.corpus import read_corpus
    from harness.csvfile import write_csv

    docs = read_corpus(CorpusConfig(path=corpus, format=fmt, turns=turns))
    rows = Analyser(_lexicons(lexicons)).audit_texts([d.text for d in docs])
    path = Path(out_dir) / "corpus_audit.csv"
    write_csv(path, rows, ["measure", "n", "count", "rate", "ci_low", "ci_high"])
    for row in rows:
        interval = f"[{row['ci_low']:.3f}, {row['ci_high']:.3f}]"
        print(f"  {row['measure']:<28} {row['count']:>6}/{row['n']:<6} {row['rate']:.3f} {interval}")
    return path


def base_init(
    corpus: Path,
    out: Path,
    vocab_size: int = 4000,
    size: str = "tiny",
    steps: int = 300,
    tokenizer_corpora: Sequence[Path] = (),
    seed: int = 1234,
):
    """Train a tokenizer and a small GPT-2 on ``corpus`` (see harness.train.base_init)."""
    from harness.train.base_init import init_base
    from harness.models.loading import quiet_transformers

    quiet_transformers()
    config = BaseInitConfig(
        corpus=CorpusConfig(path=corpus),
        tokenizer_corpora=[CorpusConfig(path=p) for p in tokenizer_corpora],
        vocab_size=vocab_size,
        size=size,
        steps=steps,
    )
    for c in [config.corpus, *config.tokenizer_corpora]:
        if not Path(c.path).is_file():
            raise InputError("corpus file not found", c.path)
    return init_base(config, out, seed=seed)


def finetune_only(
    base: str,
    corpus: Path,
    out: Path,
    fmt: str = "auto",
    epochs: float = 2.0,
    max_steps: int | None = None,
    seed: int = 1234,
):
    """Fine-tune ``base`` on ``corpus`` into ``out`` (see harness.train.loop.finetune)."""
    from harness.models.loading import quiet_transformers
    from harness.train.finetune import finetune

    quiet_transformers()
    return finetune(
        base, CorpusConfig(path=corpus, format=fmt), FinetuneConfig(epochs=epochs, max_steps=max_steps), out, seed=seed
    )


def probe_only(
    models: Sequence[str],
    probe_files: Sequence[Path],
    out: Path,
    samples: int = 8,
    max_new_tokens: int = 48,
    seed: int = 1234,
) -> Path:
    """Sample every ``LABEL=DIR`` model on the probe files; writes generations.jsonl + run.json."""
    from harness.models.hf import generate_samples
    from harness.models.loading import load_model, quiet_transformers
    from harness.data.probes import load_probe_sets

    quiet_transformers()
    pairs = []
    for spec in models:
        label, sep, path = spec.partition("=")
        if not sep or not label or not path:
            raise InputError(f"--model expects LABEL=DIR, got {spec!r}")
        pairs.append((label, path))
    probes = [p for s in load_probe_sets(list(probe_files)) for p in s.probes]
    decoding = DecodingConfig(max_new_tokens=max_new_tokens)
    out = Path(out)
    records: list[dict] = []
    record_models = {}
    for label, path in pairs:
        loaded = load_model(path)
        record_models[label] = {"path": str(path), "parameters": loaded.parameters}
        records += generate_samples(loaded, label, probes, decoding, samples, seed)
    write_jsonl(out / "generations.jsonl", records)
    atomic_write_json(
        out / "run.json",
        {
            "version": RECORD_VERSION,
            "name": out.name,
            "status": "probed",
            "created": _now(),
            "config": {
                "probes": {
                    "files": [str(p) for p in probe_files],
                    "samples_per_prompt": samples,
                    "decoding": decoding.model_dump(),
                },
                "analysis": {"lexicons": [str(p) for p in _lexicons(None)], "mask_flagged": True},
            },
            "versions": _versions(),
            "seed": seed,
            "models": record_models,
            "stages": {"probe": {"status": "done"}},
            "probe": {"prompt_eos": False, "prompts": len(probes), "samples": len(records)},
        },
    )
    return out / "generations.jsonl"


def report_run(run_dir: Path) -> Path:
    """Rebuild report.html from a run directory; run the analysis first if its tables are missing."""
    from harness.report.html import write_report
    from harness.csvfile import write_csv

    run_dir = Path(run_dir)
    record = read_json(run_dir / "run.json")
    if not (run_dir / "scores.csv").is_file():
        from harness.analysis.score import Analyser

        lexicons = record.get("config", {}).get("analysis", {}).get("lexicons") or [str(DEFAULT_LEXICON)]
        analysis = Analyser([Path(p) for p in lexicons]).score_generations(read_jsonl(run_dir / "generations.jsonl"))
        write_csv(run_dir / "scores.csv", analysis.scores, analysis.score_columns)
        write_csv(run_dir / "summary.csv", analysis.summary, analysis.summary_columns)
        write_csv(run_dir / "vocab_shift.csv", analysis.vocab_shift, analysis.vocab_columns)
    return write_report(run_dir)
