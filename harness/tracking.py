"""Experiment tracking: a finished run logged to MLflow (``tracking.mlflow`` in the config, or ``harness track``).

One MLflow run per harness run, in the experiment the config names, with

* **params**: the run's config flattened to dotted keys (``finetune.lr``,
  ``probes.decoding.top_p``, ``gates.0.measure``; a list of plain values is
  one JSON param), every value a string (``null``/``true``/numbers as JSON),
  cut to ``PARAM_LIMIT`` characters with a note (run.json, an artifact, holds
  the whole config);
* **metrics** (``metric_key``: path components joined with ``/``, each
  sanitised to ``[A-Za-z0-9_.-]``; a component that had to change gets ``_``
  and 8 hex digits of its sha256, so two labels never merge):
  ``MEASURE/ARM/CATEGORY/{value,ci_low,ci_high,n}`` for every rate and mean
  of summary.csv, ``MEASURE/ARM-vs-VERSUS/CATEGORY/{delta,ci_low,ci_high,n}``
  for every paired delta, ``gates/MEASURE/ARM/CATEGORY/KIND/{passed,value}``
  per gate and ``gates_passed`` overall (1/0), ``finetune/…`` (held-out and
  neutral-text loss and perplexity before/after; the training and eval loss
  curves with their steps); an undefined number (an empty CI) is not logged;
* **artifacts**: report.html, run.json, summary.csv, gates.json (run.json's
  gate report) and gates.junit.xml when the run has gates;
* **tags**: ``harness.run`` (the run's name), ``harness.run_dir``,
  ``harness.git_sha``, ``harness.key``, and for a child of a run matrix
  ``harness.matrix`` (the parent's matrix name).

A matrix is one MLflow run per child, not runs nested under a parent run:
each child is an ordinary run that logs itself when it finishes (its config
has the matrix's ``tracking``), and ``harness track PARENT`` logs every
complete child not logged yet (``track_matrix``).  The ``harness.matrix`` tag
and the axes among the params (``finetune.lr``) let MLflow's search and
compare views line the children up, as ``matrix.csv`` does.  The matrix
runner checks the tracking settings once before any child starts.

``harness.key`` is a hash of the run's name, start time and the sha256 of
every table: a run already logged with the same key is not logged twice
(``--resume`` of a finished run, a second ``harness track``), while a run
whose tables were rebuilt (``harness report --reanalyse``) is logged anew.

mlflow is optional (``pip install 'harness[tracking]'``): ``check_tracking_ready``
names the fix in one line before any work starts.  Nothing here writes
into the run directory; the file store (``file:`` URI) is the only thing written.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import re
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator
from urllib.parse import unquote, urlparse

from harness.config import MlflowSettings, RunConfig, resolve_tracking_uri
from harness.errors import HarnessError, InputError, MissingDependency
from harness.matrix.paths import MATRIX_JSON, child_dir, parent_of, read_matrix
from harness.record.rundir import JUNIT, REPORT, RUN_JSON, SUMMARY, RunDir
from harness.record.schema import RunRecord
from harness.report.sections import read_summary

INSTALL = "'harness[tracking]'"
# MLflow's limit on a param value was 500 characters before 1.x servers raised it (6000 in 2.x); 500 keeps a
# run loggable on any server version a team still runs
PARAM_LIMIT = 500
TRUNCATED = "…[truncated; run.json holds the full value]"
# MLflow's log_batch limits: 1000 metrics, 100 params, 100 tags per request
BATCH = {"metrics": 1000, "params": 100}
SAFE = re.compile(r"[^A-Za-z0-9_.\-]")
ALLOW_FILE_STORE = "MLFLOW_ALLOW_FILE_STORE"


class TrackingError(HarnessError):
    """Logging to MLflow failed (the run itself is complete on disk)."""


def check_tracking_ready(settings: MlflowSettings) -> None:
    """Fail before any work when mlflow is missing or a file store cannot be written (one line each)."""
    try:
        importlib.import_module("mlflow")
    except ImportError:
        raise MissingDependency("mlflow", "tracking.mlflow", install=INSTALL) from None
    folder = file_store(settings.tracking_uri)
    if folder is None:
        return
    existing = next((p for p in (folder, *folder.parents) if p.exists()), None)
    if existing is None or not existing.is_dir() or not os.access(existing, os.W_OK):
        message = "tracking.mlflow.tracking_uri: the MLflow file store cannot be written here"
        raise InputError(message, existing or folder)


def file_store(uri: str) -> Path | None:
    """The folder of a ``file:`` tracking URI (None for a server or database URI)."""
    parsed = urlparse(uri)
    if parsed.scheme == "file":
        return Path(unquote(parsed.path))
    return Path(uri) if not parsed.scheme else None


# -- params --------------------------------------------------------------------------------------


def flatten(value: Any, prefix: str = "") -> Iterator[tuple[str, str]]:
    """(dotted key, string value) for every leaf of a JSON-like value; lists of plain values stay one JSON leaf."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from flatten(item, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(value, list) and any(isinstance(item, (dict, list)) for item in value):
        for index, item in enumerate(value):
            yield from flatten(item, f"{prefix}.{index}")
    else:
        yield prefix, value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def config_params(config: RunConfig) -> dict[str, str]:
    """The config as MLflow params: dotted keys, string values of at most ``PARAM_LIMIT`` characters."""
    params = {}
    for key, value in flatten(config.model_dump(mode="json")):
        if len(value) > PARAM_LIMIT:
            value = value[: PARAM_LIMIT - len(TRUNCATED)] + TRUNCATED
        params[".".join(component(part) for part in key.split("."))] = value
    return params


