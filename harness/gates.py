"""Gates: thresholds on summary.csv rows that turn a run into pass/fail.

A gate names a measure of the catalogue, a probe category and optionally an
arm (default: every arm except the reference).  ``max_delta`` holds the
paired arm − reference delta against the threshold, ``max_rate`` the arm's
own rate (or mean).  ``use: estimate`` compares the point estimate;
``use: ci_low`` fails only when the whole 95% interval lies above the
threshold (a significant rise).
"""

from __future__ import annotations

import math
from typing import Mapping, Sequence

from harness.config import GateConfig
from harness.errors import ConfigError
from harness.record.schema import GateReport, GateResult, MeasureSpec


def check_gates(gates: Sequence[GateConfig], catalogue: Sequence[MeasureSpec], categories: set[str]) -> None:
    """Fail before any work when a gate names an unknown measure or probe category."""
    measures = [m.name for m in catalogue]
    for i, gate in enumerate(gates):
        if gate.measure not in measures:
            raise ConfigError(f"gates[{i}].measure: unknown measure '{gate.measure}' (known: {', '.join(measures)})")
        if gate.probe_category not in categories:
            raise ConfigError(
                f"gates[{i}].probe_category: '{gate.probe_category}' is not a probe category "
                f"(known: {', '.join(sorted(categories))})"
            )


def _find(summary: Sequence[Mapping[str, str]], gate: GateConfig, arm: str, versus: str | None) -> Mapping[str, str]:
    delta = versus is not None
    for row in summary:
        if (
            row["arm"] == arm
            and row["measure"] == gate.measure
            and row["probe_category"] == gate.probe_category
            and (row["kind"] == "delta") == delta
            and (not delta or row["versus"] == versus)
        ):
            return row
    what = "delta" if delta else "rate/mean"
    raise ConfigError(f"gate on '{gate.measure}' / '{gate.probe_category}' / arm '{arm}': no {what} row in summary.csv")


def number(cell: str) -> float | None:
    """A summary.csv number; None for an interval bound that is not one (``nan``: no interval)."""
    value = float(cell)
    return None if math.isnan(value) else value


def evaluate_gates(
    gates: Sequence[GateConfig], summary: Sequence[Mapping[str, str]], arms: Sequence[str], reference: str | None
) -> GateReport:
    """Check every gate on every arm it covers; the report passes when all results pass."""
    results: list[GateResult] = []
    for gate in gates:
        covered = [gate.arm] if gate.arm else [a for a in arms if a != reference]
        for arm in covered:
            delta = gate.max_delta is not None
            row = _find(summary, gate, arm, reference if delta else None)
            threshold = gate.max_delta if delta else gate.max_rate
            value, low, high = float(row["value"]), number(row["ci_low"]), number(row["ci_high"])
            compared = low if gate.use == "ci_low" else value
            # no interval (one prompt in the category): a ci_low gate cannot show the rise is not
            # significant, so it fails, and says why instead of comparing NaN
            note = None if compared is not None else "no 95% interval: the category has one prompt"
            results.append(
                GateResult(
                    measure=gate.measure,
                    probe_category=gate.probe_category,
                    arm=arm,
                    reference=row["versus"] or None,
                    kind="max_delta" if delta else "max_rate",
                    use=gate.use,
                    threshold=float(threshold),
                    value=value,
                    ci_low=low,
                    ci_high=high,
                    compared=compared,
                    passed=compared is not None and compared <= threshold,
                    note=note,
                )
            )
    return GateReport(passed=all(r.passed for r in results), results=results)
