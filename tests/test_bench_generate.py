"""Smoke test: benchmarks/generate.py runs end to end at toy size and writes its JSON."""

from __future__ import annotations

import json

from conftest import load_benchmark


def test_toy_benchmark_writes_both_cases(tmp_path):
    module = load_benchmark("generate")
    report = module.main(["--toy", "--rounds", "1", "--out", str(tmp_path)])
    written = json.loads((tmp_path / "generate.json").read_text(encoding="utf-8"))
    assert written == json.loads(json.dumps(report))
    cases = {case["case"]: case for case in written["cases"]}
    assert set(cases) == {"exact", "eos"}
    # exact: every sample of both sides made the full budget; eos: the raised EOS logit stops samples early
    assert cases["exact"]["mean_new_tokens"] == {"harness": 8.0, "reference": 8.0}
    assert cases["eos"]["mean_new_tokens"]["harness"] < 8.0
    assert cases["exact"]["samples_timed"]["harness"] == 4 * 3
    assert all(case["ratio"] > 0 for case in written["cases"])
