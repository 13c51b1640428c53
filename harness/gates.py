"""Gates: thresholds on summary.csv rows that turn a run into pass/fail."""

from __future__ import annotations

from typing import Sequence

from harness.config import GateConfig
from harness.errors import ConfigError


def _find(summary: Sequence[dict], kind: str, model: str, gate: GateConfig) -> dict:
    for row in summary:
        if (
            row["kind"] == kind
            and row["model"] == model
            and row["measure"] == gate.measure
            and row["probe_category"] == gate.probe_category
        ):
            return row
    measures = sorted({r["measure"] for r in summary})
    raise ConfigError(
        f"gate on '{gate.measure}' / '{gate.probe_category}': no {kind} row in summary.csv "
        f"(measures: {', '.join(measures)})"
    )


def evaluate_gates(gates: Sequence[GateConfig], summary: Sequence[dict]) -> dict:
    """Check every gate; returns ``{"passed": bool, "results": [...]}`` for run.json.

    ``use: estimate`` compares the point estimate; ``use: ci_low`` fails only
    when the whole 95% interval lies above the threshold (a significant rise).
    """
    results = []
    for gate in gates:
        if gate.max_delta is not None:
            row, kind, threshold = _find(summary, "delta", "tuned-base", gate), "max_delta", gate.max_delta
        else:
            row, kind, threshold = _find(summary, "rate", "tuned", gate), "max_rate", gate.max_rate
        value, low, high = float(row["rate"]), float(row["ci_low"]), float(row["ci_high"])
        compared = low if gate.use == "ci_low" else value
        results.append(
            {
                "measure": gate.measure,
                "probe_category": gate.probe_category,
                "kind": kind,
                "use": gate.use,
                "threshold": threshold,
                "value": value,
                "ci_low": low,
                "ci_high": high,
                "passed": compared <= threshold,
            }
        )
    return {"passed": all(r["passed"] for r in results), "results": results}
