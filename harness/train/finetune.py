"""Fine-tuning a causal LM on a corpus: the training path, top to bottom.

``finetune`` reads as the recipe: load the base and pick the engine settings
for the device → tokenize the corpus into the token cache (held-out split by
``harness.data.split.is_heldout``, packed by ``data.Packer``) → attach LoRA
when configured → plan the steps → held-out (and drift) loss before → train
with checkpoints and resume (engine.py, checkpoint.py) → loss after → save
the model (or adapter) → ``FinetuneRecord``.  Each step is a short function
below, in that order.
"""

from __future__ import annotations

import math
from functools import partial
from pathlib import Path

from harness.config import BaseConfig, CorpusConfig, FinetuneConfig
from harness.data.corpus import corpus_format
from harness.errors import ConfigError
from harness.models.loading import LoadedModel, load_model
from harness.record.schema import CurvePoint, DriftRecord, FinetuneRecord
from harness.train import distributed
from harness.train.chat import require_chat_template, resolve_loss_on
from harness.train.checkpoint import checkpoint_dirs
from harness.train.data import CacheBuild, TokenCache, build_cache
from harness.train.drift import reference_blocks
from harness.train.engine import CheckpointPolicy, TrainPlan, TrainResult, evaluate_loss, prepare_model, train
from harness.train.lora import attach_lora, lora_summary, merge, trainable_parameters
from harness.train.model_folder import check_output_folder, save_model, write_model_folder
from harness.train.precision import EngineSettings, apply_global, resolve_settings


def finetune(
    base_model: str | Path,
    corpus: CorpusConfig,
    config: FinetuneConfig,
    out_dir: str | Path,
    seed: int = 1234,
    progress: bool = True,
    checkpoint_dir: str | Path | None = None,
    kept=None,
) -> FinetuneRecord:
    """Fine-tune ``base_model`` on ``corpus`` and save the result to ``out_dir``.

    ``kept``: for a filtered corpus (``corpus.filter``), the audit's decisions
    (``harness.data.corpus_filter.KeptDocuments``): training sees only the kept documents.

    With ``checkpoint_dir``, checkpoints (loadable model folders) go there and
    training resumes from the newest one found (``harness run --resume`` after a crash).
    """
    out_dir = Path(out_dir)
    check_output_folder(out_dir)
    loaded, settings = load_base(base_model, config)
    tok, total = loaded.tokenizer, loaded.parameters  # counted before LoRA adds its matrices
    block = context_length(loaded.model.config, config)
    cache = tokenize_corpus(corpus, tok, config, seed, block, base_model, kept)
    train_set, val_set = cache.blocks("train"), cache.blocks("val")
    model = trainable_model(loaded.model, config, settings)
    plan = training_plan(config, len(train_set), seed)
    held_out = partial(evaluate_loss, model, val_set, config.batch_size, settings)

    drift_set = drift_reference(config, tok, block)
    drift_before = optional_loss(model, drift_set, config, settings)
    before = held_out()
    result = train(
        model,
        train_set,
        plan,
        settings,
        checkpoints=checkpoint_policy(checkpoint_dir, config, tok, base_model),
        evaluate=held_out,
        eval_every=config.eval_every,
        desc="finetune",
        progress=progress,
    )
    after = held_out()
    drift = drift_record(config, drift_set, drift_before, optional_loss(model, drift_set, config, settings))

    trained = trainable_parameters(model)
    adapter = save_tuned(model, tok, config, out_dir, base_model)
    return finetune_record(
        out_dir=out_dir,
        config=config,
        loaded=loaded,
        settings=settings,
        cache=cache,
        block=block,
        losses=(before, after),
        result=result,
        parameters=(total, trained),
        adapter=adapter,
        drift=drift,
        checkpoints=kept_checkpoints(checkpoint_dir),
    )


def check_finetune_inputs(corpus: CorpusConfig, config: FinetuneConfig, base: BaseConfig) -> None:
    """Before any work (harness.pipeline.validate_inputs): ``loss_on`` fits the corpus's format, and a
    chat corpus's base has a tokenizer with a chat template (checked here for a local folder; a hub
    model is checked when its tokenizer loads, still before the corpus is tokenized)."""
    from harness.models.tokenizer import load_tokenizer

    fmt = corpus_format(corpus)
    resolve_loss_on(config.loss_on, fmt)
    if fmt != "chat-jsonl":
        return
    if base.init is not None:
        raise ConfigError(
            f"corpus {corpus.path} is chat-jsonl but base.init builds a tokenizer without a chat template; "
            "set base.model to a chat model folder"
        )
    local = Path(base.model)
    if (local / "tokenizer.json").is_file() or (local / "spiece.model").is_file():
        require_chat_template(load_tokenizer(local), corpus.path, local)


