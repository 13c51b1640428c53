"""Fine-tuning a causal LM on a corpus, and saving model folders atomically."""

from __future__ import annotations

import math
from pathlib import Path

from harness.config import CorpusConfig, FinetuneConfig
from harness.data.corpus import read_corpus
from harness.errors import ModelError
from harness.io import replace_folder
from harness.models.loading import LoadedModel, load_model
from harness.record.schema import FinetuneRecord
from harness.train.loop import encode_documents, evaluate_loss, pack_blocks, split_documents, train_blocks


def check_output_folder(out_dir: str | Path) -> None:
    """Refuse an output folder we may not replace: non-empty and not a model folder.

    Called before training (so no work is wasted) and again before saving.
    """
    out_dir = Path(out_dir)
    if out_dir.is_file() or (out_dir.exists() and any(out_dir.iterdir()) and not (out_dir / "config.json").is_file()):
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
) -> FinetuneRecord:
    """Fine-tune ``base_model`` on ``corpus`` and save the result to ``out_dir``."""
    check_output_folder(out_dir)
    loaded = load_model(base_model, device=config.device)
    texts = [doc.text for doc in read_corpus(corpus)]
    train_texts, val_texts = split_documents(texts, config.val_fraction, seed)
    tok = loaded.tokenizer
    train_set = pack_blocks(encode_documents(tok, train_texts), tok.eos_token_id, config.block_size)
    val_set = pack_blocks(encode_documents(tok, val_texts), tok.eos_token_id, config.block_size)
    steps = config.max_steps or max(1, math.ceil(config.epochs * len(train_set) / config.batch_size))
    before = evaluate_loss(loaded.model, val_set, config.batch_size, loaded.device)
    result = train_blocks(
        loaded.model,
        train_set,
        steps=steps,
        batch_size=config.batch_size,
        lr=config.lr,
        device=loaded.device,
        seed=seed,
        warmup_steps=min(config.warmup_steps, steps // 2),
        weight_decay=config.weight_decay,
        grad_clip=config.grad_clip,
        desc="finetune",
        progress=progress,
    )
    after = evaluate_loss(loaded.model, val_set, config.batch_size, loaded.device)
    save_model(loaded, out_dir)
    return FinetuneRecord(
        model_dir=str(out_dir),
        train_docs=len(train_texts),
        val_docs=len(val_texts),
        train_tokens=int(train_set.numel()),
        steps=steps,
        batch_size=config.batch_size,
        block_size=int(train_set.shape[1]),
        eval_loss_before=round(before, 4),
        eval_loss_after=round(after, 4),
        perplexity_before=round(perplexity(before), 4),
        perplexity_after=round(perplexity(after), 4),
        seconds=round(result.seconds, 2),
        tokens_per_second=round(result.tokens_per_second, 1),
        device=loaded.device,
    )
