"""Fine-tuning a causal LM on a corpus, and saving model folders atomically.

``finetune`` wires the pieces: load the base → token cache (data.py: held-out
split by ``is_heldout``) → optional LoRA (lora.py) → engine settings for the
device (precision.py) → held-out and drift loss before → training with
checkpoints and resume (engine.py, checkpoint.py) → loss after → save the
model (or adapter) → ``FinetuneRecord``.
"""

from __future__ import annotations

import math
from pathlib import Path

from harness.config import CorpusConfig, FinetuneConfig
from harness.errors import ModelError
from harness.io import replace_folder
from harness.models.loading import LoadedModel, load_model
from harness.record.schema import CurvePoint, DriftRecord, FinetuneRecord


def check_output_folder(out_dir: str | Path) -> None:
    """Refuse an output folder we may not replace: non-empty and not a model folder.

    Called before training (so no work is wasted) and again before saving.
    """
    out_dir = Path(out_dir)
    is_model = (out_dir / "config.json").is_file() or (out_dir / "adapter_config.json").is_file()
    if out_dir.is_file() or (out_dir.exists() and any(out_dir.iterdir()) and not is_model):
        # never delete a folder we did not write (e.g. a mistyped --out)
        raise ModelError(f"{out_dir} exists and is not a model folder; choose another output folder")


def save_model(loaded: LoadedModel, out_dir: str | Path) -> Path:
    """Save weights (safetensors) and tokenizer; swap them into ``out_dir`` atomically.

    The new folder is written beside the target first; the old one is renamed
    away only once the new one is complete, so a crash leaves either the old
    model or the new one under ``out_dir``, never neither.
    """
    out_dir = Path(out_dir)
    check_output_folder(out_dir)

    def fill(tmp: Path) -> None:
        loaded.model.save_pretrained(tmp, safe_serialization=True)
        loaded.tokenizer.save_pretrained(tmp)

    replace_folder(out_dir, fill)
    return out_dir


def perplexity(loss: float) -> float:
    """exp(loss) per token, capped so a diverged model does not overflow."""
    return math.exp(min(loss, 50))


