"""Starting and running a run: the record of a new run, ``run`` and ``demo``.

``harness run`` = check inputs and gates before any work → ``RunDir.start``
(lock, resume/force rules) → ``stages.execute`` over every stage.  The
single-stage commands (harness.commands) start a run the same way with a
shorter plan.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from harness.config import RunConfig
from harness.errors import ConfigError, HarnessError, RunExists
from harness.models.generator import Generator
from harness.record.provenance import file_hashes, git_sha, now, package_versions
from harness.record.rundir import RunDir
from harness.record.schema import Arm, RunRecord, StageStatus
from harness.resources import demo_config, detector_quality_file, reports_dir
from harness.stages import STAGE_NAMES, StageEnv, execute


@dataclass
class RunResult:
    """What ``run`` returns: where the run is, its record, and whether its gates passed."""

    run_dir: Path
    record: RunRecord

    @property
    def gates_passed(self) -> bool:
        return self.record.gates is None or self.record.gates.passed


class ExportFailed(HarnessError):
    """The export stage failed, but every other stage ran: report.html and the gate verdict exist.

    ``result`` is the run as it ended; the CLI exits 3 when a gate failed too
    (the gate verdict wins: it is about the model), else 1.
    """

    def __init__(self, error: Exception, result: RunResult) -> None:
        super().__init__(f"export stage failed: {error}")
        self.error = error
        self.result = result


class TrackingFailed(HarnessError):
    """Every stage ran and the run is complete, but logging it to MLflow failed (``harness track`` retries).

    ``result`` is the finished run; the CLI exits 3 when a gate failed too, else 1.
    """

    def __init__(self, error: Exception, result: RunResult) -> None:
        super().__init__(str(error))
        self.error = error
        self.result = result


def check_tracking(config: RunConfig) -> None:
    """``tracking.mlflow``: mlflow installed and a file store writable, before any work (one line otherwise)."""
    if config.tracking is not None and config.tracking.mlflow is not None:
        from harness.tracking import check_tracking_ready

        check_tracking_ready(config.tracking.mlflow)


def track_finished(config: RunConfig, rundir: RunDir, log: Callable[[str], None]) -> None:
    """The post-run hook: log a complete run to MLflow when the config asks (harness.tracking).

    Not a stage: it writes nothing into the run directory and reads only what
    the stages left (run.json, summary.csv, report.html), so ``harness report``
    and ``--force`` have nothing of it to rebuild or move aside, and a failed
    logging leaves the run complete (``harness track RUN`` logs it later).
    """
    if config.tracking is None or config.tracking.mlflow is None or not rundir.finished:
        return
    from harness.tracking import track_run

    try:
        track_run(rundir, config.tracking.mlflow, log)
    except HarnessError as err:
        raise TrackingFailed(err, RunResult(run_dir=rundir.path, record=rundir.record)) from err


def input_paths(config: RunConfig) -> list[tuple[str, Path]]:
    """Every input file of a config with the config key that names it."""
    checks: list[tuple[str, Path]] = []
    if config.corpus is not None:
        checks.append(("corpus.path", config.corpus.path))
    from harness.data.probe_formats import source_files

    # a dataset folder is its data files; every other entry one file
    checks += [(f"probes.files[{i}]", p) for i, e in enumerate(config.probes.files) for p in source_files(e)]
    checks += [(f"arms[{i}].generations", a.generations) for i, a in enumerate(config.arms) if a.generations]
    checks += [(f"analysis.lexicons[{i}]", p) for i, p in enumerate(config.analysis.lexicons)]
    checks += [(f"analysis.word_lists[{i}].path", w.path) for i, w in enumerate(config.analysis.word_lists)]
    rules = config.analysis.group_rule_files()  # the group-contempt vocabulary, then the group lists it reads
    checks += [("analysis.group_rules" if i == 0 else "analysis.group_lists", p) for i, p in enumerate(rules)]
    pairs = config.analysis.pair_rule_files()
    checks += [("analysis.pair_rules", p) for p in pairs]
    lexicons = len(config.analysis.lexicons) + len(config.analysis.word_lists) + len(rules) + len(pairs)
    found = config.analysis.classifier()
    if found is not None:  # its model files, when lexicon_files lists them (the default one only when built)
        checks += [(found[0], p) for p in config.analysis.lexicon_files()[lexicons:]]
    quality = detector_quality_file()
    if quality.is_file():  # optional: without it summary.csv has no corrected prevalence
        checks.append(("detector quality (bundled)", quality))
    if config.base is not None and config.base.init is not None:
        init = config.base.init
        checks.append(("base.init.corpus.path", init.corpus.path))
        checks += [(f"base.init.tokenizer_corpora[{i}].path", c.path) for i, c in enumerate(init.tokenizer_corpora)]
    return checks


def check_inputs(config: RunConfig, stages: Sequence[str]) -> None:
    """Fail before any work when an input file is missing (names the config key)."""
    found = config.analysis.classifier()
    if found is not None and not found[2] and not Path(found[1]).is_dir():
        raise ConfigError(f"{found[0]}: classifier model folder not found: {found[1]}")
    for key, path in input_paths(config):
        if key.startswith(("probes.", "arms[")) and "probe" not in stages:
            continue
        if Path(path).is_dir():
            raise ConfigError(f"{key}: is a folder, not a file: {path}")
        if Path(path).exists() and not Path(path).is_file():
            raise ConfigError(f"{key}: not a regular file (a FIFO, socket or device): {path}")
        if not Path(path).is_file():
            raise ConfigError(f"{key}: file not found: {path}")


def validate_gates(config: RunConfig, env: StageEnv) -> None:
    """Gates naming an unknown measure or probe category fail before any training."""
    if not config.gates:
        return
    from harness.data.probes import load_probe_sets
    from harness.gates import check_gates

    categories = {"all"} | {p.category for s in load_probe_sets(config.probes.files) for p in s.probes}
    check_gates(config.gates, env.suite(config).catalogue(), categories)


def validate_inputs(config: RunConfig, stages: Sequence[str], env: StageEnv) -> None:
    """Read and validate every input the planned stages will need, before any work.

    Corpora are decode-checked (UTF-8, streamed), probe files and lexicons are
    parsed, and the model folder of every given arm is checked (exists,
    loadable safetensors), so a bad last input fails in seconds instead of
    after minutes of training.
    """
    from harness.data.corpus import check_corpus

    corpora = []
    if config.corpus is not None and {"audit", "finetune"} & set(stages):
        corpora.append(config.corpus)
    if config.base is not None and config.base.init is not None and "base" in stages:
        corpora += [config.base.init.corpus, *config.base.init.tokenizer_corpora]
    checked: set[Path] = set()
    for corpus in corpora:  # decode the whole file now, not after minutes of training; each file once
        if Path(corpus.path).resolve() not in checked:
            check_corpus(corpus)
            checked.add(Path(corpus.path).resolve())
    if "finetune" in stages and config.base is not None and any(a.source == "finetune" for a in config.arm_plan()):
        from harness.train.finetune import check_finetune_inputs

        check_finetune_inputs(config.corpus, config.finetune, config.base)  # loss_on, a chat corpus's template
    if "probe" in stages:
        from harness.data.probes import load_probe_sets
        from harness.models.backends import backend_name
        from harness.models.loading import check_safetensors

        from harness.budget import check_planned_work

        check_planned_work(config, load_probe_sets(config.probes.files))  # bounds and memory, before any work
        from harness.external import check_external_arms

        check_external_arms(config)  # generations made elsewhere: every row read before any work
        allow_hub = bool(config.base and config.base.allow_hub)
        for arm in config.arm_plan():
            if arm.source != "given" or arm.model is None or env.generator is not None:
                continue
            if backend_name(arm.model, config.probes, allow_hub) == "hf-local":
                for weights in sorted(Path(arm.model).glob("*.safetensors")):
                    check_safetensors(weights)
    if {"audit", "analyse"} & set(stages):
        env.suite(config)  # loads and validates the lexicons
    if config.corpus is not None and config.corpus.filter is not None and {"audit", "finetune"} & set(stages):
        from harness.data.corpus_filter import check_filter

        check_filter(config.corpus.filter, env.suite(config).catalogue())  # drop: names the run's categories
    if "export" in stages:
        validate_export(config, env)
    if config.mitigate is not None and "mitigate" in stages:
        from harness.mitigate.train import check_trl

        check_trl()  # before any work: a missing TRL must not surface after the fine-tune


def validate_export(config: RunConfig, env: StageEnv) -> None:
    """The export settings, checked before any work: formats and their packages, and the filters
    (``export.arms`` against the config's arms, ``export.categories`` and ``export.score_measure``
    against the lexicons' catalogue) with the export stage's own ``Selection``."""
    from harness.export.joined import Selection
    from harness.export.registry import check_export_ready

    check_export_ready(config.export.formats, config.export.near_duplicates)
    planned = RunRecord.model_construct(arms=plan_arms(config), measures=env.suite(config).run_catalogue())
    Selection(planned, config.export)


def plan_arms(config: RunConfig) -> list[Arm]:
    """The record's arms for ``config`` (before any stage ran)."""
    return [
        Arm(name=a.name, reference=a.name == config.reference_arm, source=a.source, path=a.model, same_as=a.same_as)
        for a in config.arm_plan()
    ]


def new_record(config: RunConfig, plan: Sequence[str]) -> RunRecord:
    """The record of a run about to start: config, provenance, arms, pending stages."""
    return RunRecord(
        name=config.name,
        created=now(),
        plan=list(plan),
        config=config,
        versions=package_versions(),
        git_sha=git_sha(),
        seed=config.seed,
        hashes=file_hashes(p for _, p in input_paths(config)),
        arms=plan_arms(config),
    )


def start_run(
    config: RunConfig,
    out_dir: Path,
    plan: Sequence[str],
    env: StageEnv,
    resume: bool = False,
    force: bool = False,
) -> RunDir:
    """Check inputs and gates, then create (or resume) the run directory under its lock."""
    check_inputs(config, plan)
    validate_inputs(config, plan, env)
    validate_gates(config, env)
    return RunDir.start(out_dir, new_record(config, plan), resume=resume, force=force)


def default_out_dir(config: RunConfig) -> Path:
    """``out_dir`` of the config, else reports/<name> (harness.resources.reports_dir)."""
    return Path(config.out_dir or reports_dir() / config.name)


def run(
    config: RunConfig,
    out_dir: str | Path | None = None,
    resume: bool = False,
    force: bool = False,
    progress: bool = True,
    log: Callable[[str], None] | None = None,
    generator: Generator | None = None,
    shard=None,
) -> RunResult:
    """Run every stage for ``config``; returns the run directory and record.

    ``shard`` (a ``models.shard.Shard``) runs the stages up to ``probe`` only,
    drawing that shard's batches into the generation cache; the probe stage is
    then left pending, so a later run without a shard (``--resume``) assembles
    every shard's samples from the cache and goes on (models/shard.py).

    Gate failures do not raise: check ``RunResult.gates_passed`` (the CLI
    turns it into exit code 3).  ``generator`` replaces the model backend of
    every arm (tests pass ``FakeGenerator`` to run the pipeline without torch).
    """
    needs_torch = (
        generator is None
        or (config.base is not None and config.base.init)
        or any(a.source == "finetune" for a in config.arm_plan())
    )
    if needs_torch and config.probes.backend != "fake":
        from harness.models.loading import quiet_transformers

        quiet_transformers()
    log = log or (lambda message: print(message, file=sys.stderr, flush=True))
    env = StageEnv(log=log, progress=progress, generator=generator, shard=shard)
    target = Path(out_dir) if out_dir else default_out_dir(config)
    if shard is None:
        check_tracking(config)
    with start_run(config, target.resolve(), STAGE_NAMES, env, resume=resume, force=force) as rundir:
        if shard is not None:
            names = list(rundir.record.plan)
            execute(config, rundir, env, names[: names.index("probe") + 1])
            note = rundir.stage("probe").note
            rundir.set_stage("probe", StageStatus(status="pending", note=note))  # the merge run draws it
            return RunResult(run_dir=rundir.path, record=rundir.record)
        try:
            execute(config, rundir, env)
        except Exception as err:
            if rundir.stage("export").status == "failed" and rundir.stage("report").status == "done":
                raise ExportFailed(err, RunResult(run_dir=rundir.path, record=rundir.record)) from err
            raise
        track_finished(config, rundir, log)
        return RunResult(run_dir=rundir.path, record=rundir.record)


def demo(out_dir: str | Path | None = None, force: bool = True, progress: bool = True) -> RunResult:
    """The whole pipeline on the embedded demo corpora with tiny local models."""
    from harness.config import load_config

    config = load_config(demo_config())
    target = Path(out_dir) if out_dir else default_out_dir(config)
    if force and RunDir.holds_run(target):
        # re-running the demo replaces an earlier demo, never another run
        # read the raw name: a record of an older version must not block the demo
        try:
            previous = json.loads((target / "run.json").read_text(encoding="utf-8")).get("name")
        except (OSError, ValueError, AttributeError):
            previous = None
        if previous != config.name:
            raise RunExists(f"{target} holds run '{previous or 'unreadable'}', not a demo; choose another --out")
    return run(config, out_dir=target, force=force, progress=progress)
