"""The mitigate stage: pairs → TRL training → a new arm, probed, analysed, compared on held-out prompts.

1. split the probes (``split.MitigationSplit``) and record both sides;
2. build the training data from the train side (``pairs.training_data``);
   fewer than ``mitigate.min_pairs`` records: the stage is skipped with a
   note in run.json and the report, and nothing is trained;
3. train ``<from>+<method>`` (``train.train_arm``) into ``mitigated/``;
4. probe the new arm with the probe stage's own sampling (same prompts,
   seeds, decoding, generation cache), append it to generations.jsonl and run
   the analyse stage again, so summary.csv and every table hold it;
5. measure held-out-corpus and neutral-text loss of both arms
   (``harness.trajectory.point_losses``) and write mitigation.csv (``table``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from harness.config import RunConfig
from harness.mitigate.pairs import TrainingData, training_data, trl_rows
from harness.mitigate.split import EVAL, MitigationSplit, Unit
from harness.record.rundir import MITIGATED, MITIGATION, RunDir
from harness.record.schema import Arm, Generation, MitigationRecord, MitigationSplitRecord, ProbeRecord


@dataclass
class StageHooks:
    """What the mitigate stage borrows from the other stages; harness.stages passes them (no import cycle)."""

    log: Callable[[str], None]
    wrote: Callable[[object], None]  # note an output file
    model_path: Callable[[Arm], str]  # an arm's model folder
    probe: Callable[[Arm], list[Generation]]  # one arm sampled with the probe stage's plan
    analyse: Callable[[], None]  # the analyse stage, again


@dataclass
class Outcome:
    """``skipped``: why no arm was trained; ``note``: warnings worth keeping in run.json."""

    skipped: str | None = None
    note: str | None = None


def split_record(generations: list[Generation], split: MitigationSplit, from_arm: str) -> MitigationSplitRecord:
    """Both sides of the split over ``from_arm``'s generations, as run.json keeps them."""
    keys = [(g.probe_set, g.probe_id, g.sample_index) for g in generations if g.arm == from_arm]
    sides = split.units(keys)
    held = sum(1 for k in keys if split.side(*k) == EVAL)
    return MitigationSplitRecord(
        seed=split.seed,
        eval_fraction=split.eval_fraction,
        by_sample=split.by_sample,
        train=sides["mitigation-train"],
        eval=sides[EVAL],
        train_samples=len(keys) - held,
        eval_samples=held,
    )


def run_mitigation(config: RunConfig, run: RunDir, env: StageHooks) -> Outcome:
    """The stage (see the module docstring)."""
    settings = config.mitigate
    assert settings is not None
    generations = run.read_generations()
    prompts = {(g.probe_set, g.probe_id) for g in generations}
    split = MitigationSplit(
        prompts, config.seed if settings.seed_split is None else settings.seed_split, settings.eval_fraction
    )
    sides = split_record(generations, split, settings.from_arm)
    data = training_data(run, settings, split)
    for note in data.notes:
        env.log(f"  warning: {note}")
    record = base_record(settings, sides, data)
    env.log(
        f"  mitigate: split {len(sides.train)} train / {len(sides.eval)} held-out units; {len(data.records)} "
        f"{'pairs' if settings.method == 'dpo' else 'examples'} from the train side"
    )
    run.record.mitigation = record
    if len(data.records) < settings.min_pairs:
        what = "pairs" if settings.method == "dpo" else "examples"
        reason = (
            f"{len(data.records)} {settings.method.upper()} {what} from the mitigation-train prompts, "
            f"fewer than mitigate.min_pairs = {settings.min_pairs}: no arm trained"
        )
        record.skipped = reason
        return Outcome(skipped=reason)
    train_and_probe(config, run, env, data)
    return Outcome(note="; ".join(data.notes) or None)


