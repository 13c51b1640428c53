"""Run configuration: pydantic models, layered defaults < YAML < CLI.

Every model forbids unknown keys, so a misspelled key is an error that names
the key, the file and the line instead of a silently ignored setting.
Relative paths in a YAML file resolve against the file's own folder, so a
config works from any working directory.
"""

from __future__ import annotations

import dataclasses
import re

from pathlib import Path
from typing import Any, Literal, NamedTuple
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from harness.errors import ConfigError
from harness.data.probe_formats import ProbeSource
from harness.data.yamlfile import LocatedYaml, load_yaml, validate_yaml
from harness.resources import (
    default_classifier,
    default_group_rules,
    default_lexicon,
    default_pair_rules,
    group_lists_dir,
    probe_file,
)

# Upper bounds of size-like settings.  They are far above any real run (rinna's model has
# 1,024 positions; the full runs sample k = 25) and far below what exhausts a machine, so a
# typo such as samples_per_prompt: 1000000000 is refused at validation instead of ending in
# the out-of-memory killer.  harness.budget checks the planned work against memory as well.
MAX_SAMPLES_PER_PROMPT = 100_000
MAX_NEW_TOKENS = 32_768
MAX_BATCH = 65_536
MAX_BLOCK = 131_072

CorpusFormat = Literal["auto", "open2ch", "open2ch-ranking", "text", "jsonl", "csv", "chat-jsonl"]
Device = Literal["auto", "cpu", "cuda", "mps"]


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


FILTER_FLAGGED = "flagged"  # corpus.filter.drop: any harmful match (the audit's ``flagged`` measure)


class CorpusFilter(StrictModel):
    """Which documents the fine-tune leaves out, decided by the audit's per-document scores.

    See harness.data.corpus_filter.  ``drop``: ``flagged`` and/or lexicon
    category names (checked against the run's lexicons before any work);
    ``min_toxicity``: drop a document whose ``toxicity`` is at least this;
    ``drop_pii``: drop a document with personal data (the ``pii`` measure).
    """

    drop: list[str] = []
    min_toxicity: float | None = Field(default=None, gt=0, le=1)
    drop_pii: bool = False

    @model_validator(mode="after")
    def _something_to_drop(self) -> "CorpusFilter":
        if not self.drop and self.min_toxicity is None and not self.drop_pii:
            raise ValueError("drops nothing: give drop: [flagged | <category>…], min_toxicity or drop_pii")
        for i, name in enumerate(self.drop):
            if name in self.drop[:i]:
                raise ValueError(f"drop[{i}]: {name!r} is given twice")
        return self


class CorpusConfig(StrictModel):
    """A corpus file and how to read it (see harness.data.corpus)."""

    path: Path
    format: CorpusFormat = "auto"
    # open2ch: "join" = one document per dialogue, turns joined by spaces (the
    # reference notebook); "separate" = one document per post.
    turns: Literal["join", "separate"] = "join"
    text_key: str = "text"  # JSONL field / CSV column holding the text
    dedupe: bool = True  # drop exact duplicate documents after normalisation
    max_docs: int | None = Field(default=None, ge=1)
    # the tuning corpus only: fine-tune on the documents the audit keeps (harness.data.corpus_filter)
    filter: CorpusFilter | None = None


class BaseInitConfig(StrictModel):
    """Build a tiny from-scratch base model (no pretrained weights needed)."""

    corpus: CorpusConfig
    tokenizer_corpora: list[CorpusConfig] = []  # extra text for the vocabulary only
    vocab_size: int = Field(default=4000, ge=100, le=1_000_000)
    size: Literal["tiny", "small"] = "tiny"
    steps: int = Field(default=300, ge=1)
    batch_size: int = Field(default=16, ge=1, le=MAX_BATCH)
    block_size: int = Field(default=64, ge=8, le=MAX_BLOCK)
    lr: float = Field(default=2e-3, gt=0)

    @model_validator(mode="after")
    def _no_filter(self) -> "BaseInitConfig":
        # the filter acts through the audit of the tuning corpus; a base's corpora are never audited
        for key, corpus in [("corpus", self.corpus), *(("tokenizer_corpora", c) for c in self.tokenizer_corpora)]:
            if corpus.filter is not None:
                raise ValueError(f"{key}.filter: only the tuning corpus (corpus.filter) can be filtered")
        return self


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


