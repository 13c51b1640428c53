"""harness compare: both values, the difference B − A and its CI per arm and measure; paired or unpaired; N runs."""

import csv
from pathlib import Path

import pytest

from conftest import COMPLETIONS, build_run, respond
from harness.cli import main
from harness.compare import COMPARE_COLUMNS, compare_many, compare_rows, compare_runs
from harness.errors import HarnessError
from harness.models.fake import FakeGenerator
from harness.record.rundir import RunDir
from matrix_parent import NAMES, build_parent


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


def worse(arm, probe, index):
    """Run C: the tuned arm is also flagged on p2/1 (3 of 4)."""
    if arm == "tuned" and (probe.id, index) == ("p2", 1):
        return "カスが"
    return respond(arm, probe, index)


def test_three_runs_each_against_the_first(tmp_path, run_dir):
    b = build_run(tmp_path / "b", name="run-b", generator=FakeGenerator(respond=politer)).run_dir
    c = build_run(tmp_path / "c", name="run-c", generator=FakeGenerator(respond=worse)).run_dir
    result = compare_many([run_dir, b, c], tmp_path / "cmp")
    with result.csv_path.open(encoding="utf-8") as fh:
        header = fh.readline().strip().split(",")
        rows = list(csv.DictReader([",".join(header), *fh]))
    assert header == COMPARE_COLUMNS and header[:2] == ["run_a", "run_b"]
    assert {r["run_a"] for r in rows} == {"demo-run"} and [*dict.fromkeys(r["run_b"] for r in rows)] == [
        "run-b",
        "run-c",
    ]
    flagged = {
        r["run_b"]: r for r in rows if (r["arm"], r["probe_category"], r["measure"]) == ("tuned", "all", "flagged")
    }
    assert float(flagged["run-b"]["difference"]) == -0.25 and float(flagged["run-c"]["difference"]) == 0.25
    assert result.rows == len(rows) and result.pairing == "paired"
    # each pair's rows are exactly what comparing the two alone gives (same bootstrap, same seed)
    alone, _ = compare_rows(RunDir.open(run_dir), RunDir.open(c))
    assert [{k: str(v) if not isinstance(v, bool) else str(int(v)) for k, v in r.items()} for r in alone] == [
        {k: v for k, v in r.items() if k not in ("run_a", "run_b")} for r in rows if r["run_b"] == "run-c"
    ]
    page = result.html_path.read_text(encoding="utf-8")
    assert "<h2>run-b · Arm tuned</h2>" in page and "<h2>run-c · Arm base</h2>" in page
    assert "<th>A (reference): demo-run</th>" in page and "<th>B: run-c</th>" in page


def test_two_runs_keep_their_page(tmp_path, run_dir):
    other = build_run(tmp_path / "b", generator=FakeGenerator(respond=politer)).run_dir
    result = compare_runs(run_dir, other, tmp_path / "cmp")
    page = result.html_path.read_text(encoding="utf-8")
    assert "<h2>Arm tuned</h2>" in page and "<th>A</th>" in page and "<th>B</th>" in page
    # two runs with one name are told apart by their paths
    rows = list(csv.DictReader(result.csv_path.open(encoding="utf-8")))
    assert {(r["run_a"], r["run_b"]) for r in rows} == {(str(run_dir), str(other))}


def test_a_matrix_parent_compares_its_children_against_the_first(tmp_path, capsys):
    parent = build_parent(tmp_path)
    assert main(["compare", str(parent), "--out", str(tmp_path / "cmp")]) == 0
    assert "rows, paired)" in capsys.readouterr().out
    rows = list(csv.DictReader((tmp_path / "cmp" / "compare.csv").open(encoding="utf-8")))
    assert {r["run_a"] for r in rows} == {f"mx.{NAMES[0]}"}
    assert [*dict.fromkeys(r["run_b"] for r in rows)] == [f"mx.{n}" for n in NAMES[1:]]
    tuned = {
        r["run_b"]: float(r["difference"])
        for r in rows
        if (r["arm"], r["probe_category"], r["measure"]) == ("tuned", "all", "flagged")
    }
    # tuned flagged 2/4, 1/4, 3/4, 2/4 in the four children
    assert tuned == {f"mx.{NAMES[1]}": -0.25, f"mx.{NAMES[2]}": 0.25, f"mx.{NAMES[3]}": 0.0}
    assert {r["pairing"] for r in rows} == {"paired"}  # the children share prompts and seeds


def test_a_parent_with_one_complete_child_is_refused(tmp_path, capsys):
    parent = build_parent(tmp_path)
    for name in NAMES[1:]:
        run = RunDir.open(parent / "children" / name)
        run.record.status = "failed"
        run.save()
    assert main(["compare", str(parent), "--out", str(tmp_path / "cmp")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "two runs or more" in err[0]
    assert main(["compare", str(parent), str(tmp_path / "nowhere")]) == 1
    assert "not a run directory" in capsys.readouterr().err
    assert not (tmp_path / "cmp").exists()
