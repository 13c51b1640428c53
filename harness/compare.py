"""``harness compare RUN RUN [RUN ...]`` or ``harness compare MATRIX_PARENT``: runs side by side.

The first run is the reference (A); every other run (B) is compared with it,
so N runs give N − 1 comparisons in one table (each row names its ``run_a``
and ``run_b``).  Against one reference rather than every pair: the table
grows linearly with N, and "how does each candidate differ from the
baseline" is the question a choice between fine-tunes asks; compare two
candidates directly by naming one of them first.  A matrix parent stands
for its collected children in matrix.json order, the first child being the
reference.

For every arm and measure A and B both have: the two values (rate or mean), the
difference B − A and its 95% interval, per probe category ("all" and every
category both runs probed).  The interval is

* **paired** when, for that arm, both runs hold the same samples: the same
  (probe set, probe id, sample index) with the same seed and prompt.  Then
  sample i of A and sample i of B differ only by the model (two checkpoints,
  two learning rates …): the interval is summary.csv's paired one
  (``harness.analysis.summary.paired_delta``), which resamples *prompts*,
  each with all its sample pairs, because the k pairs of one prompt are
  correlated;
* **unpaired** otherwise: prompts (all samples of one prompt) are resampled,
  independently in each run, because samples of one prompt are not
  independent.

Bootstrap resamples: the larger of the two runs' ``analysis.bootstrap``;
seed: run B's seed.  Everything is read from the run directories alone, so
two runs give the same rows whether compared alone or among others.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, NamedTuple, Sequence

from harness.analysis.stats import Delta, cluster_bootstrap_difference
from harness.analysis.summary import pair_up, paired_delta, prompt_of
from harness.csvfile import write_csv
from harness.errors import HarnessError, InputError
from harness.io import atomic_write_text
from harness.matrix.collect import child_path
from harness.matrix.paths import is_matrix, read_matrix
from harness.record.rundir import SCORES, RunDir
from harness.record.schema import ScoreRow
from harness.report.compare_html import ROW_KEYS, RUN_KEYS, render_compare_many
from harness.resources import reports_dir

# compare.csv columns: which two runs, then the rows compare.html renders, in the same order
COMPARE_COLUMNS = [*RUN_KEYS, *ROW_KEYS]
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
                delta = difference(in_a, in_b, name, paired, n_boot, seed)
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


def difference(a: list[ScoreRow], b: list[ScoreRow], name: str, paired: bool, n_boot: int, seed: int) -> Delta:
    """B − A of measure ``name`` with its 95% interval; both bootstrap prompts (see the module docstring)."""
    if paired:
        return paired_delta(pair_up(a, b), name, n_boot, seed)
    return cluster_bootstrap_difference(_clusters(a, name), _clusters(b, name), n_boot=n_boot, seed=seed)


def _clusters(rows: list[ScoreRow], name: str) -> list[list[float]]:
    groups: dict[tuple[str, str], list[float]] = {}
    for r in rows:
        groups.setdefault(prompt_of(r), []).append(r.values[name])
    return list(groups.values())


def expand_runs(paths: Sequence[str | Path]) -> list[Path]:
    """The run directories to compare: a matrix parent stands for its complete children, in matrix.json order."""
    runs: list[Path] = []
    for path in map(Path, paths):
        if not is_matrix(path):
            runs.append(path)
            continue
        record = read_matrix(path)
        done = [child_path(path, c.name) for c in record.children]
        done = [d for d in done if RunDir.holds_run(d) and RunDir.open(d).record.status == "complete"]
        if not done:
            raise InputError("matrix parent has no complete child run to compare", path)
        runs += done
    if len(runs) < 2:
        raise InputError("compare needs two runs or more (or a matrix parent with two complete children)", paths[0])
    return runs


def run_labels(runs: list[RunDir]) -> list[str]:
    """What compare.csv calls each run: its name, or its path where two runs share a name."""
    names = [r.record.name for r in runs]
    return names if len(set(names)) == len(names) else [str(r.path) for r in runs]


def default_out(paths: Sequence[str | Path], names: list[str]) -> Path:
    """reports/compare-A-vs-B for two runs, compare-PARENT for one matrix parent, else compare-A-vs-N-runs."""
    if len(paths) == 1:
        return reports_dir() / f"compare-{read_matrix(paths[0]).name}"
    if len(names) == 2:
        return reports_dir() / f"compare-{names[0]}-vs-{names[1]}"
    return reports_dir() / f"compare-{names[0]}-vs-{len(names) - 1}-runs"


def check_out(out: Path) -> None:
    """``--out`` may be new or hold only an earlier comparison, never files compare did not write."""
    if out.exists() and not out.is_dir():
        raise InputError("--out is a file, not a folder", out)
    if out.is_dir():
        foreign = sorted(p.name for p in out.iterdir() if p.name not in OUTPUTS)
        if foreign:
            raise InputError(f"holds other files ({', '.join(foreign[:3])}); choose another --out", out)


def compare_many(paths: Sequence[str | Path], out_dir: str | Path | None = None) -> CompareResult:
    """Compare every run after the first with the first; writes compare.csv and compare.html into ``out_dir``.

    ``paths`` are run directories or matrix parents (see ``expand_runs``).
    """
    runs = [open_analysed(p) for p in expand_runs(paths)]
    labels = run_labels(runs)
    rows: list[dict[str, Any]] = []
    notes: list[str] = []
    for run_b, label_b in zip(runs[1:], labels[1:]):
        pair_rows, pair_notes = compare_rows(runs[0], run_b)
        rows += [{"run_a": labels[0], "run_b": label_b, **row} for row in pair_rows]
        notes += pair_notes if len(runs) == 2 else [f"{label_b}: {note}" for note in pair_notes]
    out = Path(out_dir) if out_dir else default_out(paths, [run.record.name for run in runs])
    check_out(out)
    csv_path, html_path = (out / name for name in OUTPUTS)
    write_csv(csv_path, rows, COMPARE_COLUMNS)
    if len(runs) == 2:
        title, roles = f"{labels[0]} vs {labels[1]}", ["A", "B"]
    else:
        title = f"{labels[0]} vs {len(runs) - 1} runs"
        roles = [f"A (reference): {labels[0]}", *(f"B: {label}" for label in labels[1:])]
    page = render_compare_many(title, [(role, str(run.path)) for role, run in zip(roles, runs)], rows, notes)
    atomic_write_text(html_path, page)
    pairings = {r["pairing"] for r in rows}
    return CompareResult(out, csv_path, html_path, len(rows), pairings.pop() if len(pairings) == 1 else "mixed")


def compare_runs(path_a: str | Path, path_b: str | Path, out_dir: str | Path | None = None) -> CompareResult:
    """Compare two run directories (B − A); see ``compare_many``."""
    return compare_many([path_a, path_b], out_dir)