def base_record(settings, sides: MitigationSplitRecord, data: TrainingData) -> MitigationRecord:
    """The record before training: split, pairs and their prompts, label counts and warnings."""
    labels = data.labels()
    return MitigationRecord(
        method=settings.method,
        from_arm=settings.from_arm,
        arm=settings.arm_name(),
        split=sides,
        pairs=len(data.records),
        pair_prompts=data.units,
        desirable=labels[0] if labels else None,
        undesirable=labels[1] if labels else None,
        notes=data.notes,
        lora=settings.lora.model_dump(mode="json") if settings.lora else None,
    )


def train_and_probe(config: RunConfig, run: RunDir, env: StageHooks, data: TrainingData) -> None:
    """Train the arm, add it to the run, probe it, analyse again, measure the cost, write mitigation.csv."""
    from harness.mitigate.train import train_arm

    settings, record = config.mitigate, run.record.mitigation
    assert settings is not None and record is not None
    folder = f"{MITIGATED}/{record.arm}"
    start = env.model_path(run.record.arm(settings.from_arm))
    result = train_arm(start, trl_rows(data), settings, run.output(folder), config.seed)
    record.model_dir, record.trl_version = folder, result.trl_version
    record.steps, record.seconds, record.train_loss = result.steps, result.seconds, result.train_loss
    env.log(
        f"  mitigate: {result.steps} {settings.method.upper()} steps in {result.seconds:.0f} s "
        f"(TRL {result.trl_version}, train loss {result.train_loss})"
    )
    arm = Arm(name=record.arm, source="mitigate", path=folder)
    run.record.arms = [a for a in run.record.arms if a.name != arm.name] + [arm]
    probe_new_arm(run, env, arm)
    env.analyse()
    measure_cost(config, run, record, [start, env.model_path(arm)])
    env.wrote(write_mitigation_table(config, run))


def probe_new_arm(run: RunDir, env: StageHooks, arm: Arm) -> None:
    """Sample ``arm`` with the probe stage's plan and append it to generations.jsonl (replacing an earlier copy)."""
    mine = env.probe(arm)
    generations = [g for g in run.read_generations() if g.arm != arm.name] + mine
    run.write_generations(generations)
    probed = run.record.probe or ProbeRecord(prompts=0, samples=0)
    per_arm = {**probed.samples_per_arm, arm.name: len(mine)}
    run.record.probe = probed.model_copy(update={"samples": len(generations), "samples_per_arm": per_arm})
    env.log(f"  mitigate: probed {arm.name}: {len(mine)} samples")


def measure_cost(config: RunConfig, run: RunDir, record: MitigationRecord, folders: list[str]) -> None:
    """Held-out-corpus and neutral-text loss of the from arm and the mitigated arm (needs a tuning corpus)."""
    if config.corpus is None or config.probes.backend == "fake":
        return
    from harness.trajectory import point_losses

    losses = point_losses(config, run, folders)
    for name, folder in zip((record.from_arm, record.arm), folders):
        held, drift = losses[folder]
        record.heldout_loss[name] = round(held, 5)
        if drift is not None:
            record.drift_loss[name] = round(drift, 5)


def write_mitigation_table(config: RunConfig, run: RunDir):
    """mitigation.csv from scores.csv (held-out generations of both arms) and the record's losses."""
    from harness.mitigate.table import MITIGATION_COLUMNS, capability_rows, mitigation_rows

    record = run.record.mitigation
    assert record is not None
    held = set(record.split.eval)
    scores = run.read_scores()

    def held_out(arm: str):
        # the split's own unit labels: a sample-split set's entries carry the sample index
        by_sample = record.split.by_sample
        return [
            r
            for r in scores
            if r.arm == arm and Unit.of(r.probe_set, r.probe_id, r.sample_index, by_sample).label() in held
        ]

    rows = mitigation_rows(
        held_out(record.from_arm), held_out(record.arm), run.record.measures, config.analysis.bootstrap, config.seed
    )
    return run.write_table(MITIGATION, rows + capability_rows(record), MITIGATION_COLUMNS)
