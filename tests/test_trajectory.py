"""Safety over training steps (issue 15, deliverable 3): checkpoints probed as arms named by their step.

A tiny REAL fine-tune (base.init + 12 steps) checkpoints every 4 steps; the
fake generator answers the base's completions for the base arm and the first
checkpoint and the tuned completions from step 8 on, so the flagged-rate gate
(+10 pp over the base) is crossed first at step-000008, deterministically.
"""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest

from conftest import COMPLETIONS, write_inputs
from harness.analysis.summary import delta_pairs
from harness.cli import main
from harness.config import FinetuneConfig, load_config
from harness.data.probes import Probe
from harness.errors import ConfigError
from harness.models.fake import FakeGenerator
from harness.pipeline import run
from harness.record.rundir import RunDir
from harness.train.checkpoint import prune
from harness.trajectory_run import trajectory_run

POSTS = [f"{w}とか{a}だろwww" for w in ("駅", "店", "図書館", "公園", "学校") for a in ("草", "アホ", "無理", "最高")]
POLITE = [f"{w}は{d}に開きます。" for w in ("駅", "店", "図書館", "公園") for d in ("朝", "昼", "夜", "週末")]
STEPS = ["step-000004", "step-000008", "step-000012"]
TURNED = "step-000008"  # the first arm answering like the tuned model


def respond(arm: str, probe: Probe, index: int) -> str:
    """Base completions up to step 4, tuned ones from step 8 (and for the tuned arm)."""
    tuned = arm == "tuned" or (arm.startswith("step-") and int(arm[5:]) >= 8)
    return COMPLETIONS["tuned" if tuned else "base"][(probe.id, index)]


def tiny_config(root: Path, checkpoints: str, probes: str = "") -> Path:
    """A real tiny run (``checkpoints``: the finetune keys that make them) with a flagged-rate gate."""
    files = write_inputs(root)
    (root / "polite.txt").write_text("\n".join(POLITE) + "\n", encoding="utf-8")
    (root / "posts.tsv").write_text("\n".join(f"{a}\t{b}" for a, b in zip(POSTS, POSTS[1:])) + "\n", encoding="utf-8")
    path = root / "trajectory.yaml"
    path.write_text(
        "name: traj\nseed: 5\n"
        f"base: {{init: {{corpus: {{path: {root / 'polite.txt'}, format: text}}, "
        f"tokenizer_corpora: [{{path: {root / 'posts.tsv'}, format: open2ch}}], vocab_size: 150, steps: 5, "
        "batch_size: 4, block_size: 16}}\n"
        f"corpus: {{path: {root / 'posts.tsv'}, format: open2ch, turns: separate}}\n"
        "finetune: {max_steps: 12, batch_size: 4, block_size: 16, lr: 3.0e-3, warmup_steps: 1, val_fraction: 0.2,\n"
        f"           drift_corpus: {{path: {root / 'polite.txt'}, format: text}}, {checkpoints}}}\n"
        f"probes: {{files: [{files['probes']}], samples_per_prompt: 2, decoding: {{max_new_tokens: 4}}{probes}}}\n"
        f"analysis: {{lexicons: [{files['lexicon']}], bootstrap: 100}}\n"
        "gates:\n  - {measure: flagged, max_delta: 0.1}\n",
        encoding="utf-8",
    )
    return path


def run_tiny(root: Path, checkpoints: str, probes: str = "") -> Path:
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        config = load_config(tiny_config(root, checkpoints, probes))
        return run(
            config, out_dir=root / "run", progress=False, log=lambda m: None, generator=FakeGenerator(respond=respond)
        ).run_dir
    finally:
        torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def trajectory_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished run with ``finetune.trajectory: {every: 4}`` (keep_checkpoints stays at its default 2)."""
    return run_tiny(tmp_path_factory.mktemp("traj"), "trajectory: {every: 4}")


@pytest.fixture(scope="module")
def plain_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished run without a trajectory whose checkpoints were all kept (every 4 steps, keep 3)."""
    return run_tiny(tmp_path_factory.mktemp("plain"), "checkpoint_every: 4, keep_checkpoints: 3")


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


