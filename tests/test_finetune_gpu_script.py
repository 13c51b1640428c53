"""benchmarks/finetune_gpu.py runs end to end on a CPU at toy size (the GPU run uses the same code)."""

import importlib.util
import json
from pathlib import Path

import numpy as np

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "finetune_gpu.py"


def load_script():
    spec = importlib.util.spec_from_file_location("finetune_gpu", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_toy_run_writes_results_for_every_run(tmp_path):
    tokens = tmp_path / "ids.npy"
    np.save(tokens, np.random.default_rng(0).integers(4, 32000, size=5000).astype(np.uint16))
    assert load_script().main(["--tokens", str(tokens), "--toy", "--out", str(tmp_path / "out")]) == 0
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    runs = {r["run"]: r for r in results["runs"]}
    assert set(runs) == {"harness", "baseline", "lora-r8"}
    assert runs["harness"]["settings"]["loss"] == "chunked" and runs["baseline"]["settings"]["loss"] == "full"
    assert runs["lora-r8"]["trained_parameters"] < runs["harness"]["trained_parameters"] / 100
    for row in runs.values():
        assert row["tokens"] >= 2048 and row["tokens_per_second"] > 0 and row["final_loss"] > 0
        assert row["flops_per_token"] > 6 * 32000 * 64  # at least the LM head's share
    assert results["ratio_tokens_per_second"] > 0
    assert [m["loss"] for m in results["memory"]] == ["chunked", "full"]
