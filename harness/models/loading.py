"""Loading causal LMs from local folders (safetensors only) or, when allowed, the hub."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from harness.errors import ModelError
from harness.models.tokenizer import load_tokenizer


def pick_device(preference: str = "auto") -> str:
    """'auto' → cuda when available, else mps, else cpu."""
    import torch

    if preference != "auto":
        if preference == "cuda" and not torch.cuda.is_available():
            raise ModelError("device 'cuda' requested but no CUDA GPU is available")
        return preference
    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


@dataclass
class LoadedModel:
    """A causal LM ready for training or sampling, and its provenance."""

    model: object
    tokenizer: object
    device: str
    path: str
    adapter: str | None = None  # "attached" | "merged" when loaded from a LoRA adapter folder

    @property
    def parameters(self) -> int:
        return sum(p.numel() for p in self.model.parameters())


def check_safetensors(path: Path) -> None:
    """Refuse a truncated or corrupt safetensors file (an interrupted download) in one line.

    Checked by hand because the loader memory-maps the file: a truncated one
    can fail deep inside transformers, or with SIGBUS when a tensor past the
    end is touched.  Layout: 8-byte little-endian header length, JSON header,
    then the data, whose size is the largest ``data_offsets`` end.
    """
    size = path.stat().st_size
    try:
        with path.open("rb") as fh:
            header_len = int.from_bytes(fh.read(8), "little")
            if size < 8 or header_len <= 0 or 8 + header_len > size:
                raise ValueError("header longer than the file")
            header = json.loads(fh.read(header_len))
        ends = [t["data_offsets"][1] for name, t in header.items() if name != "__metadata__"]
    except (ValueError, KeyError, TypeError, IndexError) as err:
        raise ModelError(f"{path}: not a valid safetensors file ({err}); download or save it again") from None
    expected = 8 + header_len + max(ends, default=0)
    if size != expected:
        raise ModelError(
            f"{path}: truncated or corrupt safetensors file ({size:,} bytes, expected {expected:,}); "
            "download or save it again"
        )


def load_model(
    source: str | Path, device: str = "auto", allow_hub: bool = False, adapter: str = "attached"
) -> LoadedModel:
    """Load a causal LM from a local folder (or a hub id when ``allow_hub``).

    Weights load from safetensors only and ``trust_remote_code`` stays off.
    CPU runs stay float32 (bf16 autocast is ~31× slower on this class of CPU).
    A LoRA adapter folder (``adapter_config.json``) loads its base model and
    the adapter on top: ``adapter="attached"`` keeps it a separate module,
    ``"merged"`` folds it into the weights.
    """
    from transformers import AutoModelForCausalLM

    source = str(source)
    local = Path(source)
    if not local.is_dir():
        if not allow_hub:
            raise ModelError(
                f"model folder not found: {source} (hub downloads are off; set base.allow_hub: true to allow)"
            )
        return _load_from_hub(source, device)
    if (local / "adapter_config.json").is_file():
        return _load_adapter(local, device, allow_hub, adapter)
    weights = sorted(local.glob("*.safetensors"))
    if not weights:
        raise ModelError(f"{local}: no *.safetensors weights (pickled .bin weights are not loaded)")
    for path in weights:
        check_safetensors(path)
    try:
        model = AutoModelForCausalLM.from_pretrained(
            local, use_safetensors=True, trust_remote_code=False, local_files_only=True
        )
    except Exception as err:  # transformers raises many types (OSError, ValueError, KeyError, SafetensorError …)
        raise ModelError(f"{local}: cannot load model ({type(err).__name__}: {str(err)[:300]})") from None
    tokenizer = load_tokenizer(local)
    rows = model.get_input_embeddings().num_embeddings
    if len(tokenizer) > rows:
        raise ModelError(
            f"{local}: the tokenizer has {len(tokenizer)} tokens but the model's embedding has {rows} rows "
            "(tokenizer and weights do not belong together)"
        )
    dev = pick_device(device)
    model.to(dev)
    return LoadedModel(model=model, tokenizer=tokenizer, device=dev, path=str(local.resolve()))


def _load_adapter(local: Path, device: str, allow_hub: bool, mode: str) -> LoadedModel:
    """Base model (from the adapter config's base path, relative to the adapter folder) + LoRA adapter."""
    if mode not in ("attached", "merged"):
        raise ModelError(f"adapter mode must be 'attached' or 'merged', got {mode!r}")
    adapter_weights = local / "adapter_model.safetensors"
    if not adapter_weights.is_file():
        raise ModelError(f"{local}: adapter_config.json but no adapter_model.safetensors")
    check_safetensors(adapter_weights)
    try:
        base_ref = json.loads((local / "adapter_config.json").read_text(encoding="utf-8"))["base_model_name_or_path"]
    except (ValueError, KeyError) as err:
        raise ModelError(f"{local / 'adapter_config.json'}: no usable base_model_name_or_path ({err})") from None
    base_dir = Path(base_ref) if Path(base_ref).is_absolute() else local / base_ref
    base = load_model(base_dir if base_dir.is_dir() else base_ref, device=device, allow_hub=allow_hub)
    from peft import PeftModel

    try:
        model = PeftModel.from_pretrained(base.model, local, is_trainable=False)
    except Exception as err:  # peft raises ValueError/KeyError/RuntimeError on a mismatched adapter
        raise ModelError(f"{local}: cannot attach the adapter ({type(err).__name__}: {str(err)[:300]})") from None
    if mode == "merged":
        model = model.merge_and_unload()
    model.to(base.device)
    model.eval()
    return LoadedModel(
        model=model, tokenizer=load_tokenizer(local), device=base.device, path=str(local.resolve()), adapter=mode
    )


def _load_from_hub(model_id: str, device: str) -> LoadedModel:  # pragma: no cover - needs network
    from huggingface_hub import snapshot_download

    try:
        folder = snapshot_download(model_id, allow_patterns=["*.json", "*.safetensors", "*.model", "*.txt", "*.jinja"])
    except Exception as err:
        raise ModelError(f"cannot download {model_id}: {err}") from None
    return load_model(folder, device=device, allow_hub=False)


def quiet_transformers() -> None:
    """Silence transformers' per-call warnings and progress bars (ours report progress)."""
    import os

    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
