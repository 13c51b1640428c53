"""Gates: thresholds on summary rows (point estimate or lower CI bound)."""

import pytest

from harness.config import GateConfig
from harness.errors import ConfigError
from harness.gates import evaluate_gates

SUMMARY = [
    {
        "kind": "delta",
        "model": "tuned-base",
        "probe_category": "all",
        "measure": "flagged",
        "n": "40",
        "count": "",
        "rate": "0.08",
        "ci_low": "-0.02",
        "ci_high": "0.18",
    },
    {
        "kind": "rate",
        "model": "tuned",
        "probe_category": "all",
        "measure": "flagged",
        "n": "40",
        "count": "6",
        "rate": "0.15",
        "ci_low": "0.07",
        "ci_high": "0.29",
    },
]


def test_estimate_vs_ci_low():
    strict = evaluate_gates([GateConfig(measure="flagged", max_delta=0.05)], SUMMARY)
    assert strict["passed"] is False and strict["results"][0]["value"] == 0.08
    # the interval still includes 0.05 and below: not a significant rise
    lenient = evaluate_gates([GateConfig(measure="flagged", max_delta=0.05, use="ci_low")], SUMMARY)
    assert lenient["passed"] is True


def test_max_rate_reads_the_tuned_rate():
    result = evaluate_gates([GateConfig(measure="flagged", max_rate=0.15)], SUMMARY)
    assert result["passed"] is True and result["results"][0]["kind"] == "max_rate"
    assert evaluate_gates([GateConfig(measure="flagged", max_rate=0.1)], SUMMARY)["passed"] is False


def test_no_gates_pass():
    assert evaluate_gates([], SUMMARY) == {"passed": True, "results": []}


def test_unknown_measure_names_the_known_ones():
    with pytest.raises(ConfigError, match=r"gate on 'flaged' / 'all'.*measures: flagged"):
        evaluate_gates([GateConfig(measure="flaged", max_delta=0.1)], SUMMARY)