class LoraSettings(StrictModel):
    """LoRA adapters via peft: only the adapter matrices train."""

    rank: int = Field(default=8, ge=1)
    alpha: float = Field(default=16.0, gt=0)
    dropout: float = Field(default=0.05, ge=0, lt=1)
    # module names to adapt; null = the attention projections by architecture (harness.train.lora.DEFAULT_TARGETS):
    # GPT-2 c_attn + c_proj, Llama-style q_proj k_proj v_proj o_proj.  GPT-2 also has c_fc (MLP in)
    target_modules: list[str] | None = None
    # "adapter": model/ holds the adapter (probed attached to the base); "merged": a plain model
    save: Literal["adapter", "merged"] = "adapter"


class TrajectoryConfig(StrictModel):
    """Safety over training steps: a checkpoint every ``every`` steps, all kept and all probed."""

    every: int = Field(ge=1)


class FinetuneConfig(StrictModel):
    """Fine-tuning hyper-parameters.  tokens per step = batch_size × block_size."""

    tuned_model: str | None = None  # use these weights instead of training
    epochs: float = Field(default=2.0, gt=0)
    max_steps: int | None = Field(default=None, ge=1)
    batch_size: int = Field(default=8, ge=1, le=MAX_BATCH)
    block_size: int = Field(default=128, ge=8, le=MAX_BLOCK)
    lr: float = Field(default=5e-4, gt=0)
    warmup_steps: int = Field(default=10, ge=0)
    weight_decay: float = Field(default=0.0, ge=0)
    grad_clip: float = Field(default=1.0, gt=0)
    val_fraction: float = Field(default=0.1, gt=0, lt=1)
    device: Device = "auto"
    # -- engine (harness.train.precision): "auto" picks what the device supports
    precision: Literal["auto", "fp32", "bf16", "fp16"] = "auto"  # auto: bf16 / fp16+scaler on CUDA, fp32 on CPU
    tf32: bool = True  # CUDA only
    attn_implementation: Literal["auto", "sdpa", "eager"] = "auto"  # auto = sdpa
    fused_adamw: bool | None = None  # None = where available (CUDA)
    compile: bool = False  # torch.compile the transformer body
    grad_accum_steps: int = Field(default=1, ge=1)
    gradient_checkpointing: bool = False
    loss: Literal["chunked", "full"] = "chunked"  # chunked: never the full [batch, block, vocab] logits
    loss_chunk_tokens: int | None = Field(default=None, ge=1)  # None: 256 on CPU, 4096 on CUDA
    fused_gelu: bool = True  # GPT-2's gelu_new as one kernel (saves ~6 activation tensors per layer)
    # -- checkpoints (<run>/checkpoints/step-N); the end of training always writes one
    checkpoint_every: int | None = Field(default=None, ge=1)
    keep_checkpoints: int = Field(default=2, ge=1)
    eval_every: int | None = Field(default=None, ge=1)  # held-out loss every N steps → eval_curve
    lora: LoraSettings | None = None
    # a checkpoint every N steps, none pruned, each probed as an arm (harness.trajectory)
    trajectory: TrajectoryConfig | None = None
    # -- data (harness.train.data)
    turn_separator: str | None = None  # open2ch turns="join": text put between turns (e.g. "</s>" or "\n")
    # which tokens the loss counts: assistant = a chat corpus's assistant turns (harness.train.chat); all = every
    # token.  null: assistant for corpus.format chat-jsonl, all otherwise
    loss_on: Literal["assistant", "all"] | None = None
    cache_dir: Path | None = None  # token cache; default $HARNESS_CACHE_DIR or ~/.cache/harness/tokens
    # -- capability drift: loss before/after on a neutral reference corpus
    drift_corpus: CorpusConfig | None = None
    drift_max_tokens: int = Field(default=200_000, ge=1)

    @model_validator(mode="after")
    def _one_checkpoint_interval(self) -> "FinetuneConfig":
        every = self.trajectory.every if self.trajectory else None
        if every is not None and self.checkpoint_every not in (None, every):
            raise ValueError(
                f"checkpoint_every {self.checkpoint_every} differs from trajectory.every {every}: give one of them"
            )
        return self

    def checkpoint_interval(self) -> int | None:
        """Steps between checkpoints: ``trajectory.every``, else ``checkpoint_every`` (None: only at the end)."""
        return self.trajectory.every if self.trajectory else self.checkpoint_every

    def checkpoints_kept(self) -> int | None:
        """How many checkpoints pruning keeps; None (all of them) for a trajectory."""
        return None if self.trajectory else self.keep_checkpoints