# -- metrics -------------------------------------------------------------------------------------


def component(text: str) -> str:
    """One component of a metric or param key, limited to ``[A-Za-z0-9_.-]`` (a changed one gets a hash suffix)."""
    clean = SAFE.sub("_", text)
    if clean == text and text not in ("", ".", ".."):
        return text
    return f"{clean}_{hashlib.sha256(text.encode('utf-8')).hexdigest()[:8]}"


def metric_key(*parts: str) -> str:
    """A metric name from its components (see the module docstring for the scheme)."""
    return "/".join(component(p) for p in parts)


def summary_metrics(run: RunDir) -> dict[str, float]:
    """Every estimate of summary.csv with its CI and n, named by ``metric_key`` (undefined numbers left out)."""
    out: dict[str, float] = {}
    for row in read_summary(run):
        if row.kind == "delta":
            base, leaf = (row.measure, f"{row.arm}-vs-{row.versus}", row.category), "delta"
        else:
            base, leaf = (row.measure, row.arm, row.category), "value"
        for name, number in ((leaf, row.value), ("ci_low", row.low), ("ci_high", row.high), ("n", row.n)):
            add(out, metric_key(*base, name), number)
    return out


def add(out: dict[str, float], key: str, number: Any) -> None:
    """Set ``out[key]`` to a defined number; two rows on one name are a harness bug, never an overwrite."""
    if number in (None, "") or number != number:
        return
    if key in out:
        raise TrackingError(f"two summary rows map to the MLflow metric {key!r}")
    out[key] = float(number)


def gate_metrics(record: RunRecord) -> dict[str, float]:
    """Per gate × arm: ``passed`` (1/0) and the number held against the threshold; ``gates_passed`` overall."""
    if record.gates is None:
        return {}
    out = {"gates_passed": float(record.gates.passed)}
    for gate in record.gates.results:
        base = ("gates", gate.measure, gate.arm, gate.probe_category, gate.kind)
        add(out, metric_key(*base, "passed"), float(gate.passed))
        add(out, metric_key(*base, "value"), gate.compared)
    return out


