"""Library functions behind the single-stage commands.

Each builds a run config from its arguments and runs the SAME stage function
that ``harness run`` runs (harness.stages), on a run directory with the same
record, lock and overwrite rules.  ``report`` and ``export`` work on an
existing run directory and load no model.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Sequence

from pydantic import ValidationError

from harness.config import ARM_NAME, BaseInitConfig, RunConfig
from harness.errors import InputError, RunExists
from harness.io import require_file
from harness.pipeline import start_run
from harness.resources import default_lexicon
from harness.record.rundir import CORPUS_AUDIT, CORPUS_DROPPED, RunDir, describe_validation, tables_missing
from harness.stages import StageEnv, execute, run_stage, stage_named

def build_config(**fields) -> RunConfig:
    """A RunConfig from command arguments; an invalid value is one line naming the setting."""
    try:
        return RunConfig(**fields)
    except ValidationError as err:
        raise InputError(f"invalid argument: {describe_validation(err)}") from None


def run_name(out: Path) -> str:
    """A valid run name from an output folder's name."""
    name = "".join(ch if ch.isalnum() or ch in "._-" else "-" for ch in Path(out).resolve().name)
    return name if name[:1].isalnum() else f"run-{name}"


def analysis_config(lexicons: Sequence[Path] | None) -> dict:
    """Analysis settings with the given lexicons (default: the project lexicon)."""
    return {"lexicons": [Path(p).resolve() for p in lexicons] if lexicons else [default_lexicon()]}


def audit_corpus(
    corpus: Path,
    fmt: str = "auto",
    out_dir: Path = Path("reports/audit"),
    lexicons: Sequence[Path] | None = None,
    turns: str = "join",
    force: bool = False,
    scores: bool = False,
    text_key: str = "text",
    workers: int = 1,
    detectors: Sequence[str] | None = None,
    corpus_filter: dict | None = None,
    write_filtered: Path | None = None,
) -> Path:
    """The audit stage alone: a corpus's rates → ``out_dir/corpus_audit.csv`` (+ run.json, pii.csv).

    ``scores``: also ``scores.csv``, one row per input document in input order
    (duplicates are kept, so rows line up with the input); ``text_key`` names
    the JSONL field or CSV column; ``workers`` > 1 scores on a process pool;
    ``detectors``: ``analysis.detectors`` (default: the lexicon only).
    ``corpus_filter``: ``corpus.filter`` settings (the run then lists what
    they drop in corpus_dropped.csv); ``write_filtered``: a folder to write
    the kept corpus and dropped.csv to (harness.data.corpus_write), by
    default with ``drop: [flagged]``.
    """
    require_file(corpus, "corpus file")
    if write_filtered is not None and not corpus_filter:
        corpus_filter = {"drop": ["flagged"]}
    config = build_config(
        name=run_name(out_dir),
        corpus={
            "path": Path(corpus).resolve(),
            "format": fmt,
            "turns": turns,
            "text_key": text_key,
            # one scores row per input document: keep duplicates
            **({"dedupe": False} if scores else {}),
            **({"filter": corpus_filter} if corpus_filter else {}),
        },
        analysis={
            **analysis_config(lexicons),
            "audit_scores": scores,
            "workers": workers,
            **({"detectors": list(detectors)} if detectors else {}),
        },
    )
    env = StageEnv(log=print)
    with start_run(config, Path(out_dir), ["audit"], env, force=force) as run:
        execute(config, run, env)
        rows = run.read_table(CORPUS_AUDIT)
        if write_filtered is not None:
            from harness.data.corpus_write import write_filtered as write

            assert config.corpus is not None
            written = write(config.corpus, run.read_table(CORPUS_DROPPED), write_filtered)
            print(
                f"  filtered: {written.units_kept:,} units kept, {written.units_removed:,} removed"
                + (f", {written.units_unread:,} after max_docs not written" if written.units_unread else "")
                + f" → {written.corpus} (removed: {written.dropped})"
            )
    for row in rows:
        interval = f"[{float(row['ci_low']):.3f}, {float(row['ci_high']):.3f}]"
        count = f"{row['count']}/{row['n']}" if row["count"] else f"n={row['n']}"
        print(f"  {row['measure']:<28} {count:>13} {float(row['value']):.3f} {interval}")
    return run.file(CORPUS_AUDIT)


def base_init(
    corpus: Path,
    out: Path,
    vocab_size: int = 4000,
    size: str = "tiny",
    steps: int = 300,
    tokenizer_corpora: Sequence[Path] = (),
    seed: int = 1234,
    force: bool = False,
):
    """Train a tokenizer and a small GPT-2 on ``corpus`` into the model folder ``out``.

    Not a run stage of its own: it writes a model folder, not a run directory
    (``harness run`` builds the same model through ``base.init``).  A folder
    that already holds a model is replaced only with ``force``.
    """
    if (Path(out) / "config.json").is_file() and not force:
        raise RunExists(f"{out} already holds a model; use --force to replace it (the new one is swapped in whole)")
    from harness.models.loading import quiet_transformers
    from harness.train.base_init import init_base

    quiet_transformers()
    try:
        config = BaseInitConfig(
            corpus={"path": corpus},
            tokenizer_corpora=[{"path": p} for p in tokenizer_corpora],
            vocab_size=vocab_size,
            size=size,
            steps=steps,
        )
    except ValidationError as err:
        raise InputError(f"invalid argument: {describe_validation(err)}") from None
    for c in [config.corpus, *config.tokenizer_corpora]:
        require_file(c.path, "corpus file")
    return init_base(config, out, seed=seed)


