"""Run a matrix: expand the children, build a shared base once, run the children, record the parent.

The parent folder (harness.matrix.paths) holds matrix.json, its own lock, an
optional shared ``base_model/``, the generation cache every child uses and
``children/<name>/``, each an ordinary run directory.  Only this process
writes matrix.json: a child's status is read from the child's own run.json
after its worker returns, so a killed matrix is resumed from what is on disk:
a finished child is skipped without being opened for writing (its files stay
byte-identical), an unfinished one is resumed, a missing one started.
"""

from __future__ import annotations

import importlib
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from harness.errors import ConfigError, InputError, RunExists
from harness.io import atomic_write_text
from harness.matrix.backends import ChildJob, ChildOutcome, dispatch, threads_per_job
from harness.matrix.paths import MATRIX_JSON, child_dir, is_matrix, read_matrix, shared_base_dir
from harness.matrix.spec import Expansion, MatrixSpec, base_config, expand_matrix
from harness.record.lock import RunLock
from harness.record.provenance import now
from harness.record.rundir import RUN_JSON, RunDir, read_record
from harness.record.schema import MatrixChild, MatrixRecord


@dataclass
class MatrixOptions:
    """How to run a matrix (the CLI's options)."""

    backend: str = "local"
    workers: int = 1
    ray_address: str | None = None
    force: bool = False  # rerun every child (each child's --force) and rebuild the shared base
    progress: bool = False
    log: Callable[[str], None] = field(default=lambda message: print(message, file=sys.stderr, flush=True))


@dataclass
class MatrixResult:
    """Where the matrix is, its record as the run left it, and the seconds of the parent's own work."""

    parent: Path
    record: MatrixRecord
    seconds: dict[str, float]  # the parent's own work: expand, base, collect, outputs

    @property
    def failed(self) -> list[MatrixChild]:
        """Children that did not complete."""
        return [c for c in self.record.children if c.status != "complete"]


def child_state(folder: Path) -> str:
    """pending (no run), complete, or failed/running as the child's run.json says."""
    if not RunDir.holds_run(folder):
        return "pending"
    try:
        return read_record(folder / RUN_JSON).status
    except InputError:
        return "failed"


def open_parent(expansion: Expansion, force: bool) -> tuple[RunLock, MatrixRecord]:
    """Create or reopen the parent folder under its lock; a changed matrix needs ``force``."""
    parent = expansion.parent
    if parent.is_dir() and any(parent.iterdir()) and not is_matrix(parent):
        raise RunExists(f"{parent} exists and is not a matrix parent; choose another --out")
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise InputError(f"cannot write the matrix folder ({err.strerror or err})", parent) from None
    lock = RunLock(parent)
    lock.acquire()
    try:
        if is_matrix(parent) and not force:
            old = read_matrix(parent)
            if old.config_sha256 != expansion.spec.sha256:
                raise RunExists(f"{parent}: the matrix config changed since it started; use --force to restart it")
        record = MatrixRecord(
            name=expansion.name,
            created=now(),
            config=str(expansion.spec.doc.path.resolve()),
            config_sha256=expansion.spec.sha256,
            axes=expansion.spec.axes,
            exclude=expansion.spec.exclude,
            shared_base=shared_base_dir(parent).name if expansion.shared_base else None,
            children=[
                MatrixChild(name=name, overrides=expansion.overrides[name], status=_listed(child_dir(parent, name)))
                for name in expansion.configs
            ],
        )
        if is_matrix(parent) and not force:
            record.created = read_matrix(parent).created
        save(parent, record)
    except BaseException:
        lock.release()
        raise
    return lock, record


def _listed(folder: Path) -> str:
    state = child_state(folder)
    return state if state in ("complete", "failed", "pending") else "pending"


def save(parent: Path, record: MatrixRecord) -> None:
    """Write matrix.json atomically."""
    atomic_write_text(parent / MATRIX_JSON, record.model_dump_json(indent=2) + "\n")


def build_shared_base(expansion: Expansion, force: bool, log: Callable[[str], None], progress: bool) -> None:
    """Build the base model once into PARENT/base_model (init_base swaps the folder in whole: a kill leaves none)."""
    target = shared_base_dir(expansion.parent)
    if (target / "config.json").is_file() and not force:
        log(f"matrix: shared base {target}: built earlier")
        return
    from harness.models.loading import quiet_transformers
    from harness.train.base_init import init_base

    quiet_transformers()
    base = base_config(expansion.spec)
    assert base.base is not None and base.base.init is not None  # uses_shared_base checked it
    log(f"matrix: building the shared base once → {target}")
    init_base(base.base.init, target, seed=base.seed, progress=progress)


def run_matrix(spec: MatrixSpec, out: Path | None = None, options: MatrixOptions | None = None) -> MatrixResult:
    """Run every unfinished child of ``spec`` on ``options.backend``; return the parent's record.

    Child failures do not stop the others (each is recorded with its error);
    the caller decides the exit code from ``MatrixResult.failed`` and the children's gates.
    """
    options = options or MatrixOptions()
    timer = time.perf_counter()
    expansion = expand_matrix(spec, out)
    seconds = {"expand": time.perf_counter() - timer}
    check_children_tracking(expansion)
    lock, record = open_parent(expansion, options.force)
    try:
        record.backend = options.backend
        timer = time.perf_counter()
        if expansion.shared_base:
            build_shared_base(expansion, options.force, options.log, options.progress)
        seconds["shared_base"] = time.perf_counter() - timer
        jobs = pending_jobs(expansion, record, options)
        options.log(f"matrix: {len(record.children)} children, {len(jobs)} to run ({options.backend})")
        collect = collector(expansion.parent, record, options.log)
        started = starter(expansion.parent, record)
        dispatch(options.backend, jobs, collect, started, options.workers, options.ray_address)
        timer = time.perf_counter()
        finish(expansion.parent, record)
        write_parent_outputs(expansion.parent)
        seconds["collect"] = collect.seconds + time.perf_counter() - timer  # type: ignore[attr-defined]
        options.log(
            f"matrix: the parent's own work: expansion {seconds['expand']:.2f} s, shared base "
            f"{seconds['shared_base']:.1f} s, collection and outputs {seconds['collect']:.2f} s"
        )
    finally:
        lock.release()
    return MatrixResult(expansion.parent, record, seconds)


