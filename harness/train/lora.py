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


# ``target_modules: null`` adapts the attention projections, named by architecture family
DEFAULT_TARGETS = (
    ("c_attn", "c_proj"),  # GPT-2: fused q/k/v (Conv1D) and the output projections
    ("q_proj", "k_proj", "v_proj", "o_proj"),  # Llama, Qwen, Mistral, Gemma, llm-jp (Llama-style)
)


def module_names(model) -> set[str]:
    """The last component of every submodule's name (what peft's ``target_modules`` match)."""
    return {name.rsplit(".", 1)[-1] for name, _ in model.named_modules()}


def target_modules(model, settings: LoraSettings) -> list[str]:
    """The modules to adapt: ``settings.target_modules``, or the first ``DEFAULT_TARGETS`` family the model has."""
    names = module_names(model)
    if settings.target_modules is not None:
        missing = [m for m in settings.target_modules if m not in names]
        if missing:
            raise ConfigError(
                f"finetune.lora.target_modules: {', '.join(missing)} not in this model "
                f"(it has e.g. {', '.join(sorted(n for n in names if n)[:12])})"
            )
        return list(settings.target_modules)
    for family in DEFAULT_TARGETS:
        if set(family) <= names:
            return list(family)
    raise ConfigError(
        "finetune.lora.target_modules: no default for this architecture; name its projections "
        f"(it has e.g. {', '.join(sorted(n for n in names if n)[:12])})"
    )


def attach_lora(model, settings: LoraSettings):
    """Wrap ``model`` with fresh LoRA adapters (on ``target_modules``); only they require gradients."""
    from peft import LoraConfig, get_peft_model
    from transformers.pytorch_utils import Conv1D

    targets = target_modules(model, settings)
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


def lora_summary(settings: LoraSettings, model) -> dict:
    """What the record says about the adapter (``target_modules`` as resolved for ``model``)."""
    return {**settings.model_dump(mode="json", exclude={"save"}), "target_modules": target_modules(model, settings)}