def finetune_metrics(record: RunRecord) -> tuple[dict[str, float], list[tuple[str, float, int]]]:
    """The fine-tune's before/after losses and perplexities, and its curves as (key, value, step)."""
    tune = record.finetune
    if tune is None:
        return {}, []
    fields = ("eval_loss_before", "eval_loss_after", "perplexity_before", "perplexity_after", "tokens_per_second")
    flat = {f"finetune/{name}": float(getattr(tune, name)) for name in fields}
    if tune.drift is not None:
        for name in ("loss_before", "loss_after", "perplexity_before", "perplexity_after"):
            flat[f"finetune/drift_{name}"] = float(getattr(tune.drift, name))
    curves = [("finetune/train_loss", p.loss, p.step) for p in tune.loss_curve]
    curves += [("finetune/eval_loss", p.loss, p.step) for p in tune.eval_curve]
    return flat, curves


# -- logging -------------------------------------------------------------------------------------


def run_key(record: RunRecord) -> str:
    """What makes two loggings the same run: its name, start time and the sha256 of every table it wrote."""
    facts = json.dumps([record.name, record.created, sorted(record.content_sha256.items())])
    return hashlib.sha256(facts.encode("utf-8")).hexdigest()


@contextmanager
def file_store_allowed(uri: str) -> Iterator[None]:
    """Let MLflow ≥ 3.x open a ``file:`` store while logging (it refuses one unless MLFLOW_ALLOW_FILE_STORE is set).

    The config naming a file store is the user's explicit choice (offline, no
    database); the variable is set only for this call and restored after.
    """
    if file_store(uri) is None or ALLOW_FILE_STORE in os.environ:
        yield
        return
    os.environ[ALLOW_FILE_STORE] = "true"
    try:
        yield
    finally:
        os.environ.pop(ALLOW_FILE_STORE, None)


