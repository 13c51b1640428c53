"""tracking.mlflow and `harness track`: a finished run logged to a temporary MLflow file store, read back
with the MLflow client (params, every summary estimate and CI, gates, artifacts)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import accept_edit, build_run, need, respond, write_config
from harness.cli import main
from harness.config import load_config, resolve_tracking_uri
from harness.errors import InputError
from harness.models.fake import FakeGenerator
from harness.pipeline import run
from harness.record.rundir import ChangedFile, RunDir
from harness.report.sections import read_summary
from harness.tracking import PARAM_LIMIT, TRUNCATED, component, config_params, metric_key, track_dir
from test_dependencies import hide

mlflow = need("mlflow", "pip install 'harness[tracking]'")
from mlflow.tracking import MlflowClient  # noqa: E402

TRACKING = "tracking: {mlflow: {tracking_uri: 'file:./mlruns', experiment: harness-tests}}\n"


@pytest.fixture
def client_for(monkeypatch):
    """An MLflow client on a file store (MLflow ≥ 3 opens one only with MLFLOW_ALLOW_FILE_STORE set)."""
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    return lambda store: MlflowClient(tracking_uri=Path(store).as_uri())


def logged_runs(client, experiment: str = "harness-tests") -> list:
    found = client.get_experiment_by_name(experiment)
    return [] if found is None else client.search_runs([found.experiment_id])


def test_a_run_with_tracking_logs_config_estimates_cis_gates_and_artifacts(tmp_path, client_for):
    result = build_run(tmp_path, extra=TRACKING)
    client = client_for(tmp_path / "mlruns")  # file:./mlruns resolved against the config's folder
    [logged] = logged_runs(client)
    assert logged.info.status == "FINISHED" and logged.info.run_name == "demo-run"
    params = logged.data.params
    assert params["probes.samples_per_prompt"] == "2" and params["seed"] == "1234"
    assert params["gates.0.measure"] == "flagged" and params["gates.0.max_delta"] == "0.1"
    assert params["finetune.tuned_model"] == str(tmp_path / "inputs" / "tuned")
    assert params["tracking.mlflow.experiment"] == "harness-tests"
    metrics = logged.data.metrics
    rows = read_summary(RunDir.open(result.run_dir))
    for row in rows:  # every estimate of summary.csv, with its CI and n
        pair = f"{row.arm}-vs-{row.versus}" if row.kind == "delta" else row.arm
        leaf = "delta" if row.kind == "delta" else "value"
        base = metric_key(row.measure, pair, row.category)
        assert metrics[f"{base}/{leaf}"] == pytest.approx(row.value)
        assert metrics[f"{base}/n"] == float(row.n)
        for name, bound in (("ci_low", row.low), ("ci_high", row.high)):
            assert (f"{base}/{name}" in metrics) == (bound is not None)
            if bound is not None:
                assert metrics[f"{base}/{name}"] == pytest.approx(bound)
    assert metrics["flagged/tuned-vs-base/all/delta"] == pytest.approx(0.25)  # tuned 2/4 − base 1/4
    # the fixture's gate (flagged max_delta 0.1) fails on tuned
    assert metrics["gates_passed"] == 0.0 and metrics["gates/flagged/tuned/all/max_delta/passed"] == 0.0
    assert metrics["gates/flagged/tuned/all/max_delta/value"] == pytest.approx(0.25)
    artifacts = {a.path for a in client.list_artifacts(logged.info.run_id)}
    assert {"report.html", "run.json", "summary.csv", "gates.json", "gates.junit.xml"} <= artifacts
    folder = Path(client.download_artifacts(logged.info.run_id, "", str(tmp_path / "back")))
    assert (folder / "run.json").read_bytes() == (result.run_dir / "run.json").read_bytes()
    assert (folder / "report.html").read_bytes() == (result.run_dir / "report.html").read_bytes()
    assert json.loads((folder / "gates.json").read_text(encoding="utf-8"))["passed"] is False
    assert logged.data.tags["harness.run"] == "demo-run"
    assert logged.data.tags["harness.run_dir"] == str(result.run_dir)

    # --resume of the finished run changes nothing: it is not logged a second time
    config = load_config(tmp_path / "demo-run.yaml")
    run(config, out_dir=result.run_dir, resume=True, progress=False, log=lambda m: None,
        generator=FakeGenerator(respond=respond))  # fmt: skip
    assert len(logged_runs(client)) == 1


def test_harness_track_logs_an_existing_run_once(run_dir, tmp_path, client_for, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args = ["track", str(run_dir), "--mlflow-uri", "store", "--experiment", "later", "--run-name", "first look"]
    assert main(args) == 0  # a relative --mlflow-uri is relative to the working folder
    client = client_for(tmp_path / "store")
    [logged] = logged_runs(client, "later")
    assert logged.info.run_name == "first look"
    assert logged.data.metrics["flagged/tuned/all/value"] == 0.5
    assert main(args) == 0
    assert "already logged as MLflow run " + logged.info.run_id in capsys.readouterr().out
    assert len(logged_runs(client, "later")) == 1
    # a run whose tables were rebuilt (here: a table edited and accepted) is logged anew: the tables'
    # sha256 are part of harness.key
    summary = run_dir / "summary.csv"
    summary.write_text(summary.read_text(encoding="utf-8") + "\n", encoding="utf-8")
    accept_edit(run_dir, "summary.csv")
    assert main(args) == 0
    assert len(logged_runs(client, "later")) == 2


def test_a_changed_table_is_refused_before_any_mlflow_run(run_dir, tmp_path, client_for):
    summary = run_dir / "summary.csv"
    summary.write_text(summary.read_text(encoding="utf-8") + "\n", encoding="utf-8")
    with pytest.raises(ChangedFile, match="summary.csv"):
        track_dir(run_dir, str(tmp_path / "store"), "refused")
    assert logged_runs(client_for(tmp_path / "store"), "refused") == []


def test_track_needs_an_experiment_and_a_complete_run(run_dir, tmp_path):
    with pytest.raises(InputError, match="no MLflow experiment: pass --experiment"):
        track_dir(run_dir, str(tmp_path / "store"))
    rundir = RunDir.open(run_dir)
    rundir.record.status = "running"
    rundir.save()
    with pytest.raises(InputError, match="run is running, not complete"):
        track_dir(run_dir, str(tmp_path / "store"), "x")


def test_without_mlflow_the_run_is_refused_before_any_work_in_one_line(tmp_path, monkeypatch, capsys):
    config = write_config(tmp_path, extra=TRACKING)
    hide(monkeypatch, "mlflow")
    out = tmp_path / "out"
    assert main(["run", str(config), "--out", str(out), "--quiet"]) == 1
    assert capsys.readouterr().err.strip().splitlines() == [
        "harness: error: tracking.mlflow needs the 'mlflow' package: pip install 'harness[tracking]'"
    ]
    assert not out.exists()  # refused before the run folder was made
    assert main(["track", str(tmp_path), "--experiment", "x"]) == 1  # no run there: the folder is named first


def test_an_unwritable_file_store_is_refused_before_any_work(tmp_path, capsys):
    (tmp_path / "blocker").write_text("a file where the store's folder would go", encoding="utf-8")
    extra = "tracking: {mlflow: {tracking_uri: blocker/mlruns, experiment: e}}\n"
    config = write_config(tmp_path, extra=extra)
    assert main(["run", str(config), "--out", str(tmp_path / "out"), "--quiet"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"harness: error: {tmp_path / 'blocker'}: tracking.mlflow.tracking_uri: the MLflow file store "
                   "cannot be written here"]  # fmt: skip
    assert not (tmp_path / "out").exists()


def test_params_are_strings_cut_to_the_limit(tmp_path):
    long_link = "https://example.org/" + "x" * 700
    config = load_config(write_config(tmp_path, extra=f"export: {{license_link: '{long_link}'}}\n"))
    params = config_params(config)
    assert len(params["export.license_link"]) == PARAM_LIMIT and params["export.license_link"].endswith(TRUNCATED)
    assert params["base.allow_hub"] == "false" and params["out_dir"] == "null"
    assert params["analysis.detectors"] == '["lexicon", "classifier"]'  # a list of plain values: one JSON param
    assert all(isinstance(v, str) and len(v) <= PARAM_LIMIT for v in params.values())


def test_metric_names_are_sanitised_without_merging_labels():
    assert metric_key("flagged", "tuned-vs-base", "all", "delta") == "flagged/tuned-vs-base/all/delta"
    young, old = component("若者"), component("高齢者")
    assert young != old and all(c in "_0123456789abcdef" for c in young + old)
    assert component("a/b") != component("a_b") and "/" not in component("a/b")
    assert component("..") not in ("..", "") and component("x y").startswith("x_y_")


def test_relative_tracking_uris_resolve_against_the_config_folder(tmp_path):
    root = tmp_path / "cfg"
    assert resolve_tracking_uri("file:./mlruns", root) == (root / "mlruns").as_uri()
    assert resolve_tracking_uri("mlruns", root) == (root / "mlruns").as_uri()
    assert resolve_tracking_uri("file:///srv/mlruns", root) == "file:///srv/mlruns"
    assert resolve_tracking_uri("http://127.0.0.1:5000", root) == "http://127.0.0.1:5000"
    assert resolve_tracking_uri("sqlite:///runs.db", root) == f"sqlite:///{root / 'runs.db'}"


# -- a run matrix: one MLflow run per child -------------------------------------------------------

MATRIX_AXES = "matrix:\n  analysis.bootstrap: [100, 150]\n"


def test_a_matrix_without_mlflow_is_refused_once_before_any_child(tmp_path, monkeypatch, capsys):
    from test_matrix import matrix_config

    config = matrix_config(tmp_path, MATRIX_AXES, extra=TRACKING)
    hide(monkeypatch, "mlflow")
    parent = tmp_path / "parent"
    assert main(["run", str(config), "--out", str(parent), "--quiet"]) == 1
    assert capsys.readouterr().err.strip().splitlines() == [
        "harness: error: tracking.mlflow needs the 'mlflow' package: pip install 'harness[tracking]'"
    ]  # one line, not one failed child per child
    assert not parent.exists()  # refused before the parent folder (and any child) was made


def test_matrix_children_log_themselves_and_track_parent_logs_each_complete_child(tmp_path, client_for, capsys):
    from test_matrix import matrix_config, quiet

    from harness.matrix.runner import run_matrix
    from harness.matrix.spec import read_spec

    config = matrix_config(tmp_path, MATRIX_AXES, extra=TRACKING)
    parent = tmp_path / "parent"
    result = run_matrix(read_spec(config), parent, quiet())
    assert not result.failed
    client = client_for(tmp_path / "mlruns")
    logged = logged_runs(client)
    children = {r.data.tags["harness.run"]: r for r in logged}
    assert sorted(children) == sorted(f"mx.{c.name}" for c in result.record.children)  # the child runs' names
    assert {r.data.tags["harness.matrix"] for r in logged} == {"mx"}
    assert {r.data.params["analysis.bootstrap"] for r in logged} == {"100", "150"}  # the axis, as a param
    # harness track PARENT: every complete child, once; already logged ones are not logged again
    assert main(["track", str(parent)]) == 0
    assert capsys.readouterr().out.count("already logged as MLflow run") == 2
    assert len(logged_runs(client)) == 2
    store = tmp_path / "store"
    assert main(["track", str(parent), "--mlflow-uri", str(store), "--experiment", "matrix-later"]) == 0
    later = logged_runs(client_for(store), "matrix-later")
    assert sorted(r.info.run_name for r in later) == sorted(children)
    assert {r.data.tags["harness.matrix"] for r in later} == {"mx"}
    # a child that is not complete is named and left out; --run-name cannot name several runs
    child = RunDir.open(next((parent / "children").iterdir()))
    child.record.status = "failed"
    child.save()
    assert main(["track", str(parent), "--mlflow-uri", str(store), "--experiment", "matrix-later"]) == 0
    assert ": failed, not logged" in capsys.readouterr().out
    assert main(["track", str(parent), "--experiment", "x", "--run-name", "one"]) == 1
    assert "--run-name names one run" in capsys.readouterr().err
