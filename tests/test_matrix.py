"""Run matrices (harness.matrix): dotted keys, --set, expansion, the parent record, resume and backends.

The children here use ``probes.backend: fake`` (canned text, no torch), so a
child is a real run of every stage in about a second and works in any
backend's worker process; training is not the point of these tests.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import write_inputs
from harness.cli import main
from harness.config import load_config
from harness.errors import ConfigError, RunExists
from harness.matrix.paths import child_dir, generation_cache, read_matrix
from harness.matrix.runner import MatrixOptions, run_matrix
from harness.matrix.spec import check_key, child_name, expand, expand_matrix, parse_sets, read_spec

ROOT = Path(__file__).resolve().parents[1]
TABLES = ("scores.csv", "summary.csv", "generations.jsonl", "groups.csv", "vocab_shift.csv", "pii.csv")


def matrix_config(root: Path, axes: str | None = None, extra: str = "", name: str = "mx") -> Path:
    """A matrix over the fixture inputs (conftest): fake generator, given models, 2 × 2 by default."""
    files = write_inputs(root)
    inputs = files["corpus"].parent
    if axes is None:
        axes = "matrix:\n  analysis.bootstrap: [100, 150]\n  probes.samples_per_prompt: [1, 2]\n"
    path = root / f"{name}.yaml"
    path.write_text(
        f"name: {name}\nseed: 7\n"
        f"base: {{model: {inputs / 'base'}}}\n"
        f"corpus: {{path: {files['corpus']}, format: open2ch}}\n"
        f"finetune: {{tuned_model: {inputs / 'tuned'}}}\n"
        f"probes: {{files: [{files['probes']}], samples_per_prompt: 2, backend: fake, "
        "decoding: {max_new_tokens: 8}}\n"
        f"analysis: {{lexicons: [{files['lexicon']}], bootstrap: 100}}\n"
        "gates:\n  - {measure: flagged, max_delta: 0.5}\n"
        f"{extra}{axes}",
        encoding="utf-8",
    )
    return path


def quiet() -> MatrixOptions:
    return MatrixOptions(log=lambda message: None)


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (the lock aside) by relative path."""
    return {
        str(p.relative_to(folder)): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != ".harness.lock"
    }


# -- dotted keys, --set, expansion ------------------------------------------------------


def test_check_key_accepts_settings_and_names_unknown_ones():
    assert check_key("finetune.lr") is None
    assert check_key("finetune.lora") is None
    assert check_key("base.init.steps") is None
    assert "unknown key 'finetune.lrr'" in check_key("finetune.lrr")
    assert "keys of finetune" in check_key("finetune.lrr")
    assert "holds a value" in check_key("finetune.lr.x")
    assert "not a dotted config key" in check_key("finetune..lr")


def test_parse_sets_reads_yaml_values_and_refuses_bad_items():
    sets = parse_sets(["finetune.lr=3e-4", "finetune.lora={rank: 8}", "corpus.max_docs=null", "seed=5"])
    assert sets == {"finetune.lr": 3e-4, "finetune.lora": {"rank": 8}, "corpus.max_docs": None, "seed": 5}
    with pytest.raises(ConfigError, match=r"--set finetune\.lr: expected KEY=VALUE"):
        parse_sets(["finetune.lr"])
    with pytest.raises(ConfigError, match=r"unknown key 'finetune\.rate'"):
        parse_sets(["finetune.rate=1"])
    assert parse_sets(["name=x"]) == {"name": "x"}


def test_set_name_renames_the_matrix_and_its_children(tmp_path):
    expansion = expand_matrix(read_spec(matrix_config(tmp_path), {"name": "other"}), tmp_path / "p")
    assert expansion.name == "other"
    assert {c.name for c in expansion.configs.values()} == {f"other.{n}" for n in expansion.configs}