def check_children_tracking(expansion: Expansion) -> None:
    """The children's ``tracking.mlflow`` checked once each distinct setting, before the parent folder or any
    child is touched (``pipeline.check_tracking``: mlflow missing or a file store unwritable is one line),
    instead of failing every child the same way after the shared base is built."""
    from harness.pipeline import check_tracking

    checked: set[str] = set()
    for config in expansion.configs.values():
        key = config.tracking.model_dump_json() if config.tracking is not None else ""
        if key not in checked:
            checked.add(key)
            check_tracking(config)


def pending_jobs(expansion: Expansion, record: MatrixRecord, options: MatrixOptions) -> list[ChildJob]:
    """A job per child that is not complete (every child with ``force``)."""
    threads = threads_per_job(options.backend, options.workers)
    jobs: list[ChildJob] = []
    for child in record.children:
        if child.status == "complete" and not options.force:
            options.log(f"matrix: {child.name}: complete earlier, skipped")
            continue
        config = expansion.configs[child.name]
        num_cpus = config.analysis.workers
        jobs.append(
            ChildJob(
                name=child.name,
                config=config.model_dump(mode="json"),
                out_dir=str(child_dir(expansion.parent, child.name)),
                force=options.force,
                progress=options.progress and options.backend == "local",
                threads=num_cpus if options.backend == "ray" else threads,
                num_cpus=num_cpus,
            )
        )
    if options.backend != "local" and len(jobs) > 1:
        jobs = largest_first(jobs, expansion)
    return jobs


def largest_first(jobs: list[ChildJob], expansion: Expansion) -> list[ChildJob]:
    """Side by side, the largest children start first, so a long one does not run alone at the end."""
    from harness.matrix.plan import plan_child, work_units

    shared = str(shared_base_dir(expansion.parent)) if expansion.shared_base else None
    size = {}
    for job in jobs:
        config = expansion.configs[job.name]
        size[job.name] = work_units(plan_child(job.name, config, {}, shared), config)
    return sorted(jobs, key=lambda job: -size[job.name])  # stable: equal sizes keep config order


def starter(parent: Path, record: MatrixRecord) -> Callable[[ChildJob], None]:
    """The ``started`` callback: the child is running (or queued on a pool); save matrix.json."""

    def started(job: ChildJob) -> None:
        next(c for c in record.children if c.name == job.name).status = "running"
        save(parent, record)

    return started


def collector(parent: Path, record: MatrixRecord, log: Callable[[str], None]) -> Callable[[ChildOutcome], None]:
    """The ``done`` callback: read the child's status from its run.json and save matrix.json."""

    def done(outcome: ChildOutcome) -> None:
        started = time.perf_counter()
        child = next(c for c in record.children if c.name == outcome.name)
        state = child_state(child_dir(parent, child.name))
        child.status = "complete" if state == "complete" and outcome.error is None else "failed"
        child.seconds = round(outcome.seconds, 2)
        child.error = None if child.status == "complete" else (outcome.error or f"run.json says {state}")
        save(parent, record)
        why = f" ({child.error})" if child.error else ""
        log(f"matrix: {child.name}: {child.status} in {outcome.seconds:.1f} s{why}")
        done.seconds += time.perf_counter() - started  # type: ignore[attr-defined]

    done.seconds = 0.0  # type: ignore[attr-defined]
    return done


def finish(parent: Path, record: MatrixRecord) -> None:
    """Mark the matrix complete when every child is, and save."""
    if all(c.status == "complete" for c in record.children):
        record.status = "complete"
        record.finished = now()
    else:
        record.status = "failed"
        record.finished = None
    save(parent, record)


def write_parent_outputs(parent: Path) -> list[Path]:
    """The parent's own outputs (matrix.csv, matrix.html) from the children's run directories.

    They are written by harness.matrix.report; until that module exists this
    hook writes nothing.  It reads only what is on disk, so it can be run again.
    """
    try:
        report = importlib.import_module("harness.matrix.report")
    except ModuleNotFoundError as err:
        if err.name != "harness.matrix.report":
            raise  # the module exists but a dependency of it is missing: a real error
        return []
    return list(report.write_parent_outputs(parent))


def child_gates(parent: Path, record: MatrixRecord) -> dict[str, bool | None]:
    """Each complete child's gate verdict from its run.json (None: no gates)."""
    verdicts: dict[str, bool | None] = {}
    for child in record.children:
        if child.status != "complete":
            continue
        gates = read_record(child_dir(parent, child.name) / RUN_JSON).gates
        verdicts[child.name] = None if gates is None else gates.passed
    return verdicts


def check_backend(backend: str, workers: int) -> None:
    """Refuse a backend setting that cannot work, before any work."""
    if workers < 1:
        raise ConfigError(f"--workers {workers}: must be at least 1")
    if backend == "ray":
        from harness.matrix.backends import import_ray

        import_ray()
