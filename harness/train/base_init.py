"""A tiny from-scratch base model: SentencePiece tokenizer + small GPT-2.

Used when no pretrained weights can be downloaded (tests, the demo, offline
sites): it gives a *control* base model whose manner comes only from the
corpus it was pretrained on.  Special-token ids copy rinna's layout
(<unk> 0, <s> 1, </s> 2, [PAD] 3) so code paths match the production model.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Iterable

from harness.config import BaseInitConfig
from harness.data.corpus import read_corpus
from harness.errors import InputError
from harness.models.loading import pick_device
from harness.models.tokenizer import spm_to_fast_tokenizer
from harness.record.schema import BaseInitRecord
from harness.train.data import build_cache
from harness.train.engine import TrainPlan, evaluate_loss, train
from harness.train.model_folder import check_output_folder, save_model
from harness.train.precision import resolve_settings

# Model shapes.  tiny: ~0.8M parameters outside the embeddings; trains at
# tens of thousands of tokens/s on 2 CPU cores with a 4k vocabulary.
SIZES = {
    "tiny": {"n_embd": 128, "n_layer": 4, "n_head": 4, "n_positions": 256},
    "small": {"n_embd": 256, "n_layer": 6, "n_head": 8, "n_positions": 512},
}
# Share of documents held out to report the base's loss; the split is the fine-tune's
# (harness.data.split.is_heldout with the run seed), so it needs ~20+ documents.
HELDOUT_FRACTION = 0.05


def train_sentencepiece(texts: Iterable[str], vocab_size: int, out_path: str | Path, seed: int = 0) -> Path:
    """Train a unigram SentencePiece model on ``texts`` and write it to ``out_path``."""
    import sentencepiece as spm

    sentences = [t.replace("\n", " ") for t in texts if t.strip()]
    if not sentences:
        raise InputError("no text to train a tokenizer on")
    buffer = io.BytesIO()
    try:
        spm.SentencePieceTrainer.train(
            sentence_iterator=iter(sentences),
            model_writer=buffer,
            model_type="unigram",
            vocab_size=vocab_size,
            hard_vocab_limit=False,  # a small corpus may not support the full size
            character_coverage=0.9995,
            normalization_rule_name="nmt_nfkc",
            unk_id=0,
            bos_id=1,
            eos_id=2,
            pad_id=3,
            pad_piece="[PAD]",
            # every printable ASCII character gets a piece, so no ASCII text
            # (URLs, "</s>" typed in a post) ever falls back to <unk>
            required_chars="".join(chr(c) for c in range(33, 127)),
            num_threads=1,  # deterministic
            shuffle_input_sentence=False,
            minloglevel=2,
        )
    except RuntimeError as err:
        raise InputError(f"SentencePiece training failed: {err}") from None
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_bytes(buffer.getvalue())
    return out_path


def init_base(config: BaseInitConfig, out_dir: str | Path, seed: int = 1234, progress: bool = True) -> BaseInitRecord:
    """Train a tokenizer and pretrain a small GPT-2 on ``config.corpus``; save to ``out_dir``.

    The corpus goes through the fine-tune's token cache (same held-out split and packing).
    """
    out_dir = Path(out_dir)
    check_output_folder(out_dir)
    tokenizer = base_tokenizer(config, out_dir, seed)
    model = new_gpt2(tokenizer, config.size, seed)
    device = pick_device("auto")
    model.to(device)
    block = min(config.block_size, SIZES[config.size]["n_positions"])
    cache = build_cache(
        config.corpus, tokenizer, seed=seed, val_fraction=HELDOUT_FRACTION, block_size=block, fraction_key=None
    )
    train_set, val_set = cache.blocks("train"), cache.blocks("val")
    settings = resolve_settings(device)
    warmup = min(20, config.steps // 5)
    plan = TrainPlan(steps=config.steps, batch_size=config.batch_size, lr=config.lr, seed=seed, warmup_steps=warmup)
    before = evaluate_loss(model, val_set, config.batch_size, settings)
    result = train(model, train_set, plan, settings, desc="pretrain base", progress=progress)
    after = evaluate_loss(model, val_set, config.batch_size, settings)
    save_model(model, tokenizer, out_dir)
    return BaseInitRecord(
        model_dir=str(out_dir),
        vocab_size=len(tokenizer),
        parameters=sum(p.numel() for p in model.parameters()),
        train_docs=cache.meta["train_docs"],
        steps=config.steps,
        eval_loss_before=round(before, 4),
        eval_loss_after=round(after, 4),
        seconds=round(result.seconds, 4),
        tokens_per_second=round(result.tokens_per_second, 4),
    )


def base_tokenizer(config: BaseInitConfig, out_dir: Path, seed: int):
    """A SentencePiece tokenizer trained on the corpus and ``tokenizer_corpora`` (a fast tokenizer)."""
    texts = [d.text for c in [config.corpus, *config.tokenizer_corpora] for d in read_corpus(c)]
    work = out_dir.with_name(out_dir.name + ".tokenizer")
    spm_path = train_sentencepiece(texts, config.vocab_size, work / "spiece.model", seed=seed)
    tokenizer = spm_to_fast_tokenizer(spm_path)
    spm_path.unlink()
    work.rmdir()
    return tokenizer


def new_gpt2(tokenizer, size: str, seed: int):
    """A freshly initialised GPT-2 of ``size`` (SIZES) for ``tokenizer``, seeded."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(seed)
    model_config = GPT2Config(
        vocab_size=len(tokenizer),
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        **SIZES[size],
    )
    return GPT2LMHeadModel(model_config)
