"""Tokenizers: SentencePiece → fast tokenizer conversion, rinna's quirks fixed."""

from pathlib import Path

import pytest

from harness.train.base_init import train_sentencepiece
from harness.models.tokenizer import spm_to_fast_tokenizer

SHARED = Path(__file__).resolve().parent.parent.parent / "shared"
RINNA = SHARED / "tokenizers" / "rinna-japanese-gpt2" / "spiece.model"
POSTS = SHARED / "corpora" / "open2ch-ranking-dev" / "dev.tsv"

TEXTS = [
    "今日はいい天気ですね。",
    "明日は雨が降るそうです。",
    "駅前の本屋は十時に開きます。",
    "図書館で新しい本を借りました。",
] * 20


def test_own_tokenizer_matches_sentencepiece(tmp_path):
    import sentencepiece as spm

    model = train_sentencepiece(TEXTS, 200, tmp_path / "sp.model")
    sp = spm.SentencePieceProcessor(model_file=str(model))
    tok = spm_to_fast_tokenizer(model)
    for text in ["今日は雨です。", "本屋で天気の本を借りました", "ｗｗ未知の文字"]:
        assert tok(text, add_special_tokens=False)["input_ids"] == sp.encode(text)
    # rinna's special-token layout, and prompts never get a trailing </s>
    assert (tok.unk_token_id, tok.bos_token_id, tok.eos_token_id, tok.pad_token_id) == (0, 1, 2, 3)
    assert tok("今日は")["input_ids"] == tok("今日は", add_special_tokens=False)["input_ids"]


def test_literal_control_strings_are_not_special(tmp_path):
    model = train_sentencepiece(TEXTS, 200, tmp_path / "sp.model")
    tok = spm_to_fast_tokenizer(model)
    assert tok.eos_token_id not in tok("今日は</s>", add_special_tokens=False)["input_ids"]


@pytest.mark.skipif(
    not RINNA.is_file() or not POSTS.is_file(), reason="../shared rinna tokenizer / open2ch posts absent"
)
def test_rinna_tokenizer_agrees_with_sentencepiece_and_keeps_unk():
    import sentencepiece as spm

    sp = spm.SentencePieceProcessor(model_file=str(RINNA))
    tok = spm_to_fast_tokenizer(RINNA, lowercase=True)
    posts = []
    with POSTS.open(encoding="utf-8") as fh:
        for line in fh:
            posts += [p.replace(" __BR__ ", "\n") for p in line.rstrip("\n").split("\t")[1:]]
            if len(posts) >= 3000:
                break
    agree = sum(tok(p, add_special_tokens=False)["input_ids"] == sp.encode(p.lower()) for p in posts)
    # measured 99.9% on all 21,013 posts; the rest are equal-score tie-breaks
    assert agree / len(posts) >= 0.995
    # transformers 5's T5Tokenizer maps unknown characters to </s> (id 2): ours keeps <unk> (0)
    ids = tok("\U0001f9a5", add_special_tokens=False)["input_ids"]
    assert 0 in ids and 2 not in ids
    assert tok("ABC", add_special_tokens=False)["input_ids"] == sp.encode("abc")


@pytest.mark.slow
@pytest.mark.skipif(
    not RINNA.is_file() or not POSTS.is_file(), reason="../shared rinna tokenizer / open2ch posts absent"
)
def test_rinna_style_model_folder_through_probe_and_finetune(tmp_path):
    """A folder laid out like rinna/japanese-gpt2-medium (spiece.model, no
    tokenizer.json) with a tiny GPT-2 over the real 32k vocabulary: it loads
    with the fixed tokenizer, samples without a trailing </s> in the prompt,
    fine-tunes, and the tuned folder carries a tokenizer.json that encodes
    exactly as the original."""
    import json
    import shutil

    from transformers import GPT2Config, GPT2LMHeadModel

    from harness.config import CorpusConfig, DecodingConfig, FinetuneConfig
    from harness.models.hf import generate_samples
    from harness.models.loading import load_model
    from harness.data.probes import Probe
    from harness.train.finetune import finetune

    base = tmp_path / "rinna-like"
    base.mkdir()
    shutil.copy(RINNA, base / "spiece.model")
    (base / "tokenizer_config.json").write_text(json.dumps({"do_lower_case": True}), encoding="utf-8")
    config = GPT2Config(
        vocab_size=32000,
        n_embd=32,
        n_layer=1,
        n_head=2,
        n_positions=128,
        bos_token_id=1,
        eos_token_id=2,
        pad_token_id=3,
    )
    GPT2LMHeadModel(config).save_pretrained(base, safe_serialization=True)

    loaded = load_model(base)
    tok = loaded.tokenizer
    assert tok("ABC", add_special_tokens=False)["input_ids"] == tok("abc", add_special_tokens=False)["input_ids"]
    records = generate_samples(
        loaded,
        "base",
        [Probe("seed", "ww", "forum", "ww")],
        DecodingConfig(max_new_tokens=5),
        2,
        run_seed=1,
        progress=False,
    )
    assert records[0].prompt_tokens == len(tok("ww", add_special_tokens=False)["input_ids"])

    corpus = tmp_path / "posts.tsv"
    with POSTS.open(encoding="utf-8") as fh:
        corpus.write_text("".join(next(fh) for _ in range(60)), encoding="utf-8")
    finetune(
        base,
        CorpusConfig(path=corpus, format="open2ch-ranking", turns="separate"),
        FinetuneConfig(max_steps=2, batch_size=2, block_size=32),
        tmp_path / "tuned",
        progress=False,
    )
    tuned = load_model(tmp_path / "tuned")
    sample = "ワイ元請けやけどあいつらよりきついわｗｗ ABC"
    assert (tmp_path / "tuned" / "tokenizer.json").is_file()
    assert (
        tuned.tokenizer(sample, add_special_tokens=False)["input_ids"]
        == tok(sample, add_special_tokens=False)["input_ids"]
    )