def test_child_names_follow_the_shared_design():
    assert child_name(1, 2, {"finetune.lr": 3e-4, "finetune.epochs": 2}) == "c01-lr-0.0003_epochs-2"
    assert child_name(12, 2, {"finetune.lora": None}) == "c12-lora-none"
    assert child_name(3, 3, {"finetune.lora": {"rank": 8}}) == "c003-lora-rank-8"
    assert child_name(4, 2, {"corpus.path": "a b/ü.txt"}) == "c04-path-a-b--.txt"


def test_expansion_is_the_product_in_axis_order_minus_excluded(tmp_path):
    axes = (
        "matrix:\n  finetune.lr: [3.0e-4, 1.0e-3]\n  finetune.epochs: [1, 2, 4]\n"
        "matrix_exclude:\n  - {finetune.lr: 1.0e-3, finetune.epochs: 4}\n  - {finetune.epochs: 1}\n"
    )
    children = expand(read_spec(matrix_config(tmp_path, axes)))
    assert [c.name for c in children] == [
        "c01-lr-0.0003_epochs-2",
        "c02-lr-0.0003_epochs-4",
        "c03-lr-0.001_epochs-2",
    ]
    assert children[2].overrides == {"finetune.lr": 1e-3, "finetune.epochs": 2}


@pytest.mark.parametrize(
    ("axes", "message"),
    [
        ("matrix:\n  finetune.lrr: [1]\n", r"mx\.yaml:11: matrix: unknown key 'finetune\.lrr'"),
        ("matrix:\n  finetune.lr: 1\n", r"mx\.yaml:11: matrix\.finetune\.lr: expected a non-empty list"),
        ("matrix:\n  finetune.lr: [1, 1]\n", r"mx\.yaml:11: matrix\.finetune\.lr: value 1 is given twice"),
        ("matrix:\n  name: [a, b]\n", r"mx\.yaml:11: matrix: 'name' is set by the matrix itself"),
        (
            "matrix:\n  finetune.lora: [null]\n  finetune.lora.rank: [4]\n",
            r"mx\.yaml:12: matrix: axes 'finetune\.lora' and 'finetune\.lora\.rank' set the same setting",
        ),
        (
            "matrix:\n  finetune.lr: [1]\nmatrix_exclude:\n  - {finetune.epochs: 2}\n",
            r"mx\.yaml:13: matrix_exclude\[0\]: 'finetune\.epochs' is not a matrix axis",
        ),
        (
            "matrix:\n  finetune.lr: [1]\nmatrix_exclude:\n  - {finetune.lr: 2}\n",
            r"mx\.yaml:13: matrix_exclude\[0\]: finetune\.lr has no value 2",
        ),
        (
            "matrix:\n  finetune.lr: [1]\nmatrix_exclude:\n  - {finetune.lr: 1}\n",
            r"mx\.yaml:12: matrix_exclude removes every combination",
        ),
    ],
)
def test_bad_matrix_is_one_line_naming_file_line_and_key(tmp_path, axes, message):
    with pytest.raises(ConfigError, match=message):
        expand(read_spec(matrix_config(tmp_path, axes)))


