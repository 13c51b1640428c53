"""Hugging Face backends of the generator protocol: a local folder, or the hub.

Two engines draw the samples (``probes.engine``):

* ``harness`` (default): ``sampler.py`` batches every (prompt, sample) pair
  with a KV cache and gives each sample its own random stream, so a sample's
  text depends only on (model, prompt, sample index, seed, decoding);
* ``reference``: one ``generate(num_return_sequences=k)`` call per prompt,
  seeded per prompt — the reference notebook's loop, kept as the named
  baseline (benchmarks/generate.py times the first against it).

Prompts are encoded *without* special tokens: the reference notebook's
``encode("ww")`` appended ``</s>`` and asked the model to continue after an
end of text (NOTES.md).  A chat model's prompt is first rendered through its
chat template (``probes.chat``, ``harness.models.chat``) and the rendered text
encoded the same way: the template writes any special tokens it wants.
A sample ends at any of the model's stop ids (``chat.stop_ids``: end of text,
``generation_config.eos_token_id``, a chat template's end of turn).
Finished samples go to the generation store as they finish, so a killed run
resumes where it stopped.
"""

from __future__ import annotations

from typing import Any, Iterable, NamedTuple

from harness.config import DecodingConfig
from harness.data.probes import Probe
from harness.errors import ModelError
from harness.models.chat import ChatFormat, render, resolve, stop_ids
from harness.models.gencache import Todo, assemble, model_fingerprint, todo
from harness.models.generator import ArmSamples, Sample, SamplingPlan, prompt_seed
from harness.models.loading import LoadedModel, load_model
from harness.progress import Progress


def token_budget(decoding: DecodingConfig, prompt_tokens: int) -> int:
    """New tokens allowed after a prompt: ``max_length`` − prompt when set, else ``max_new_tokens``."""
    if decoding.max_length is not None:
        return decoding.max_length - prompt_tokens
    return decoding.max_new_tokens


class Prompt(NamedTuple):
    """A probe as the model sees it: token ids, and the chat-rendered text when wrapped."""

    ids: list[int]
    rendered: str | None = None
    template_sha256: str | None = None


def encode_prompt(
    loaded: LoadedModel, probe: Probe, decoding: DecodingConfig, chat: ChatFormat | None = None
) -> Prompt:
    """A probe's token ids (no special tokens added), wrapped in the chat template when ``chat`` is given,
    checked against the budget and the model's positions."""
    tok = loaded.tokenizer
    rendered = render(tok, chat, probe.text) if chat is not None else None
    ids = tok(rendered if chat is not None else probe.text, add_special_tokens=False)["input_ids"]
    ids = ids or [tok.bos_token_id]
    budget = token_budget(decoding, len(ids))
    if budget < 1:
        raise ModelError(
            f"probe {probe.probe_set}/{probe.id}: {len(ids)} prompt tokens leave no room under max_length "
            f"{decoding.max_length}"
        )
    config = loaded.model.config
    positions = getattr(config, "n_positions", None) or getattr(config, "max_position_embeddings", None)
    if positions and len(ids) + budget > positions:
        raise ModelError(
            f"probe {probe.probe_set}/{probe.id}: {len(ids)} prompt tokens + {budget} new tokens exceed the "
            f"model's {positions} positions"
        )
    return Prompt(ids, rendered, chat.sha256 if chat is not None else None)


def chat_format(loaded: LoadedModel, plan: SamplingPlan) -> ChatFormat | None:
    """The plan's chat settings resolved against this model's tokenizer (``harness.models.chat``)."""
    return resolve(loaded.tokenizer, plan.chat, plan.system, loaded.path)


def model_stop_ids(loaded: LoadedModel, plan: SamplingPlan) -> tuple[int, ...]:
    """The ids that end this model's samples under ``plan`` (``chat.stop_ids``; both engines use them)."""
    return stop_ids(loaded.model, loaded.tokenizer, chat_format(loaded, plan))


def first_stop(row: list[int], stops: tuple[int, ...]) -> int | None:
    """The index of the first stop id in ``row`` (None: the row ran to its budget)."""
    return next((i for i, token in enumerate(row) if token in stops), None)


def _decode(loaded: LoadedModel, ids: list[int]) -> str:
    return loaded.tokenizer.decode(ids, skip_special_tokens=True)


def sample_batched(loaded: LoadedModel, items: list[Todo], plan: SamplingPlan, on_sample, progress: Progress) -> None:
    """Draw ``items`` with the harness engine; ``on_sample(Sample)`` as each one finishes."""
    from harness.models.sampler import Job, SamplerSettings, sample
    from harness.models.topp import DrawSettings

    tok = loaded.tokenizer
    decoding, batch_size, chat = plan.decoding, plan.batch_size, chat_format(loaded, plan)
    encoded: dict[Probe, Prompt] = {}
    jobs = []
    for key, item in enumerate(items):
        prompt = encoded.get(item.probe)
        if prompt is None:
            prompt = encoded[item.probe] = encode_prompt(loaded, item.probe, decoding, chat)
        jobs.append(Job(key, prompt.ids, item.seed, token_budget(decoding, len(prompt.ids))))
    draw = DrawSettings(
        decoding.do_sample, decoding.temperature, decoding.top_p, decoding.top_k, decoding.repetition_penalty
    )
    pad = tok.pad_token_id if tok.pad_token_id is not None else (tok.eos_token_id or 0)
    stops = model_stop_ids(loaded, plan)
    settings = SamplerSettings(draw, None, pad, decoding.min_new_tokens, batch_size, stop_ids=stops)
    progress.iterable = sample(loaded.model, jobs, settings, loaded.device)
    for done in progress:
        item = items[done.key]
        text = _decode(loaded, done.tokens)
        prompt = encoded[item.probe]
        on_sample(
            Sample(
                item.probe,
                item.index,
                item.seed,
                text,
                len(prompt.ids),
                len(done.tokens),
                done.hit_max_tokens,
                prompt.rendered,
                prompt.template_sha256,
            )
        )


