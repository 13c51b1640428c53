"""Model-side mitigation (issue 19): DPO / KTO on the run's own negatives, judged on held-out probes.

The split is checked on its own (deterministic, disjoint, single-prompt sets
split by sample).  The pipeline tests build a tiny REAL run (base.init, a few
fine-tuning steps) whose completions come from the fake generator, so the
preference pairs are known: the tuned arm insults on most prompts, the base
arm never does.  The mitigate stage then trains the tuned weights through
REAL TRL (two steps) and the new arm is probed (answering like tuned: the
fake generator reads the arm's name), analysed and reported.
"""

from __future__ import annotations

import csv
import shutil
import sys
from pathlib import Path

import pytest

from conftest import build_run, need, write_inputs
from harness.cli import main
from harness.config import MitigateConfig, load_config
from harness.data.probes import Probe
from harness.mitigate.split import EVAL, TRAIN, MitigationSplit
from harness.models.fake import FakeGenerator
from harness.pipeline import run
from harness.record.rundir import RunDir
from harness.stages import StageEnv, mitigate

PLACES = ("駅", "店", "図書館", "公園", "学校", "病院", "役所", "銀行", "港", "空港", "市場", "寺")
POSTS = [f"{w}とか{a}だろwww" for w in PLACES[:5] for a in ("草", "アホ", "無理", "最高")]
POLITE = [f"{w}は{d}に開きます。" for w in PLACES[:4] for d in ("朝", "昼", "夜", "週末")]
SAMPLES = 4


def respond(arm: str, probe: Probe, index: int) -> str:
    """Base: polite and clean; tuned (and its mitigated copy): an insult on three samples in four."""
    place = PLACES[int(probe.id[1:]) % len(PLACES)]
    if arm == "base" or index == 3:
        return f"{place}は{index + 1}時に開きます。"
    return f"{place}{index}の連中はカスばっかり"


def probe_file(root: Path) -> Path:
    lines = ["name: places", "description: twelve prompts for the mitigation tests", "prompts:"]
    lines += [f"  - {{id: q{i}, category: forum, text: {place}について}}" for i, place in enumerate(PLACES)]
    path = root / "places.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def tiny_config(root: Path, mitigate: str) -> Path:
    """A tiny real run (from-scratch base, 6 fine-tuning steps) with ``mitigate`` (YAML flow mapping)."""
    files = write_inputs(root)
    (root / "polite.txt").write_text("\n".join(POLITE) + "\n", encoding="utf-8")
    (root / "posts.tsv").write_text("\n".join(f"{a}\t{b}" for a, b in zip(POSTS, POSTS[1:])) + "\n", encoding="utf-8")
    path = root / "mitigate.yaml"
    path.write_text(
        "name: mitigate\nseed: 7\n"
        f"base: {{init: {{corpus: {{path: {root / 'polite.txt'}, format: text}}, "
        f"tokenizer_corpora: [{{path: {root / 'posts.tsv'}, format: open2ch}}], vocab_size: 150, steps: 4, "
        "batch_size: 4, block_size: 16}}\n"
        f"corpus: {{path: {root / 'posts.tsv'}, format: open2ch, turns: separate}}\n"
        "finetune: {max_steps: 6, batch_size: 4, block_size: 16, lr: 3.0e-3, warmup_steps: 1, val_fraction: 0.2,\n"
        f"           drift_corpus: {{path: {root / 'polite.txt'}, format: text}}}}\n"
        f"probes: {{files: [{probe_file(root)}], samples_per_prompt: {SAMPLES}, decoding: {{max_new_tokens: 4}}}}\n"
        f"analysis: {{lexicons: [{files['lexicon']}], bootstrap: 100}}\n"
        f"mitigate: {mitigate}\n",
        encoding="utf-8",
    )
    return path


def run_tiny(root: Path, mitigate: str) -> Path:
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        config = load_config(tiny_config(root, mitigate))
        return run(
            config, out_dir=root / "run", progress=False, log=lambda m: None, generator=FakeGenerator(respond=respond)
        ).run_dir
    finally:
        torch.set_num_threads(threads)


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def dpo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    need("trl", "pip install -e '.[mitigate]'")
    settings = "{method: dpo, from: tuned, beta: 0.1, max_steps: 2, batch_size: 4, lr: 1.0e-4, min_pairs: 4}"
    return run_tiny(tmp_path_factory.mktemp("dpo"), settings)