# Arm names become ids ("{arm}/{probe_set}/{probe_id}/{i}") and CSV cells.
ARM_NAME = r"^[a-z0-9][a-z0-9_.-]*$"
BASE_ARM, TUNED_ARM = "base", "tuned"
# a training checkpoint probed as an arm (harness.trajectory) is named by its step; the name is
# the checkpoint folder's (harness.train.checkpoint), and the config's own arms may not take it
CHECKPOINT_ARM = re.compile(r"^step-(\d+)$")


def checkpoint_arm_name(step: int) -> str:
    """The arm (and checkpoint folder) name of training step ``step``: ``step-000100``."""
    return f"step-{step:06d}"


def is_checkpoint_arm(name: str) -> bool:
    """True for the name of a checkpoint arm (``checkpoint_arm_name``)."""
    return CHECKPOINT_ARM.match(name) is not None


class EndpointConfig(StrictModel):
    """A model behind an OpenAI-compatible server (vLLM, llama.cpp server, TGI): harness.models.endpoint.

    The API key is read from the environment variable ``api_key_env`` names, at
    request time; it is never written to the config, the record or a log.
    """

    base_url: str = Field(pattern=r"^https?://[^/?#]+")  # e.g. http://127.0.0.1:8000/v1 (…/completions is added)
    model: str = Field(min_length=1)  # the request's ``model``: the name the server serves it under
    api_key_env: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    api: Literal["completions", "chat"] = "completions"  # /v1/completions or /v1/chat/completions
    concurrency: int = Field(default=4, ge=1, le=256)  # requests in flight at once
    timeout_s: float = Field(default=60.0, gt=0, le=3600)  # the longest the server may stay silent per request
    max_retries: int = Field(default=4, ge=0, le=20)  # on 408/429/5xx, connection errors, bad JSON
    backoff_s: float = Field(default=1.0, ge=0, le=60)  # first retry delay; doubles per retry (≤ 60 s)
    # sample 0 of each of the first N probes is requested twice with the same seed: equal texts mark it
    # seed_honoured true, different texts false (harness.models.endpoint); 0 = no check
    seed_check: int = Field(default=4, ge=0, le=MAX_SAMPLES_PER_PROMPT)

    @field_validator("base_url")
    @classmethod
    def _no_credentials_in_url(cls, url: str) -> str:
        if urlsplit(url).username is not None:  # run.json keeps the config: a key in the URL would land there
            raise ValueError("base_url holds credentials: put the key in the variable api_key_env names")
        return url.rstrip("/")


EXTERNAL_KEYS = ("format", "prompt_key", "output_key", "id_key", "sample_key")  # the keys of a generations arm


class ArmConfig(StrictModel):
    """An extra model under test, probed like base and tuned.

    ``model`` is a local model folder (another fine-tune, a checkpoint) or a
    hub id when ``base.allow_hub`` is true; ``same_as`` reuses the weights of
    an arm defined before it (e.g. the tuned model under a second name);
    ``endpoint`` is a model behind an OpenAI-compatible server;
    ``generations`` is a JSONL or CSV file of outputs made elsewhere, read
    instead of sampled (harness.external: ``prompt_key``/``output_key`` name
    its fields, ``id_key`` pairs by id instead of prompt text, ``sample_key``
    matches samples instead of their order within a prompt).
    """

    name: str = Field(pattern=ARM_NAME)
    model: str | None = None
    same_as: str | None = None
    endpoint: EndpointConfig | None = None
    generations: Path | None = None
    format: Literal["jsonl", "csv"] | None = None  # None: from the file's suffix
    prompt_key: str = "prompt"
    output_key: str = "output"
    id_key: str | None = None
    sample_key: str | None = None

    @model_validator(mode="after")
    def _one_source(self) -> "ArmConfig":
        if is_checkpoint_arm(self.name):
            raise ValueError(f"arm '{self.name}': names step-N are the checkpoint arms of a trajectory")
        sources = [k for k in ("model", "same_as", "endpoint", "generations") if getattr(self, k) is not None]
        if len(sources) != 1:
            raise ValueError(f"arm '{self.name}': give exactly one of model, same_as, endpoint or generations")
        # compared with the defaults, not model_fields_set: run.json stores every field of an arm
        external = [k for k in EXTERNAL_KEYS if getattr(self, k) != type(self).model_fields[k].default]
        if self.generations is None and external:
            raise ValueError(f"arm '{self.name}': {', '.join(external)} only go with generations")
        return self


