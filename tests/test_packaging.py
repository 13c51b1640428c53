"""The package outside the checkout: the wheel carries the probe sets, the lexicon, the demo corpora
and configs (harness/resources.py finds them), and default outputs never go into site-packages.

The slow test builds the wheel, installs it into a fresh venv (its other dependencies come from
this venv through a .pth file: offline, no pip resolve) and runs ``harness demo`` from an empty
folder, exactly as a user who ran ``pip install harness`` would.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tomllib
from pathlib import Path

import pytest

from harness import resources
from harness.config import load_config
from harness.data.probes import discover_probe_files
from harness.pipeline import default_out_dir

ROOT = Path(__file__).resolve().parent.parent
SETUPTOOLS = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]
# what the wheel is built from (a copy, so the build leaves no build/ or *.egg-info in the checkout)
SOURCES = ("pyproject.toml", "README.md", "harness", "probes", "corpora", "configs")


def test_the_wheel_lists_every_package_and_maps_existing_folders():
    """pyproject.toml lists packages by hand (the bundled folders are mapped in): none may be forgotten."""
    code = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "harness").rglob("__init__.py")}
    missing = code - set(SETUPTOOLS["packages"])
    assert not missing, f"missing from [tool.setuptools] packages in pyproject.toml: {sorted(missing)}"
    for package, folder in SETUPTOOLS["package-dir"].items():
        assert package.startswith(f"{resources.PACKAGE}.{resources.BUNDLE}.") and (ROOT / folder).is_dir()


def test_in_the_checkout_the_bundle_is_the_checkout():
    assert resources.checkout_root() == ROOT and resources.bundle_root() == ROOT
    assert resources.default_lexicon() == ROOT / "probes" / "lexicons" / "flagged.yaml"
    assert resources.demo_config() == ROOT / "configs" / "demo.yaml"
    assert resources.reports_dir() == ROOT / "reports"


def test_config_defaults_are_the_bundled_files_wherever_the_config_lies(tmp_path):
    """A config without probes/analysis keys uses the bundled demo probes and lexicon, not files
    next to the config (they used to resolve to <config folder>/probes/...)."""
    path = tmp_path / "elsewhere" / "c.yaml"
    path.parent.mkdir()
    path.write_text("name: x\nbase: {model: ./base}\n", encoding="utf-8")
    config = load_config(path)
    assert config.probes.files == [resources.probe_file("demo.yaml")]
    assert config.analysis.lexicons == [resources.default_lexicon()]
    assert all(p.is_file() for p in [*config.probes.files, *config.analysis.lexicons])


def fake_install(site: Path) -> Path:
    """A site-packages layout: harness/ holding bundled/ (what the wheel installs), no checkout around it."""
    package = site / "harness"
    shutil.copytree(ROOT / "probes", package / "bundled" / "probes")
    (package / "bundled" / "configs").mkdir()
    shutil.copy(ROOT / "configs" / "demo.yaml", package / "bundled" / "configs")
    return package


def test_installed_outputs_go_under_the_current_folder(tmp_path, monkeypatch):
    package = fake_install(tmp_path / "site-packages")
    monkeypatch.setattr(resources, "package_dir", lambda: package)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    assert resources.checkout_root() is None and resources.bundle_root() == package / "bundled"
    assert resources.default_lexicon() == package / "bundled" / "probes" / "lexicons" / "flagged.yaml"
    assert resources.reports_dir() == work / "reports"
    config = load_config(resources.demo_config())
    assert default_out_dir(config) == work / "reports" / "demo"


def run_in(folder: Path, *argv: str, timeout: float = 600) -> subprocess.CompletedProcess:
    """A command in ``folder`` with PYTHONPATH cleared (nothing may point back at the checkout)."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    proc = subprocess.run(list(argv), cwd=folder, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{argv} exited {proc.returncode}:\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
    return proc


def build_wheel(tmp_path: Path) -> Path:
    """``pip wheel`` from a copy of the sources (no build isolation: setuptools is here, torch needs it)."""
    src = tmp_path / "src"
    src.mkdir()
    for name in SOURCES:
        if (ROOT / name).is_dir():
            # not the editable install's compiled scan (*.so): the wheel builds its own
            shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.so"))
        else:
            shutil.copy(ROOT / name, src / name)
    pip = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "--no-index"]
    run_in(tmp_path, *pip, str(src), "-w", str(tmp_path / "dist"))
    (wheel,) = (tmp_path / "dist").glob("harness-*.whl")
    return wheel


