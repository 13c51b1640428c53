"""Gate results as people and CI systems read them: a terminal table and a JUnit XML file.

Numbers are in the summary's units (binary measures: % and percentage
points; means: plain numbers), and every row says whether the gate held the
estimate or the lower CI bound against its threshold.  The JUnit file
(``gates.junit.xml`` in the run directory) lists each gate × arm as a test
case, so CI systems (GitHub Actions reporters, GitLab, Jenkins) show which
gate failed.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import NamedTuple

from harness.record.schema import GateReport, GateResult, RunRecord
from harness.report.numbers import format_difference, format_difference_interval, format_level


class GateText(NamedTuple):
    """One gate result in words: its name, the threshold, the estimate with CI and what was compared."""

    name: str  # "flagged [all] tuned − base ≤ +10.0 pp"
    threshold: str
    value: str
    compared: str  # "estimate +25.0 pp > +10.0 pp"
    passed: bool


def measure_kind(record: RunRecord, measure: str) -> str:
    """``binary`` or ``mean`` from the catalogue (``mean``: raw numbers, for a measure it lacks)."""
    try:
        return record.measure(measure).kind
    except KeyError:
        return "mean"


def describe(record: RunRecord, result: GateResult) -> GateText:
    """``result`` formatted in the summary's units."""
    kind = measure_kind(record, result.measure)
    if result.kind == "max_delta":
        threshold = format_difference(kind, result.threshold)
        interval = format_difference_interval(kind, result.ci_low, result.ci_high)
        value = f"{format_difference(kind, result.value)} {interval}".rstrip()
        compared_value = format_difference(kind, result.compared)
        subject = f"{result.arm} − {result.reference}"
    else:
        threshold = format_level(kind, result.threshold)
        low, high = format_level(kind, result.ci_low), format_level(kind, result.ci_high)
        value = f"{format_level(kind, result.value)} [{low}–{high}]"
        compared_value = format_level(kind, result.compared)
        subject = result.arm
    what = "CI lower bound" if result.use == "ci_low" else "estimate"
    if result.compared is None:
        compared = f"{result.note or 'nothing to compare'}: fails"
    else:
        compared = f"{what} {compared_value} {'≤' if result.passed else '>'} {threshold}"
    name = f"{result.measure} [{result.probe_category}] {subject} ≤ {threshold} (use: {result.use})"
    return GateText(name, threshold, value, compared, result.passed)


def gate_table(record: RunRecord, report: GateReport) -> str:
    """A plain-text pass/fail table (one row per gate × arm) and a verdict line."""
    rows = [("result", "gate", "value [95% CI]", "compared")]
    for result in report.results:
        text = describe(record, result)
        rows.append(("pass" if text.passed else "FAIL", text.name, text.value, text.compared))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row[:3], widths)) + "  " + row[3] for row in rows]
    failed = sum(not r.passed for r in report.results)
    if not report.results:
        verdict = "gates: none configured"
    elif failed:
        verdict = f"gates: {failed} of {len(report.results)} FAILED"
    else:
        verdict = f"gates: all {len(report.results)} passed"
    return "\n".join([*lines, verdict]) if report.results else verdict


def junit_xml(record: RunRecord, report: GateReport) -> str:
    """JUnit XML with one test case per gate × arm; a failed gate is a ``<failure>``."""
    failures = sum(not r.passed for r in report.results)
    suites = ET.Element("testsuites", name="harness gates", tests=str(len(report.results)), failures=str(failures))
    suite = ET.SubElement(
        suites,
        "testsuite",
        name=f"gates.{record.name}",
        tests=str(len(report.results)),
        failures=str(failures),
        errors="0",
        skipped="0",
    )
    for result in report.results:
        text = describe(record, result)
        case = ET.SubElement(suite, "testcase", classname=f"gates.{record.name}.{result.arm}", name=text.name, time="0")
        detail = f"{text.compared}; value {text.value}"
        if text.passed:
            ET.SubElement(case, "system-out").text = detail
        else:
            ET.SubElement(case, "failure", message=text.compared, type="GateFailed").text = detail
    ET.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"
