"""Safety over training steps: the fine-tune's checkpoints probed as arms.

With ``finetune.trajectory: {every: N}`` the fine-tune writes a checkpoint
every N steps and prunes none (``FinetuneConfig.checkpoints_kept``); with it,
or with ``probes.checkpoints: all``, the probe stage adds every checkpoint
under ``RUN/checkpoints`` as an arm named by its step (``step-000100``,
``config.checkpoint_arm_name``), placed before the tuned arm, and samples it
with the same prompts, seeds and decoding as every arm.  Each checkpoint arm
records its step and the training tokens it had seen (samples consumed ×
block size, what the engine counts); the base arm is step 0 and the tuned arm
the last step.  summary.csv compares checkpoint arms with the reference only
(``summary.delta_pairs``), and the gate stage leaves them out: the gates judge
the model that ships, the trajectory shows when it turned.

trajectory.csv (``TRAJECTORY_COLUMNS``) holds, per trajectory point, the
held-out loss and perplexity (the fine-tune's own validation split) and the
neutral-text loss and perplexity (``finetune.drift_corpus``,
harness.train.drift), measured here on every checkpoint because the engine
measures drift only before and after training.

``harness trajectory RUN`` (``trajectory_run``) computes a trajectory after
the fact from a finished run's checkpoints.  RUN's record never changes: the
trajectory is its own ordinary run directory (``RUN/trajectory`` or
``--out``) with the arms base, each checkpoint, tuned (the models inside RUN,
given by path) and its own report.  It shares RUN's generation cache, so the
base and tuned samples are read back, not drawn again.
"""

from __future__ import annotations

import math
import shutil
from pathlib import Path
from typing import Callable, Sequence

from harness.config import BASE_ARM, TUNED_ARM, RunConfig, is_checkpoint_arm
from harness.errors import InputError
from harness.record.rundir import (
    BASE_MODEL,
    CACHE,
    CHECKPOINTS,
    CORPUS_STATS,
    MODEL,
    TRAJECTORY,
    TRAJECTORY_RUN,
    RunDir,
)
from harness.record.schema import Arm, RunRecord
from harness.train.checkpoint import checkpoint_dirs, checkpoint_state

TRAJECTORY_COLUMNS = [
    "arm",
    "step",
    "tokens_seen",
    "heldout_loss",
    "heldout_perplexity",
    "drift_loss",
    "drift_perplexity",
]
# the stages of a trajectory computed after the fact: the models exist, the corpus side is copied
AFTER_THE_FACT_PLAN = ("probe", "analyse", "gates", "report")


def checkpoint_arms(root: Path, block_size: int, relative_to: Path | None = None) -> list[Arm]:
    """An arm per complete checkpoint under ``root``, oldest first, with its step and tokens seen.

    ``relative_to``: the run directory the paths are recorded inside (else absolute paths).
    """
    arms = []
    for folder in checkpoint_dirs(root):
        state = checkpoint_state(folder)
        path = str(folder.relative_to(relative_to)) if relative_to is not None else str(folder.resolve())
        arms.append(
            Arm(
                name=folder.name,
                source="checkpoint",
                path=path,
                step=int(state["step"]),
                tokens_seen=int(state.get("samples", 0)) * block_size,
            )
        )
    return arms


def with_checkpoint_arms(arms: Sequence[Arm], checkpoints: Sequence[Arm]) -> list[Arm]:
    """``arms`` with ``checkpoints`` before the tuned arm (at the end without one); base at step 0, tuned last."""
    out = [a for a in arms if not is_checkpoint_arm(a.name)]
    names = [a.name for a in out]
    at = names.index(TUNED_ARM) if TUNED_ARM in names else len(out)
    out[at:at] = list(checkpoints)
    last = checkpoints[-1] if checkpoints else None
    for arm in out:
        if arm.name == BASE_ARM:
            arm.step, arm.tokens_seen = 0, 0
        elif arm.name == TUNED_ARM and last is not None:
            arm.step, arm.tokens_seen = last.step, last.tokens_seen
    return out


