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

``harness trajectory RUN`` computes a trajectory after the fact from a
finished run's checkpoints (harness.trajectory_run).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Callable, Sequence

from harness.config import BASE_ARM, TUNED_ARM, RunConfig, is_checkpoint_arm
from harness.record.rundir import CHECKPOINTS, TRAJECTORY, RunDir
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
    if measure and points:
        losses = point_losses(config, run, [model_folder(a) for a in points])
    else:
        losses = {}
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


def point_losses(config: RunConfig, run: RunDir, folders: Sequence[str]) -> dict[str, tuple[float, float | None]]:
    """Held-out and drift loss (nats/token) of each model folder, on the fine-tune's own split and blocks.

    The held-out blocks are those of the run's own fine-tune: for a filtered corpus the kept documents
    only (``harness.data.corpus_filter.kept_documents``, from ``run``)."""
    from harness.data.corpus_filter import kept_documents
    from harness.models.loading import load_model
    from harness.train.engine import evaluate_loss
    from harness.train.finetune import context_length, drift_reference, engine_settings, tokenize_corpus

    assert config.corpus is not None
    allow_hub = bool(config.base and config.base.allow_hub)
    tune = config.finetune
    out: dict[str, tuple[float, float | None]] = {}
    held_out = drift = None
    kept = kept_documents(config, run)
    for folder in dict.fromkeys(folders):
        loaded = load_model(folder, device=tune.device, allow_hub=allow_hub)
        if held_out is None:  # every point shares the base's tokenizer: the same blocks for all
            block = context_length(loaded.model.config, tune)
            cache = tokenize_corpus(config.corpus, loaded.tokenizer, tune, config.seed, block, kept=kept)
            held_out = cache.blocks("val")
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