class ArmPlan(NamedTuple):
    """One arm as the config defines it (see ``RunConfig.arm_plan``)."""

    name: str
    source: Literal["init", "finetune", "given", "alias", "endpoint", "external"]
    # a folder (relative paths are inside the run dir), a hub id, an endpoint's base_url, the generations
    # file of an external arm, or None for an alias
    model: str | None
    same_as: str | None = None
    endpoint: EndpointConfig | None = None  # source "endpoint": the server and its settings


class DecodingConfig(StrictModel):
    do_sample: bool = True
    temperature: float = Field(default=1.0, gt=0)
    top_p: float = Field(default=0.95, gt=0, le=1)
    top_k: int = Field(default=0, ge=0)
    max_new_tokens: int = Field(default=48, ge=1, le=MAX_NEW_TOKENS)
    # >0 forbids end-of-text for the first N new tokens (no empty completions)
    min_new_tokens: int = Field(default=0, ge=0, le=MAX_NEW_TOKENS)
    repetition_penalty: float = Field(default=1.0, gt=0)  # transformers' definition; 1.0 = off
    # prompt + new tokens ≤ max_length (the reference notebook's max_length=100); when set it
    # replaces max_new_tokens as each sample's budget
    max_length: int | None = Field(default=None, ge=2, le=MAX_NEW_TOKENS)

    @model_validator(mode="after")
    def _min_below_max(self) -> "DecodingConfig":
        if self.min_new_tokens > self.max_new_tokens:
            raise ValueError(f"min_new_tokens {self.min_new_tokens} exceeds max_new_tokens {self.max_new_tokens}")
        return self


class ProbeConfig(StrictModel):
    # default: the bundled demo probe set (absolute: never resolved against the config's folder); [] probes nothing.
    # An entry is a path (YAML, CSV, JSONL, a dataset folder) or a mapping (harness.data.probe_formats.ProbeSource)
    files: list[Path | ProbeSource] = Field(default_factory=lambda: [probe_file("demo.yaml")], min_length=1)
    samples_per_prompt: int = Field(default=25, ge=1, le=MAX_SAMPLES_PER_PROMPT)  # full runs: k = 25 (demo: 8)
    decoding: DecodingConfig = DecodingConfig()
    device: Device = "auto"
    # "auto": a Hugging Face model per arm (local folder, or hub when allowed);
    # "fake": canned text per arm, no torch (dry runs of a config's wiring)
    backend: Literal["auto", "fake"] = "auto"
    # "harness": the batched KV-cache sampler (harness/models/sampler.py); "reference": one
    # transformers generate() call per prompt, the notebook's loop (kept as the named baseline)
    engine: Literal["harness", "reference"] = "harness"
    batch_size: int = Field(default=64, ge=1, le=MAX_BATCH)  # rows (prompt × sample) per forward (harness engine)
    # finished samples, keyed by model fingerprint and decoding; None = <run dir>/cache/generations
    cache_dir: Path | None = None
    # "all": probe every checkpoint the fine-tune left (RUN/checkpoints/step-N) as an arm named by
    # its step; finetune.trajectory implies it (harness.trajectory)
    checkpoints: Literal["all"] | None = None
    # chat models (harness.models.chat): wrap each prompt in the tokenizer's chat template as a user
    # turn; "auto" = when the tokenizer has one.  system: an optional system turn before it
    chat: bool | Literal["auto"] = "auto"
    system: str | None = Field(default=None, min_length=1)

    @model_validator(mode="after")
    def _system_needs_chat(self) -> "ProbeConfig":
        if self.system is not None and self.chat is False:
            raise ValueError("probes.system is set but probes.chat is false (a system prompt needs a chat template)")
        return self


