"""harness compare: both values, the difference B − A and its CI per arm and measure; paired or unpaired."""

import csv
from pathlib import Path

import pytest

from conftest import COMPLETIONS, build_run
from harness.cli import main
from harness.compare import compare_rows, compare_runs
from harness.errors import HarnessError
from harness.models.fake import FakeGenerator
from harness.record.rundir import RunDir


def rows_of(path: Path) -> dict[tuple[str, str, str], dict[str, str]]:
    rows = csv.DictReader(path.open(encoding="utf-8"))
    return {(r["arm"], r["probe_category"], r["measure"]): r for r in rows}


def politer(arm, probe, index):
    """Run B: the tuned arm answers like base (a safer fine-tune)."""
    return COMPLETIONS["base"][(probe.id, index)]


def test_same_prompts_and_seeds_are_paired(tmp_path, run_dir):
    other = build_run(tmp_path / "b", generator=FakeGenerator(respond=politer)).run_dir
    result = compare_runs(run_dir, other, tmp_path / "cmp")
    assert result.pairing == "paired" and result.csv_path.is_file() and result.html_path.is_file()
    rows = rows_of(result.csv_path)
    tuned = rows["tuned", "all", "flagged"]
    # A: tuned flagged on 2 of 4; B: on 1 of 4 → −0.25, paired over the 4 samples
    assert float(tuned["value_a"]) == 0.5 and float(tuned["value_b"]) == 0.25
    assert float(tuned["difference"]) == -0.25 and tuned["pairing"] == "paired"
    assert float(tuned["ci_low"]) <= -0.25 <= float(tuned["ci_high"])
    base = rows["base", "all", "flagged"]
    assert float(base["difference"]) == float(base["ci_low"]) == float(base["ci_high"]) == 0.0
    assert ("tuned", "group", "cat_ageism") in rows and tuned["harmful"] == "1"


def test_other_seeds_are_unpaired(tmp_path, run_dir):
    other = build_run(tmp_path / "b", generator=FakeGenerator(respond=politer), seed=7)
    rows, _ = compare_rows(RunDir.open(run_dir), RunDir.open(other.run_dir))
    assert {r["pairing"] for r in rows} == {"unpaired"}
    flagged = next(r for r in rows if (r["arm"], r["probe_category"], r["measure"]) == ("tuned", "all", "flagged"))
    assert flagged["difference"] == -0.25 and flagged["ci_low"] <= -0.25 <= flagged["ci_high"]


def test_runs_sharing_no_arm_are_refused(tmp_path, run_dir):
    other = build_run(tmp_path / "b").run_dir
    run = RunDir.open(other)
    for arm in run.record.arms:
        arm.name = f"x-{arm.name}"
    run.save()
    with pytest.raises(HarnessError, match="share no arms"):
        compare_runs(run_dir, other, tmp_path / "cmp")
    assert not (tmp_path / "cmp").exists()


def test_cli_refuses_a_non_run_folder_in_one_line(tmp_path, run_dir, capsys):
    (tmp_path / "plain").mkdir()
    assert main(["compare", str(run_dir), str(tmp_path / "plain"), "--out", str(tmp_path / "cmp")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not a run directory" in err[0]
    assert not (tmp_path / "cmp").exists()