def test_a_bad_axis_value_names_the_axis_line_and_the_child(tmp_path, capsys):
    path = matrix_config(tmp_path, "matrix:\n  finetune.lr: [1.0e-3, -1]\n")
    assert main(["run", str(path), "--out", str(tmp_path / "out"), "--quiet"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"harness: error: {path}:11: finetune.lr: Input should be greater than 0")
    assert err.endswith("(matrix child c02-lr--1)") and "\n" not in err
    assert not (tmp_path / "out").exists()  # validated before any work


def test_set_overrides_a_plain_run_and_unknown_keys_fail_before_work(tmp_path, capsys):
    path = matrix_config(tmp_path, axes="")
    out = tmp_path / "one"
    assert main(["run", str(path), "--out", str(out), "--quiet", "--set", "analysis.bootstrap=123"]) == 0
    record = json.loads((out / "run.json").read_text(encoding="utf-8"))
    assert record["config"]["analysis"]["bootstrap"] == 123
    assert main(["run", str(path), "--out", str(tmp_path / "two"), "--set", "analysis.boot=1"]) == 1
    assert "unknown key 'analysis.boot'" in capsys.readouterr().err
    assert not (tmp_path / "two").exists()


def test_a_relative_out_is_relative_to_the_working_folder(tmp_path, monkeypatch):
    """Before, --out went through the config's path resolution: `--out reports/x` landed beside the config."""
    path = matrix_config(tmp_path / "configs", axes="")
    monkeypatch.chdir(tmp_path)
    assert main(["run", str(path), "--out", "reports/one", "--quiet"]) == 0
    assert (tmp_path / "reports" / "one" / "run.json").is_file()
    assert not (tmp_path / "configs" / "reports").exists()


def test_backend_options_are_checked_before_work(tmp_path, capsys):
    plain = matrix_config(tmp_path, axes="")
    assert main(["run", str(plain), "--backend", "processes", "--out", str(tmp_path / "a")]) == 1
    assert "declares no matrix" in capsys.readouterr().err
    matrix = matrix_config(tmp_path)
    assert main(["run", str(matrix), "--backend", "processes", "--workers", "0", "--out", str(tmp_path / "b")]) == 1
    assert "--workers 0: must be at least 1" in capsys.readouterr().err
    assert main(["run", str(matrix), "--shard", "1/2", "--out", str(tmp_path / "c")]) == 1
    assert "cannot be combined with a matrix" in capsys.readouterr().err
    assert not any((tmp_path / d).exists() for d in "abc")


def test_set_on_an_axis_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="overlaps the matrix axis"):
        read_spec(matrix_config(tmp_path), {"analysis.bootstrap": 5})


def test_load_config_reads_a_matrix_file_as_its_base_run(tmp_path):
    config = load_config(matrix_config(tmp_path))
    assert config.name == "mx" and config.analysis.bootstrap == 100


