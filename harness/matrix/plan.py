"""``harness run CONFIG --plan``: the work a run or matrix will do, and how long it should take here.

Counts come from the configs, the corpora and the probe files (nothing is
trained or sampled).  Tokens to train are steps × batch × block, with the
corpus's token count estimated from its characters and the tokenizer's
characters per token (measured on the corpus when the base model exists,
else ``CHARS_PER_TOKEN``).  The wall time is calibrated on this machine:
one forward/backward step of a model of the run's shape, one batched
sampling step, and the analysis of a batch of texts are timed, then scaled.
"""

from __future__ import annotations

import functools
import json
import math
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.config import RunConfig

# characters per token when no tokenizer can be had (a hub base): rinna's on Japanese forum text
CHARS_PER_TOKEN = 2.0
SAMPLE_DOCS = 2000  # documents tokenized to measure characters per token


@dataclass
class ChildPlan:
    """The planned work of one run."""

    name: str
    train_tokens: int  # fine-tuning tokens (steps × batch × block × accumulation)
    steps: int
    samples: int  # samples drawn (not found in the shared generation cache)
    texts: int  # texts analysed: generations + corpus documents
    seconds: float | None = None


@dataclass
class Calibration:
    """Seconds measured on this machine."""

    step: float  # one forward/backward step at the run's batch and block
    sample_step: float  # one new token for a batch of probes.batch_size rows
    per_text: float  # analysing one more text
    fixed: float  # a run's analysis start-up (MeCab, lexicons) and what does not grow with the texts
    threads: int

    def describe(self) -> str:
        return (
            f"calibration ({self.threads} thread{'s' * (self.threads != 1)}): train step {self.step * 1000:.0f} ms, "
            "sampling step "
            f"{self.sample_step * 1000:.1f} ms, analysis {self.per_text * 1000:.2f} ms/text, "
            f"start-up {self.fixed:.1f} s"
        )


def corpus_counts(corpus, base_folder: str | None, init=None) -> tuple[int, float]:
    """(documents, tokens) of a corpus config, tokens measured on a sample of its documents.

    The tokenizer is the base model's (``base_folder``) or, before a ``base.init`` model
    exists, a SentencePiece model trained like its tokenizer on a sample of its corpora.
    Each corpus is read once per plan.
    """
    init_json = init.model_dump_json() if init is not None else None
    return _corpus_counts(corpus.model_dump_json(), base_folder, init_json)


@functools.lru_cache(maxsize=64)
def _corpus_counts(corpus_json: str, base_folder: str | None, init_json: str | None) -> tuple[int, float]:
    from harness.config import CorpusConfig
    from harness.data.corpus import iter_corpus

    docs = chars = 0
    sample: list[str] = []
    for doc in iter_corpus(CorpusConfig.model_validate_json(corpus_json)):
        docs += 1
        chars += len(doc.text)
        if len(sample) < SAMPLE_DOCS:
            sample.append(doc.text)
    tokenizer = plan_tokenizer(base_folder, init_json)
    ratio = CHARS_PER_TOKEN
    if tokenizer is not None and sample:
        tokens = sum(len(tokenizer(t, add_special_tokens=False)["input_ids"]) for t in sample)
        ratio = sum(map(len, sample)) / max(1, tokens)
    return docs, chars / ratio + docs  # + one separator (end-of-text) per document, as the packing adds


