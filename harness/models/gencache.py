"""Finished samples on disk: the probe stage's stream, resume point and cache.

Each sample is appended to a JSONL part file as soon as it finishes (and
flushed), keyed by (model fingerprint, probe set, prompt id, sample index,
decoding hash) — the file name carries the fingerprint and decoding hash, a
line carries the rest plus the seed and prompt text, so a changed prompt or
run seed never reuses a stale line.  A killed probe stage therefore resumes
where it stopped, a rerun with more probes or a larger k draws only what is
new, and because ``generations.jsonl`` is assembled from the store in plan
order, finishing order never shows in it.  Shards write their own part files
(``…shard-1-of-2.jsonl``); every part of the same key prefix is read back.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Iterable, NamedTuple, Sequence

from harness.config import DecodingConfig
from harness.data.probes import Probe
from harness.models.chat import cache_tag
from harness.models.generator import Sample, SamplingPlan
from harness.models.shard import select

CACHE_VERSION = 2  # 2: lines of chat-wrapped samples carry rendered_prompt, chat_template_sha256
# weights, config, tokenizer; *.jinja: transformers 5 keeps a chat template in chat_template.jinja
MODEL_FILES = ("*.json", "*.safetensors", "*.model", "*.txt", "*.jinja")


class Todo(NamedTuple):
    """A sample the store does not hold yet."""

    probe: Probe
    index: int
    seed: int


def decoding_hash(
    decoding: DecodingConfig, engine: str, plan: SamplingPlan | None = None, stop_ids: Sequence[int] | None = None
) -> str:
    """16 hex digits naming the decoding settings, the engine, the plan's chat settings and the ids that end
    a sample (all change the samples; no plan: the chat defaults; no stop ids: a backend without them)."""
    plan_chat = (plan.chat, plan.system) if plan is not None else ("auto", None)
    stops = {"stop_ids": list(stop_ids)} if stop_ids is not None else {}
    payload = json.dumps({"engine": engine, **decoding.model_dump(), **cache_tag(*plan_chat), **stops}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def model_fingerprint(folder: str | Path) -> str:
    """The one model fingerprint: sha256 (hex) over the names and bytes of a model folder's weights, config
    and tokenizer files (``MODEL_FILES``, sorted by name).

    The probe stage records it on each arm (``Arm.fingerprint``); the generation cache is keyed by it and
    the exports carry it as ``model_sha256``.
    """
    digest = hashlib.sha256()
    files = sorted({p for pattern in MODEL_FILES for p in Path(folder).glob(pattern) if p.is_file()})
    for path in files:
        digest.update(path.name.encode() + b"\0")
        with path.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def arm_fingerprint(generator, arm: str, model: str) -> str | None:
    """What identifies arm ``arm``'s model (``generator.fingerprint``); None for a backend without one."""
    return generator.fingerprint(arm, model) if hasattr(generator, "fingerprint") else None


def arm_stop_ids(generator, arm: str, model: str, plan: SamplingPlan) -> tuple[int, ...] | None:
    """The ids that end arm ``arm``'s samples (``generator.stop_ids``); None for a backend without them."""
    return tuple(generator.stop_ids(arm, model, plan)) if hasattr(generator, "stop_ids") else None


def _key(probe: Probe, index: int, seed: int) -> tuple:
    return (probe.probe_set, probe.id, index, seed, probe.text)


