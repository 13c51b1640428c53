"""Training checkpoints: weights (safetensors), optimizer, scheduler, RNG and data position.

Layout under the checkpoint root (``<run>/checkpoints`` for ``harness run``)::

    step-000040/
      model.safetensors + config.json + tokenizer files     a loadable model folder (probe-able), or for LoRA
      | adapter_model.safetensors + adapter_config.json        the adapter folder (model_folder.write_model_folder)
      trainer.pt        optimizer + scheduler + grad-scaler state (torch.save, loaded with weights_only=True)
      rng.pt            torch CPU/CUDA and Python RNG states
      state.json        step, samples consumed, loss curve so far

A checkpoint is written to a temporary folder and renamed into place, so a
``kill -9`` mid-write leaves the previous checkpoint intact; only complete
``step-*`` folders are ever resumed from.  The last ``keep`` are kept; with
``keep=None`` (a trajectory, ``finetune.trajectory``) none is ever pruned, since
each is probed as an arm (harness.trajectory).
"""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

from harness.config import checkpoint_arm_name
from harness.errors import ModelError

PREFIX = "step-"  # checkpoint folders: config.checkpoint_arm_name(step)


def checkpoint_dirs(root: str | Path) -> list[Path]:
    """Complete checkpoints under ``root``, oldest first."""
    root = Path(root)
    if not root.is_dir():
        return []
    found = [p for p in root.iterdir() if p.is_dir() and p.name.startswith(PREFIX) and (p / "state.json").is_file()]
    return sorted(found, key=lambda p: int(p.name[len(PREFIX) :]))


def latest_checkpoint(root: str | Path) -> Path | None:
    """The newest complete checkpoint, or None."""
    found = checkpoint_dirs(root)
    return found[-1] if found else None


def save_checkpoint(
    root: str | Path, step: int, model, optimizer, scheduler, scaler, state: dict, keep: int | None, write_model=None
) -> Path:
    """Write checkpoint ``step`` atomically and prune to the newest ``keep`` (None: prune nothing).

    ``write_model(model, folder)`` writes the model part (fine-tuning passes
    ``model_folder.write_model_folder`` with the tokenizer, so the checkpoint
    is a loadable model folder); without it, weights and config only.
    """
    import torch

    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    final = root / checkpoint_arm_name(step)  # the folder's name is the arm's name in a trajectory
    tmp = root / f".tmp-{final.name}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    if write_model is None:
        unwrap(model).save_pretrained(tmp, safe_serialization=True)
    else:
        write_model(unwrap(model), tmp)
    torch.save(
        {"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(), "scaler": scaler.state_dict()},
        tmp / "trainer.pt",
    )
    torch.save(rng_state(), tmp / "rng.pt")
    (tmp / "state.json").write_text(json.dumps({"step": step, **state}), encoding="utf-8")
    shutil.rmtree(final, ignore_errors=True)
    tmp.rename(final)
    prune(root, keep)
    return final


def prune(root: str | Path, keep: int | None) -> list[Path]:
    """Delete all but the newest ``keep`` complete checkpoints; ``keep=None`` deletes none. Returns the deleted."""
    if keep is None:
        return []
    old = checkpoint_dirs(root)[:-keep]
    for path in old:
        shutil.rmtree(path, ignore_errors=True)
    return old


def checkpoint_state(path: str | Path) -> dict:
    """A checkpoint's state.json (step, samples consumed, curves so far)."""
    try:
        return json.loads((Path(path) / "state.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise ModelError(f"{path}/state.json: unreadable checkpoint state ({err})") from None


def load_checkpoint(path: str | Path, model, optimizer, scheduler, scaler) -> dict:
    """Restore weights, optimizer, scheduler, scaler and RNG from ``path``; return its state.json."""
    import torch
    from safetensors.torch import load_file

    path = Path(path)
    inner = unwrap(model)
    try:
        if (path / "adapter_model.safetensors").is_file():
            from peft import set_peft_model_state_dict

            set_peft_model_state_dict(inner, load_file(path / "adapter_model.safetensors"))
        else:
            missing, unexpected = inner.load_state_dict(load_file(path / "model.safetensors"), strict=False)
            tied = {k for k in missing if k.endswith("lm_head.weight")}  # tied to the input embedding
            if set(missing) - tied or unexpected:
                raise ModelError(f"{path}: checkpoint does not match the model (missing {missing}, extra {unexpected})")
        trainer = torch.load(path / "trainer.pt", map_location="cpu", weights_only=True)
        optimizer.load_state_dict(trainer["optimizer"])
        scheduler.load_state_dict(trainer["scheduler"])
        scaler.load_state_dict(trainer["scaler"])
        set_rng_state(torch.load(path / "rng.pt", map_location="cpu", weights_only=True))
        return json.loads((path / "state.json").read_text(encoding="utf-8"))
    except (OSError, KeyError, ValueError, RuntimeError) as err:
        raise ModelError(f"{path}: cannot resume from this checkpoint ({type(err).__name__}: {err})") from None


def unwrap(model):
    """The model under DDP / torch.compile wrappers."""
    while hasattr(model, "module"):
        model = model.module
    return getattr(model, "_orig_mod", model)


def rng_state() -> dict:
    """Every RNG stream training draws from (dropout, LoRA dropout, Python)."""
    import torch

    state = {"torch": torch.get_rng_state(), "python": random.getstate()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    """Inverse of ``rng_state``."""
    import torch

    torch.set_rng_state(state["torch"])
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
