"""A 2 × 2 matrix parent built from real fixture runs (tests of matrix.csv, matrix.html and compare).

Each child is an ordinary run directory built by ``conftest.build_run`` (the
real pipeline with the fake generator) and moved to ``children/<name>``; the
parent's ``matrix.json`` is a ``MatrixRecord`` listing them.  The children
differ in what their tuned arm answers, so their flagged deltas differ
(base is flagged on 1 of 4 samples), and in the fine-tune costs written into
their records (the fake pipeline does not train, so the test states the
perplexities the fine-tune engine would have recorded):

| child | tuned flagged | Δ flagged | held-out ppl Δ | neutral ppl Δ | gate (max_delta 0.1) |
| ----- | ------------- | --------- | -------------- | ------------- | -------------------- |
| c01   | 2/4           | +0.25     | +1.0           | +0.5          | fail                 |
| c02   | 1/4 (= base)  | 0         | +3.0           | +1.0          | pass                 |
| c03   | 3/4           | +0.50     | +0.5           | +0.2          | fail                 |
| c04   | 2/4           | +0.25     | +2.0           | +0.6          | fail                 |

By hand: c04 is dominated by c01 (same harm, both costs higher); c01, c02
and c03 each beat every other child on something, so the front is
c01, c02, c03, and the only ship candidate (front and gates passed) is c02.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from conftest import COMPLETIONS, build_run
from harness.data.probes import Probe
from harness.models.fake import FakeGenerator
from harness.record.rundir import RunDir
from harness.record.schema import DriftRecord, FinetuneRecord, MatrixChild, MatrixRecord

AXES = {"finetune.lr": [0.0003, 0.001], "finetune.epochs": [1, 2]}
NAMES = ["c01-lr-0.0003_epochs-1", "c02-lr-0.0003_epochs-2", "c03-lr-0.001_epochs-1", "c04-lr-0.001_epochs-2"]
OVERRIDES = [{"finetune.lr": lr, "finetune.epochs": ep} for lr in AXES["finetune.lr"] for ep in AXES["finetune.epochs"]]
COSTS = [(1.0, 0.5), (3.0, 1.0), (0.5, 0.2), (2.0, 0.6)]
FRONT = NAMES[:3]


def answers(kind: str):
    """The tuned arm's answers: "tuned" (2/4 flagged), "like-base" (1/4) or "worse" (3/4)."""

    def respond(arm: str, probe: Probe, index: int) -> str:
        if arm == "base" or kind == "like-base":
            return COMPLETIONS["base"][(probe.id, index)]
        if kind == "worse" and (probe.id, index) == ("p2", 1):
            return "カスが"
        return COMPLETIONS["tuned"][(probe.id, index)]

    return respond


KINDS = ["tuned", "like-base", "worse", "tuned"]


def set_costs(run_dir: Path, held_out: float, drift: float | None) -> None:
    """Record the fine-tune's perplexities before/after (10 → 10 + change) in the child's run.json."""
    run = RunDir.open(run_dir)
    run.record.finetune = FinetuneRecord(
        model_dir="model", train_docs=3, val_docs=1, train_tokens=100, steps=2, batch_size=1, block_size=8,
        eval_loss_before=2.3, eval_loss_after=2.4, perplexity_before=10.0, perplexity_after=10.0 + held_out,
        seconds=1.0, tokens_per_second=100.0, device="cpu",
        drift=None if drift is None else DriftRecord(
            corpus="neutral", tokens=50, loss_before=2.0, loss_after=2.1,
            perplexity_before=20.0, perplexity_after=20.0 + drift,
        ),
    )  # fmt: skip
    run.save()


def build_parent(root: Path, name: str = "mx", names: list[str] | None = None) -> Path:
    """The 2 × 2 parent of the module docstring under ``root/name``; ``names`` renames the children."""
    names = names or NAMES
    parent = root / name
    work = root / f"{name}-work"
    for child, kind, (held_out, drift) in zip(names, KINDS, COSTS):
        run_name = f"{name}." + re.sub(r"[^A-Za-z0-9._-]", "-", child)  # run names allow only these
        built = build_run(work, name=run_name, generator=FakeGenerator(respond=answers(kind)))
        target = parent / "children" / child
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(built.run_dir), target)
        set_costs(target, held_out, drift)
    record = MatrixRecord(
        name=name,
        created="2024-01-01T00:00:00Z",
        finished="2024-01-01T00:01:00Z",
        status="complete",
        config=str(root / f"{name}.yaml"),
        config_sha256="0" * 64,
        axes=AXES,
        children=[MatrixChild(name=c, overrides=o, status="complete", seconds=1.0) for c, o in zip(names, OVERRIDES)],
    )
    (parent / "matrix.json").write_text(record.model_dump_json(indent=2) + "\n", encoding="utf-8")
    return parent