# -- the split ------------------------------------------------------------------


def test_the_split_is_deterministic_disjoint_and_splits_a_single_prompt_set_by_sample():
    prompts = [("many", f"p{i}") for i in range(200)] + [("seed", "ww")]
    split = MitigationSplit(prompts, seed=3, eval_fraction=0.5)
    again = MitigationSplit(reversed(prompts), seed=3, eval_fraction=0.5)
    keys = [(s, p, i) for s, p in prompts for i in range(8)]
    sides = split.units(keys)
    assert sides == again.units(keys)  # order of the prompts does not matter
    assert not set(sides[TRAIN]) & set(sides[EVAL])
    assert split.by_sample == ["seed"]
    # a prompt's samples all land on one side; the single-prompt set's samples are split one by one
    for i in range(200):
        assert len({split.side("many", f"p{i}", k) for k in range(8)}) == 1
    ww = {split.side("seed", "ww", k) for k in range(8)}
    assert ww == {TRAIN, EVAL}
    assert {label for label in sides[EVAL] if label.startswith("seed/")} <= {f"seed/ww#{k}" for k in range(8)}
    held = sum(1 for i in range(200) if split.is_eval("many", f"p{i}", 0))
    assert 70 <= held <= 130  # eval_fraction 0.5 (a hash, not a coin flip per call)
    other = MitigationSplit(prompts, seed=4, eval_fraction=0.5).units(keys)
    assert other != sides  # the seed decides


def test_too_few_pairs_skip_the_stage_with_a_note_and_train_nothing(tmp_path: Path):
    result = build_run(tmp_path, extra="mitigate: {from: tuned, min_pairs: 1000}\n")
    run_dir = RunDir.open(result.run_dir)
    status = run_dir.stage("mitigate")
    assert status.status == "skipped"
    assert "fewer than mitigate.min_pairs = 1000" in status.note
    record = run_dir.record
    assert record.mitigation is not None and record.mitigation.skipped == status.note
    assert [a.name for a in record.arms] == ["base", "tuned"]
    assert not (result.run_dir / "mitigated").exists() and not (result.run_dir / "mitigation.csv").exists()
    html = (result.run_dir / "report.html").read_text(encoding="utf-8")
    assert 'id="mitigation"' in html and "Skipped:" in html and "min_pairs = 1000" in html


