"""Sharding the probe stage: two shards merged give the unsharded generations.jsonl byte for byte."""

from __future__ import annotations

import pytest

from conftest import respond, write_config
from harness.cli import main
from harness.config import load_config
from harness.data.probes import Probe
from harness.errors import ConfigError, InputError
from harness.models.fake import FakeGenerator
from harness.models.shard import Shard, merge_parts, parse_shard, select
from harness.pipeline import run


def config_for(root, batch_size=3):
    config = load_config(write_config(root))
    config.probes.batch_size = batch_size
    return config


def test_two_shards_merge_to_the_unsharded_file(tmp_path):
    quiet = dict(progress=False, log=lambda message: None)
    whole = run(
        config_for(tmp_path / "a"), out_dir=tmp_path / "a" / "run", generator=FakeGenerator(respond=respond), **quiet
    )
    expected = (whole.run_dir / "generations.jsonl").read_bytes()

    drawn = []
    for index, name in ((1, "s1"), (2, "s2")):
        generator = FakeGenerator(respond=respond)
        result = run(
            config_for(tmp_path / name),
            out_dir=tmp_path / name / "run",
            generator=generator,
            shard=Shard(index, 2),
            **quiet,
        )
        assert not (result.run_dir / "generations.jsonl").exists()
        assert result.record.stages["probe"].status == "pending"
        drawn.append(generator.drawn)
    assert sum(drawn) == expected.count(b"\n") and all(drawn)  # disjoint, covering, both non-empty

    cache = tmp_path / "s1" / "run" / "cache" / "generations"
    assert main(["probes", "merge", str(tmp_path / "s2" / "run" / "cache" / "generations"), "--into", str(cache)]) == 0
    generator = FakeGenerator(respond=respond)
    merged = run(
        config_for(tmp_path / "s1"), out_dir=tmp_path / "s1" / "run", generator=generator, resume=True, **quiet
    )
    assert generator.drawn == 0  # everything came from the shards
    assert merged.record.status == "complete"
    assert (merged.run_dir / "generations.jsonl").read_bytes() == expected


def test_shards_take_whole_batches_of_the_bucketed_plan():
    pairs = [(Probe("s", f"p{i}", "c", "x" * (10 - i)), j) for i in range(5) for j in range(2)]
    parts = [select(pairs, 3, Shard(i, 3)) for i in (1, 2, 3)]
    assert sorted(map(id, sum(parts, []))) == sorted(map(id, pairs))
    # bucketed by prompt length (p4 shortest): batches [p4/0 p4/1 p3/0] [p3/1 p2/0 p2/1] [p1/0 p1/1 p0/0] [p0/1];
    # shard 1 of 3 takes batches 0 and 3, listed in plan order
    assert [(p.id, j) for p, j in parts[0]] == [("p0", 1), ("p3", 0), ("p4", 0), ("p4", 1)]


@pytest.mark.parametrize("text", ["0/2", "3/2", "1", "a/b", "1/0"])
def test_bad_shard_specs_are_refused(text):
    with pytest.raises(ConfigError, match="expected i/n"):
        parse_shard(text)


def test_merge_refuses_a_conflicting_part(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "x.shard-1-of-2.jsonl").write_text("1\n", encoding="utf-8")
    (tmp_path / "b" / "x.shard-1-of-2.jsonl").write_text("2\n", encoding="utf-8")
    assert merge_parts([tmp_path / "a"], tmp_path / "into")
    assert merge_parts([tmp_path / "a"], tmp_path / "into") == []  # the same file again: nothing to do
    with pytest.raises(InputError, match="different content"):
        merge_parts([tmp_path / "b"], tmp_path / "into")