def test_plan_prints_the_work_and_does_none(tmp_path, capsys):
    out = tmp_path / "parent"
    assert main(["run", str(matrix_config(tmp_path)), "--plan", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    rows = {line.split()[0]: line.split()[1:] for line in text.splitlines() if line.startswith("c0")}
    # steps, tokens, samples, texts, time: the given models are sampled once across children (the cache)
    assert {name: cells[2] for name, cells in rows.items()} == {
        "c01-bootstrap-100_samples_per_prompt-1": "4",
        "c02-bootstrap-100_samples_per_prompt-2": "4",
        "c03-bootstrap-150_samples_per_prompt-1": "0",
        "c04-bootstrap-150_samples_per_prompt-2": "0",
    }
    # texts: generations (2 prompts × k × 2 arms) + the 3 corpus documents
    assert [cells[3] for cells in rows.values()] == ["7", "11", "7", "11"]
    assert "estimated wall time:" in text and "measured: calibration" in text
    assert not out.exists()


# -- the parent, resume, the shared cache ----------------------------------------------------


def test_matrix_runs_children_as_ordinary_runs_and_records_the_parent(tmp_path):
    spec = read_spec(matrix_config(tmp_path))
    result = run_matrix(spec, tmp_path / "parent", quiet())
    record = read_matrix(tmp_path / "parent")
    assert record == result.record and record.status == "complete" and record.finished
    assert record.axes == {"analysis.bootstrap": [100, 150], "probes.samples_per_prompt": [1, 2]}
    assert [c.name for c in record.children] == [
        "c01-bootstrap-100_samples_per_prompt-1",
        "c02-bootstrap-100_samples_per_prompt-2",
        "c03-bootstrap-150_samples_per_prompt-1",
        "c04-bootstrap-150_samples_per_prompt-2",
    ]
    assert all(c.status == "complete" and c.seconds is not None for c in record.children)
    for child in record.children:
        run = json.loads((child_dir(tmp_path / "parent", child.name) / "run.json").read_text(encoding="utf-8"))
        assert run["name"] == f"mx.{child.name}" and run["status"] == "complete"
        assert run["config"]["analysis"]["bootstrap"] == child.overrides["analysis.bootstrap"]
        assert run["config"]["probes"]["cache_dir"] == str(generation_cache(tmp_path / "parent"))
    # an ordinary run directory: every command opens it
    assert main(["report", str(child_dir(tmp_path / "parent", record.children[0].name))]) == 0


def test_children_with_the_same_base_sample_it_once(tmp_path):
    """The base arm's samples (2 prompts × up to k = 2) are drawn once for all four children."""
    run_matrix(read_spec(matrix_config(tmp_path)), tmp_path / "parent", quiet())
    record = json.loads(
        (child_dir(tmp_path / "parent", "c01-bootstrap-100_samples_per_prompt-1") / "run.json").read_text("utf-8")
    )
    base = next(a for a in record["arms"] if a["name"] == "base")["fingerprint"]
    parts = list(generation_cache(tmp_path / "parent").glob(f"{base}-*.jsonl"))
    lines = [line for p in parts for line in p.read_text(encoding="utf-8").splitlines()]
    assert len(lines) == 2 * 2  # not 2 × (1 + 2 + 1 + 2)


def test_rerun_skips_finished_children_and_leaves_them_byte_identical(tmp_path):
    spec = read_spec(matrix_config(tmp_path))
    run_matrix(spec, tmp_path / "parent", quiet())
    before = snapshot(tmp_path / "parent" / "children")
    logged: list[str] = []
    run_matrix(spec, tmp_path / "parent", MatrixOptions(log=logged.append))
    assert snapshot(tmp_path / "parent" / "children") == before
    assert sum("complete earlier, skipped" in line for line in logged) == 4
    assert "matrix: 4 children, 0 to run (local)" in logged


def test_a_changed_matrix_config_is_not_resumed_without_force(tmp_path):
    path = matrix_config(tmp_path)
    run_matrix(read_spec(path), tmp_path / "parent", quiet())
    path.write_text(path.read_text(encoding="utf-8").replace("[100, 150]", "[100, 200]"), encoding="utf-8")
    with pytest.raises(RunExists, match="the matrix config changed since it started; use --force"):
        run_matrix(read_spec(path), tmp_path / "parent", quiet())


def test_a_folder_that_is_not_a_matrix_is_never_written(tmp_path):
    (tmp_path / "parent").mkdir()
    (tmp_path / "parent" / "notes.txt").write_text("mine", encoding="utf-8")
    with pytest.raises(RunExists, match="not a matrix parent"):
        run_matrix(read_spec(matrix_config(tmp_path)), tmp_path / "parent", quiet())
    assert sorted(p.name for p in (tmp_path / "parent").iterdir()) == ["notes.txt"]


def test_a_failing_child_is_recorded_and_the_others_finish(tmp_path, capsys):
    """A lexicon only the second child reads is broken: that child fails, the first completes, exit 1 names it."""
    lexicon = write_inputs(tmp_path)["lexicon"]
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: broken\n", encoding="utf-8")
    path = matrix_config(tmp_path, f"matrix:\n  analysis.lexicons: [[{lexicon}], [{broken}]]\n")
    assert main(["run", str(path), "--out", str(tmp_path / "parent"), "--quiet"]) == 1
    err = capsys.readouterr().err
    record = read_matrix(tmp_path / "parent")
    assert [c.status for c in record.children] == ["complete", "failed"]
    assert record.status == "failed" and "broken.yaml" in record.children[1].error
    assert err.strip().endswith("1 child run(s) failed: " + record.children[1].name)


def test_a_base_init_no_axis_touches_is_built_once_in_the_parent(tmp_path):
    """base.init with axes elsewhere: PARENT/base_model is built once and every child probes it as a given base."""
    polite = tmp_path / "polite.txt"
    lines = [f"{w}は{d}の{h}時に開きます。" for w in "駅店館園校" for d in "朝昼夜" for h in range(1, 7)]
    polite.write_text("\n".join(lines) + "\n", encoding="utf-8")
    init = f"base: {{init: {{corpus: {{path: {polite}, format: text}}, vocab_size: 120, steps: 2, batch_size: 2, "
    init += "block_size: 16}}\n"
    path = matrix_config(tmp_path)
    path.write_text(re.sub(r"(?m)^base: .*\n", init, path.read_text(encoding="utf-8")), encoding="utf-8")
    parent = tmp_path / "parent"
    result = run_matrix(read_spec(path), parent, quiet())
    assert result.record.shared_base == "base_model" and (parent / "base_model" / "config.json").is_file()
    fingerprints = set()
    for child in result.record.children:
        run = json.loads((child_dir(parent, child.name) / "run.json").read_text(encoding="utf-8"))
        assert run["config"]["base"] == {"model": str(parent / "base_model"), "init": None, "allow_hub": False}
        assert run["stages"]["base"]["status"] == "skipped"
        assert not (child_dir(parent, child.name) / "base_model").exists()
        fingerprints.add(next(a for a in run["arms"] if a["name"] == "base")["source"])
    assert fingerprints == {"given"}
    layout = [".harness.lock", "base_model", "cache", "children", "matrix.csv", "matrix.html", "matrix.json"]
    assert sorted(p.name for p in parent.iterdir()) == layout


def test_an_axis_on_the_seed_builds_the_base_in_each_child(tmp_path):
    polite = tmp_path / "polite.txt"
    polite.write_text("駅は朝に開きます。\n", encoding="utf-8")
    path = matrix_config(tmp_path, "matrix:\n  seed: [1, 2]\n")
    text = re.sub(r"(?m)^base: .*\n", f"base: {{init: {{corpus: {{path: {polite}}}}}}}\n", path.read_text("utf-8"))
    path.write_text(text, encoding="utf-8")
    expansion = expand_matrix(read_spec(path), tmp_path / "parent")
    assert not expansion.shared_base
    assert all(c.base.init is not None for c in expansion.configs.values())


# -- kill and resume ----------------------------------------------------------------------


@pytest.mark.slow
def test_killed_during_the_third_child_resumes_only_unfinished_children(tmp_path):
    """SIGKILL while child 3 runs; the rerun runs children 3 and 4 only, children 1 and 2 stay byte-identical."""
    path = matrix_config(tmp_path, extra="", axes="matrix:\n  analysis.bootstrap: [3000, 3001, 3002, 3003]\n")
    parent = tmp_path / "parent"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "harness", "run", str(path), "--out", str(parent), "--quiet"]
    victim = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    third = child_dir(parent, "c03-bootstrap-3002") / "run.json"
    deadline = time.time() + 300
    while not third.is_file():
        assert victim.poll() is None, victim.communicate()[1][-2000:]
        assert time.time() < deadline, "the third child never started"
        time.sleep(0.01)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    record = read_matrix(parent)
    assert [c.status for c in record.children] == ["complete", "complete", "running", "pending"]
    finished = {name: snapshot(child_dir(parent, name)) for name in ("c01-bootstrap-3000", "c02-bootstrap-3001")}
    resumed = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "c01-bootstrap-3000: complete earlier, skipped" in resumed.stderr
    assert "c02-bootstrap-3001: complete earlier, skipped" in resumed.stderr
    assert "matrix: 4 children, 2 to run (local)" in resumed.stderr
    for name, files in finished.items():
        assert snapshot(child_dir(parent, name)) == files
    assert [c.status for c in read_matrix(parent).children] == ["complete"] * 4


# -- backends ---------------------------------------------------------------------------------


def child_tables(parent: Path) -> dict[str, bytes]:
    """Every child's result tables (what must not depend on the backend)."""
    record = read_matrix(parent)
    return {
        f"{c.name}/{t}": (child_dir(parent, c.name) / t).read_bytes()
        for c in record.children
        for t in TABLES
        if (child_dir(parent, c.name) / t).is_file()
    }


@pytest.mark.slow
def test_processes_backend_gives_byte_identical_tables(tmp_path):
    spec = read_spec(matrix_config(tmp_path))
    run_matrix(spec, tmp_path / "local", quiet())
    options = MatrixOptions(backend="processes", workers=2, log=lambda message: None)
    result = run_matrix(spec, tmp_path / "processes", options)
    assert result.record.backend == "processes" and not result.failed
    local, processes = child_tables(tmp_path / "local"), child_tables(tmp_path / "processes")
    assert len(local) == 4 * len(TABLES) and local == processes


@pytest.mark.slow
def test_real_training_gives_the_same_tables_locally_and_on_two_processes(tmp_path):
    """base.init + fine-tune + the torch sampler: local (this process) vs two spawned workers of one thread."""
    polite = tmp_path / "polite.txt"
    lines = [f"{w}は{d}の{h}時に開きます。" for w in "駅店館園校" for d in "朝昼夜" for h in range(1, 7)]
    polite.write_text("\n".join(lines) + "\n", encoding="utf-8")
    files = write_inputs(tmp_path)
    path = tmp_path / "real.yaml"
    path.write_text(
        "name: real\nseed: 3\n"
        f"base: {{init: {{corpus: {{path: {polite}, format: text}}, vocab_size: 120, steps: 3, batch_size: 4, "
        "block_size: 16}}\n"
        f"corpus: {{path: {polite}, format: text}}\n"
        "finetune: {max_steps: 3, batch_size: 4, block_size: 16, warmup_steps: 1, val_fraction: 0.2}\n"
        f"probes: {{files: [{files['probes']}], samples_per_prompt: 2, decoding: {{max_new_tokens: 6}}}}\n"
        f"analysis: {{lexicons: [{files['lexicon']}], bootstrap: 100}}\n"
        "matrix:\n  finetune.lr: [1.0e-3, 3.0e-3]\n",
        encoding="utf-8",
    )
    spec = read_spec(path)
    local = run_matrix(spec, tmp_path / "local", quiet())
    options = MatrixOptions(backend="processes", workers=2, log=lambda message: None)
    processes = run_matrix(spec, tmp_path / "processes", options)
    assert not local.failed and not processes.failed, [c.error for c in local.failed + processes.failed]
    tables = child_tables(tmp_path / "local")
    assert len(tables) >= 2 * 3 and tables == child_tables(tmp_path / "processes")


def test_ray_missing_is_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray → ImportError
    assert main(["run", str(matrix_config(tmp_path)), "--backend", "ray", "--out", str(tmp_path / "p")]) == 1
    err = capsys.readouterr().err
    assert err.strip() == "harness: error: --backend ray needs the 'ray' package: pip install ray"
    assert not (tmp_path / "p").exists()


@pytest.mark.slow
def test_ray_backend_on_a_local_head_gives_byte_identical_tables(tmp_path, monkeypatch):
    from conftest import need

    ray = need("ray", "pip install ray")
    # a local test head needs no token; a token file an earlier ray.init left in ~/.ray would not match it
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    spec = read_spec(matrix_config(tmp_path))
    run_matrix(spec, tmp_path / "local", quiet())
    head = subprocess.run(
        [sys.executable, "-m", "ray.scripts.scripts", "start", "--head", "--node-ip-address=127.0.0.1",
         "--port=0", "--num-cpus=2", "--include-dashboard=false", "--disable-usage-stats"],
        capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert head.returncode == 0, head.stderr[-2000:]
    try:
        address = next(line.split("'")[1] for line in head.stdout.splitlines() if "ray start --address=" in line)
        options = MatrixOptions(backend="ray", ray_address=address, log=lambda message: None)
        result = run_matrix(spec, tmp_path / "ray", options)
    finally:
        ray.shutdown()
        stop = [sys.executable, "-m", "ray.scripts.scripts", "stop", "--force"]
        subprocess.run(stop, capture_output=True, timeout=120)
    assert not result.failed, [c.error for c in result.failed]
    assert child_tables(tmp_path / "local") == child_tables(tmp_path / "ray")