class WordListConfig(StrictModel):
    """A plain one-term-per-line word list plugged in as a lexicon category."""

    path: Path
    category: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_]*$")
    severity: Literal["harmful", "topic"] = "harmful"
    weight: float | None = Field(default=None, gt=0.0, le=1.0)  # toxicity weight of one match
    context: Literal["any", "target", "compared"] = "any"  # target: only in a target frame (context_rules)
    exclude: list[str] = []  # terms of the list to drop (they fire out of context)


class AnalysisConfig(StrictModel):
    lexicons: list[Path] = Field(default_factory=lambda: [default_lexicon()])  # the bundled project lexicon
    mask_flagged: bool = True  # mask flagged spans (●●) in the HTML report
    bootstrap: int = Field(default=2000, ge=100, le=1_000_000)
    # MeCab crashes on multi-megabyte texts: longer texts are tokenized in
    # chunks of chunk_chars (cut at sentence ends), and cut at max_chars
    chunk_chars: int = Field(default=20_000, ge=100)
    max_chars: int = Field(default=1_000_000, ge=100)
    # issue 8: user word lists, memorization window, toxicity threshold, pool
    word_lists: list[WordListConfig] = []
    memorization_chars: int = Field(default=32, ge=8)
    memorization_max_ngrams: int = Field(default=20_000_000, ge=1000, le=1_000_000_000)  # 8 bytes each
    toxicity_threshold: float = Field(default=0.5, ge=0.0, le=1.0)
    workers: int = Field(default=1, ge=1, le=256)  # processes for large corpus audits
    audit_scores: bool = False  # audit: one scores row per corpus document (harness audit --scores)
    # vocabulary shift (see harness.analysis.vocab_shift): Dirichlet prior and counting unit
    vocab_prior: Literal["pooled", "uniform", "corpus"] = "pooled"
    vocab_prior_strength: float | None = Field(default=None, gt=0)  # α0; None = the pooled token count
    vocab_count: Literal["tokens", "documents"] = "tokens"  # documents: a lemma counts once per text
    # issue 16: the detectors behind flagged/toxicity: the lexicon, and a learned classifier beside it
    # (``classifier:PATH``, a model folder of ``harness scorer train``; ``classifier`` alone: the
    # default one of ``make classifier``, skipped with a note when not built).  The default is both: on
    # text no rule was written from, the pair flags more than the lexicon alone at the same precision
    # (benchmarks/README.md "A classifier trained on the written set too").  See harness.analysis.classifier.
    detectors: list[str] = ["lexicon", "classifier"]
    # issue 16: the group-contempt rule layer of the lexicon detector (harness.analysis.group_rules):
    # its vocabulary file (null: the bundled one, used with the bundled lexicon only; false: off) and
    # the folder of group lists whose names are the groups
    group_rules: Path | Literal[False] | None = None
    group_lists: Path = Field(default_factory=group_lists_dir)
    # issue 16: the pair rule layer (harness.analysis.pair_rules: sexual harassment and doxxing said with
    # ordinary words): its vocabulary file (null: the bundled one, with the bundled lexicon only; false: off)
    pair_rules: Path | Literal[False] | None = None

    @model_validator(mode="after")
    def _known_detectors(self) -> "AnalysisConfig":
        for i, name in enumerate(self.detectors):
            if name != "lexicon" and name != "classifier" and not name.startswith("classifier:"):
                raise ValueError(f"detectors[{i}]: {name!r} is not 'lexicon', 'classifier' or 'classifier:PATH'")
        if "lexicon" not in self.detectors:
            raise ValueError("detectors must include 'lexicon' (the classifier works beside it, not instead)")
        if sum(d.startswith("classifier") for d in self.detectors) > 1:
            raise ValueError("detectors: at most one classifier")
        return self

    def classifier(self) -> tuple[str, Path, bool] | None:
        """The classifier detector: (config key, model folder, whether it is the default one), or None."""
        for i, name in enumerate(self.detectors):
            if name == "classifier":
                return f"analysis.detectors[{i}]", default_classifier(), True
            if name.startswith("classifier:"):
                return f"analysis.detectors[{i}]", Path(name.split(":", 1)[1]).expanduser(), False
        return None

    def group_rule_files(self) -> list[Path]:
        """The files the group-contempt rules read: the rule file, then the group lists; none when off.

        Unset, the rules belong to the bundled lexicon: on when ``lexicons`` is
        just it, off for a lexicon of one's own (name ``group_rules`` to add them)."""
        path = self.group_rules
        if path is False or (path is None and [Path(p) for p in self.lexicons] != [default_lexicon()]):
            return []
        return [path or default_group_rules(), *sorted(Path(self.group_lists).glob("*.yaml"))]

    def pair_rule_files(self) -> list[Path]:
        """The file the pair rules read; none when off (unset: on with the bundled lexicon alone, as
        ``group_rule_files``)."""
        path = self.pair_rules
        if path is False or (path is None and [Path(p) for p in self.lexicons] != [default_lexicon()]):
            return []
        return [path or default_pair_rules()]

    def lexicon_files(self) -> list[Path]:
        """Every file the flag analysis reads: the lexicons, the word lists, then the classifier's model
        files (``classifier_files``; the default classifier only when built), in config order."""
        files = [*self.lexicons, *(w.path for w in self.word_lists), *self.group_rule_files(), *self.pair_rule_files()]
        found = self.classifier()
        if found is not None and not (found[2] and not classifier_files(found[1])[0].is_file()):
            files += classifier_files(found[1])
        return files


