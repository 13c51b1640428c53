"""Where the children of a matrix run: in this process, in spawned processes, or on a Ray cluster.

A job is plain data (``ChildJob``: the child's validated config as JSON and its
run directory), and ``run_child`` is the one function every backend calls on
it, so a child's outputs cannot depend on the backend.  A child writes only
its own run directory; the parent learns how it went from the child's
run.json (harness.matrix.runner), never from a worker's memory: a worker
returns only the one-line error of a child that failed.

Threads: torch on CPU uses every core by default, so N children side by side
would fight.  ``--backend processes --workers N`` gives each worker
``cores // N`` threads (``OMP_NUM_THREADS`` / ``MKL_NUM_THREADS`` set before
torch loads, then ``torch.set_num_threads``); a Ray job gets its ``num_cpus``.
"""

from __future__ import annotations

import os
import sys
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Callable, Iterable, NamedTuple

from harness.errors import ConfigError, HarnessError, MissingDependency

BACKENDS = ("local", "processes", "ray")
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


class ChildJob(NamedTuple):
    """One child run to do: everything a worker needs, picklable."""

    name: str
    config: dict[str, Any]  # RunConfig.model_dump(mode="json"), validated by the parent
    out_dir: str
    force: bool = False
    progress: bool = False
    threads: int | None = None  # torch threads; None leaves torch's default
    num_cpus: int = 1  # what the job asks of a Ray cluster


class ChildOutcome(NamedTuple):
    """What a worker hands back: the child's name, its wall time, and the error line when it failed."""

    name: str
    seconds: float
    error: str | None = None


Done = Callable[[ChildOutcome], None]
Started = Callable[[ChildJob], None]


def cpu_count() -> int:
    """CPUs this process may use (the affinity mask, which container limits set)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def limit_threads(threads: int | None) -> None:
    """Use ``threads`` CPU threads from here on (environment for libraries not loaded yet, and torch)."""
    if not threads:
        return
    for variable in THREAD_VARIABLES:
        os.environ[variable] = str(threads)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(threads)


def run_child(job: ChildJob) -> ChildOutcome:
    """Run one child to the end (a finished stage is skipped, an unfinished one resumed).

    Every error is caught and returned as one line, so one failing child does
    not stop the others; gate failures are results, not errors.
    """
    from harness.config import RunConfig
    from harness.pipeline import ExportFailed, run

    limit_threads(job.threads)
    started = time.perf_counter()

    def log(message: str) -> None:
        print(f"[{job.name}] {message}", file=sys.stderr, flush=True)

    try:
        config = RunConfig.model_validate(job.config)
        run(config, out_dir=job.out_dir, resume=not job.force, force=job.force, progress=job.progress, log=log)
    except ExportFailed as err:
        return ChildOutcome(job.name, time.perf_counter() - started, str(err))
    except HarnessError as err:
        return ChildOutcome(job.name, time.perf_counter() - started, str(err))
    except Exception as err:  # a bug in one child: recorded, the others go on
        return ChildOutcome(job.name, time.perf_counter() - started, f"internal error ({type(err).__name__}: {err})")
    return ChildOutcome(job.name, time.perf_counter() - started)


def run_local(jobs: Iterable[ChildJob], done: Done, started: Started) -> None:
    """One child after the other, in this process."""
    for job in jobs:
        started(job)
        done(run_child(job))


def run_processes(jobs: Iterable[ChildJob], done: Done, started: Started, workers: int) -> None:
    """Children on ``workers`` spawned processes (a fresh interpreter each: torch threads set before it loads)."""
    import multiprocessing

    jobs = list(jobs)
    context = multiprocessing.get_context("spawn")  # never fork a process that may hold torch threads
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        pending = {}
        for job in jobs:
            started(job)  # submitted: it runs as soon as a worker is free
            pending[pool.submit(run_child, job)] = job
        while pending:
            finished, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in finished:
                job = pending.pop(future)
                try:
                    done(future.result())
                except BrokenProcessPool:  # a worker was killed (out of memory?): its children stay unfinished
                    done(ChildOutcome(job.name, 0.0, "its worker process died (killed, or out of memory)"))


def import_ray():
    """The ray module, or one line naming the install."""
    try:
        import ray
    except ImportError:
        raise MissingDependency("ray", "--backend ray") from None
    return ray


def run_ray(jobs: Iterable[ChildJob], done: Done, started: Started, address: str | None) -> None:
    """Children as Ray tasks: ``address`` (auto, HOST:PORT) joins a cluster, None starts Ray here.

    Each task asks for its job's ``num_cpus`` and, when the cluster has GPUs, one GPU.
    """
    ray = import_ray()
    started_here = not ray.is_initialized()
    if started_here:
        try:
            ray.init(address=address, include_dashboard=False, logging_level="ERROR", log_to_driver=True)
        except (ConnectionError, RuntimeError, ValueError) as err:
            where = address or "a local Ray instance"
            raise ConfigError(f"--backend ray: cannot connect to {where} ({err})") from None
    try:
        gpus = 1 if ray.cluster_resources().get("GPU", 0) >= 1 else 0
        task = ray.remote(run_child)
        pending = {}
        for job in jobs:
            started(job)  # submitted: Ray runs it when a worker with its resources is free
            pending[task.options(num_cpus=job.num_cpus, num_gpus=gpus, max_retries=0).remote(job)] = job
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            for ref in ready:
                job = pending.pop(ref)
                try:
                    done(ray.get(ref))
                except ray.exceptions.RayError as err:  # a worker died: the child stays unfinished
                    done(ChildOutcome(job.name, 0.0, f"ray: {str(err).splitlines()[0]}"))
    finally:
        if started_here:
            ray.shutdown()


def dispatch(
    backend: str,
    jobs: list[ChildJob],
    done: Done,
    started: Started = lambda job: None,
    workers: int = 1,
    ray_address: str | None = None,
) -> None:
    """Run ``jobs`` on ``backend``, calling ``started`` as each is handed out and ``done`` as each
    finishes, both in this process."""
    if backend == "local":
        run_local(jobs, done, started)
    elif backend == "processes":
        run_processes(jobs, done, started, workers)
    elif backend == "ray":
        run_ray(jobs, done, started, ray_address)
    else:
        raise ConfigError(f"--backend {backend}: not one of {', '.join(BACKENDS)}")


def threads_per_job(backend: str, workers: int) -> int | None:
    """Torch threads a child gets: cores // workers side by side; None (torch's default) when alone."""
    if backend == "processes":
        return max(1, cpu_count() // max(1, workers))
    return None
