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
from dataclasses import dataclass
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

    @property
    def parameters(self) -> int:
        return sum(p.numel() for p in self.model.parameters())


def load_model(source: str | Path, device: str = "auto", allow_hub: bool = False) -> LoadedModel:
    """Load a causal LM from a local folder (or a hub id when ``allow_hub``).

    Weights load from safetensors only and ``trust_remote_code`` stays off.
    CPU runs stay float32 (bf16 autocast is ~31× slower on this class of CPU).
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
    if not any(local.glob("*.safetensors")):
        raise ModelError(f"{local}: no *.safetensors weights (pickled .bin weights are not loaded)")
    try:
        model = AutoModelForCausalLM.from_pretrained(
            local, use_safetensors=True, trust_remote_code=False, local_files_only=True
        )
    except (OSError, ValueError) as err:
        raise ModelError(f"{local}: cannot load model ({err})") from None
    tokenizer = load_tokenizer(local)
    dev = pick_device(device)
    model.to(dev)
    return LoadedModel(model=model, tokenizer=tokenizer, device=dev, path=str(local.resolve()))


def _load_from_hub(model_id: str, device: str) -> LoadedModel:  # pragma: no cover - needs network
    from huggingface_hub import snapshot_download

    try:
        folder = snapshot_download(model_id, allow_patterns=["*.json", "*.safetensors", "*.model", "*.txt"])
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
