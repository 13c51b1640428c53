"""Multi-GPU / multi-node fine-tuning: ``torchrun … -m harness.train.launch CONFIG --out DIR``.

Every process runs this module; the launcher's environment (``WORLD_SIZE``,
``RANK``, ``LOCAL_RANK``, ``MASTER_ADDR``/``PORT``) starts DDP in
``harness.train.distributed`` (NCCL on GPUs, gloo on CPUs).  It runs the
config's fine-tune only — the probe and analysis stages need one process —
and writes ``DIR/model`` (or the adapter), ``DIR/checkpoints`` and
``DIR/finetune.json`` (the ``FinetuneRecord``) from rank 0.  Then point a
normal ``harness run`` at it with ``finetune.tuned_model: DIR/model``.

Single node, 8 GPUs::

    torchrun --standalone --nproc_per_node 8 -m harness.train.launch configs/x.yaml --out runs/x-tune

Two nodes (run on each, ``--node_rank`` 0 and 1)::

    torchrun --nnodes 2 --node_rank 0 --nproc_per_node 8 --master_addr HOST0 --master_port 29500 \\
        -m harness.train.launch configs/x.yaml --out runs/x-tune

``accelerate launch --multi_gpu --num_processes 8 -m harness.train.launch …`` sets the same variables.
A global step is ``batch_size × grad_accum_steps × processes`` blocks.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from harness.errors import ConfigError, HarnessError


def main(argv=None) -> int:
    """Run the config's fine-tune in this process (one of WORLD_SIZE)."""
    parser = argparse.ArgumentParser(prog="python -m harness.train.launch", description=__doc__.split("\n")[0])
    parser.add_argument("config", type=Path, help="run config YAML (base.model, corpus, finetune)")
    parser.add_argument("--out", type=Path, required=True, help="folder for model/, checkpoints/, finetune.json")
    parser.add_argument("--resume", action="store_true", help="continue from the newest checkpoint in --out")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    try:
        return run(args.config, args.out, resume=args.resume, progress=not args.quiet)
    except HarnessError as err:
        print(f"harness: {err}", file=sys.stderr)
        return 1


def run(config_path: Path, out: Path, resume: bool = False, progress: bool = True) -> int:
    """Fine-tune per the config into ``out``; rank 0 writes the record."""
    from harness.config import load_config
    from harness.models.loading import quiet_transformers
    from harness.train import distributed
    from harness.train.checkpoint import latest_checkpoint
    from harness.train.finetune import finetune

    quiet_transformers()
    config = load_config(config_path)
    if config.base is None or config.base.model is None or config.corpus is None:
        raise ConfigError(f"{config_path}: the launcher needs base.model (a model folder) and corpus")
    out.mkdir(parents=True, exist_ok=True)
    checkpoints = out / "checkpoints"
    if latest_checkpoint(checkpoints) is not None and not resume:
        raise ConfigError(f"{checkpoints} holds checkpoints: pass --resume to continue, or choose another --out")
    record = finetune(
        config.base.model,
        config.corpus,
        config.finetune,
        out / "model",
        seed=config.seed,
        progress=progress,
        checkpoint_dir=checkpoints,
    )
    if distributed.rank() == 0:
        (out / "finetune.json").write_text(record.model_dump_json(indent=2), encoding="utf-8")
        print(
            f"tuned model: {out / 'model'} ({record.world_size} process(es), {record.steps} steps, "
            f"eval loss {record.eval_loss_before:.3f} → {record.eval_loss_after:.3f})"
        )
    distributed.shutdown()  # on success only: after a failure a barrier would wait for a rank that is gone
    return 0


if __name__ == "__main__":
    sys.exit(main())
