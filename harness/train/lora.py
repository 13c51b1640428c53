"""LoRA adapters through ``peft``: attach, count, save (safetensors), merge.

An adapter folder written here holds ``adapter_model.safetensors``,
``adapter_config.json`` and the tokenizer.  ``base_model_name_or_path`` in
the adapter config is written relative to the adapter folder when the base is
a local folder (the run directory can move), and
``harness.models.loading.load_model`` resolves it back.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from harness.config import LoraSettings
from harness.errors import ConfigError

ADAPTER_CONFIG = "adapter_config.json"


def target_modules(model, settings: LoraSettings) -> list[str]:
    """The modules to adapt: ``finetune.lora.target_modules`` when the config names them, else the
    architecture's default — GPT-2: the config's default (c_attn, c_proj); any other architecture:
    peft's per-architecture table (Llama, Qwen2, Mistral …: q_proj, v_proj)."""
    if "target_modules" in settings.model_fields_set:
        return list(settings.target_modules)
    model_type = getattr(model.config, "model_type", None)
    if model_type == "gpt2":
        return list(settings.target_modules)
    from peft.utils import TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING as PEFT_DEFAULTS

    if model_type not in PEFT_DEFAULTS:
        raise ConfigError(
            f"finetune.lora.target_modules: no default for model type {model_type!r}; name the modules to adapt"
        )
    return list(PEFT_DEFAULTS[model_type])


def attach_lora(model, settings: LoraSettings):
    """Wrap ``model`` with fresh LoRA adapters (on ``target_modules``); only they require gradients."""
    from peft import LoraConfig, get_peft_model
    from transformers.pytorch_utils import Conv1D

    targets = target_modules(model, settings)
    names = {name.rsplit(".", 1)[-1] for name, _ in model.named_modules()}
    missing = [m for m in targets if m not in names]
    if missing:
        raise ConfigError(
            f"finetune.lora.target_modules: {', '.join(missing)} not in this model "
            f"(it has e.g. {', '.join(sorted(n for n in names if n)[:12])})"
        )
    # GPT-2 stores its projections as Conv1D (weights transposed): peft must know
    conv = any(isinstance(m, Conv1D) and name.rsplit(".", 1)[-1] in targets for name, m in model.named_modules())
    config = LoraConfig(
        r=settings.rank,
        lora_alpha=settings.alpha,
        lora_dropout=settings.dropout,
        target_modules=targets,
        fan_in_fan_out=conv,
        task_type="CAUSAL_LM",
    )
    return get_peft_model(model, config)


def trainable_parameters(model) -> int:
    """Parameters that receive gradients."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def save_adapter(peft_model, tokenizer, out: Path, base_path: str | Path) -> None:
    """Write the adapter (safetensors) + tokenizer into ``out``, pointing at ``base_path``."""
    peft_model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    config_path = out / ADAPTER_CONFIG
    config = json.loads(config_path.read_text(encoding="utf-8"))
    base = Path(base_path)
    if base.is_dir():
        config["base_model_name_or_path"] = os.path.relpath(base.resolve(), out.resolve())
    config_path.write_text(json.dumps(config, indent=2, ensure_ascii=False), encoding="utf-8")


def merge(peft_model):
    """The base model with the adapter folded into its weights (a plain transformers model)."""
    return peft_model.merge_and_unload()


def lora_summary(settings: LoraSettings, model=None) -> dict:
    """What the record says about the adapter; given the model, the target modules actually adapted."""
    summary = settings.model_dump(mode="json", exclude={"save"})
    if model is not None:
        summary["target_modules"] = target_modules(model, settings)
    return summary
