"""The whole pipeline: a fast run with a fake sampler, resume/force rules,
and (slow) the real demo with tiny models reproducing the reference finding."""

import csv
import json
from pathlib import Path

import pytest

from harness.cli import main
from harness.config import load_config
from harness.errors import RunExists
from harness.io import read_jsonl
from harness.pipeline import run

ROOT = Path(__file__).resolve().parent.parent


def fake_sampler(label, path, probes):
    """Base answers politely; tuned answers rudely with laughter (no torch)."""
    text = {"base": "それは良い質問ですね。", "tuned": "お前バカだろwww"}[label]
    return [
        {
            "id": f"{label}/{p.probe_set}/{p.id}/{i}",
            "model": label,
            "probe_set": p.probe_set,
            "probe_id": p.id,
            "category": p.category,
            "group": p.group,
            "prompt": p.text,
            "completion": text if i % 2 == 0 else "<script>alert(1)</script>",
            "sample_index": i,
            "seed": 7,
            "decoding": {"max_new_tokens": 8},
            "prompt_tokens": 1,
            "completion_tokens": 5,
        }
        for p in probes
        for i in range(2)
    ]


def fake_config(tmp_path, gates=""):
    corpus = tmp_path / "c.tsv"
    corpus.write_text("お前アホか\tうるさいわwww\n今日は晴れ\tせやな\n", encoding="utf-8")
    path = tmp_path / "run.yaml"
    path.write_text(
        f"name: fake\nbase: {{model: {tmp_path}/b}}\ncorpus: {{path: {corpus}}}\n"
        f"finetune: {{tuned_model: {tmp_path}/t}}\n"
        f"probes: {{files: [{ROOT}/probes/seed.yaml, {ROOT}/probes/demo.yaml]}}\n"
        f"analysis: {{lexicons: [{ROOT}/probes/lexicons/flagged.yaml]}}\n{gates}",
        encoding="utf-8",
    )
    return load_config(path)


def test_fake_pipeline_writes_the_whole_run_directory(tmp_path):
    config = fake_config(tmp_path, "gates:\n  - {measure: flagged, max_delta: 0.1}\n")
    result = run(config, out_dir=tmp_path / "run", progress=False, sampler=fake_sampler, log=lambda m: None)
    out = result.run_dir
    for name in (
        "run.json",
        "corpus_audit.csv",
        "generations.jsonl",
        "scores.csv",
        "summary.csv",
        "vocab_shift.csv",
        "report.html",
        "negatives/negatives.jsonl",
        "negatives/README.md",
        "negatives/dpo.jsonl",
        "negatives/kto.jsonl",
    ):
        assert (out / name).is_file(), name
    record = json.loads((out / "run.json").read_text(encoding="utf-8"))
    assert record["status"] == "complete" and record["version"] == 1
    assert all(
        record["stages"][s]["status"] == "done" for s in ("audit", "probe", "analyse", "report", "export", "gates")
    )
    assert record["versions"]["dictionary"]
    # tuned says お前バカだろwww on half its samples: flagged delta ≈ +0.5 → the gate fails
    assert result.gates_passed is False
    summary = {
        (r["kind"], r["model"], r["probe_category"], r["measure"]): r
        for r in csv.DictReader((out / "summary.csv").open(encoding="utf-8"))
    }
    assert float(summary["delta", "tuned-base", "all", "flagged"]["rate"]) == 0.5
    assert float(summary["rate", "base", "all", "polite"]["rate"]) == 0.5
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "<script>alert" not in html and "&lt;script&gt;" in html
    negatives = read_jsonl(out / "negatives" / "negatives.jsonl")
    assert negatives and all(n["model"] == "tuned" for n in negatives)
    # export and report render the finished record
    assert "status complete" in (out / "negatives" / "README.md").read_text(encoding="utf-8")
    assert ">complete</span>" in html


def test_finished_run_is_not_overwritten_without_force(tmp_path):
    config = fake_config(tmp_path)
    kwargs = dict(out_dir=tmp_path / "run", progress=False, sampler=fake_sampler, log=lambda m: None)
    run(config, **kwargs)
    before = (tmp_path / "run" / "scores.csv").read_bytes()
    with pytest.raises(RunExists, match="--force"):
        run(config, **kwargs)
    assert (tmp_path / "run" / "scores.csv").read_bytes() == before
    assert run(config, force=True, **kwargs).record["status"] == "complete"