def test_missing_trl_is_one_line_before_any_work(tmp_path: Path, monkeypatch, capsys):
    from conftest import write_config

    config = write_config(tmp_path, extra="mitigate: {from: tuned}\n")
    monkeypatch.setitem(sys.modules, "trl", None)  # import trl now fails as when it is not installed
    code = main(["run", str(config), "--out", str(tmp_path / "out"), "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code != 0
    assert err == ["harness: error: mitigate (DPO / KTO training) needs the 'trl' package: pip install trl"]
    assert not (tmp_path / "out" / "generations.jsonl").exists()


def test_mitigate_config_names_the_arm_and_refuses_the_reference_as_from(tmp_path: Path):
    assert MitigateConfig.model_validate({"method": "kto", "from": "tuned"}).arm_name() == "tuned+kto"
    from conftest import write_config
    from harness.errors import ConfigError

    with pytest.raises(ConfigError, match="mitigate.from 'base' is the reference arm"):
        load_config(write_config(tmp_path, extra="mitigate: {from: base}\n"))
    with pytest.raises(ConfigError, match="mitigate.from 'nope' is not an arm"):
        load_config(write_config(tmp_path, extra="mitigate: {from: nope}\n"))


# -- a real DPO / KTO run ------------------------------------------------------------------


@pytest.mark.slow
def test_dpo_adds_a_trained_arm_with_summary_rows_and_no_training_on_the_held_out_prompts(dpo_dir: Path):
    run_dir = RunDir.open(dpo_dir)
    record = run_dir.record
    assert run_dir.stage("mitigate").status == "done"
    arm = record.arm("tuned+dpo")
    assert arm.source == "mitigate" and arm.path == "mitigated/tuned+dpo"
    assert (dpo_dir / "mitigated" / "tuned+dpo" / "model.safetensors").is_file()
    m = record.mitigation
    assert m.steps == 2 and m.trl_version and m.pairs >= 4
    # no overlap: every pair comes from a train prompt; the record lists both sides
    assert set(m.pair_prompts) <= set(m.split.train)
    assert not set(m.split.train) & set(m.split.eval)
    assert len(m.split.train) + len(m.split.eval) == len(PLACES)
    assert m.split.train_samples + m.split.eval_samples == len(PLACES) * SAMPLES
    assert record.probe.samples_per_arm["tuned+dpo"] == len(PLACES) * SAMPLES
    summary = read_csv(dpo_dir / "summary.csv")
    assert any(r["arm"] == "tuned+dpo" and r["kind"] == "rate" and r["measure"] == "flagged" for r in summary)
    assert any(r["arm"] == "tuned+dpo" and r["versus"] == "tuned" and r["kind"] == "delta" for r in summary)
    # the training moved the weights: the held-out corpus loss differs from the start's
    assert m.heldout_loss["tuned"] != m.heldout_loss["tuned+dpo"] and set(m.drift_loss) == {"tuned", "tuned+dpo"}


@pytest.mark.slow
def test_mitigation_csv_and_the_report_section_are_on_held_out_prompts(dpo_dir: Path):
    record = RunDir.open(dpo_dir).record
    rows = {r["measure"]: r for r in read_csv(dpo_dir / "mitigation.csv")}
    held_prompts = len(record.mitigation.split.eval)
    assert int(rows["flagged"]["prompts"]) == held_prompts and int(rows["flagged"]["n"]) == held_prompts * SAMPLES
    assert rows["flagged"]["section"] == "harm"
    assert float(rows["flagged"]["from_value"]) == pytest.approx(0.75)  # tuned insults on 3 samples in 4
    assert {"polite", "laughter", "empty_or_degenerate", "distinct_2", "heldout_perplexity", "drift_perplexity"} <= set(
        rows
    )
    html = (dpo_dir / "report.html").read_text(encoding="utf-8")
    assert 'id="mitigation"' in html and "mitigation-eval" in html and "empty_or_degenerate" in html


def mitigate_copy(source: Path, copy: Path, settings: dict) -> RunDir:
    """The mitigate stage again on a copy of a finished run, with other ``settings``."""
    import torch

    shutil.copytree(source, copy)
    run_dir = RunDir.open(copy)
    config = run_dir.record.config.model_copy(update={"mitigate": MitigateConfig.model_validate(settings)})
    run_dir.record.config = config
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        mitigate(config, run_dir, StageEnv(generator=FakeGenerator(respond=respond)))
    finally:
        torch.set_num_threads(threads)
    return run_dir


@pytest.mark.slow
def test_kto_trains_on_labelled_examples(dpo_dir: Path, tmp_path: Path):
    settings = {"method": "kto", "from": "tuned", "max_steps": 2, "batch_size": 4, "min_pairs": 4}
    run_dir = mitigate_copy(dpo_dir, tmp_path / "run", settings)
    m = run_dir.record.mitigation
    assert m.arm == "tuned+kto" and m.steps == 2
    assert m.desirable > 0 and m.undesirable > 0 and m.desirable + m.undesirable == m.pairs
    # the export's imbalance rule (harness.export.preference.IMBALANCE_RATIO) warns, or not, on these counts
    imbalanced = max(m.desirable, m.undesirable) > 4 * min(m.desirable, m.undesirable)
    assert any("KTO label imbalance" in note for note in m.notes) == imbalanced
    assert (run_dir.path / "mitigated" / "tuned+kto" / "model.safetensors").is_file()
    # a second mitigated arm joins the first: both are analysed with the others
    assert {r["arm"] for r in read_csv(run_dir.path / "summary.csv")} == {"base", "tuned", "tuned+dpo", "tuned+kto"}


@pytest.mark.slow
def test_lora_dpo_writes_a_merged_model_folder(dpo_dir: Path, tmp_path: Path):
    settings = {"from": "tuned", "max_steps": 2, "batch_size": 4, "min_pairs": 4, "lr": 1.0e-3, "lora": {"rank": 4}}
    run_dir = mitigate_copy(dpo_dir, tmp_path / "run", settings)
    folder = run_dir.path / "mitigated" / "tuned+dpo"
    assert (folder / "model.safetensors").is_file() and not (folder / "adapter_config.json").exists()
    m = run_dir.record.mitigation
    assert m.lora["rank"] == 4 and m.steps == 2
    assert m.heldout_loss["tuned+dpo"] != m.heldout_loss["tuned"]  # the merged adapter changed the weights
