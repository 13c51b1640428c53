"""Streaming, resume and cache of generations: a crashed probe stage resumes byte-identical."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from conftest import build_run, respond
from harness.config import DecodingConfig
from harness.data.probes import Probe
from harness.models.fake import FakeGenerator
from harness.models.gencache import GenerationStore, assemble, decoding_hash, model_fingerprint, todo
from harness.models.generator import Sample, SamplingPlan

PROBES = tuple(Probe("s", f"p{i}", "c", f"prompt {i}") for i in range(4))


class Crash(Exception):
    pass


class CrashingGenerator(FakeGenerator):
    """Answers like the fixture generator, but the process 'dies' after ``budget`` samples."""

    def __init__(self, budget: int):
        super().__init__(respond=respond)
        self.budget = budget

    def _text(self, arm, probe, index):
        if self.drawn >= self.budget:
            raise Crash("killed")
        return super()._text(arm, probe, index)

    def fingerprint(self, arm, model):  # the same model as the uncrashed fixture generator
        return FakeGenerator(respond=respond).fingerprint(arm, model)


def test_a_crashed_probe_stage_resumes_without_redrawing_and_ends_byte_identical(tmp_path):
    reference = build_run(tmp_path / "a").run_dir
    crashing = CrashingGenerator(budget=5)
    with pytest.raises(Crash):
        build_run(tmp_path / "b", generator=crashing)
    resumed_generator = FakeGenerator(respond=respond)
    resumed = build_run(tmp_path / "b", generator=resumed_generator, resume=True).run_dir
    expected = (reference / "generations.jsonl").read_bytes()
    assert (resumed / "generations.jsonl").read_bytes() == expected
    total = expected.count(b"\n")
    assert resumed_generator.drawn == total - 5  # the 5 finished before the crash were not redrawn


def test_a_rerun_with_larger_k_draws_only_the_new_samples(tmp_path):
    store_dir = tmp_path / "cache"
    plan2 = SamplingPlan(PROBES, 2, DecodingConfig(), 7)
    plan3 = plan2._replace(samples_per_prompt=3)
    generator = FakeGenerator()
    store = GenerationStore(store_dir, "m", "d")
    first = generator.sample("base", "m", plan2, False, store=store).samples
    store.close()
    generator.drawn = 0
    store = GenerationStore(store_dir, "m", "d")
    second = generator.sample("base", "m", plan3, False, store=store).samples
    assert generator.drawn == len(PROBES)  # one new sample per probe
    assert [s for s in second if s.sample_index < 2] == first
    # more probes: only the new probe is drawn
    generator.drawn = 0
    more = plan3._replace(probes=PROBES + (Probe("s", "p9", "c", "new"),))
    generator.sample("base", "m", more, False, store=store)
    assert generator.drawn == 3


def test_a_changed_prompt_or_seed_is_not_served_from_the_store(tmp_path):
    plan = SamplingPlan(PROBES, 1, DecodingConfig(), 7)
    store = GenerationStore(tmp_path, "m", "d")
    FakeGenerator().sample("base", "m", plan, False, store=store)
    edited = plan._replace(probes=(Probe("s", "p0", "c", "a different prompt"),) + PROBES[1:])
    assert [t.probe.id for t in todo(edited, store)] == ["p0"]
    assert len(todo(plan._replace(run_seed=8), store)) == len(PROBES)


def test_a_torn_last_line_is_dropped_and_appending_continues_on_a_line_boundary(tmp_path):
    plan = SamplingPlan(PROBES, 1, DecodingConfig(), 7)
    store = GenerationStore(tmp_path, "m", "d")
    FakeGenerator().sample("base", "m", plan._replace(probes=PROBES[:2]), False, store=store)
    store.close()
    with store.path.open("ab") as fh:
        fh.write(b'{"v": 1, "probe_set": "s", "probe_id": "p2", "comp')  # killed mid-write
    store = GenerationStore(tmp_path, "m", "d")
    assert len(store) == 2
    samples = FakeGenerator().sample("base", "m", plan, False, store=store).samples
    store.close()
    reread = GenerationStore(tmp_path, "m", "d")
    assert assemble(plan, reread) == samples


def test_assemble_is_in_plan_order_whatever_the_finishing_order(tmp_path):
    plan = SamplingPlan(PROBES, 2, DecodingConfig(), 7)
    store = GenerationStore(tmp_path, "m", "d")
    items = todo(plan, None)
    for item in reversed(items):
        store.add(Sample(item.probe, item.index, item.seed, f"{item.probe.id}-{item.index}"))
    assert [s.completion for s in assemble(plan, store)] == [f"p{i}-{j}" for i in range(4) for j in range(2)]


def test_the_decoding_hash_names_every_setting():
    base = decoding_hash(DecodingConfig(), "harness")
    assert decoding_hash(DecodingConfig(top_p=0.9), "harness") != base
    assert decoding_hash(DecodingConfig(repetition_penalty=1.2), "harness") != base
    assert decoding_hash(DecodingConfig(), "reference") != base
    assert decoding_hash(DecodingConfig(), "harness") == base


def test_model_fingerprint_covers_weights_config_and_tokenizer(tmp_path: Path):
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "model.safetensors").write_bytes(b"weights")
    (folder / "config.json").write_text("{}", encoding="utf-8")
    (folder / "tokenizer.json").write_text('{"v": 1}', encoding="utf-8")
    expected = hashlib.sha256(b"config.json\0{}" + b"model.safetensors\0weights" + b'tokenizer.json\0{"v": 1}')
    assert model_fingerprint(folder) == expected.hexdigest()
    (folder / "tokenizer.json").write_text('{"v": 2}', encoding="utf-8")  # a new tokenizer is a new model
    assert model_fingerprint(folder) != expected.hexdigest()


def test_the_hf_backend_fingerprints_its_folder_with_the_one_function(tmp_path: Path):
    from harness.config import BaseInitConfig, CorpusConfig  # transformers: a hard dependency, never skipped
    from harness.models.hf import HFLocalGenerator
    from harness.train.base_init import init_base

    texts = [
        f"{w}は{a}です。" for w in ("駅", "店", "図書館", "公園", "学校", "猫") for a in ("静か", "広い", "新しい")
    ]
    (tmp_path / "c.txt").write_text("\n".join(texts) + "\n", encoding="utf-8")
    config = BaseInitConfig(
        corpus=CorpusConfig(path=tmp_path / "c.txt"), vocab_size=120, steps=1, batch_size=2, block_size=8
    )
    init_base(config, tmp_path / "m", seed=1, progress=False)
    assert HFLocalGenerator("cpu").fingerprint("base", str(tmp_path / "m")) == model_fingerprint(tmp_path / "m")