def load_base(base_model: str | Path, config: FinetuneConfig):
    """The base model on this process's device, and the engine settings for that device (applied globally)."""
    loaded = load_model(base_model, device=config.device)
    loaded.device = distributed.init_from_env(loaded.device)
    loaded.model.to(loaded.device)
    settings = engine_settings(loaded.device, config)
    apply_global(settings)
    return loaded, settings


def engine_settings(device: str, config: FinetuneConfig):
    """The config's engine options resolved for ``device`` (precision.resolve_settings)."""
    return resolve_settings(
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


def context_length(model_config, config: FinetuneConfig) -> int:
    """``finetune.block_size``, capped at the model's context window (``model_config``: a transformers config).

    GPT-2 names the window ``n_positions``; Llama, Qwen, Mistral … ``max_position_embeddings``.
    """
    for name in ("n_positions", "max_position_embeddings"):
        window = getattr(model_config, name, None)
        if isinstance(window, int) and window > 0:
            return min(config.block_size, window)
    return config.block_size


def cache_settings(config: FinetuneConfig, seed: int, block: int, base_model=None) -> dict:
    """The token cache's settings for a fine-tune (``data.CacheBuild``); the audit stage feeds the same entry."""
    return {
        "seed": seed,
        "val_fraction": config.val_fraction,
        "block_size": block,
        "turn_separator": config.turn_separator,
        "cache_dir": config.cache_dir,
        "loss_on": config.loss_on,
        "model": base_model,  # named by the error for a chat corpus whose tokenizer has no template
    }


def tokenize_corpus(
    corpus: CorpusConfig, tokenizer, config: FinetuneConfig, seed: int, block: int, base_model=None, kept=None
):
    """The corpus's token cache (data.build_cache); rank 0 builds it and the other ranks reuse it."""
    build = partial(build_cache, corpus, tokenizer, kept, **cache_settings(config, seed, block, base_model))
    if distributed.rank() == 0:
        cache = build()
    distributed.barrier()
    if distributed.rank() != 0:
        cache = build()
    return cache


def open_corpus_cache(
    base_model: str | Path, corpus: CorpusConfig, config: FinetuneConfig, seed: int, filter_key: str | None = None
):
    """The token-cache entry ``finetune`` will read, opened for the audit stage to feed (``data.CacheBuild``).

    The audit streams the corpus anyway; feeding the cache from that stream
    spares the fine-tune a read of its own.  None when the base is not a plain
    local model folder (a hub id, an adapter): the fine-tune then tokenizes
    the corpus itself.  ``filter_key``: a filtered corpus's (``harness.data.corpus_filter.filter_key``).
    """
    from transformers import AutoConfig

    from harness.models.tokenizer import load_tokenizer

    local = Path(base_model)
    if not (local / "config.json").is_file() or (local / "adapter_config.json").is_file():
        return None
    block = context_length(AutoConfig.from_pretrained(local, local_files_only=True), config)
    return CacheBuild(
        corpus, load_tokenizer(local), filter_key=filter_key, **cache_settings(config, seed, block, base_model)
    )


def trainable_model(model, config: FinetuneConfig, settings):
    """``model`` with LoRA adapters attached when configured, prepared for the engine (attention, compile …)."""
    if config.lora is not None:
        model = attach_lora(model, config.lora)
    prepare_model(model, settings)
    return model


def training_plan(config: FinetuneConfig, n_blocks: int, seed: int):
    """Optimiser steps (``max_steps``, else ``epochs`` over the blocks) and the other hyper-parameters."""
    per_step = config.batch_size * config.grad_accum_steps * distributed.world_size()
    steps = config.max_steps or max(1, math.ceil(config.epochs * n_blocks / per_step))
    return TrainPlan(
        steps=steps,
        batch_size=config.batch_size,
        lr=config.lr,
        seed=seed,
        warmup_steps=min(config.warmup_steps, steps // 2),
        weight_decay=config.weight_decay,
        grad_clip=config.grad_clip,
    )


def checkpoint_policy(checkpoint_dir, config: FinetuneConfig, tokenizer, base_model):
    """Checkpoints under ``checkpoint_dir`` (None: no checkpoints), each a loadable model folder."""
    if checkpoint_dir is None:
        return None
    return CheckpointPolicy(
        str(checkpoint_dir),
        every=config.checkpoint_interval(),
        keep=config.checkpoints_kept(),
        write_model=partial(write_model_folder, tokenizer=tokenizer, base_model=base_model),
    )


def drift_reference(config: FinetuneConfig, tokenizer, block: int):
    """The packed drift corpus (capability drift), or None when none is configured."""
    if config.drift_corpus is None:
        return None
    return reference_blocks(config.drift_corpus, tokenizer, block, config.drift_max_tokens)


def optional_loss(model, blocks, config: FinetuneConfig, settings: EngineSettings) -> float | None:
    """Mean loss over ``blocks``, or None when there are none (no drift corpus)."""
    return None if blocks is None else evaluate_loss(model, blocks, config.batch_size, settings)


def drift_record(config: FinetuneConfig, blocks, before: float | None, after: float | None) -> DriftRecord | None:
    """Loss and perplexity on the drift corpus before and after tuning (None without a drift corpus)."""
    if blocks is None:
        return None
    return DriftRecord(
        corpus=str(config.drift_corpus.path),
        tokens=int(blocks.numel()),
        loss_before=round(before, 4),
        loss_after=round(after, 4),
        perplexity_before=round(perplexity(before), 4),
        perplexity_after=round(perplexity(after), 4),
    )


def save_tuned(model, tokenizer, config: FinetuneConfig, out_dir: Path, base_model) -> str | None:
    """Save the tuned model (rank 0) to ``out_dir``; return the record's ``adapter`` (None | merged | attached)."""
    adapter = None if config.lora is None else "attached" if config.lora.save == "adapter" else "merged"
    if distributed.rank() == 0:
        if adapter == "merged":
            model = merge(model)
        save_model(model, tokenizer, out_dir, base_model)
    distributed.barrier()
    return adapter


def finetune_record(
    *,
    out_dir: Path,
    config: FinetuneConfig,
    loaded: LoadedModel,
    settings: EngineSettings,
    cache: TokenCache,
    block: int,
    losses: tuple[float, float],
    result: TrainResult,
    parameters: tuple[int, int],
    adapter: str | None,
    drift: DriftRecord | None,
    checkpoints: list[str],
) -> FinetuneRecord:
    """What the run record says about this fine-tune (losses before/after, curves, engine, data)."""
    before, after = losses
    eval_curve = [CurvePoint(step=0, loss=round(before, 5))] + [CurvePoint(**p) for p in result.eval_curve]
    eval_curve.append(CurvePoint(step=result.steps, loss=round(after, 5)))
    return FinetuneRecord(
        model_dir=str(out_dir),
        train_docs=cache.meta["train_docs"],
        val_docs=cache.meta["val_docs"],
        train_tokens=cache.meta["train_tokens"],
        steps=result.steps,
        batch_size=config.batch_size,
        block_size=block,
        eval_loss_before=round(before, 4),
        eval_loss_after=round(after, 4),
        perplexity_before=round(perplexity(before), 4),
        perplexity_after=round(perplexity(after), 4),
        seconds=round(result.seconds, 2),
        tokens_per_second=round(result.tokens_per_second, 1),
        device=loaded.device,
        engine=settings.as_dict(),
        parameters=parameters[0],
        trained_parameters=parameters[1],
        lora=lora_summary(config.lora, loaded.model) if config.lora else None,
        adapter=adapter,
        world_size=distributed.world_size(),
        resumed_from_step=result.resumed_from,
        checkpoints=checkpoints,
        token_cache=str(cache.path),
        # the cache says what it was built with (the template's hash by harness.models.chat.template_sha256)
        loss_on=cache.meta["loss_on"],
        chat_template_sha256=cache.meta.get("chat_template_sha256"),
        train_targets=cache.meta.get("train_targets"),
        val_targets=cache.meta.get("val_targets"),
        loss_curve=[CurvePoint(**p) for p in result.loss_curve],
        eval_curve=eval_curve,
        drift=drift,
    )


def kept_checkpoints(checkpoint_dir) -> list[str]:
    """Names of the checkpoints left under ``checkpoint_dir`` (oldest first)."""
    return [] if checkpoint_dir is None else [p.name for p in checkpoint_dirs(checkpoint_dir)]


def perplexity(loss: float) -> float:
    """exp(loss) per token, capped so a diverged model does not overflow."""
    return math.exp(min(loss, 50))
