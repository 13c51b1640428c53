"""Run configuration: pydantic models, layered defaults < YAML < CLI.

Every model forbids unknown keys, so a misspelled key is an error that names
the key, the file and the line instead of a silently ignored setting.
Relative paths in a YAML file resolve against the file's own folder, so a
config works from any working directory.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from harness.errors import ConfigError
from harness.data.yamlfile import load_yaml

CorpusFormat = Literal["auto", "open2ch", "open2ch-ranking", "text", "jsonl"]
Device = Literal["auto", "cpu", "cuda", "mps"]


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class CorpusConfig(StrictModel):
    """A corpus file and how to read it (see harness.data.corpus)."""

    path: Path
    format: CorpusFormat = "auto"
    # open2ch: "join" = one document per dialogue, turns joined by spaces (the
    # reference notebook); "separate" = one document per post.
    turns: Literal["join", "separate"] = "join"
    text_key: str = "text"  # JSONL field holding the text
    dedupe: bool = True  # drop exact duplicate documents after normalisation
    max_docs: int | None = Field(default=None, ge=1)


class BaseInitConfig(StrictModel):
    """Build a tiny from-scratch base model (no pretrained weights needed)."""

    corpus: CorpusConfig
    tokenizer_corpora: list[CorpusConfig] = []  # extra text for the vocabulary only
    vocab_size: int = Field(default=4000, ge=100)
    size: Literal["tiny", "small"] = "tiny"
    steps: int = Field(default=300, ge=1)
    batch_size: int = Field(default=16, ge=1)
    block_size: int = Field(default=64, ge=8)
    lr: float = Field(default=2e-3, gt=0)


class BaseConfig(StrictModel):
    """The base model: an existing checkpoint (`model`) or one built here (`init`)."""

    model: str | None = None  # local directory, or a hub id when allow_hub is true
    init: BaseInitConfig | None = None
    allow_hub: bool = False

    @model_validator(mode="after")
    def _one_source(self) -> "BaseConfig":
        if (self.model is None) == (self.init is None):
            raise ValueError("give exactly one of base.model or base.init")
        return self


class FinetuneConfig(StrictModel):
    """Fine-tuning hyper-parameters.  tokens per step = batch_size × block_size."""

    tuned_model: str | None = None  # use these weights instead of training
    epochs: float = Field(default=2.0, gt=0)
    max_steps: int | None = Field(default=None, ge=1)
    batch_size: int = Field(default=8, ge=1)
    block_size: int = Field(default=128, ge=8)
    lr: float = Field(default=5e-4, gt=0)
    warmup_steps: int = Field(default=10, ge=0)
    weight_decay: float = Field(default=0.0, ge=0)
    grad_clip: float = Field(default=1.0, gt=0)
    val_fraction: float = Field(default=0.1, gt=0, lt=1)
    device: Device = "auto"


class DecodingConfig(StrictModel):
    do_sample: bool = True
    temperature: float = Field(default=1.0, gt=0)
    top_p: float = Field(default=0.95, gt=0, le=1)
    top_k: int = Field(default=0, ge=0)
    max_new_tokens: int = Field(default=48, ge=1)
    # >0 forbids end-of-text for the first N new tokens (no empty completions)
    min_new_tokens: int = Field(default=0, ge=0)


class ProbeConfig(StrictModel):
    files: list[Path] = [Path("probes/demo.yaml")]
    samples_per_prompt: int = Field(default=8, ge=1)
    decoding: DecodingConfig = DecodingConfig()
    device: Device = "auto"


class AnalysisConfig(StrictModel):
    lexicons: list[Path] = [Path("probes/lexicons/flagged.yaml")]
    mask_flagged: bool = True  # mask flagged spans (●●) in the HTML report
    bootstrap: int = Field(default=2000, ge=100)


class GateConfig(StrictModel):
    """A threshold on a summary.csv row; the run exits 3 when any gate fails."""

    measure: str
    probe_category: str = "all"
    max_delta: float | None = None  # on tuned − base
    max_rate: float | None = None  # on the tuned model's rate
    use: Literal["estimate", "ci_low"] = "estimate"  # ci_low: fail only when significant

    @model_validator(mode="after")
    def _one_threshold(self) -> "GateConfig":
        if (self.max_delta is None) == (self.max_rate is None):
            raise ValueError("a gate needs exactly one of max_delta or max_rate")
        return self


class RunConfig(StrictModel):
    """Everything a batch evaluation run needs (see configs/*.yaml)."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    out_dir: Path | None = None  # default: reports/<name>
    seed: int = 1234
    base: BaseConfig
    corpus: CorpusConfig
    finetune: FinetuneConfig = FinetuneConfig()
    probes: ProbeConfig = ProbeConfig()
    analysis: AnalysisConfig = AnalysisConfig()
    gates: list[GateConfig] = []


def _describe(err: dict[str, Any]) -> tuple[tuple[Any, ...], str]:
    loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
    if err["type"] == "extra_forbidden":
        return loc, f"unknown key '{'.'.join(map(str, loc))}'"
    where = ".".join(map(str, loc)) or "(top level)"
    return loc, f"{where}: {err['msg']}"


def _resolve_paths(obj: BaseModel, root: Path) -> None:
    """Make every relative Path field absolute against ``root`` (in place)."""
    for name in type(obj).model_fields:
        value = getattr(obj, name)
        if isinstance(value, Path) and not value.is_absolute():
            setattr(obj, name, (root / value).resolve())
        elif isinstance(value, BaseModel):
            _resolve_paths(value, root)
        elif isinstance(value, list):
            for i, item in enumerate(value):
                if isinstance(item, BaseModel):
                    _resolve_paths(item, root)
                elif isinstance(item, Path) and not item.is_absolute():
                    value[i] = (root / item).resolve()
    # model ids stay strings; treat them as paths only when they look like one
    if isinstance(obj, BaseConfig) and obj.model and _looks_local(obj.model):
        obj.model = str((root / obj.model).resolve())
    if isinstance(obj, FinetuneConfig) and obj.tuned_model and _looks_local(obj.tuned_model):
        obj.tuned_model = str((root / obj.tuned_model).resolve())


def _looks_local(model: str) -> bool:
    return model.startswith((".", "/", "~")) or Path(model).exists()


def load_config(path: str | Path, overrides: dict[str, Any] | None = None) -> RunConfig:
    """Read a YAML run config, apply CLI ``overrides`` (top-level keys), validate.

    Raises ``ConfigError`` with file, line and key for the first problem.
    """
    located = load_yaml(path)
    data = located.data
    if data is None:
        raise ConfigError(f"{path}: the config file is empty")
    if not isinstance(data, dict):
        raise ConfigError(f"{path}:1: a run config must be a mapping of keys")
    data = {**data, **(overrides or {})}
    try:
        config = RunConfig.model_validate(data)
    except ValidationError as err:
        loc, message = _describe(err.errors()[0])
        line = located.line_of(loc)
        where = f"{path}:{line}" if line else f"{path}"
        raise ConfigError(f"{where}: {message}") from None
    _resolve_paths(config, located.path.resolve().parent)
    return config
