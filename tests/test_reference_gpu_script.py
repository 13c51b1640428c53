"""benchmarks/reference_gpu.py runs the whole reference experiment at toy size on a CPU."""

import importlib.util
import json
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "reference_gpu.py"


def load_script():
    spec = importlib.util.spec_from_file_location("reference_gpu", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_character_tokenizer_has_32k_tokens_and_round_trips_japanese(tmp_path):
    script = load_script()
    tok = script.write_tokenizer(tmp_path)
    assert len(tok) == 32000 and (tok.eos_token_id, tok.pad_token_id, tok.bos_token_id) == (2, 3, 1)
    text = "今日は寒いｗｗ、ラーメン食べたい！ 42"
    ids = tok(text, add_special_tokens=False)["input_ids"]
    assert len(ids) == len(text) and tok.unk_token_id not in ids
    assert tok.decode(ids) == text


def test_toy_run_times_every_stage_and_checks_generation(tmp_path, capsys):
    script = load_script()
    argv = ["--toy", "--out", str(tmp_path / "ref"), "--sweep", "--sweep-batches", "4", "--sweep-compile", "off"]
    assert script.main([*argv, "--sweep-steps", "1"]) == 0
    results = json.loads((tmp_path / "ref" / "results.json").read_text())
    stages = results["stage_seconds"]
    for stage in ("audit", "finetune", "probe", "analyse", "report"):
        assert stages[stage] is not None and stages[stage] >= 0, stage
    assert results["total_seconds"] >= sum(v for v in stages.values() if v) * 0.9
    assert results["prepare"]["docs"] == 60 and results["shape"]["vocab_size"] == 32000
    assert results["probe_samples"] == 2 * 2 * 67  # 2 arms × 2 samples × (「ww」 + 66 continuation prompts)
    assert results["finetune"]["tokens_per_second"] > 0 and results["finetune"]["engine"]["loss"] == "chunked"
    assert [(r["batch"], r["compile"], r["adamw"]) for r in results["sweep"]] == [
        (4, "off", "fused"),
        (4, "off", "foreach"),
    ]
    generation = results["generation"]
    assert generation["harness"]["samples"] == 2 * 67 and generation["reference"]["samples"] == 2 * 2
    assert generation["ratio"] > 0
    out = capsys.readouterr().out
    assert "total" in out and "ratio" in out and "finetune" in out