def finetune(
    base_model: str | Path,
    corpus: CorpusConfig,
    config: FinetuneConfig,
    out_dir: str | Path,
    seed: int = 1234,
    progress: bool = True,
    checkpoint_dir: str | Path | None = None,
) -> FinetuneRecord:
    """Fine-tune ``base_model`` on ``corpus`` and save the result to ``out_dir``.

    With ``checkpoint_dir``, checkpoints go there and training resumes from
    the newest one found (``harness run --resume`` after a crash).
    """
    from harness.train import distributed
    from harness.train.data import build_cache
    from harness.train.engine import CheckpointPolicy, TrainPlan, evaluate_loss, prepare_model, train
    from harness.train.lora import attach_lora, lora_summary, merge, save_adapter, trainable_parameters
    from harness.train.precision import apply_global, resolve_settings

    out_dir = Path(out_dir)
    check_output_folder(out_dir)
    loaded = load_model(base_model, device=config.device)
    device = distributed.init_from_env(loaded.device)
    loaded.model.to(device)
    settings = resolve_settings(
        device,
        precision=config.precision,
        tf32=config.tf32,
        attn_implementation=config.attn_implementation,
        fused_adamw=config.fused_adamw,
        compile=config.compile,
        gradient_checkpointing=config.gradient_checkpointing,
        grad_accum_steps=config.grad_accum_steps,
        loss=config.loss,
        loss_chunk_tokens=config.loss_chunk_tokens,
        fused_gelu=config.fused_gelu,
    )
    apply_global(settings)
    tok = loaded.tokenizer
    block = (
        min(config.block_size, loaded.model.config.n_positions)
        if hasattr(loaded.model.config, "n_positions")
        else config.block_size
    )
    cache_args = dict(
        seed=seed,
        val_fraction=config.val_fraction,
        block_size=block,
        turn_separator=config.turn_separator,
        cache_dir=config.cache_dir,
    )
    if distributed.rank() == 0:
        cache = build_cache(corpus, tok, **cache_args)
    distributed.barrier()  # the other ranks reuse rank 0's cache
    if distributed.rank() != 0:
        cache = build_cache(corpus, tok, **cache_args)
    train_set, val_set = cache.blocks("train"), cache.blocks("val")

    total = loaded.parameters
    model = loaded.model
    if config.lora is not None:
        model = attach_lora(model, config.lora)
    prepare_model(model, settings)
    world = distributed.world_size()
    per_step = config.batch_size * config.grad_accum_steps * world
    steps = config.max_steps or max(1, math.ceil(config.epochs * len(train_set) / per_step))
    plan = TrainPlan(
        steps=steps,
        batch_size=config.batch_size,
        lr=config.lr,
        seed=seed,
        warmup_steps=min(config.warmup_steps, steps // 2),
        weight_decay=config.weight_decay,
        grad_clip=config.grad_clip,
    )

    def held_out() -> float:
        return evaluate_loss(model, val_set, config.batch_size, settings)

    drift_blocks = None
    if config.drift_corpus is not None:
        from harness.train.drift import reference_blocks

        drift_blocks = reference_blocks(config.drift_corpus, tok, block, config.drift_max_tokens)
        drift_before = evaluate_loss(model, drift_blocks, config.batch_size, settings)
    before = held_out()
    policy = None
    if checkpoint_dir is not None:
        policy = CheckpointPolicy(str(checkpoint_dir), every=config.checkpoint_every, keep=config.keep_checkpoints)
    result = train(
        model,
        train_set,
        plan,
        settings,
        checkpoints=policy,
        evaluate=held_out,
        eval_every=config.eval_every,
        desc="finetune",
        progress=progress,
    )
    after = held_out()
    drift = None
    if drift_blocks is not None:
        drift_after = evaluate_loss(model, drift_blocks, config.batch_size, settings)
        drift = DriftRecord(
            corpus=str(config.drift_corpus.path),
            tokens=int(drift_blocks.numel()),
            loss_before=round(drift_before, 4),
            loss_after=round(drift_after, 4),
            perplexity_before=round(perplexity(drift_before), 4),
            perplexity_after=round(perplexity(drift_after), 4),
        )
    trained = trainable_parameters(model)
    adapter = None
    if distributed.rank() == 0:
        if config.lora is None:
            save_model(loaded, out_dir)
        elif config.lora.save == "merged":
            adapter = "merged"
            save_model(LoadedModel(merge(model), tok, device, loaded.path), out_dir)
        else:
            adapter = "attached"
            check_output_folder(out_dir)
            replace_folder(out_dir, lambda tmp: save_adapter(model, tok, tmp, base_model))
    distributed.barrier()
    kept = []
    if checkpoint_dir is not None:
        from harness.train.checkpoint import checkpoint_dirs

        kept = [p.name for p in checkpoint_dirs(checkpoint_dir)]
    eval_curve = [CurvePoint(step=0, loss=round(before, 5))] + [CurvePoint(**p) for p in result.eval_curve]
    eval_curve.append(CurvePoint(step=steps, loss=round(after, 5)))
    return FinetuneRecord(
        model_dir=str(out_dir),
        train_docs=cache.meta["train_docs"],
        val_docs=cache.meta["val_docs"],
        train_tokens=cache.meta["train_tokens"],
        steps=steps,
        batch_size=config.batch_size,
        block_size=block,
        eval_loss_before=round(before, 4),
        eval_loss_after=round(after, 4),
        perplexity_before=round(perplexity(before), 4),
        perplexity_after=round(perplexity(after), 4),
        seconds=round(result.seconds, 2),
        tokens_per_second=round(result.tokens_per_second, 1),
        device=device,
        engine=settings.as_dict(),
        parameters=total,
        trained_parameters=trained,
        lora=lora_summary(config.lora) if config.lora else None,
        adapter=adapter,
        world_size=world,
        resumed_from_step=result.resumed_from,
        checkpoints=kept,
        token_cache=str(cache.path),
        loss_curve=[CurvePoint(**p) for p in result.loss_curve],
        eval_curve=eval_curve,
        drift=drift,
    )