class GenerationStore:
    """The part files of one (model fingerprint, decoding hash) in a cache folder."""

    def __init__(self, folder: Path, fingerprint: str, decoding: str, part: str = "", read_also: Sequence[Path] = ()):
        self.prefix = f"{fingerprint}-{decoding}"
        self.path = Path(folder) / f"{self.prefix}{part}.jsonl"
        self.entries: dict[tuple, dict] = {}
        for source in (Path(folder), *read_also):
            for path in sorted(source.glob(f"{self.prefix}*.jsonl")):
                self._read(path)
        self._fh = None

    def _read(self, path: Path) -> None:
        good = 0  # bytes up to the last complete line
        with path.open("rb") as fh:
            for raw in fh:
                if not raw.endswith(b"\n"):
                    break  # torn by a kill mid-write
                try:
                    line = json.loads(raw)
                except json.JSONDecodeError:
                    break
                self.entries[
                    (line["probe_set"], line["probe_id"], line["sample_index"], line["seed"], line["prompt"])
                ] = line
                good += len(raw)
        if path == self.path and good != path.stat().st_size:
            with path.open("r+b") as fh:  # drop the torn tail so new lines start on a line boundary
                fh.truncate(good)

    def __len__(self) -> int:
        return len(self.entries)

    def get(self, probe: Probe, index: int, seed: int) -> Sample | None:
        """The stored sample, or None."""
        line = self.entries.get(_key(probe, index, seed))
        if line is None:
            return None
        return Sample(
            probe,
            index,
            seed,
            line["completion"],
            line["prompt_tokens"],
            line["completion_tokens"],
            line["hit_max_tokens"],
            line.get("rendered_prompt"),
            line.get("chat_template_sha256"),
            line.get("served_model"),
            line.get("seed_honoured"),
        )

    def add(self, sample: Sample) -> None:
        """Append one finished sample and flush it to disk."""
        line = {
            "v": CACHE_VERSION,
            "probe_set": sample.probe.probe_set,
            "probe_id": sample.probe.id,
            "prompt": sample.probe.text,
            "sample_index": sample.sample_index,
            "seed": sample.seed,
            "completion": sample.completion,
            "prompt_tokens": sample.prompt_tokens,
            "completion_tokens": sample.completion_tokens,
            "hit_max_tokens": sample.hit_max_tokens,
        }
        if sample.rendered_prompt is not None:
            line["rendered_prompt"] = sample.rendered_prompt
            line["chat_template_sha256"] = sample.chat_template_sha256
        # a served arm's extras (harness.models.endpoint); local samples' lines stay as they were
        for name in ("served_model", "seed_honoured"):
            if getattr(sample, name) is not None:
                line[name] = getattr(sample, name)
        if self._fh is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fh = self.path.open("a", encoding="utf-8")
        self._fh.write(json.dumps(line, ensure_ascii=False) + "\n")
        self._fh.flush()
        self.entries[_key(sample.probe, sample.sample_index, sample.seed)] = line

    def close(self) -> None:
        """Close the part file (lines are already flushed)."""
        if self._fh is not None:
            self._fh.close()
            self._fh = None


def plan_pairs(plan: SamplingPlan) -> list[tuple[Probe, int]]:
    """Every (probe, sample index) of the plan in plan order — only the shard's when the plan has one."""
    pairs = [(p, i) for p in plan.probes for i in range(plan.samples_per_prompt)]
    if plan.shard is not None:
        pairs = select(pairs, plan.batch_size, plan.shard)
    return pairs


def todo(plan: SamplingPlan, store: GenerationStore | None) -> list[Todo]:
    """The plan's samples (its shard's, if any) that ``store`` does not hold, in plan order."""
    out = []
    for probe, index in plan_pairs(plan):
        seed = plan.seed_of(probe, index)
        if store is None or store.get(probe, index, seed) is None:
            out.append(Todo(probe, index, seed))
    return out


def assemble(plan: SamplingPlan, store: GenerationStore | None, new: Iterable[Sample] = ()) -> list[Sample]:
    """Every sample of the plan (its shard's, if any) in plan order, from ``new`` and the store."""
    fresh = {(s.probe.probe_set, s.probe.id, s.sample_index): s for s in new}
    out = []
    for probe, index in plan_pairs(plan):
        sample = fresh.get((probe.probe_set, probe.id, index))
        if sample is None and store is not None:
            sample = store.get(probe, index, plan.seed_of(probe, index))
        if sample is None:
            raise KeyError(f"{probe.probe_set}/{probe.id}/{index} was not generated")
        out.append(sample)
    return out


def _library_versions() -> str:
    from importlib.metadata import PackageNotFoundError, version

    out = []
    for name in ("torch", "transformers"):
        try:
            out.append(f"{name}={version(name)}")
        except PackageNotFoundError:
            out.append(f"{name}=none")
    return ",".join(out)


def open_store(
    fingerprint: str | None,
    plan: SamplingPlan,
    folder: Path,
    read_also: Sequence[Path] = (),
    part: str = "",
    stop_ids: Sequence[int] | None = None,
) -> GenerationStore | None:
    """The store for the model ``fingerprint`` names (the arm's recorded ``Arm.fingerprint``), or None when
    there is none (a backend without fingerprints: then nothing is cached).

    Library versions join the decoding hash: a torch or transformers upgrade may change the samples.  So do
    ``probes.chat``/``probes.system`` (the chat template itself is a model file, under the fingerprint), so
    chat-wrapped and plain samples never share a store, and the arm's stop ids (``Arm.stop_ids``), so a
    changed rule for where a sample ends never reuses samples cut by the old one.
    """
    if fingerprint is None:
        return None
    engine = f"{plan.engine}/{_library_versions()}"
    return GenerationStore(folder, fingerprint, decoding_hash(plan.decoding, engine, plan, stop_ids), part, read_also)