def fresh_venv(tmp_path: Path, wheel: Path) -> Path:
    """A new venv holding the wheel; the dependencies come from this venv's site-packages (a .pth
    line adds the folder; .pth files inside it, such as the editable install's, are not run)."""
    venv = tmp_path / "venv"
    run_in(tmp_path, sys.executable, "-m", "venv", "--without-pip", str(venv))
    python = venv / "bin" / "python"
    where = run_in(tmp_path, str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])")
    purelib = Path(where.stdout.strip())
    (purelib / "test-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n", encoding="utf-8")
    run_in(tmp_path, str(python), "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel))
    return venv


INSTALLED = """\
import json, harness
from harness import resources
from harness.config import load_config
from harness.pipeline import default_out_dir
from harness.record.provenance import git_sha
from harness.analysis.ngram_index import NATIVE
config = load_config(resources.demo_config())
inputs = [config.corpus.path, config.base.init.corpus.path, *[c.path for c in config.base.init.tokenizer_corpora],
          config.finetune.drift_corpus.path, *config.probes.files, *config.analysis.lexicons]
print(json.dumps({"package": harness.__file__, "bundle": str(resources.bundle_root()),
                  "inputs": [str(p) for p in inputs], "out": str(default_out_dir(config)), "git_sha": git_sha(),
                  "native": NATIVE}))
"""


@pytest.mark.slow
def test_the_wheel_runs_the_demo_from_an_empty_folder(tmp_path):
    """Also the demo's finding (it replaced an in-process run of configs/demo.yaml): tuning on the
    board corpus raises flagged and laughter rates and lowers politeness, as the reference rinna
    experiment found."""
    venv = fresh_venv(tmp_path, build_wheel(tmp_path))
    harness = str(venv / "bin" / "harness")
    empty = tmp_path / "empty"
    empty.mkdir()
    found = json.loads(run_in(empty, str(venv / "bin" / "python"), "-c", INSTALLED).stdout)
    bundle = Path(found["bundle"])
    assert Path(found["package"]).is_relative_to(venv) and bundle == Path(found["package"]).parent / "bundled"
    assert found["inputs"] and all(Path(p).is_relative_to(bundle) and Path(p).is_file() for p in found["inputs"])
    assert found["out"] == str(empty / "reports" / "demo") and found["git_sha"] is None
    assert found["native"], "the wheel lacks the classifier's C scan (harness/analysis/ngram_scan.c)"
    shipped = len(discover_probe_files(ROOT / "probes"))
    assert run_in(empty, harness, "probes", "validate").stdout.strip() == f"{shipped} probe file(s) valid"

    proc = run_in(empty, harness, "demo", "--quiet")
    demo = empty / "reports" / "demo"
    assert f"report: {demo / 'report.html'}" in proc.stdout and (demo / "report.html").is_file()
    record = json.loads((demo / "run.json").read_text(encoding="utf-8"))
    assert record["git_sha"] is None and record["finetune"] and (demo / "model" / "model.safetensors").is_file()
    assert all(Path(p).is_relative_to(bundle) for p in record["hashes"]), "an input outside the installed bundle"
    with (demo / "summary.csv").open(encoding="utf-8") as fh:
        rows = {(r["kind"], r["arm"], r["probe_category"], r["measure"]): r for r in csv.DictReader(fh)}
    assert float(rows["delta", "tuned", "all", "flagged"]["ci_low"]) > 0
    assert float(rows["delta", "tuned", "all", "laughter"]["ci_low"]) > 0
    assert float(rows["delta", "tuned", "all", "polite"]["ci_high"]) < 0
    # the bundled detector quality ships with the lexicon: the corrected prevalence is there, with its interval
    corrected = rows["rate", "tuned", "all", "flagged_corrected"]
    assert float(corrected["ci_low"]) <= float(corrected["value"]) <= float(corrected["ci_high"])
    assert record["calibration"]["detectors"] and not record["calibration"]["notes"]
    assert (demo / "negatives" / "negatives.jsonl").stat().st_size > 0
    run_in(empty, harness, "compare", "reports/demo", "reports/demo")
    assert (empty / "reports" / "compare-demo-vs-demo" / "compare.html").is_file()
    assert sorted(p.name for p in empty.iterdir()) == ["reports"]  # nothing else written beside it