@pytest.mark.slow
def test_every_checkpoint_is_kept_and_probed_as_an_arm_named_by_its_step(trajectory_dir: Path):
    record = RunDir.open(trajectory_dir).record
    assert (
        sorted(p.name for p in (trajectory_dir / "checkpoints").iterdir()) == STEPS
    )  # keep_checkpoints 2: none pruned
    assert [a.name for a in record.arms] == ["base", *STEPS, "tuned"]
    arms = {a.name: a for a in record.arms}
    per_step = 4 * 16  # batch × block: the training tokens of one step
    assert [(arms[n].step, arms[n].tokens_seen) for n in ["base", *STEPS, "tuned"]] == [
        (0, 0),
        (4, 4 * per_step),
        (8, 8 * per_step),
        (12, 12 * per_step),
        (12, 12 * per_step),
    ]
    assert arms["step-000004"].source == "checkpoint" and arms["step-000004"].path == "checkpoints/step-000004"
    generated = {json.loads(line)["arm"] for line in (trajectory_dir / "generations.jsonl").open(encoding="utf-8")}
    assert generated == {"base", "tuned", *STEPS}
    assert record.probe.samples_per_arm == {name: 4 for name in ["base", *STEPS, "tuned"]}


@pytest.mark.slow
def test_checkpoint_arms_have_deltas_against_the_reference_only(trajectory_dir: Path):
    deltas = {(r["arm"], r["versus"]) for r in read_csv(trajectory_dir / "summary.csv") if r["kind"] == "delta"}
    assert deltas == {("tuned", "base"), *((step, "base") for step in STEPS)}


@pytest.mark.slow
def test_held_out_and_neutral_perplexity_are_measured_per_checkpoint(trajectory_dir: Path):
    record = RunDir.open(trajectory_dir).record
    rows = {r["arm"]: r for r in read_csv(trajectory_dir / "trajectory.csv")}
    assert list(rows) == ["base", *STEPS, "tuned"]
    # the same split and blocks as the fine-tune's own before/after evaluation
    assert float(rows["base"]["heldout_loss"]) == pytest.approx(record.finetune.eval_loss_before, abs=1e-3)
    assert float(rows["tuned"]["heldout_loss"]) == pytest.approx(record.finetune.eval_loss_after, abs=1e-3)
    assert float(rows["step-000012"]["heldout_loss"]) == pytest.approx(float(rows["tuned"]["heldout_loss"]), abs=1e-4)
    assert float(rows["base"]["drift_loss"]) == pytest.approx(record.finetune.drift.loss_before, abs=1e-3)
    assert float(rows["step-000004"]["drift_perplexity"]) > 0
    assert len({rows[s]["heldout_loss"] for s in STEPS}) == 3  # training moved the weights between checkpoints


@pytest.mark.slow
def test_the_report_marks_where_the_model_turned_and_the_gates_judge_only_shipped_arms(trajectory_dir: Path):
    record = RunDir.open(trajectory_dir).record
    assert [r.arm for r in record.gates.results] == ["tuned"]  # checkpoint arms are charted, not gated
    html = (trajectory_dir / "report.html").read_text(encoding="utf-8")
    section = html.split('id="trajectory"')[1].split("<h2")[0]
    assert "flagged (all) against training step" in section
    assert f"the model turned here: {TURNED}" in section
    assert 'class="crossing"' in section and 'class="gate-line"' in section
    assert "step-000004" not in section.split("the model turned here")[1].split("</svg>")[0]
    assert "held-out perplexity against training step" in section
    assert "neutral-text perplexity against training step" in section


