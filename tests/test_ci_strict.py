"""CI never turns a missing prerequisite into a skip or a warning.

``need``/``unavailable`` (conftest.py) skip outside CI and fail under ``CI=true``; ``.ci/run``
stops when it cannot install the browser the report's browser test drives.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

import conftest
from conftest import need

ROOT = Path(__file__).resolve().parent.parent


def test_a_missing_test_dependency_skips_outside_ci_and_fails_in_ci(monkeypatch):
    monkeypatch.setattr(conftest, "IN_CI", False)
    with pytest.raises(pytest.skip.Exception, match="no_such_module_x is not installed: pip install x"):
        need("no_such_module_x", "pip install x")
    monkeypatch.setattr(conftest, "IN_CI", True)
    with pytest.raises(pytest.fail.Exception, match="no_such_module_x is not installed: pip install x .CI=true"):
        need("no_such_module_x", "pip install x")
    assert need("json", "never needed").dumps([]) == "[]"


def fake(bin_dir: Path, name: str, script: str) -> None:
    path = bin_dir / name
    path.write_text(f"#!/bin/sh\n{script}\n", encoding="utf-8")
    path.chmod(0o755)


def test_ci_run_stops_when_the_browser_cannot_be_installed(tmp_path):
    """A failed `apt-get install chromium` is an error before any build or test runs, never a warning."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    ran = tmp_path / "ran"
    fake(bin_dir, "dpkg", "exit 1")  # chromium is not installed
    fake(bin_dir, "id", "echo 0")  # root, so the script tries to install it
    fake(bin_dir, "apt-get", 'case "$1" in update) exit 0;; *) exit 100;; esac')
    for tool in ("git", "make"):  # the demo and the suite must not start
        fake(bin_dir, tool, f"echo {tool} >> {ran}; exit 1")
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    proc = subprocess.run(["bash", str(ROOT / ".ci" / "run")], env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1].startswith("error: could not install chromium/fonts-noto-cjk")
    assert not ran.exists(), f"went on after the failed install: {ran.read_text()}"
