"""Loading causal LMs and their tokenizers, with rinna's tokenizer quirks fixed.

transformers 5 mis-handles SentencePiece-only checkpoints such as
rinna/japanese-gpt2-medium (NOTES.md): ``T5Tokenizer`` maps unknown pieces to
``</s>``, ignores ``do_lower_case`` and appends ``</s>`` to prompts.  So when
a model folder has ``spiece.model`` but no ``tokenizer.json``, we build a fast
tokenizer from the SentencePiece model's own pieces, scores and normaliser
(agreement with ``sentencepiece`` on the shared forum posts: 99.9%, the rest
equal-score tie-breaks).  Our tokenizers never add special tokens to a text:
prompts are sent without a trailing ``</s>``.
"""

from __future__ import annotations

import json
from pathlib import Path

from harness.errors import ModelError

SPECIAL_TOKENS = {"unk_token": "<unk>", "bos_token": "<s>", "eos_token": "</s>", "pad_token": "[PAD]"}


def spm_to_fast_tokenizer(spm_path: str | Path, lowercase: bool = False):
    """A ``PreTrainedTokenizerFast`` equivalent to a SentencePiece unigram model.

    ``lowercase`` reproduces rinna's ``do_lower_case=True`` (applied before the
    model's normaliser, as ``sentencepiece.encode(text.lower())`` does).
    """
    from sentencepiece import sentencepiece_model_pb2
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    proto = sentencepiece_model_pb2.ModelProto()
    try:
        proto.ParseFromString(Path(spm_path).read_bytes())
    except Exception as err:  # protobuf raises its own DecodeError type
        raise ModelError(f"{spm_path}: not a SentencePiece model ({err})") from None
    if proto.trainer_spec.model_type != 1:  # 1 = UNIGRAM
        raise ModelError(f"{spm_path}: only unigram SentencePiece models are supported")
    control = 3  # ModelProto.SentencePiece.Type.CONTROL
    # Control pieces (<s>, </s>, [PAD] …) keep their ids but get a prohibitive
    # score, so segmentation never produces them from text whose characters
    # are in the vocabulary (sentencepiece treats a literal "</s>" as text).
    vocab = [(p.piece, -1e4 if p.type == control else p.score) for p in proto.pieces]
    unk_id = next((i for i, p in enumerate(proto.pieces) if p.type == 2), 0)
    steps = [normalizers.Lowercase()] if lowercase else []
    charsmap = proto.normalizer_spec.precompiled_charsmap
    if charsmap:
        steps.append(normalizers.Precompiled(charsmap))
    # The precompiled map leaves half-width dakuten (ﾊﾞ) decomposed; NFC joins them.
    steps += [normalizers.NFC(), normalizers.Replace(Regex(r"\s+"), " "), normalizers.Strip()]
    backend = Tokenizer(models.Unigram(vocab, unk_id=unk_id, byte_fallback=False))
    backend.normalizer = normalizers.Sequence(steps)
    backend.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=False)
    backend.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always", split=False)
    pieces = {p.piece for p in proto.pieces}
    specials = {k: v for k, v in SPECIAL_TOKENS.items() if v in pieces}
    # split_special_tokens: a literal "</s>" in forum text is text, not end-of-text.
    return PreTrainedTokenizerFast(tokenizer_object=backend, split_special_tokens=True, **specials)


def load_tokenizer(model_dir: str | Path):
    """The tokenizer of a local model folder (tokenizer.json, else spiece.model)."""
    from transformers import AutoTokenizer

    model_dir = Path(model_dir)
    if (model_dir / "tokenizer.json").is_file():
        tok = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
    elif (model_dir / "spiece.model").is_file():
        lowercase = _config_says_lowercase(model_dir)
        tok = spm_to_fast_tokenizer(model_dir / "spiece.model", lowercase=lowercase)
    else:
        raise ModelError(f"{model_dir}: no tokenizer.json or spiece.model")
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return tok


def _config_says_lowercase(model_dir: Path) -> bool:
    cfg = model_dir / "tokenizer_config.json"
    if cfg.is_file():
        try:
            return bool(json.loads(cfg.read_text(encoding="utf-8")).get("do_lower_case", False))
        except json.JSONDecodeError:
            return False
    return False
