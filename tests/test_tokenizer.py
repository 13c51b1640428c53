"""Tokenizers: SentencePiece → fast tokenizer conversion, rinna's quirks fixed."""

from pathlib import Path

import pytest

from harness.base import train_sentencepiece
from harness.models import spm_to_fast_tokenizer

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


@pytest.mark.skipif(not RINNA.is_file() or not POSTS.is_file(), reason="../shared rinna tokenizer / open2ch posts absent")
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
    ids = tok("\U0001F9A5", add_special_tokens=False)["input_ids"]
    assert 0 in ids and 2 not in ids
    assert tok("ABC", add_special_tokens=False)["input_ids"] == sp.encode("abc")
