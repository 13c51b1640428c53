"""``harness compare RUN_A RUN_B``: two runs side by side, measure by measure and arm by arm.

For every arm and measure both runs have: the two values (rate or mean), the
difference B − A and its 95% interval, per probe category ("all" and every
category both runs probed).  The interval is

* **paired** when, for that arm, both runs hold the same samples: the same
  (probe set, probe id, sample index) with the same seed and prompt.  Then
  sample i of A and sample i of B differ only by the model (two checkpoints,
  two learning rates …) and the pairs are resampled together;
* **unpaired** otherwise: prompts (all samples of one prompt) are resampled,
  independently in each run, because samples of one prompt are not
  independent.

Bootstrap resamples: the larger of the two runs' ``analysis.bootstrap``;
seed: run B's seed.  Everything is read from the run directories alone.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, NamedTuple

from harness.analysis.stats import Delta, cluster_bootstrap_difference, paired_bootstrap_delta
from harness.csvfile import write_csv
from harness.errors import HarnessError, InputError
from harness.io import atomic_write_text
from harness.record.rundir import SCORES, RunDir
from harness.record.schema import ScoreRow
from harness.report.compare_html import ROW_KEYS, render_compare
from harness.resources import reports_dir

# compare.csv columns: the rows compare.html renders, in the same order
COMPARE_COLUMNS = list(ROW_KEYS)
ALL = "all"
OUTPUTS = ("compare.csv", "compare.html")
_DIGITS = 4


class CompareResult(NamedTuple):
    """Where the comparison was written and what it holds."""

    out_dir: Path
    csv_path: Path
    html_path: Path
    rows: int
    pairing: str  # "paired", "unpaired" or "mixed" (per arm)


def open_analysed(path: str | Path) -> RunDir:
    """A run directory whose analysis tables exist (one clear line otherwise)."""
    run = RunDir.open(path)
    if not run.record.measures or not run.has(SCORES):
        raise InputError(f"run '{run.record.name}' has no analysis yet: run `harness report {path}` first", path)
    return run


def sample_keys(run: RunDir) -> dict[str, dict[tuple[str, str, int], tuple[int, str]]]:
    """Per arm: (probe set, probe id, sample index) → (seed, prompt); generations.jsonl is read once."""
    keys: dict[str, dict[tuple[str, str, int], tuple[int, str]]] = {}
    for g in run.read_generations():
        keys.setdefault(g.arm, {})[g.pair_key] = (g.seed, g.prompt)
    return keys


def compare_rows(run_a: RunDir, run_b: RunDir) -> tuple[list[dict[str, Any]], list[str]]:
    """compare.csv rows and notes (what was left out and why)."""
    spec_a = {m.name: m for m in run_a.record.measures if m.per_text}
    spec_b = {m.name: m for m in run_b.record.measures if m.per_text}
    measures = [name for name in spec_b if name in spec_a and spec_a[name].kind == spec_b[name].kind]
    arms_a = [a.name for a in run_a.record.arms]
    arms = [a.name for a in run_b.record.arms if a.name in arms_a]
    name_a, name_b = run_a.record.name, run_b.record.name
    if not measures:
        raise HarnessError(f"runs '{name_a}' and '{name_b}' share no measures: nothing to compare")
    if not arms:
        raise HarnessError(
            f"runs '{name_a}' and '{name_b}' share no arms (A: {', '.join(arms_a)}; "
            f"B: {', '.join(a.name for a in run_b.record.arms)}): nothing to compare"
        )
    notes = [f"measure '{m}' is only in one run or changed kind: left out" for m in spec_a.keys() ^ spec_b.keys()]
    notes += [f"arm '{a}' is only in run A" for a in arms_a if a not in arms]
    notes += [f"arm '{a.name}' is only in run B" for a in run_b.record.arms if a.name not in arms_a]
    n_boot = max(run_a.record.config.analysis.bootstrap, run_b.record.config.analysis.bootstrap)
    seed = run_b.record.seed
    scores_a, scores_b = run_a.read_scores(), run_b.read_scores()
    keys_a, keys_b = sample_keys(run_a), sample_keys(run_b)
    rows: list[dict[str, Any]] = []
    for arm in arms:
        a_rows = [r for r in scores_a if r.arm == arm]
        b_rows = [r for r in scores_b if r.arm == arm]
        paired = bool(a_rows) and keys_a.get(arm) == keys_b.get(arm)
        categories = [ALL, *sorted({r.category for r in a_rows} & {r.category for r in b_rows})]
        for category in categories:
            in_a = [r for r in a_rows if category in (ALL, r.category)]
            in_b = [r for r in b_rows if category in (ALL, r.category)]
            for name in measures:
                delta = _difference(in_a, in_b, name, paired, n_boot, seed)
                rows.append(
                    {
                        "arm": arm,
                        "measure": name,
                        "kind": spec_b[name].kind,
                        "harmful": spec_b[name].harmful,
                        "probe_category": category,
                        "value_a": _mean(in_a, name),
                        "value_b": _mean(in_b, name),
                        "difference": round(delta.mean, _DIGITS),
                        "ci_low": round(delta.low, _DIGITS),
                        "ci_high": round(delta.high, _DIGITS),
                        "n_a": len(in_a),
                        "n_b": len(in_b),
                        "pairing": "paired" if paired else "unpaired",
                    }
                )
    return rows, notes


def _mean(rows: list[ScoreRow], name: str) -> float:
    return round(sum(r.values[name] for r in rows) / len(rows), _DIGITS) if rows else math.nan


def _difference(a: list[ScoreRow], b: list[ScoreRow], name: str, paired: bool, n_boot: int, seed: int) -> Delta:
    if paired:
        by_key = {r.pair_key: r.values[name] for r in a}
        b_in_order = [r for r in b if r.pair_key in by_key]
        return paired_bootstrap_delta(
            [by_key[r.pair_key] for r in b_in_order], [r.values[name] for r in b_in_order], n_boot=n_boot, seed=seed
        )
    return cluster_bootstrap_difference(_clusters(a, name), _clusters(b, name), n_boot=n_boot, seed=seed)


def _clusters(rows: list[ScoreRow], name: str) -> list[list[float]]:
    groups: dict[tuple[str, str], list[float]] = {}
    for r in rows:
        groups.setdefault((r.probe_set, r.probe_id), []).append(r.values[name])
    return list(groups.values())


def compare_runs(path_a: str | Path, path_b: str | Path, out_dir: str | Path | None = None) -> CompareResult:
    """Compare two run directories; writes compare.csv and compare.html into ``out_dir``."""
    run_a, run_b = open_analysed(path_a), open_analysed(path_b)
    rows, notes = compare_rows(run_a, run_b)
    name_a, name_b = run_a.record.name, run_b.record.name
    out = Path(out_dir) if out_dir else reports_dir() / f"compare-{name_a}-vs-{name_b}"
    if out.exists() and not out.is_dir():
        raise InputError("--out is a file, not a folder", out)
    if out.is_dir():
        # only an earlier comparison may be replaced, never files compare did not write
        foreign = sorted(p.name for p in out.iterdir() if p.name not in OUTPUTS)
        if foreign:
            raise InputError(f"holds other files ({', '.join(foreign[:3])}); choose another --out", out)
    csv_path, html_path = (out / name for name in OUTPUTS)
    write_csv(csv_path, rows, COMPARE_COLUMNS)
    title = f"{name_a} vs {name_b}"
    atomic_write_text(html_path, render_compare(title, str(run_a.path), str(run_b.path), rows, notes))
    pairings = {r["pairing"] for r in rows}
    return CompareResult(out, csv_path, html_path, len(rows), pairings.pop() if len(pairings) == 1 else "mixed")