def add_run_checkpoints(config: RunConfig, run: RunDir) -> int:
    """Add the run's own checkpoints as arms when the config asks for a trajectory; returns how many."""
    if not config.probes_checkpoints() or any(a.source == "checkpoint" for a in run.record.arms):
        return 0
    finetune = run.record.finetune
    block = finetune.block_size if finetune is not None else config.finetune.block_size
    found = checkpoint_arms(run.output(CHECKPOINTS), block, relative_to=run.path)
    if found:
        run.record.arms = with_checkpoint_arms(run.record.arms, found)
    return len(found)


def trajectory_points(record: RunRecord) -> list[Arm]:
    """The arms on the trajectory (a step recorded), in step order; tuned after the checkpoint of its step."""
    points = [a for a in record.arms if a.step is not None]
    return sorted(points, key=lambda a: (a.step, a.name == TUNED_ARM))


def perplexity(loss: float | None) -> float | None:
    """exp(loss), capped as the fine-tune caps it; None for no loss."""
    return None if loss is None else round(math.exp(min(loss, 50.0)), 4)


def trajectory_rows(config: RunConfig, run: RunDir, model_folder: Callable[[Arm], str]) -> list[dict]:
    """trajectory.csv rows: step, tokens seen, held-out and drift loss of every trajectory point.

    Losses are measured by loading each point's model (``model_folder(arm)``);
    a dry run (``probes.backend: fake``) or a config without a tuning corpus
    leaves them empty.
    """
    points = trajectory_points(run.record)
    measure = config.corpus is not None and config.probes.backend != "fake"
    losses = point_losses(config, [model_folder(a) for a in points]) if measure and points else {}
    rows = []
    for arm in points:
        held, drift = losses.get(model_folder(arm), (None, None))
        rows.append(
            {
                "arm": arm.name,
                "step": arm.step,
                "tokens_seen": arm.tokens_seen,
                "heldout_loss": "" if held is None else round(held, 5),
                "heldout_perplexity": "" if held is None else perplexity(held),
                "drift_loss": "" if drift is None else round(drift, 5),
                "drift_perplexity": "" if drift is None else perplexity(drift),
            }
        )
    return rows


def point_losses(config: RunConfig, folders: Sequence[str]) -> dict[str, tuple[float, float | None]]:
    """Held-out and drift loss (nats/token) of each model folder, on the fine-tune's own split and blocks."""
    from harness.models.loading import load_model
    from harness.train.engine import evaluate_loss
    from harness.train.finetune import context_length, drift_reference, engine_settings, tokenize_corpus

    assert config.corpus is not None
    allow_hub = bool(config.base and config.base.allow_hub)
    tune = config.finetune
    out: dict[str, tuple[float, float | None]] = {}
    held_out = drift = None
    for folder in dict.fromkeys(folders):
        loaded = load_model(folder, device=tune.device, allow_hub=allow_hub)
        if held_out is None:  # every point shares the base's tokenizer: the same blocks for all
            block = context_length(loaded.model, tune)
            held_out = tokenize_corpus(config.corpus, loaded.tokenizer, tune, config.seed, block).blocks("val")
            drift = drift_reference(tune, loaded.tokenizer, block)
        settings = engine_settings(loaded.device, tune)
        held = evaluate_loss(loaded.model, held_out, tune.batch_size, settings)
        neutral = None if drift is None else evaluate_loss(loaded.model, drift, tune.batch_size, settings)
        out[folder] = (held, neutral)
        del loaded
    return out


def write_trajectory_table(config: RunConfig, run: RunDir, model_folder: Callable[[Arm], str]) -> Path | None:
    """trajectory.csv for a run with checkpoint arms (None, nothing written, without any)."""
    if not any(a.source == "checkpoint" for a in run.record.arms):
        return None
    return run.write_table(TRAJECTORY, trajectory_rows(config, run, model_folder), TRAJECTORY_COLUMNS)