def sample_reference(loaded: LoadedModel, items: list[Todo], plan: SamplingPlan, on_sample, progress: Progress) -> None:
    """The reference engine: one ``generate`` call per prompt for its k samples, seeded per prompt."""
    import torch

    tok = loaded.tokenizer
    decoding = plan.decoding
    wanted: dict[Probe, dict[int, Todo]] = {}
    for item in items:
        wanted.setdefault(item.probe, {})[item.index] = item
    progress.iterable, progress.total = list(wanted.items()), len(wanted)
    chat, stops = chat_format(loaded, plan), model_stop_ids(loaded, plan)
    for probe, by_index in progress:
        prompt = encode_prompt(loaded, probe, decoding, chat)
        ids = prompt.ids
        torch.manual_seed(prompt_seed(plan.run_seed, probe))
        if torch.cuda.is_available():
            torch.cuda.manual_seed_all(prompt_seed(plan.run_seed, probe))
        input_ids = torch.tensor([ids] * plan.samples_per_prompt, dtype=torch.long, device=loaded.device)
        budget = token_budget(decoding, len(ids))
        with torch.no_grad():
            out = loaded.model.generate(
                input_ids=input_ids,
                attention_mask=torch.ones_like(input_ids),
                do_sample=decoding.do_sample,
                temperature=decoding.temperature if decoding.do_sample else None,
                top_p=decoding.top_p if decoding.do_sample else None,
                top_k=decoding.top_k if decoding.do_sample else None,
                repetition_penalty=decoding.repetition_penalty,
                max_new_tokens=budget,
                min_new_tokens=decoding.min_new_tokens or None,
                eos_token_id=list(stops) or None,
                pad_token_id=tok.pad_token_id,
            )
        for index, row in enumerate(out[:, len(ids) :].tolist()):
            if index not in by_index:
                continue
            end = first_stop(row, stops)
            ended = end is not None
            if ended:  # stop at the first stop id; the rest is padding
                row = row[:end]
            # the recorded seed stays the sample's stream id (the cache key); this engine's draws
            # come from torch's generator seeded per prompt, so they depend on k
            text = _decode(loaded, row)
            seed = by_index[index].seed
            chat_fields = (prompt.rendered, prompt.template_sha256)
            on_sample(Sample(probe, index, seed, text, len(ids), len(row), not ended, *chat_fields))


def generate_samples(
    loaded: LoadedModel,
    label: str,
    probes: Iterable[Probe],
    decoding: DecodingConfig,
    samples_per_prompt: int,
    run_seed: int,
    progress: bool = True,
    batch_size: int = 64,
    engine: str = "harness",
    store: Any = None,
    shard: Any = None,
    chat: bool | str = "auto",
    system: str | None = None,
) -> list[Sample]:
    """Every probe × ``samples_per_prompt`` samples, in plan order (see the module docstring).

    ``store`` (a ``gencache.GenerationStore``) supplies samples drawn before and receives new ones;
    ``shard`` (a ``shard.Shard``) limits the work to that shard's batches; ``chat``/``system`` are
    ``probes.chat``/``probes.system`` (``harness.models.chat``).
    """
    plan = SamplingPlan(tuple(probes), samples_per_prompt, decoding, run_seed, batch_size, engine, shard, chat, system)
    items = todo(plan, store)
    new: list[Sample] = []

    def keep(sample: Sample) -> None:
        if store is not None:
            store.add(sample)
        new.append(sample)

    bar = Progress([], len(items), f"probe {label}", enabled=progress and bool(items))
    if items and engine == "reference":
        sample_reference(loaded, items, plan, keep, bar)
    elif items:
        sample_batched(loaded, items, plan, keep, bar)
    return assemble(plan, store, new)


class HFLocalGenerator:
    """A causal LM from a local folder (safetensors only, no remote code)."""

    backend = "hf-local"

    def __init__(self, device: str = "auto") -> None:
        self.device = device
        self._loaded: dict[str, LoadedModel] = {}

    def load(self, model: str) -> LoadedModel:
        return load_model(model, device=self.device, allow_hub=False)

    def fingerprint(self, arm: str, model: str) -> str:
        """Content hash of the model folder (weights, config, tokenizer)."""
        return model_fingerprint(self._load(model).path)

    def stop_ids(self, arm: str, model: str, plan: SamplingPlan) -> tuple[int, ...]:
        """The ids that end the model's samples under ``plan`` (recorded on the arm, part of the cache key)."""
        return model_stop_ids(self._load(model), plan)

    def _load(self, model: str) -> LoadedModel:
        if model not in self._loaded:
            self._loaded = {model: self.load(model)}  # one model in memory at a time
        return self._loaded[model]

    def sample(self, arm: str, model: str, plan: SamplingPlan, progress: bool, store: Any = None) -> ArmSamples:
        loaded = self._load(model)
        samples = generate_samples(
            loaded,
            arm,
            plan.probes,
            plan.decoding,
            plan.samples_per_prompt,
            plan.run_seed,
            progress=progress,
            batch_size=plan.batch_size,
            engine=plan.engine,
            store=store,
            shard=plan.shard,
            chat=plan.chat,
            system=plan.system,
        )
        return ArmSamples(samples, loaded.parameters)


class HFHubGenerator(HFLocalGenerator):
    """A hub model id, downloaded (safetensors only) because the config allows the hub."""

    backend = "hf-hub"

    def load(self, model: str) -> LoadedModel:
        return load_model(model, device=self.device, allow_hub=True)