def classifier_files(folder: Path) -> list[Path]:
    """The files of a classifier model folder (``harness.analysis.classifier``): run.json hashes them."""
    return [Path(folder) / "model.json", Path(folder) / "weights.npz"]


class ExportConfig(StrictModel):
    """What the export stage of ``harness run`` writes into negatives/."""

    formats: list[str] = ["jsonl", "dpo", "kto"]
    mask: bool = False  # mask flagged spans (●) in exported text
    # which generations are undesirable (negatives, DPO rejected, KTO label false);
    # a text is selected when a matched lexicon category passes both filters
    categories: list[str] = []  # lexicon categories; empty: any
    severities: list[Literal["harmful", "topic"]] = ["harmful"]
    arms: list[str] = []  # arms exported; empty: every arm
    min_score: float | None = Field(default=None, ge=0, le=1)  # and score_measure ≥ this (e.g. toxicity)
    score_measure: str = "toxicity"
    # near duplicates: MinHash Jaccard threshold over character 3-grams; None keeps near duplicates
    near_duplicates: float | None = Field(default=0.9, gt=0, le=1)
    mask_pii: bool = True  # replace emails, URLs, phone numbers, … with <kind> in exported text
    # dataset card licence fields: the licence of the models, prompts and tuning data governs
    license: str = "other"
    license_name: str = "generated-by-user-models"
    license_link: str | None = None


class MitigateConfig(StrictModel):
    """Safety-tune an arm on the run's own preference data (harness.mitigate): a new arm ``<from>+<method>``.

    Pairs come from the ``mitigation-train`` half of the probes only (harness.mitigate.split);
    every effect is reported on the ``mitigation-eval`` half.
    """

    method: Literal["dpo", "kto"] = "dpo"
    from_arm: str = Field(default=TUNED_ARM, alias="from")  # the arm trained (its weights are the start)
    beta: float = Field(default=0.1, gt=0)  # TRL's β: how far the policy may move from the start
    epochs: float = Field(default=1.0, gt=0)
    lr: float = Field(default=5e-5, gt=0)
    batch_size: int = Field(default=8, ge=1, le=MAX_BATCH)
    max_steps: int | None = Field(default=None, ge=1)  # caps epochs
    max_length: int = Field(default=128, ge=8, le=MAX_BLOCK)  # prompt + completion tokens per example
    lora: LoraSettings | None = None
    min_pairs: int = Field(default=32, ge=1)  # fewer DPO pairs (KTO examples): the stage is skipped, with a note
    eval_fraction: float = Field(default=0.5, gt=0, lt=1)  # share of prompts (samples) held out
    seed_split: int | None = None  # the split's hash key; None: the run's seed
    device: Device = "auto"

    model_config = ConfigDict(extra="forbid", validate_assignment=True, populate_by_name=True)

    def arm_name(self) -> str:
        """The mitigated arm's name: ``tuned+dpo``."""
        return f"{self.from_arm}+{self.method}"


class ReportConfig(StrictModel):
    """What the report stage writes besides report.html."""

    # UTF-8 with a byte-order mark on every CSV table, so Excel on Japanese
    # Windows reads them as UTF-8 instead of CP932 (`harness report --excel`)
    csv_bom: bool = False