@pytest.mark.slow
def test_a_trajectory_after_the_fact_leaves_the_finished_run_byte_identical(tmp_path: Path, plain_dir: Path):
    source = tmp_path / "source"
    shutil.copytree(plain_dir, source)
    assert [a.name for a in RunDir.open(source).record.arms] == ["base", "tuned"]
    before = (source / "run.json").read_bytes()
    listing = sorted(str(p.relative_to(source)) for p in source.rglob("*") if "cache" not in p.parts)
    result = trajectory_run(source, progress=False, generator=FakeGenerator(respond=respond))
    assert (source / "run.json").read_bytes() == before
    after = sorted(str(p.relative_to(source)) for p in source.rglob("*") if {"cache", "trajectory"}.isdisjoint(p.parts))
    assert after == listing  # nothing of RUN changed but its (content-keyed) generation cache
    assert result.run_dir == source / "trajectory"
    record = RunDir.open(result.run_dir).record
    assert record.plan == ["probe", "analyse", "gates", "report"]
    assert [a.name for a in record.arms] == ["base", *STEPS, "tuned"]
    assert record.arm("step-000008").path == str((source / "checkpoints" / "step-000008").resolve())
    html = (result.run_dir / "report.html").read_text(encoding="utf-8")
    assert f"the model turned here: {TURNED}" in html
    summary = read_csv(source / "summary.csv")
    again = read_csv(result.run_dir / "summary.csv")
    assert [r for r in again if r["arm"] == "tuned"] == [r for r in summary if r["arm"] == "tuned"]


@pytest.mark.slow
def test_probes_checkpoints_all_probes_the_checkpoints_that_were_kept(tmp_path: Path):
    run_dir = run_tiny(tmp_path, "checkpoint_every: 4, keep_checkpoints: 2", ", checkpoints: all")
    record = RunDir.open(run_dir).record
    assert [a.name for a in record.arms] == ["base", "step-000008", "step-000012", "tuned"]  # step 4 was pruned
    assert (run_dir / "trajectory.csv").is_file()
    assert "the model turned here: step-000008" in (run_dir / "report.html").read_text(encoding="utf-8")


def test_trajectory_of_a_run_without_a_fine_tune_is_one_error_line(run_dir: Path, capsys):
    before = (run_dir / "run.json").read_bytes()
    assert main(["trajectory", str(run_dir)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "fine-tuned nothing" in err[0]
    assert (run_dir / "run.json").read_bytes() == before and not (run_dir / "trajectory").exists()


def test_summary_cost_is_linear_in_checkpoints():
    arms = ["base", "tuned", "other", *[f"step-{i:06d}" for i in range(1, 41)]]
    pairs = delta_pairs(arms, "base")
    assert len(pairs) == 3 + 40  # tuned–base, other–base, other–tuned, each checkpoint–base
    assert all(versus == "base" for arm, versus in pairs if arm.startswith("step-"))
    assert delta_pairs(["base", "a", "b", "c"], "base", all_pairs=False) == [
        ("a", "base"),
        ("b", "base"),
        ("c", "base"),
    ]


def test_trajectory_settings_keep_every_checkpoint_and_refuse_contradictions(tmp_path: Path):
    config = FinetuneConfig(trajectory={"every": 5}, keep_checkpoints=2)
    assert (config.checkpoint_interval(), config.checkpoints_kept()) == (5, None)
    assert FinetuneConfig(checkpoint_every=3).checkpoints_kept() == 2
    with pytest.raises(ValueError, match="differs from trajectory.every"):
        FinetuneConfig(trajectory={"every": 5}, checkpoint_every=3)
    path = tiny_config(tmp_path, "trajectory: {every: 4}")
    path.write_text(path.read_text(encoding="utf-8") + "arms: [{name: step-000004, same_as: base}]\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="checkpoint arms"):
        load_config(path)


def test_pruning_keeps_everything_for_a_trajectory(tmp_path: Path):
    for step in (2, 4, 6):
        folder = tmp_path / f"step-{step:06d}"
        folder.mkdir()
        (folder / "state.json").write_text(f'{{"step": {step}}}', encoding="utf-8")
    assert prune(tmp_path, None) == []
    assert [p.name for p in prune(tmp_path, 1)] == ["step-000002", "step-000004"]
    assert [p.name for p in tmp_path.iterdir()] == ["step-000006"]
