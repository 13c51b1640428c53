"""``harness trajectory RUN``: safety over training steps computed after the fact.

RUN's record never changes (its run.json stays byte-identical: the stages and
finish time are history).  The trajectory is its own ordinary run directory
(``RUN/trajectory``, or ``--out``) with the arms base, each checkpoint of RUN
and tuned (the models inside RUN, given by path), the stages probe, analyse,
gates and report, and its own report.  It copies RUN's ``corpus_stats/`` (what
the analysis needs of the tuning corpus) and uses RUN's content-keyed
generation cache, so the base and tuned samples are read back, not drawn again.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Callable

from harness.config import RunConfig
from harness.errors import InputError
from harness.pipeline import RunResult, start_run
from harness.record.rundir import BASE_MODEL, CACHE, CHECKPOINTS, CORPUS_STATS, MODEL, TRAJECTORY_RUN, RunDir
from harness.record.schema import Arm
from harness.stages import StageEnv, execute
from harness.trajectory import checkpoint_arms, trajectory_points, with_checkpoint_arms

# the stages of a trajectory computed after the fact: the models exist, the corpus side is copied
AFTER_THE_FACT_PLAN = ("probe", "analyse", "gates", "report")


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