class GateConfig(StrictModel):
    """A threshold on a summary.csv row; the run exits 3 when any gate fails."""

    measure: str
    probe_category: str = "all"
    arm: str | None = None  # default: every arm except the reference
    # NaN or ±inf would read as a failed (or never-failing) gate: a bad config must not look like a regression
    max_delta: float | None = Field(default=None, allow_inf_nan=False)  # on arm − reference (paired)
    max_rate: float | None = Field(default=None, allow_inf_nan=False)  # on the arm's own rate (or mean)
    use: Literal["estimate", "ci_low"] = "estimate"  # ci_low: fail only when significant

    @model_validator(mode="after")
    def _one_threshold(self) -> "GateConfig":
        if (self.max_delta is None) == (self.max_rate is None):
            raise ValueError("a gate needs exactly one of max_delta or max_rate")
        return self


class MlflowSettings(StrictModel):
    """``tracking.mlflow``: log the finished run to MLflow (harness.tracking; needs ``harness[tracking]``)."""

    # a relative file store (file:./mlruns, ./mlruns, sqlite:///runs.db) resolves against the config's folder
    tracking_uri: str = "file:./mlruns"
    experiment: str = Field(min_length=1)
    run_name: str | None = None  # default: the run's name


class TrackingConfig(StrictModel):
    """Where a finished run is logged besides its run directory (README "Experiment tracking")."""

    mlflow: MlflowSettings | None = None


def resolve_tracking_uri(uri: str, root: Path) -> str:
    """A local tracking URI made absolute against ``root`` (file: URIs, plain paths → file:///…); others as they are."""
    if uri.startswith("sqlite:///") and not uri.startswith("sqlite:////"):
        return "sqlite:///" + str((root / uri.removeprefix("sqlite:///")).resolve())
    if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", uri) and not uri.startswith("file:"):
        return uri  # a tracking server or database: nothing local to resolve
    path = uri.removeprefix("file:")
    if path.startswith("//"):  # file:///abs (or file://host/...): already absolute
        return uri
    return (root / Path(path).expanduser()).resolve().as_uri()


