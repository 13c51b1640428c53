"""The shipped probe library: group-bias, continuation, register, privacy, memorization, group files."""

from __future__ import annotations

import dataclasses

from pathlib import Path

import pytest

from harness.config import CorpusConfig, RunConfig
from harness.data.memorization import run_probes
from harness.data.probes import discover_group_files, discover_probe_files, load_group_file, load_probe_set
from harness.data.split import is_heldout
from harness.errors import ConfigError

PROBES = Path(__file__).resolve().parent.parent / "probes"


@pytest.mark.parametrize("path", discover_group_files(PROBES), ids=lambda p: p.name)
def test_every_group_file_is_valid(path):
    groups = load_group_file(path)
    assert len(groups) >= 6 and len(set(groups)) == len(groups)


def test_every_shipped_file_carries_a_content_note():
    for path in discover_probe_files(PROBES) + discover_group_files(PROBES):
        if path.name == "demo.yaml":
            continue  # the demo set's description says it was written for this project
        assert "Content note" in path.read_text(encoding="utf-8").split("\n", 1)[0], path


def test_group_bias_meets_the_contract():
    probes = load_probe_set(PROBES / "group-bias.yaml").probes
    templates = {p.id.split("-")[0] for p in probes}
    axes = {p.category for p in probes}
    assert len(templates) >= 8 and len(axes) >= 4
    for axis in axes:
        groups = {p.group for p in probes if p.category == axis}
        assert len(groups) >= 6, axis
        assert groups == set(load_group_file(PROBES / "groups" / f"{axis}.yaml"))
    assert all(p.group and p.group in p.text for p in probes)


def test_continuation_register_and_privacy_sets():
    continuation = load_probe_set(PROBES / "continuation.yaml").probes
    assert len(continuation) >= 60
    assert {p.category for p in continuation} == {"mild", "edgy", "provocative"}
    register = load_probe_set(PROBES / "register.yaml").probes
    assert {p.category for p in register} == {"neutral", "forum"}
    assert len(load_probe_set(PROBES / "privacy.yaml").probes) >= 12
    assert [p.text for p in load_probe_set(PROBES / "seed.yaml").probes] == ["ww"]


def test_axes_errors_name_file_and_line(tmp_path):
    (tmp_path / "groups").mkdir()
    (tmp_path / "groups" / "pets.yaml").write_text("axis: pet\ngroups: [猫派, 犬派]\n", encoding="utf-8")
    path = tmp_path / "t.yaml"
    path.write_text("name: t\ntemplates:\n  - {id: g, text: '{group}は', axes: [colour]}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"t\.yaml:3: .*no group file for axis 'colour'"):
        load_probe_set(path)
    path.write_text("name: t\ntemplates:\n  - {id: g, text: '{group}は', axes: [pets]}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"pets\.yaml:1: .*axis 'pet' must match the file name 'pets'"):
        load_probe_set(path)
    path.write_text(
        "name: t\ntemplates:\n  - {id: g, category: x, text: '{group}は', axes: [pets]}\n", encoding="utf-8"
    )
    with pytest.raises(ConfigError, match=r"t\.yaml:3: .*takes its category from each axis"):
        load_probe_set(path)


def test_memorization_probes_are_prefixes_of_train_and_heldout_documents(tmp_path):
    docs = [f"文書{i:03d}番:" + "これは記憶の検査に使う十分に長い本文です。" * 3 for i in range(120)]
    corpus = tmp_path / "c.txt"
    corpus.write_text("\n".join(docs + docs[:10]) + "\n", encoding="utf-8")  # duplicates are ignored
    config = RunConfig(name="m", seed=5, corpus=CorpusConfig(path=corpus, format="text"))
    probe_set = load_probe_set(PROBES / "memorization.yaml")
    spec = probe_set.from_corpus.model_copy(update={"per_split": 4, "min_chars": 40, "prefix_chars": 12})
    probes = run_probes([dataclasses.replace(probe_set, from_corpus=spec)], config)
    assert [p.category for p in probes] == ["train"] * 4 + ["heldout"] * 4
    for p in probes:
        (document,) = {d for d in docs if d.startswith(p.text)}  # the numbered prefix names one document
        assert len(p.text) == 12
        assert is_heldout(document, 5, config.finetune.val_fraction) == (p.category == "heldout")
    assert len({p.text for p in probes}) == 8
    assert "reference" not in {f.name for f in dataclasses.fields(probes[0])}  # the document's rest is not kept
    assert run_probes([dataclasses.replace(probe_set, from_corpus=spec)], config) == probes  # deterministic
    with pytest.raises(ConfigError, match="no corpus"):
        run_probes([probe_set], RunConfig(name="m"))
