"""Run-matrix benchmark: the 2 × 2 demo matrix sequentially vs ``--backend processes --workers 2`` (and Ray).

Every side runs ``harness run configs/demo-matrix.yaml`` as a subprocess into
a fresh parent folder, alternating sides for ``--rounds`` rounds, and the
medians are printed with ``ratio X`` = sequential ÷ parallel wall time
(target ≥ 1.6 on 2 cores).

The base model is built once before the rounds (``--set base={model: ...}``
hands it to every side): the shared-base build runs in the parent before any
child, the same on every backend, so timing it in every round would only
dilute the ratio; its time is printed on its own.  Each side still samples
the base arm itself (a fresh generation cache per run).

Also printed: what the parent adds over the sum of its children on the
sequential side (wall time − Σ child seconds in matrix.json: start-up,
expansion, collection), and whether every side's child tables are byte-identical.

    .venv/bin/python benchmarks/matrix.py              # 2 rounds (~15 min on 2 cores)
    .venv/bin/python benchmarks/matrix.py --rounds 1 --no-ray
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
CONFIG = ROOT / "configs" / "demo-matrix.yaml"
TABLES = ("generations.jsonl", "scores.csv", "summary.csv")


def build_base(work: Path) -> tuple[Path, float]:
    """The demo matrix's shared base, built once by the runner's own function; (folder, seconds)."""
    from harness.matrix.runner import build_shared_base
    from harness.matrix.spec import expand_matrix, read_spec

    expansion = expand_matrix(read_spec(CONFIG), work / "base-parent")
    started = time.perf_counter()
    build_shared_base(expansion, force=False, log=lambda message: None, progress=False)
    return work / "base-parent" / "base_model", time.perf_counter() - started


def run_side(side: str, base: Path, out: Path) -> float:
    """One whole matrix run on ``side``; its wall seconds."""
    backend = {"sequential": ["--backend", "local"], "processes": ["--backend", "processes", "--workers", "2"]}
    args = backend.get(side, ["--backend", "ray"])
    command = [sys.executable, "-m", "harness", "run", str(CONFIG), "--out", str(out), "--quiet", *args]
    command += ["--set", f"base={{model: {base}}}"]
    started = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, env={**os.environ})
    seconds = time.perf_counter() - started
    if done.returncode not in (0, 3):  # 3: the demo's gates fail on purpose
        raise SystemExit(f"{side} failed ({done.returncode}): {done.stderr[-2000:]}")
    return seconds


def children_seconds(parent: Path) -> float:
    """Σ of the children's wall times recorded in matrix.json."""
    record = json.loads((parent / "matrix.json").read_text(encoding="utf-8"))
    return sum(c["seconds"] or 0 for c in record["children"])


def tables(parent: Path) -> dict[str, bytes]:
    """Every child's result tables."""
    return {
        str(p.relative_to(parent)): p.read_bytes()
        for p in sorted((parent / "children").glob("*/*"))
        if p.name in TABLES
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--no-ray", action="store_true", help="skip the Ray side even when ray is installed")
    args = parser.parse_args()
    sides = ["sequential", "processes"]
    try:
        import ray  # noqa: F401

        if not args.no_ray:
            sides.append("ray")
    except ImportError:
        print("ray not installed: no Ray side (pip install ray)")
    with tempfile.TemporaryDirectory(prefix="bench-matrix-") as tmp:
        work = Path(tmp)
        base, base_seconds = build_base(work)
        print(f"shared base built once in {base_seconds:.1f} s (not in the ratio)")
        times: dict[str, list[float]] = {s: [] for s in sides}
        overhead: list[float] = []
        reference: dict[str, bytes] | None = None
        identical = True
        for r in range(args.rounds):
            for side in sides if r % 2 == 0 else reversed(sides):
                parent = work / f"{side}-{r}"
                seconds = run_side(side, base, parent)
                times[side].append(seconds)
                print(f"round {r + 1} {side:<10} {seconds:7.1f} s  (Σ children {children_seconds(parent):.1f} s)")
                if side == "sequential":
                    overhead.append(seconds - children_seconds(parent))
                reference = reference or tables(parent)
                identical &= tables(parent) == reference
        median = {s: statistics.median(t) for s, t in times.items()}
        print(f"parent over Σ children (sequential: start-up, expansion, collection): "
              f"{statistics.median(overhead):.1f} s")  # fmt: skip
        print(f"child tables byte-identical across sides and rounds: {identical}")
        for side in sides[1:]:
            print(f"{side}: median {median[side]:.1f} s vs sequential {median['sequential']:.1f} s: "
                  f"ratio {median['sequential'] / median[side]:.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