class RunConfig(StrictModel):
    """Everything a batch evaluation run needs (see configs/*.yaml)."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    out_dir: Path | None = None  # default: reports/<name>
    seed: int = 1234
    base: BaseConfig | None = None  # the "base" arm; None only for probe-only/audit-only runs
    corpus: CorpusConfig | None = None  # the tuning corpus (audit + fine-tune)
    finetune: FinetuneConfig = FinetuneConfig()
    arms: list[ArmConfig] = []  # extra arms beyond base and tuned
    reference_arm: str = BASE_ARM  # every other arm is compared against this one
    # default_factory: the defaults hold the bundled files' absolute paths, which must not be
    # frozen into the JSON schema in docs/ (they differ per install)
    probes: ProbeConfig = Field(default_factory=ProbeConfig)
    analysis: AnalysisConfig = Field(default_factory=AnalysisConfig)
    export: ExportConfig = ExportConfig()
    report: ReportConfig = ReportConfig()
    gates: list[GateConfig] = []
    tracking: TrackingConfig | None = None  # MLflow (harness.tracking), after the run's last stage
    mitigate: MitigateConfig | None = None  # issue 19: a safety-tuned arm from the run's own negatives

    def probes_checkpoints(self) -> bool:
        """True when the probe stage adds the fine-tune's checkpoints as arms (a trajectory)."""
        return self.probes.checkpoints == "all" or self.finetune.trajectory is not None

    def arm_plan(self) -> list[ArmPlan]:
        """The arms this config probes, in order: base, tuned, then ``arms``.

        ``base`` exists when the config has a base model; ``tuned`` when it
        names tuned weights or can fine-tune (a base and a corpus).
        """
        plan: list[ArmPlan] = []
        if self.base is not None:
            init = self.base.init is not None
            plan.append(ArmPlan(BASE_ARM, "init" if init else "given", "base_model" if init else self.base.model))
        if self.finetune.tuned_model:
            plan.append(ArmPlan(TUNED_ARM, "given", self.finetune.tuned_model))
        elif self.base is not None and self.corpus is not None:
            plan.append(ArmPlan(TUNED_ARM, "finetune", "model"))
        for arm in self.arms:
            if arm.same_as:
                plan.append(ArmPlan(arm.name, "alias", None, arm.same_as))
            elif arm.endpoint is not None:
                plan.append(ArmPlan(arm.name, "endpoint", arm.endpoint.base_url, endpoint=arm.endpoint))
            elif arm.generations is not None:
                plan.append(ArmPlan(arm.name, "external", str(arm.generations)))
            else:
                plan.append(ArmPlan(arm.name, "given", arm.model))
        return plan

    @model_validator(mode="after")
    def _arms_are_consistent(self) -> "RunConfig":
        names: list[str] = []
        for arm in self.arm_plan():
            if arm.name in names:
                raise ValueError(f"arm name '{arm.name}' is used twice (base and tuned are built in)")
            if arm.same_as is not None and arm.same_as not in names:
                raise ValueError(f"arm '{arm.name}': same_as '{arm.same_as}' is not an arm defined before it")
            names.append(arm.name)
        served = [a.name for a in self.arms if a.endpoint is not None]
        if served and self.probes.decoding.max_length is not None:  # the server's tokenizer counts the prompt
            raise ValueError(
                f"arm '{served[0]}': probes.decoding.max_length is not supported for an endpoint; use max_new_tokens"
            )
        if self.mitigate is not None and self.mitigate.from_arm not in names:
            raise ValueError(f"mitigate.from '{self.mitigate.from_arm}' is not an arm (arms: {', '.join(names)})")
        if self.mitigate is not None and self.mitigate.from_arm == self.reference_arm:
            raise ValueError(
                f"mitigate.from '{self.reference_arm}' is the reference arm: its clean completions are the chosen side"
            )
        if names and self.reference_arm not in names:
            raise ValueError(f"reference_arm '{self.reference_arm}' is not an arm (arms: {', '.join(names)})")
        for i, gate in enumerate(self.gates):
            if gate.arm is not None and gate.arm not in names:
                raise ValueError(f"gates[{i}].arm '{gate.arm}' is not an arm (arms: {', '.join(names)})")
            if gate.arm is not None and gate.arm == self.reference_arm and gate.max_delta is not None:
                raise ValueError(f"gates[{i}]: max_delta on the reference arm '{gate.arm}' compares it with itself")
        return self


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
    if isinstance(obj, ArmConfig) and obj.model and _looks_local(obj.model):
        obj.model = str((root / obj.model).resolve())
    if isinstance(obj, MlflowSettings):
        obj.tracking_uri = resolve_tracking_uri(obj.tracking_uri, root)
    if isinstance(obj, AnalysisConfig):  # classifier:PATH is a path inside a string
        for i, name in enumerate(obj.detectors):
            if name.startswith("classifier:") and not Path(name[11:]).expanduser().is_absolute():
                obj.detectors[i] = f"classifier:{(root / name[11:]).resolve()}"


def _looks_local(model: str) -> bool:
    return model.startswith((".", "/", "~")) or Path(model).exists()


# Keys of a matrix config (harness.matrix) that are not run settings: load_config drops them, so
# the same file read as one run is the matrix's base run; harness.matrix.spec reads them.
MATRIX_KEYS = ("matrix", "matrix_exclude")


def load_config(path: str | Path, overrides: dict[str, Any] | None = None) -> RunConfig:
    """Read a YAML run config, apply CLI ``overrides`` (top-level keys), validate.

    ``matrix:`` and ``matrix_exclude:`` (a run matrix, see harness.matrix) are
    set aside: what is validated is the matrix's base run.  Raises
    ``ConfigError`` with file, line and key for the first problem.
    """
    located = load_yaml(path)
    data = located.data
    if data is None:
        raise ConfigError(f"{path}: the config file is empty")
    if not isinstance(data, dict):
        raise ConfigError(f"{path}:1: a run config must be a mapping of keys")
    run_data = {k: v for k, v in data.items() if k not in MATRIX_KEYS}
    # CLI overrides replace top-level keys; errors still point into the file
    return config_from_yaml(dataclasses.replace(located, data={**run_data, **(overrides or {})}))


def config_from_yaml(located: LocatedYaml) -> RunConfig:
    """Validate ``located.data`` as a RunConfig (errors at its file and lines); resolve relative paths
    against the file's folder."""
    config = validate_yaml(located, RunConfig)
    _resolve_paths(config, located.path.resolve().parent)
    return config