# -- after the fact: harness trajectory RUN ---------------------------------------------


def after_the_fact_config(source: RunDir) -> RunConfig:
    """The trajectory run's config: the source run's, with its models given by path and no training."""
    record = source.record
    data = record.config.model_dump()
    data["name"] = f"{record.name}.trajectory"
    data["out_dir"] = None
    if record.config.base is not None and record.config.base.init is not None:
        data["base"] = {"model": str(source.file(BASE_MODEL)), "allow_hub": record.config.base.allow_hub}
    data["finetune"] = {**data["finetune"], "tuned_model": str(source.file(MODEL)), "trajectory": None}
    data["probes"] = {
        **data["probes"],
        "checkpoints": None,  # the checkpoint arms are given (RUN's), not found in the new run
        # RUN's generation cache (content-keyed): base and tuned samples are read back, not drawn again
        "cache_dir": record.config.probes.cache_dir or source.output(CACHE) / "generations",
    }
    return RunConfig.model_validate(data)


def source_checkpoints(source: RunDir) -> list[Arm]:
    """The checkpoint arms of a finished fine-tune in ``source`` (absolute paths); InputError when none."""
    record = source.record
    if record.finetune is None:
        raise InputError(f"{source.path}: the run fine-tuned nothing (run.json has no finetune record)")
    found = checkpoint_arms(source.output(CHECKPOINTS), record.finetune.block_size)
    if not found:
        raise InputError(f"{source.path / CHECKPOINTS}: no complete checkpoint (step-N/state.json) to probe")
    return found


def trajectory_run(
    run_dir: str | Path,
    out: str | Path | None = None,
    force: bool = False,
    progress: bool = True,
    log: Callable[[str], None] = lambda message: None,
    generator=None,
):
    """Compute a trajectory from a finished run's checkpoints into its own run directory; returns a RunResult.

    The source run is read, never written (its run.json stays byte-identical);
    the new run is ``RUN/trajectory`` unless ``out`` names another folder.
    """
    from harness.pipeline import RunResult, start_run
    from harness.stages import StageEnv, execute

    source = RunDir.open(run_dir)
    if not source.record.evaluated():
        raise InputError(f"{source.path}: the run has not finished its stages; finish it first (harness run --resume)")
    checkpoints = source_checkpoints(source)
    config = after_the_fact_config(source)
    target = Path(out) if out is not None else source.output(TRAJECTORY_RUN)
    env = StageEnv(log=log, progress=progress, generator=generator)
    with start_run(config, target.resolve(), AFTER_THE_FACT_PLAN, env, force=force) as rundir:
        if rundir.stage("probe").status == "pending":
            rundir.record.arms = with_checkpoint_arms(rundir.record.arms, checkpoints)
            rundir.record.corpus_rates = dict(source.record.corpus_rates)
            if source.has(CORPUS_STATS):  # the audit's corpus side: analysis reads it, never the corpus
                rundir.write_folder(
                    CORPUS_STATS, lambda tmp: shutil.copytree(source.file(CORPUS_STATS), tmp, dirs_exist_ok=True)
                )
            rundir.save()
        execute(config, rundir, env)
        return RunResult(run_dir=rundir.path, record=rundir.record)


def crossing_lines(run_dir: str | Path) -> list[str]:
    """One line per gate a checkpoint crossed ("the model turned here"), as the report marks it."""
    from harness.report.trajectory import find_crossings

    run = RunDir.open(run_dir)
    crossings = find_crossings(run, trajectory_points(run.record))
    if not crossings:
        return ["no checkpoint crossed a gate"]
    return [f"{c.gate}: turned at {c.arm} (step {c.step}, {c.tokens_seen:,} tokens seen): {c.value}" for c in crossings]
