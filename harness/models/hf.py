"""Hugging Face backends of the generator protocol: a local folder, or the hub.

One ``generate`` call per prompt draws its k samples as one batch
(``num_return_sequences``-style), seeded by a stable hash of the run seed and
the probe id.  Base and tuned therefore see identical seeds, so sample i of a
prompt pairs base with tuned for every delta.  Prompts are encoded *without*
special tokens: the reference notebook's ``encode("ww")`` appended ``</s>``
and asked the model to continue after an end of text (NOTES.md).
"""

from __future__ import annotations

from typing import Iterable

from harness.config import DecodingConfig
from harness.data.probes import Probe
from harness.errors import ModelError
from harness.models.generator import ArmSamples, Sample, SamplingPlan, prompt_seed
from harness.models.loading import LoadedModel, load_model


def _generate_one(loaded: LoadedModel, prompt_ids: list[int], k: int, seed: int, decoding: DecodingConfig):
    import torch

    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
    input_ids = torch.tensor([prompt_ids] * k, dtype=torch.long, device=loaded.device)
    tok = loaded.tokenizer
    with torch.no_grad():
        out = loaded.model.generate(
            input_ids=input_ids,
            attention_mask=torch.ones_like(input_ids),
            do_sample=decoding.do_sample,
            temperature=decoding.temperature if decoding.do_sample else None,
            top_p=decoding.top_p if decoding.do_sample else None,
            top_k=decoding.top_k if decoding.do_sample else None,
            max_new_tokens=decoding.max_new_tokens,
            min_new_tokens=decoding.min_new_tokens or None,
            eos_token_id=tok.eos_token_id,
            pad_token_id=tok.pad_token_id,
        )
    return out[:, len(prompt_ids) :].tolist()


def generate_samples(
    loaded: LoadedModel,
    label: str,
    probes: Iterable[Probe],
    decoding: DecodingConfig,
    samples_per_prompt: int,
    run_seed: int,
    progress: bool = True,
) -> list[Sample]:
    """Sample ``samples_per_prompt`` completions per probe with ``generate`` (one call per prompt)."""
    from harness.progress import Progress

    probes = list(probes)
    tok = loaded.tokenizer
    max_positions = getattr(loaded.model.config, "n_positions", None) or getattr(
        loaded.model.config, "max_position_embeddings", None
    )
    samples: list[Sample] = []
    for probe in Progress(probes, len(probes), f"probe {label}", enabled=progress):
        prompt_ids = tok(probe.text, add_special_tokens=False)["input_ids"]
        if not prompt_ids:
            prompt_ids = [tok.bos_token_id]
        if max_positions and len(prompt_ids) + decoding.max_new_tokens > max_positions:
            raise ModelError(
                f"probe {probe.probe_set}/{probe.id}: {len(prompt_ids)} prompt tokens + "
                f"max_new_tokens {decoding.max_new_tokens} exceed the model's {max_positions} positions"
            )
        seed = prompt_seed(run_seed, probe)
        rows = _generate_one(loaded, prompt_ids, samples_per_prompt, seed, decoding)
        for index, ids in enumerate(rows):
            if tok.eos_token_id in ids:  # stop at end of text; the rest is padding
                ids = ids[: ids.index(tok.eos_token_id)]
            completion = tok.decode(ids, skip_special_tokens=True)
            samples.append(Sample(probe, index, seed, completion, len(prompt_ids), len(ids)))
    return samples


class HFLocalGenerator:
    """A causal LM from a local folder (safetensors only, no remote code)."""

    backend = "hf-local"

    def __init__(self, device: str = "auto") -> None:
        self.device = device

    def load(self, model: str) -> LoadedModel:
        return load_model(model, device=self.device, allow_hub=False)

    def sample(self, arm: str, model: str, plan: SamplingPlan, progress: bool) -> ArmSamples:
        loaded = self.load(model)
        samples = generate_samples(
            loaded, arm, plan.probes, plan.decoding, plan.samples_per_prompt, plan.run_seed, progress=progress
        )
        return ArmSamples(samples, loaded.parameters)


class HFHubGenerator(HFLocalGenerator):
    """A hub model id, downloaded (safetensors only) because the config allows the hub."""

    backend = "hf-hub"

    def load(self, model: str) -> LoadedModel:
        return load_model(model, device=self.device, allow_hub=True)