def chunks(items: list, size: int) -> Iterator[list]:
    """``items`` in pieces of at most ``size`` (MLflow's batch limits)."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def experiment_id(client: Any, name: str) -> str:
    """The experiment called ``name``, created when missing (another process may create it at the same moment)."""
    from mlflow.exceptions import MlflowException

    found = client.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    try:
        return client.create_experiment(name)
    except MlflowException:
        found = client.get_experiment_by_name(name)
        if found is None:
            raise
        return found.experiment_id


def track_run(
    run: RunDir, settings: MlflowSettings, log: Callable[[str], None] = print
) -> str:
    """Log a complete run to MLflow (see the module docstring); returns the MLflow run id.

    Every file is read (and checked against run.json's sha256) before the
    MLflow run is created, so a changed table fails before anything is logged.
    A run already logged with the same ``harness.key`` is not logged again.
    """
    check_tracking_ready(settings)
    record = run.record
    if record.status != "complete":
        message = f"run is {record.status}, not complete: finish it (harness run --resume) before tracking it"
        raise InputError(message, run.path)
    metrics = {**summary_metrics(run), **gate_metrics(record)}
    flat, curves = finetune_metrics(record)
    metrics |= flat
    artifacts = [run.file(n) for n in (REPORT, RUN_JSON, SUMMARY, JUNIT) if run.has(n)]
    try:
        with file_store_allowed(settings.tracking_uri):
            return log_to_mlflow(run, settings, config_params(record.config), metrics, curves, artifacts, log)
    except HarnessError:
        raise
    except Exception as err:  # MlflowException, OSError from the store: one line, the run stays as it is
        raise TrackingError(
            f"MLflow logging to {settings.tracking_uri} failed ({type(err).__name__}: {err}); the run in "
            f"{run.path} is complete: `harness track {run.path}` logs it again"
        ) from None


def log_to_mlflow(
    run: RunDir,
    settings: MlflowSettings,
    params: dict[str, str],
    metrics: dict[str, float],
    curves: list[tuple[str, float, int]],
    artifacts: list[Path],
    log: Callable[[str], None],
) -> str:
    """Create the MLflow run, log params, metrics, artifacts and tags in batches, and mark it finished."""
    from mlflow.entities import Metric, Param, RunTag
    from mlflow.tracking import MlflowClient

    record = run.record
    client = MlflowClient(tracking_uri=settings.tracking_uri)
    experiment = experiment_id(client, settings.experiment)
    key = run_key(record)
    earlier = client.search_runs([experiment], filter_string=f"tags.`harness.key` = '{key}'", max_results=1)
    if earlier and earlier[0].info.status == "FINISHED":
        log(f"tracking: already logged as MLflow run {earlier[0].info.run_id} ({settings.experiment})")
        return earlier[0].info.run_id
    tags = {"harness.run": record.name, "harness.run_dir": str(run.path), "harness.key": key}
    tags |= {"harness.git_sha": record.git_sha} if record.git_sha else {}
    if (parent := parent_of(run.path)) is not None:
        tags["harness.matrix"] = read_matrix(parent).name
    mlflow_run = client.create_run(experiment, run_name=settings.run_name or record.name, tags=tags)
    run_id = mlflow_run.info.run_id
    try:
        stamp = mlflow_run.info.start_time
        for part in chunks([Param(k, v) for k, v in params.items()], BATCH["params"]):
            client.log_batch(run_id, params=part)
        entries = [Metric(k, v, stamp, 0) for k, v in metrics.items()]
        entries += [Metric(k, float(v), stamp, step) for k, v, step in curves]
        for part in chunks(entries, BATCH["metrics"]):
            client.log_batch(run_id, metrics=part)
        client.log_batch(run_id, tags=[RunTag("harness.status", record.status)])
        for path in artifacts:
            client.log_artifact(run_id, str(path))
        if record.gates is not None:
            client.log_text(run_id, record.gates.model_dump_json(indent=2) + "\n", "gates.json")
    except BaseException:
        client.set_terminated(run_id, status="FAILED")
        raise
    client.set_terminated(run_id, status="FINISHED")
    log(f"tracking: MLflow run {run_id} in experiment {settings.experiment!r} ({settings.tracking_uri})")
    return run_id


def track_dir(
    path: str | Path,
    tracking_uri: str | None = None,
    experiment: str | None = None,
    run_name: str | None = None,
    log: Callable[[str], None] = print,
) -> str:
    """``harness track RUN``: log an existing run directory; unset settings come from its config's tracking.mlflow.

    A relative ``tracking_uri`` resolves against the working folder (as
    every CLI path does); the one in run.json is already absolute.
    """
    run = RunDir.open(path)
    stored = run.record.config.tracking.mlflow if run.record.config.tracking else None
    experiment = experiment or (stored.experiment if stored else None)
    if not experiment:
        raise InputError("no MLflow experiment: pass --experiment (run.json's config has no tracking.mlflow)", run.path)
    if tracking_uri is not None:
        tracking_uri = resolve_tracking_uri(tracking_uri, Path.cwd())
    settings = MlflowSettings(
        tracking_uri=tracking_uri or (stored.tracking_uri if stored else resolve_tracking_uri("mlruns", Path.cwd())),
        experiment=experiment,
        run_name=run_name or (stored.run_name if stored else None),
    )
    return track_run(run, settings, log)


def track_matrix(
    parent: str | Path,
    tracking_uri: str | None = None,
    experiment: str | None = None,
    log: Callable[[str], None] = print,
) -> list[str]:
    """``harness track PARENT``: log every complete child of a matrix (``track_dir`` each; see the module
    docstring); returns their MLflow run ids.  A child that is not complete is named and left out."""
    record = read_matrix(parent)
    ids = []
    for child in record.children:
        folder = child_dir(parent, child.name)
        status = RunDir.open(folder).record.status if RunDir.holds_run(folder) else "not started"
        if status != "complete":
            log(f"tracking: {child.name}: {status}, not logged")
            continue
        ids.append(track_dir(folder, tracking_uri, experiment, log=log))
    if not ids:
        raise InputError("no complete child run to log", Path(parent) / MATRIX_JSON)
    return ids
