"""Gate results for people and CI: the terminal table, gates.junit.xml, and exit code 3."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from conftest import respond, write_config
from harness.cli import main
from harness.config import GateConfig, load_config
from harness.gate_output import gate_table, junit_xml
from harness.gates import evaluate_gates
from harness.models.fake import FakeGenerator
from harness.pipeline import run
from harness.record.rundir import RunDir

GATES = """\
gates:
  - {measure: flagged, max_delta: 0.1}
  - {measure: flagged, max_delta: 0.9, use: ci_low}
  - {measure: characters, arm: base, max_rate: 100}
"""


def _fake_backend(config: Path) -> Path:
    # the fake backend answers "<arm> <probe> <i>": ~9 characters, nothing flagged
    config.write_text(config.read_text(encoding="utf-8").replace("probes: {", "probes: {backend: fake, "), "utf-8")
    return config


def test_failing_gate_exits_3_and_writes_junit(tmp_path: Path, capsys):
    gates = "gates:\n  - {measure: characters, max_rate: 5}\n  - {measure: flagged, max_delta: 0.5, use: ci_low}\n"
    config = _fake_backend(write_config(tmp_path, "gated", gates=gates))
    assert main(["run", str(config), "--out", str(tmp_path / "gated"), "--quiet"]) == 3
    out = " ".join(capsys.readouterr().out.split())
    assert "FAIL characters [all] tuned ≤ 5.00 (use: estimate)" in out
    assert "pass flagged [all] tuned − base ≤ +50.0 pp (use: ci_low)" in out
    assert "CI lower bound +0.0 pp ≤ +50.0 pp" in out and "gates: 1 of 2 FAILED" in out
    junit = tmp_path / "gated" / "gates.junit.xml"
    assert f"gates (JUnit): {junit}" in out
    assert out.index("gates: 1 of 2 FAILED") < out.index("gates (JUnit)")
    root = ET.parse(junit).getroot()
    assert (root.tag, root.get("tests"), root.get("failures")) == ("testsuites", "2", "1")
    cases = root.findall("testsuite/testcase")
    assert [c.get("classname") for c in cases] == ["gates.gated.tuned", "gates.gated.tuned"]
    failure = cases[0].find("failure")
    assert failure is not None and failure.get("type") == "GateFailed"
    assert failure.get("message").startswith("estimate ") and failure.get("message").endswith(" > 5.00")
    assert cases[1].find("failure") is None


def test_passing_gates_exit_0_and_junit_lists_them(tmp_path: Path):
    config = _fake_backend(write_config(tmp_path, "ok", gates="gates:\n  - {measure: flagged, max_delta: 0.5}\n"))
    assert main(["run", str(config), "--out", str(tmp_path / "ok"), "--quiet"]) == 0
    root = ET.parse(tmp_path / "ok" / "gates.junit.xml").getroot()
    assert (root.get("tests"), root.get("failures")) == ("1", "0")


def test_table_in_percentage_points_with_what_was_compared(tmp_path: Path):
    config = load_config(write_config(tmp_path, "pp", gates=GATES))
    result = run(
        config, out_dir=tmp_path / "pp", progress=False, log=lambda m: None, generator=FakeGenerator(respond=respond)
    )
    table = gate_table(result.record, result.record.gates)
    out = " ".join(table.split())
    assert table.splitlines()[0].split() == ["result", "gate", "value", "[95%", "CI]", "compared"]
    assert "FAIL flagged [all] tuned − base ≤ +10.0 pp (use: estimate) +25.0 pp [+0.0, +50.0]" in out
    assert "estimate +25.0 pp > +10.0 pp" in out
    assert "pass flagged [all] tuned − base ≤ +90.0 pp (use: ci_low)" in out
    assert "CI lower bound +0.0 pp ≤ +90.0 pp" in out
    assert "characters [all] base ≤ 100.00 (use: estimate)" in out and out.endswith("gates: 1 of 3 FAILED")
    failure = ET.parse(tmp_path / "pp" / "gates.junit.xml").getroot().find("testsuite/testcase/failure")
    assert failure.get("message") == "estimate +25.0 pp > +10.0 pp" and "[+0.0, +50.0]" in failure.text
    page = (tmp_path / "pp" / "report.html").read_text(encoding="utf-8")
    assert "<td>estimate +25.0 pp &gt; +10.0 pp</td>" in page and "<td>CI lower bound +0.0 pp ≤ +90.0 pp</td>" in page


def test_unknown_arm_is_a_config_error(tmp_path: Path, capsys):
    config = write_config(tmp_path, "bad", gates="gates:\n  - {measure: flagged, arm: lora, max_delta: 0.5}\n")
    assert main(["run", str(config), "--out", str(tmp_path / "bad"), "--quiet"]) == 1
    assert "gates[0].arm 'lora' is not an arm (arms: base, tuned)" in capsys.readouterr().err


def test_table_and_junit_escape_and_handle_no_gates(run_dir: Path):
    record = RunDir.open(run_dir).record
    empty = evaluate_gates([], [], ["base", "tuned"], "base")
    assert gate_table(record, empty) == "gates: none configured"
    root = ET.fromstring(junit_xml(record, empty).split("\n", 1)[1])
    assert root.get("tests") == "0" and root.findall("testsuite/testcase") == []
    record.name = 'x"<&>'
    summary = RunDir.open(run_dir).read_table("summary.csv")
    report = evaluate_gates([GateConfig(measure="flagged", max_delta=0.1)], summary, ["base", "tuned"], "base")
    root = ET.fromstring(junit_xml(record, report).split("\n", 1)[1])  # still well-formed XML
    assert root.find("testsuite").get("name") == 'gates.x"<&>'