@functools.lru_cache(maxsize=8)
def plan_tokenizer(base_folder: str | None, init_json: str | None):
    """The base model's tokenizer, or one trained on a sample as ``base.init`` would; None when neither."""
    if base_folder and (Path(base_folder) / "config.json").is_file():
        from transformers import AutoTokenizer

        return AutoTokenizer.from_pretrained(base_folder)
    if init_json is None:
        return None
    import itertools
    import tempfile

    from harness.config import BaseInitConfig
    from harness.data.corpus import iter_corpus
    from harness.models.tokenizer import spm_to_fast_tokenizer
    from harness.train.base_init import train_sentencepiece

    init = BaseInitConfig.model_validate_json(init_json)
    texts = [d.text for c in [init.corpus, *init.tokenizer_corpora] for d in itertools.islice(iter_corpus(c), 20_000)]
    with tempfile.TemporaryDirectory(prefix="harness-plan-") as tmp:
        return spm_to_fast_tokenizer(train_sentencepiece(texts, init.vocab_size, Path(tmp) / "spiece.model"))


def plan_child(
    name: str, config: RunConfig, drawn: dict[str, int], base_folder: str | None, init=None
) -> ChildPlan:
    """Counts for one run; ``drawn`` (sampling key → samples per prompt drawn so far) spans the matrix,
    so a given model the children share is counted once, as the generation cache samples it."""
    from harness.budget import planned_prompts
    from harness.data.probes import load_probe_sets

    prompts = planned_prompts(load_probe_sets(config.probes.files))
    arms = config.arm_plan()
    k = config.probes.samples_per_prompt
    samples = 0
    for arm in arms:
        if arm.source == "alias":
            continue
        key = sampling_key(config, arm.model) if arm.source == "given" else None
        new = max(0, k - drawn.get(key, 0)) if key else k
        if key:
            drawn[key] = max(drawn.get(key, 0), k)
        samples += prompts * new
    texts = prompts * k * len(arms)
    steps = tokens = 0
    if config.corpus is not None:
        docs, corpus_tokens = corpus_counts(config.corpus, base_folder, init or (config.base and config.base.init))
        texts += docs
        if any(a.source == "finetune" for a in arms):
            ft = config.finetune
            per_step = ft.batch_size * ft.grad_accum_steps
            blocks = corpus_tokens * (1 - ft.val_fraction) / ft.block_size
            steps = ft.max_steps or max(1, math.ceil(ft.epochs * blocks / per_step))
            tokens = steps * per_step * ft.block_size
    return ChildPlan(name, tokens, steps, samples, texts)


def sampling_key(config: RunConfig, model: str | None) -> str:
    """What makes two runs' samples of a given model the same (the generation cache's key, up to the
    model's content): a fine-tuned arm is new in every run, so only given models are keyed."""
    p = config.probes
    return json.dumps([model, config.seed, [str(f) for f in p.files], p.decoding.model_dump(), p.engine])


def work_units(plan: ChildPlan, config: RunConfig) -> int:
    """A rough size of a run's work (tokens trained + tokens sampled), to start the largest children first."""
    return plan.train_tokens + plan.samples * config.probes.decoding.max_new_tokens


def calibrate(config: RunConfig, base_folder: str | None) -> Calibration:
    """Time training steps of the harness engine, one sampling step and the analysis of a few texts, here."""
    import torch

    model = shaped_model(config, base_folder)
    step = time_train_step(model, config)
    rows = min(config.probes.batch_size, 64)
    prompt = torch.randint(0, model.config.vocab_size, (rows, 8))
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # transformers renames past_key_values; same step
        past = model(prompt, use_cache=True).past_key_values
        token = prompt[:, -1:]
        sample_step = timed(lambda: model(token, past_key_values=past, use_cache=True))
    per_text, fixed = calibrate_analysis(config)
    return Calibration(step, sample_step, per_text, fixed, torch.get_num_threads())


def time_train_step(model, config: RunConfig) -> float:
    """Seconds of one optimiser step of the fine-tune engine at the config's batch and block (after a warm-up)."""
    import torch

    from harness.train.engine import TrainPlan, prepare_model, train
    from harness.train.finetune import engine_settings

    ft = config.finetune
    settings = engine_settings("cpu", ft)
    prepare_model(model, settings)
    block = min(ft.block_size, model.config.n_positions)
    blocks = torch.randint(0, model.config.vocab_size, (ft.batch_size * ft.grad_accum_steps, block))

    def steps(n: int) -> float:
        plan = TrainPlan(steps=n, batch_size=ft.batch_size, lr=ft.lr, seed=0, warmup_steps=0)
        return train(model, blocks, plan, settings, progress=False).seconds

    steps(1)  # warm-up: first-call allocations
    return steps(2) / 2


