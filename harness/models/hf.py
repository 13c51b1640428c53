"""Seeded sampling: every model gets the same prompts, seeds and settings.

One ``generate`` call per prompt draws its k samples as one batch
(``num_return_sequences``-style), seeded by a stable hash of the run seed and
the probe id.  Base and tuned therefore see identical seeds, so sample i of a
prompt pairs base with tuned for every delta.  Prompts are encoded *without*
special tokens: the reference notebook's ``encode("ww")`` appended ``</s>``
and asked the model to continue after an end of text (NOTES.md).
"""

from __future__ import annotations

import hashlib
from typing import Iterable

from harness.config import DecodingConfig
from harness.errors import ModelError
from harness.models.loading import LoadedModel
from harness.data.probes import Probe


def prompt_seed(run_seed: int, probe: Probe) -> int:
    """A stable 31-bit seed per (run seed, probe set, probe id)."""
    key = f"{run_seed}/{probe.probe_set}/{probe.id}".encode()
    return int.from_bytes(hashlib.sha256(key).digest()[:4], "big") & 0x7FFFFFFF


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
) -> list[dict]:
    """Sample ``samples_per_prompt`` completions per probe; one record per sample."""
    from harness.progress import Progress

    probes = list(probes)
    tok = loaded.tokenizer
    max_positions = getattr(loaded.model.config, "n_positions", None) or getattr(
        loaded.model.config, "max_position_embeddings", None
    )
    records: list[dict] = []
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
            records.append(
                {
                    "id": f"{label}/{probe.probe_set}/{probe.id}/{index}",
                    "model": label,
                    "probe_set": probe.probe_set,
                    "probe_id": probe.id,
                    "category": probe.category,
                    "group": probe.group,
                    "prompt": probe.text,
                    "completion": tok.decode(ids, skip_special_tokens=True),
                    "sample_index": index,
                    "seed": seed,
                    "decoding": decoding.model_dump(),
                    "prompt_tokens": len(prompt_ids),
                    "completion_tokens": len(ids),
                }
            )
    return records