def test_resume_skips_finished_stages(tmp_path):
    config = fake_config(tmp_path)
    calls = []

    def counting_sampler(label, path, probes):
        calls.append(label)
        return fake_sampler(label, path, probes)

    def failing_report(*args, **kwargs):
        raise RuntimeError("killed")

    import harness.report.html as html

    original = html.write_report
    html.write_report = failing_report
    try:
        with pytest.raises(RuntimeError):
            run(config, out_dir=tmp_path / "run", progress=False, sampler=counting_sampler, log=lambda m: None)
    finally:
        html.write_report = original
    record = json.loads((tmp_path / "run" / "run.json").read_text(encoding="utf-8"))
    assert record["status"] == "failed" and record["stages"]["report"]["status"] == "failed"
    with pytest.raises(RunExists, match="--resume"):
        run(config, out_dir=tmp_path / "run", progress=False, sampler=counting_sampler, log=lambda m: None)
    result = run(
        config, out_dir=tmp_path / "run", resume=True, progress=False, sampler=counting_sampler, log=lambda m: None
    )
    assert result.record["status"] == "complete"
    assert calls == ["base", "tuned"]  # probing was not redone


def test_cli_misspelled_key_is_one_line_and_exit_1(tmp_path, capsys):
    path = tmp_path / "bad.yaml"
    path.write_text(
        "name: x\nbase: {model: m}\ncorpus: {path: c.tsv}\nprobes:\n  sample_per_prompt: 3\n", encoding="utf-8"
    )
    assert main(["run", str(path)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"harness: error: {path}:5: unknown key 'probes.sample_per_prompt'"]


def test_cli_missing_input_names_the_key(tmp_path, capsys):
    path = tmp_path / "r.yaml"
    path.write_text("name: x\nbase: {model: m}\ncorpus: {path: nope.tsv}\n", encoding="utf-8")
    assert main(["run", str(path)]) == 1
    assert "corpus.path: file not found" in capsys.readouterr().err


def test_cli_gate_failure_exits_3(tmp_path, monkeypatch, capsys):
    import importlib

    run_module = importlib.import_module("harness.pipeline")  # the module; harness.pipeline is the function
    config = fake_config(tmp_path, "gates:\n  - {measure: flagged, max_delta: 0.1}\n")
    original = run_module.run
    monkeypatch.setattr(
        run_module,
        "run",
        lambda cfg, **kw: original(
            config, sampler=fake_sampler, log=lambda m: None, out_dir=tmp_path / "r", progress=False
        ),
    )
    (tmp_path / "cfg.yaml").write_text("name: whatever\nbase: {model: m}\ncorpus: {path: c}\n", encoding="utf-8")
    assert main(["run", str(tmp_path / "cfg.yaml")]) == 3
    assert "gate failed: flagged" in capsys.readouterr().err


@pytest.mark.slow
def test_demo_reproduces_the_reference_direction(tmp_path):
    """Real tiny models: tuning on the board corpus raises flagged and laughter
    rates and lowers politeness (the reference rinna experiment's finding)."""
    config = load_config(ROOT / "configs" / "demo.yaml")
    result = run(config, out_dir=tmp_path / "demo", progress=False, log=lambda m: None)
    rows = list(csv.DictReader((result.run_dir / "summary.csv").open(encoding="utf-8")))
    delta = {r["measure"]: r for r in rows if r["kind"] == "delta" and r["probe_category"] == "all"}
    assert float(delta["flagged"]["ci_low"]) > 0
    assert float(delta["laughter"]["ci_low"]) > 0
    assert float(delta["polite"]["ci_high"]) < 0
    assert (result.run_dir / "model" / "model.safetensors").is_file()
    assert read_jsonl(result.run_dir / "negatives" / "negatives.jsonl")


def test_demo_never_replaces_another_run(tmp_path):
    from harness.pipeline import demo

    (tmp_path / "run.json").write_text(json.dumps({"name": "production-audit"}), encoding="utf-8")
    with pytest.raises(RunExists, match="not a demo"):
        demo(out_dir=tmp_path, progress=False)
    assert json.loads((tmp_path / "run.json").read_text(encoding="utf-8"))["name"] == "production-audit"


def test_unknown_gate_measure_fails_before_any_work(tmp_path):
    from harness.errors import ConfigError

    config = fake_config(tmp_path, "gates:\n  - {measure: flaged, max_delta: 0.1}\n")
    with pytest.raises(ConfigError, match=r"gates\[0\].measure: unknown measure 'flaged'"):
        run(config, out_dir=tmp_path / "run", progress=False, sampler=fake_sampler, log=lambda m: None)
    assert not (tmp_path / "run").exists()
    config = fake_config(tmp_path, "gates:\n  - {measure: flagged, probe_category: nope, max_delta: 0.1}\n")
    with pytest.raises(ConfigError, match="'nope' is not a probe category"):
        run(config, out_dir=tmp_path / "run", progress=False, sampler=fake_sampler, log=lambda m: None)