def timed(fn, repeats: int = 2) -> float:
    """Seconds of ``fn``: one warm-up call, then the mean of ``repeats``."""
    fn()
    started = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - started) / repeats


def shaped_model(config: RunConfig, base_folder: str | None):
    """A randomly initialised GPT-2 of the run's shape (the base model's config, or base.init's size)."""
    from transformers import AutoConfig, AutoModelForCausalLM, GPT2Config

    from harness.models.loading import quiet_transformers
    from harness.train.base_init import SIZES

    quiet_transformers()
    if base_folder and (Path(base_folder) / "config.json").is_file():
        shape = AutoConfig.from_pretrained(base_folder)
    else:
        init = config.base.init if config.base is not None else None
        vocab = init.vocab_size if init is not None else 4000
        shape = GPT2Config(vocab_size=vocab, **SIZES[init.size if init is not None else "tiny"])
    return AutoModelForCausalLM.from_config(shape)


def calibrate_analysis(config: RunConfig) -> tuple[float, float]:
    """(seconds per analysed text, seconds per run) from scoring 64 and then 256 texts (probe prompts).

    Two sizes separate what grows with the texts from what does not (the suite's
    start-up, the bootstrap over the summary's cells).
    """
    from harness.analysis.suite import AnalysisSuite
    from harness.data.probes import load_probe_sets
    from harness.record.schema import Generation

    started = time.perf_counter()
    suite = AnalysisSuite(config.analysis)
    startup = time.perf_counter() - started
    probes = [p for s in load_probe_sets(config.probes.files) for p in s.probes][:32]
    probes = (probes * (32 // max(1, len(probes)) + 1))[:32]

    def score(copies: int) -> float:
        gens = [
            Generation.build(arm=arm, probe_set=p.probe_set, probe_id=f"{p.id}-{c}", category=p.category,
                             group=p.group, prompt=p.text, completion=p.text, sample_index=i, seed=0, decoding={})
            for c in range(copies) for arm in ("a", "b") for i, p in enumerate(probes)
        ]  # fmt: skip
        started = time.perf_counter()
        suite.score_generations(gens, ["a", "b"], "a", n_boot=config.analysis.bootstrap, seed=config.seed)
        return time.perf_counter() - started

    score(1)  # warm-up: MeCab and the lexicon matchers
    small, large = score(1), score(4)
    per_text = max(0.0, large - small) / 192
    return per_text, startup + max(0.0, small - 64 * per_text)


def estimate_seconds(plan: ChildPlan, config: RunConfig, cal: Calibration) -> float:
    """A child's wall time from the calibration: start-up + training + evaluation + sampling + analysis."""
    ft = config.finetune
    train = plan.steps * cal.step
    # the held-out loss before and after training: forward passes only, about a third of a training step
    heldout_steps = 2 * math.ceil(plan.steps * ft.val_fraction / max(1e-9, 1 - ft.val_fraction)) if plan.steps else 0
    evaluation = heldout_steps * cal.step / 3
    rows = max(1, config.probes.batch_size)
    sampling = math.ceil(plan.samples / rows) * config.probes.decoding.max_new_tokens * cal.sample_step
    return cal.fixed + train + evaluation + sampling + plan.texts * cal.per_text


def plan_runs(
    configs: dict[str, RunConfig], shared_base: str | None = None, init=None
) -> tuple[list[ChildPlan], Calibration]:
    """Plans of every run (in order) with the wall-time estimate of each, and the calibration used.

    ``init``: the ``base.init`` settings of a shared base not built yet (its tokenizer is sampled).
    """
    drawn: dict[str, int] = {}
    plans = []
    for name, config in configs.items():
        base_folder = shared_base or given_base(config)
        plans.append(plan_child(name, config, drawn, base_folder, init))
    first = next(iter(configs.values()))
    cal = calibrate(first, shared_base or given_base(first))
    for plan in plans:
        plan.seconds = estimate_seconds(plan, configs[plan.name], cal)
    return plans, cal


def given_base(config: RunConfig) -> str | None:
    """The base model folder a config names (None for base.init or a hub id)."""
    if config.base is None or config.base.model is None or not Path(config.base.model).is_dir():
        return None
    return config.base.model


def base_init_seconds(config: RunConfig, cal: Calibration) -> float:
    """Building a base.init model: its pretraining steps at the calibrated step time (scaled to its batch)."""
    init = config.base.init if config.base is not None else None
    if init is None:
        return 0.0
    scale = (init.batch_size * init.block_size) / max(1, config.finetune.batch_size * config.finetune.block_size)
    return init.steps * cal.step * scale


def plan_table(plans: list[ChildPlan], extra_rows: list[tuple[str, Any]] = ()) -> str:
    """The --plan table: one row per run, then the totals."""
    head = f"{'run':<40} {'steps':>7} {'tokens to train':>16} {'samples':>9} {'texts':>8} {'est. time':>10}"
    lines = [head, "-" * len(head)]
    for p in plans:
        counts = f"{p.steps:>7,} {p.train_tokens:>16,} {p.samples:>9,} {p.texts:>8,}"
        lines.append(f"{p.name:<40} {counts} {human_seconds(p.seconds):>10}")
    lines.append("-" * len(head))
    total = sum(p.seconds or 0 for p in plans)
    lines.append(
        f"{'total':<40} {sum(p.steps for p in plans):>7,} {sum(p.train_tokens for p in plans):>16,} "
        f"{sum(p.samples for p in plans):>9,} {sum(p.texts for p in plans):>8,} {human_seconds(total):>10}"
    )
    for label, value in extra_rows:
        lines.append(f"{label}: {value}")
    return "\n".join(lines)


def human_seconds(seconds: float | None) -> str:
    """``42 s``, ``3.5 min``, ``2.1 h``."""
    if seconds is None:
        return "?"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def describe_plan(spec, out: Path | None, backend: str, workers: int) -> str:
    """The whole --plan output for a config file read as ``spec`` (a matrix or one run)."""
    from harness.matrix.paths import shared_base_dir
    from harness.matrix.spec import base_config, expand_matrix

    base = base_config(spec)
    shared = None
    if spec.is_matrix:
        expansion = expand_matrix(spec, out)
        configs = expansion.configs
        shared = str(shared_base_dir(expansion.parent)) if expansion.shared_base else None
    else:
        configs = {base.name: base}
    plans, cal = plan_runs(configs, shared, base.base.init if shared and base.base else None)
    extra: list[tuple[str, Any]] = []
    base_seconds = base_init_seconds(base, cal) if (shared or not spec.is_matrix) else 0.0
    if base_seconds:
        where = "once, shared by every child" if shared else "in the run"
        extra.append(("base.init", f"{human_seconds(base_seconds)} to build the base ({where})"))
    children = sum(p.seconds or 0 for p in plans)
    if not shared and spec.is_matrix:
        children += sum(base_init_seconds(c, cal) for c in configs.values())
    total = base_seconds + children
    extra.append(("estimated wall time", f"{human_seconds(total)} with --backend local"))
    if spec.is_matrix and backend != "local" and workers > 1:
        parallel = base_seconds + children / min(workers, len(plans))
        extra.append(("", f"about {human_seconds(parallel)} with {workers} workers (if the cores allow)"))
    extra.append(("measured", cal.describe()))
    return plan_table(plans, extra)
