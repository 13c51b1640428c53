"""What the base install must hold, and optional packages refused before any work.

``make demo`` installs only the base dependencies; every default config
(configs/*.yaml that does not say it ``Needs:`` more) must run on them.
.ci/demo-fresh-clone runs the demo on a real base install; these tests keep
the declarations honest without one.
"""

from __future__ import annotations

import builtins
import re
import sys
import tomllib
from pathlib import Path

import pytest

from harness.cli import main
from harness.config import load_config
from harness.export.registry import FORMATS
from conftest import write_config

ROOT = Path(__file__).resolve().parent.parent


def base_dependencies() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    return {re.split(r"[<>=!~ \[]", spec, maxsplit=1)[0].lower() for spec in project["dependencies"]}


def default_configs() -> list[Path]:
    """configs/*.yaml whose comments do not say they need more than the base install."""
    return [p for p in sorted((ROOT / "configs").glob("*.yaml")) if "# Needs:" not in p.read_text(encoding="utf-8")]


def test_the_default_configs_are_found():
    names = {p.name for p in default_configs()}
    assert {"demo.yaml", "demo-three-arms.yaml", "open2ch-sample.yaml"} <= names


@pytest.mark.parametrize("path", default_configs(), ids=lambda p: p.name)
def test_every_default_config_needs_only_the_base_install(path):
    config = load_config(path)
    base = base_dependencies()
    for name in config.export.formats:
        needs = FORMATS[name].requires
        assert needs is None or needs in base, f"{path.name}: export format {name} needs {needs}"
    if config.export.near_duplicates is not None:
        assert "datasketch" in base, f"{path.name}: near-duplicate removal needs datasketch"


def hide(monkeypatch, package: str) -> None:
    """Make ``import package`` fail as it does when the package is not installed."""
    real = builtins.__import__

    def fake(name, *args, **kwargs):
        if name == package or name.startswith(package + "."):
            raise ImportError(f"No module named {name!r}")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake)
    # importlib.import_module answers from sys.modules without __import__: None there makes it raise
    # ImportError too, whether or not another test imported the package first (monkeypatch restores it)
    monkeypatch.setitem(sys.modules, package, None)


@pytest.mark.parametrize(
    "package, extra, message",
    [
        (
            "datasets",
            "export: {formats: [jsonl, hf]}\n",
            "hf export needs the 'datasets' package: pip install datasets",
        ),
        (
            "datasketch",
            "",
            "near-duplicate removal (export.near_duplicates) needs the 'datasketch' package: pip install datasketch",
        ),
    ],
)
def test_a_missing_package_fails_before_any_work(package, extra, message, tmp_path, monkeypatch, capsys):
    config = write_config(tmp_path, extra=extra)
    hide(monkeypatch, package)
    out = tmp_path / "out"
    assert main(["run", str(config), "--out", str(out), "--quiet"]) == 1
    assert capsys.readouterr().err.strip().splitlines() == [f"harness: error: {message}"]
    assert not out.exists()  # refused before the run folder was made


def test_near_duplicates_off_needs_no_datasketch(tmp_path, monkeypatch):
    from harness.export.registry import check_export_ready

    hide(monkeypatch, "datasketch")
    check_export_ready(["jsonl", "dpo", "kto"], None)  # exact dedup only: no optional package
