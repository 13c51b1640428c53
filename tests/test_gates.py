"""Gates: thresholds on summary rows (point estimate or lower CI bound), per arm."""

import pytest

from harness.config import GateConfig
from harness.errors import ConfigError
from harness.gates import check_gates, evaluate_gates
from harness.record.schema import MeasureSpec


def row(kind, arm, versus, value, low, high, measure="flagged", category="all"):
    return {
        "kind": kind,
        "arm": arm,
        "versus": versus,
        "probe_category": category,
        "measure": measure,
        "n": "40",
        "count": "" if kind == "delta" else "6",
        "value": str(value),
        "ci_low": str(low),
        "ci_high": str(high),
    }


SUMMARY = [
    row("rate", "base", "", 0.07, 0.02, 0.19),
    row("rate", "tuned", "", 0.15, 0.07, 0.29),
    row("rate", "lora", "", 0.30, 0.18, 0.45),
    row("delta", "tuned", "base", 0.08, -0.02, 0.18),
    row("delta", "lora", "base", 0.23, 0.10, 0.36),
    row("delta", "lora", "tuned", 0.15, 0.01, 0.30),
]
ARMS = ["base", "tuned", "lora"]


def test_estimate_vs_ci_low():
    strict = evaluate_gates([GateConfig(measure="flagged", arm="tuned", max_delta=0.05)], SUMMARY, ARMS, "base")
    assert strict.passed is False and strict.results[0].value == 0.08 and strict.results[0].compared == 0.08
    # the interval still includes 0.05 and below: not a significant rise
    lenient = evaluate_gates(
        [GateConfig(measure="flagged", arm="tuned", max_delta=0.05, use="ci_low")], SUMMARY, ARMS, "base"
    )
    assert lenient.passed is True and lenient.results[0].compared == -0.02


def test_delta_gates_compare_against_the_reference_not_another_arm():
    result = evaluate_gates([GateConfig(measure="flagged", arm="lora", max_delta=0.2)], SUMMARY, ARMS, "base")
    assert result.results[0].value == 0.23 and result.results[0].reference == "base" and not result.passed


def test_a_gate_without_an_arm_covers_every_non_reference_arm():
    result = evaluate_gates([GateConfig(measure="flagged", max_delta=0.1)], SUMMARY, ARMS, "base")
    assert [(r.arm, r.passed) for r in result.results] == [("tuned", True), ("lora", False)]
    assert result.passed is False


def test_max_rate_reads_the_arm_rate():
    result = evaluate_gates([GateConfig(measure="flagged", arm="tuned", max_rate=0.15)], SUMMARY, ARMS, "base")
    assert result.passed is True and result.results[0].kind == "max_rate" and result.results[0].reference is None
    failed = evaluate_gates([GateConfig(measure="flagged", arm="tuned", max_rate=0.1)], SUMMARY, ARMS, "base")
    assert failed.passed is False


def test_no_gates_pass():
    result = evaluate_gates([], SUMMARY, ARMS, "base")
    assert result.passed is True and result.results == []


def test_a_missing_row_names_measure_category_and_arm():
    with pytest.raises(ConfigError, match=r"gate on 'flagged' / 'forum' / arm 'tuned'"):
        evaluate_gates([GateConfig(measure="flagged", probe_category="forum", max_delta=0.1)], SUMMARY, ARMS, "base")


def test_check_gates_names_the_known_measures_and_categories():
    catalogue = [MeasureSpec(name="flagged", analyser="flagged", description="x", harmful=True, kind="binary")]
    with pytest.raises(ConfigError, match=r"gates\[0\].measure: unknown measure 'flaged' \(known: flagged\)"):
        check_gates([GateConfig(measure="flaged", max_delta=0.1)], catalogue, {"all"})
    with pytest.raises(ConfigError, match=r"'forum' is not a probe category \(known: all, group\)"):
        check_gates([GateConfig(measure="flagged", probe_category="forum", max_delta=0.1)], catalogue, {"all", "group"})
    check_gates([GateConfig(measure="flagged", max_delta=0.1)], catalogue, {"all"})  # valid: no error


def test_a_ci_low_gate_without_an_interval_fails_and_says_why_and_the_record_reads_back():
    """A mean measured on one prompt has no interval (nan in summary.csv): the gate cannot
    show the rise is not significant, so it fails with a reason; run.json has no NaN."""
    from harness.gate_output import describe
    from harness.record.schema import GateReport, RunRecord

    summary = [row("delta", "tuned", "base", 3.0, "nan", "nan", measure="characters", category="solo")]
    gate = GateConfig(measure="characters", probe_category="solo", max_delta=5.0, use="ci_low")
    report = evaluate_gates([gate], summary, ["base", "tuned"], "base")
    [result] = report.results
    assert report.passed is False and result.compared is None and result.ci_low is None
    assert result.note == "no 95% interval: the category has one prompt"
    assert GateReport.model_validate_json(report.model_dump_json()) == report
    record = RunRecord.model_construct(measures=[])
    assert describe(record, result).compared == "no 95% interval: the category has one prompt: fails"