def finetune_only(
    base: str,
    corpus: Path,
    out: Path,
    fmt: str = "auto",
    epochs: float = 2.0,
    max_steps: int | None = None,
    seed: int = 1234,
    force: bool = False,
) -> Path:
    """The finetune stage alone: ``base`` tuned on ``corpus`` → ``out/model`` (+ run.json)."""
    from harness.models.loading import quiet_transformers

    quiet_transformers()
    base_model = str(Path(base).resolve()) if Path(base).exists() else base
    config = build_config(
        name=run_name(out),
        seed=seed,
        base={"model": base_model},
        corpus={"path": Path(corpus).resolve(), "format": fmt},
        finetune={"epochs": epochs, "max_steps": max_steps},
    )
    env = StageEnv(log=print)
    with start_run(config, Path(out), ["finetune"], env, force=force) as run:
        execute(config, run, env)
        return run.file("model")


def probe_only(
    models: Sequence[str],
    probe_files: Sequence[Path],
    out: Path,
    samples: int = 8,
    max_new_tokens: int = 48,
    seed: int = 1234,
    force: bool = False,
) -> Path:
    """The probe stage alone: every ``LABEL=DIR`` model on the probe files → generations.jsonl.

    The first model is the reference arm; ``harness report`` analyses the run.
    """
    from harness.models.loading import quiet_transformers

    if samples < 1:
        raise InputError(f"--samples must be at least 1, got {samples}")
    arms = []
    for spec in models:
        label, sep, path = spec.partition("=")
        if not sep or not label or not path:
            raise InputError(f"--model expects LABEL=DIR, got {spec!r}")
        if not re.match(ARM_NAME, label):
            raise InputError(f"--model label {label!r}: use lowercase letters, digits, '.', '_' and '-'")
        arms.append({"name": label, "model": str(Path(path).resolve()) if Path(path).exists() else path})
    quiet_transformers()
    config = build_config(
        name=run_name(out),
        seed=seed,
        arms=arms,
        reference_arm=arms[0]["name"],
        probes={
            "files": [Path(p).resolve() for p in probe_files],
            "samples_per_prompt": samples,
            "decoding": {"max_new_tokens": max_new_tokens},
        },
        analysis=analysis_config(None),
    )
    env = StageEnv(log=print)
    with start_run(config, Path(out), ["probe"], env, force=force) as run:
        execute(config, run, env)
        return run.file("generations.jsonl")


def report_run(run_dir: Path, reanalyse: bool = False, mask: bool | None = None, excel: bool | None = None) -> Path:
    """Rebuild report.html from a run directory, analysing first when a table is missing.

    The analysis reruns with the run's own config (lexicons, bootstrap
    resamples, seed), so rebuilt tables equal the originals byte for byte, and
    the gates are held against the rebuilt summary.  ``reanalyse`` also
    accepts a generations.jsonl that changed since the probe stage wrote it
    (without it, a changed file is refused: the tables would not match it).
    ``mask`` (default: the run's ``analysis.mask_flagged``) decides whether
    flagged text starts masked; ``excel`` (default: ``report.csv_bom``) writes
    the CSV tables as UTF-8 with a BOM.
    """
    with RunDir.open(run_dir, lock=True) as run:
        config = run.record.config
        env = StageEnv(log=lambda message: None)
        env.reanalyse = reanalyse
        if reanalyse or tables_missing(run):
            run_stage(config, run, env, stage_named("analyse"))
            if "gates" in run.record.plan:
                run_stage(config, run, env, stage_named("gates"))
        run_stage(config, run, env, stage_named("report"), mask=mask, excel=excel)
        run.finish()
        return run.file("report.html")


def export_run(run_dir: Path, fmt: str, mask: bool = False) -> list[Path]:
    """The export stage for one format on an existing run; returns the paths written."""
    with RunDir.open(run_dir, lock=True) as run:
        env = StageEnv()
        run_stage(run.record.config, run, env, stage_named("export"), formats=[fmt], mask=mask)
        run.finish()
    return env.written


def analyse_generations(
    generations: Path,
    out: Path,
    against: Path | None = None,
    keys: dict[str, str | None] | None = None,
    name: str | None = None,
    against_name: str | None = None,
    fmt: str | None = None,
    force: bool = False,
):
    """``harness analyse``: generations made elsewhere → a full run directory in ``out``.

    FILE's arm is compared with the ``against`` arm as the reference (paired
    by prompt text, or by id with ``keys["id_key"]``); the run's probes are the
    reference file's distinct prompts.  Every row of both files is read and
    checked before the run directory is created.  Returns the ``RunResult``.
    """
    from harness.external import analyse_config
    from harness.pipeline import RunResult

    for path in (generations, against):
        if path is not None:
            require_file(path, "generations file")
    fields = analyse_config(run_name(out), generations, against, keys, name, against_name, fmt)
    config = build_config(**fields, analysis=analysis_config(None))
    env = StageEnv(log=lambda message: None)
    with start_run(config, Path(out).resolve(), ["probe", "analyse", "report"], env, force=force) as run:
        execute(config, run, env)
        return RunResult(run_dir=run.path, record=run.record)
