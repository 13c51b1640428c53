"""Device-chosen training settings: precision, TF32, attention kernel, fused AdamW, compile.

Everything that "auto" resolves to is decided here, once, from what the device
supports, and returned as a plain ``EngineSettings`` the record stores:

* precision: CUDA with bf16 support → bf16 autocast; other CUDA → fp16
  autocast + GradScaler; CPU/MPS → fp32 (bf16 autocast made a CPU training
  step ~31× slower on the development machine, NOTES.md).
* TF32 matmuls on CUDA (Ampere and later run fp32 matmuls on tensor cores).
* attention: PyTorch SDPA (flash / memory-efficient kernels) unless told otherwise.
* AdamW ``fused=True`` where torch has it for the device (CUDA), else foreach.
"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import asdict, dataclass

PRECISIONS = ("auto", "fp32", "bf16", "fp16")


@dataclass(frozen=True)
class EngineSettings:
    """Resolved engine choices (no "auto" left); recorded in run.json."""

    device: str
    precision: str  # fp32 | bf16 | fp16
    grad_scaler: bool
    tf32: bool
    attn_implementation: str
    fused_adamw: bool
    compile: bool
    gradient_checkpointing: bool
    grad_accum_steps: int
    loss: str  # chunked | full
    loss_chunk_tokens: int
    fused_gelu: bool = True  # GPT-2's tanh-GELU as one kernel (see engine.fuse_gelu)

    def as_dict(self) -> dict:
        """Plain dict for the run record."""
        return asdict(self)


def resolve_precision(requested: str, device: str) -> str:
    """'auto' → bf16 on CUDA with bf16, fp16 on other CUDA, fp32 elsewhere; explicit values are checked."""
    import torch

    from harness.errors import ConfigError

    if requested not in PRECISIONS:
        raise ConfigError(f"finetune.precision: unknown value {requested!r} (choose from {', '.join(PRECISIONS)})")
    cuda = device.startswith("cuda")
    if requested == "auto":
        if cuda:
            return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
        return "fp32"
    if requested == "fp16" and not cuda:
        raise ConfigError(f"finetune.precision: fp16 needs a CUDA device (device is {device})")
    return requested


def resolve_settings(
    device: str,
    *,
    precision: str = "auto",
    tf32: bool = True,
    attn_implementation: str = "auto",
    fused_adamw: bool | None = None,
    compile: bool = False,
    gradient_checkpointing: bool = False,
    grad_accum_steps: int = 1,
    loss: str = "chunked",
    loss_chunk_tokens: int | None = None,
    fused_gelu: bool = True,
) -> EngineSettings:
    """Turn config values (with "auto"/None) into concrete settings for ``device``."""
    resolved = resolve_precision(precision, device)
    cuda = device.startswith("cuda")
    if fused_adamw is None:
        fused_adamw = cuda  # torch's fused AdamW kernels exist for CUDA; CPU uses foreach
    return EngineSettings(
        device=device,
        precision=resolved,
        grad_scaler=resolved == "fp16",
        tf32=bool(tf32 and cuda),
        attn_implementation="sdpa" if attn_implementation == "auto" else attn_implementation,
        fused_adamw=bool(fused_adamw),
        compile=compile,
        gradient_checkpointing=gradient_checkpointing,
        grad_accum_steps=grad_accum_steps,
        loss=loss,
        # CPU: small chunks keep the [chunk, vocab] logits cache-sized; GPU: big ones keep the matmuls efficient
        loss_chunk_tokens=loss_chunk_tokens or (4096 if cuda else 256),
        fused_gelu=fused_gelu,
    )


def apply_global(settings: EngineSettings) -> None:
    """Process-wide switches (TF32)."""
    import torch

    if settings.device.startswith("cuda"):
        torch.backends.cuda.matmul.allow_tf32 = settings.tf32
        torch.backends.cudnn.allow_tf32 = settings.tf32
        torch.set_float32_matmul_precision("high" if settings.tf32 else "highest")


def autocast_dtype(settings: EngineSettings):
    """The autocast dtype, or None for fp32."""
    import torch

    return {"bf16": torch.bfloat16, "fp16": torch.float16}.get(settings.precision)


def autocast(settings: EngineSettings):
    """A context manager running the forward pass in the chosen precision."""
    import torch

    dtype = autocast_dtype(settings)
    if dtype is None:
        return nullcontext()
    return torch.autocast(device_type=settings.device.split(":")[0], dtype=dtype)


def make_scaler(settings: EngineSettings):
    """A GradScaler for fp16 (bf16 and fp32 need none); disabled otherwise."""
    import torch

    return torch.amp.GradScaler(settings.device.split(":")[0], enabled=settings.grad_scaler)


def make_optimizer(params, settings: EngineSettings, lr: float, weight_decay: float):
    """AdamW, fused where available (falls back when the build lacks it)."""
    import torch

    params = [p for p in params if p.requires_grad]
    if settings.fused_adamw:
        try:
            return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay, fused=True)
        except (RuntimeError, TypeError):  # no fused kernel for this device/dtype
            pass
    return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay, foreach=True)


def set_attention(model, implementation: str) -> None:
    """Switch a loaded transformers model's attention kernel (sdpa / eager)."""
    setter = getattr(model, "set_attn_implementation", None)
    if setter is not None:
        setter(implementation)
    else:  # older transformers: the config attribute is read at forward time
        model.config._attn_implementation = implementation
