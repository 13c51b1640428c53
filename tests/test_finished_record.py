"""A finished run's record says when and how it was made; rebuilding derived outputs never rewrites that.

``harness report``, ``harness export`` and ``--resume`` on a finished run may
rebuild files, but run.json's ``finished`` time and stage records stay as
they were; rebuilds are listed in ``rebuilds`` instead (issue 21, case 3).
The report the run writes of itself shows the finish time (case 6).
"""

from __future__ import annotations

import html
import json
from pathlib import Path

from harness.cli import main
from harness.config import load_config
from harness.models.fake import FakeGenerator
from harness.pipeline import run
from conftest import respond


def record(folder: Path) -> dict:
    return json.loads((folder / "run.json").read_text(encoding="utf-8"))


def test_report_and_export_on_a_finished_run_keep_its_record(run_dir):
    before = record(run_dir)
    assert before["status"] == "complete" and before["finished"] and before["rebuilds"] == []
    assert main(["report", str(run_dir)]) == 0
    assert main(["report", str(run_dir), "--reanalyse"]) == 0
    assert main(["export", str(run_dir), "--format", "jsonl"]) == 0
    after = record(run_dir)
    rebuilds = after.pop("rebuilds")
    before.pop("rebuilds")
    assert after == before  # finished time, stage seconds and notes: unchanged
    assert [r["stage"] for r in rebuilds] == ["report", "analyse", "gates", "report", "export"]
    assert all(r["status"] == "done" and r["at"] >= before["finished"] for r in rebuilds)


def test_resume_on_a_finished_run_changes_nothing(make_run, tmp_path):
    result = make_run()
    before = {p.name: p.read_bytes() for p in result.run_dir.iterdir() if p.is_file() and p.name != ".harness.lock"}
    config = load_config(tmp_path / "demo-run.yaml")
    run(
        config,
        out_dir=result.run_dir,
        resume=True,
        progress=False,
        log=lambda m: None,
        generator=FakeGenerator(respond=respond),
    )
    after = {p.name: p.read_bytes() for p in result.run_dir.iterdir() if p.is_file() and p.name != ".harness.lock"}
    assert after == before


def test_the_runs_own_report_shows_when_it_finished(run_dir):
    finished = record(run_dir)["finished"]
    page = html.unescape((run_dir / "report.html").read_text(encoding="utf-8"))
    assert finished in page
    assert "in progress" not in page
