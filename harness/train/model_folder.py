"""Loadable model folders: what ``harness.models.loading.load_model`` opens.

A full model folder holds the weights (safetensors), ``config.json`` and the
tokenizer files; a LoRA folder holds the adapter (``lora.save_adapter``:
safetensors, ``adapter_config.json`` pointing at the base, tokenizer).  The
tuned model, the from-scratch base and every training checkpoint are written
by ``write_model_folder``, so each of them can be probed.
"""

from __future__ import annotations

import sys
from pathlib import Path

from harness.errors import ModelError
from harness.io import replace_folder


def write_model_folder(model, folder: Path, tokenizer, base_model: str | Path | None = None) -> None:
    """Write ``model`` and ``tokenizer`` into ``folder`` (which exists) as a loadable model folder.

    A peft model is written as its adapter, pointing at ``base_model``.
    """
    peft = sys.modules.get("peft")  # a PeftModel exists only once peft is imported
    if peft is not None and isinstance(model, peft.PeftModel):
        from harness.train.lora import save_adapter

        if base_model is None:
            raise ModelError("a LoRA adapter folder needs the base model's path")
        save_adapter(model, tokenizer, folder, base_model)
        return
    model.save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)


def check_output_folder(out_dir: str | Path) -> None:
    """Refuse an output folder we may not replace: non-empty and not a model folder.

    Called before training (so no work is wasted) and again before saving.
    """
    out_dir = Path(out_dir)
    is_model = (out_dir / "config.json").is_file() or (out_dir / "adapter_config.json").is_file()
    if out_dir.is_file() or (out_dir.exists() and any(out_dir.iterdir()) and not is_model):
        # never delete a folder we did not write (e.g. a mistyped --out)
        raise ModelError(f"{out_dir} exists and is not a model folder; choose another output folder")


def save_model(model, tokenizer, out_dir: str | Path, base_model: str | Path | None = None) -> Path:
    """Write a model folder (``write_model_folder``) and swap it into ``out_dir`` atomically.

    The new folder is written beside the target first; the old one is renamed
    away only once the new one is complete, so a crash leaves either the old
    model or the new one under ``out_dir``, never neither.
    """
    out_dir = Path(out_dir)
    check_output_folder(out_dir)
    replace_folder(out_dir, lambda tmp: write_model_folder(model, tmp, tokenizer, base_model))
    return out_dir
