"""Probe files: every shipped file validates; errors name file and line."""

from pathlib import Path

import pytest

from harness.cli import main
from harness.errors import ConfigError
from harness.data.probes import discover_probe_files, load_probe_set

PROBES = Path(__file__).parent.parent / "probes"


def test_shipped_probe_files_exist():
    names = {p.name for p in discover_probe_files(PROBES)}
    assert {"seed.yaml", "demo.yaml"} <= names
    assert all("lexicons" not in p.parts for p in discover_probe_files(PROBES))


@pytest.mark.parametrize("path", discover_probe_files(PROBES), ids=lambda p: p.name)
def test_every_probe_file_is_valid(path):
    probe_set = load_probe_set(path)
    assert probe_set.probes or probe_set.from_corpus  # memorization prompts are built at run time
    ids = [p.id for p in probe_set.probes]
    assert len(ids) == len(set(ids))


def test_seed_is_the_reference_prompt():
    probe_set = load_probe_set(PROBES / "seed.yaml")
    assert [p.text for p in probe_set.probes] == ["ww"]


def test_demo_set_has_the_required_mix():
    probes = load_probe_set(PROBES / "demo.yaml").probes
    assert len(probes) >= 20
    categories = {p.category for p in probes}
    assert {"neutral", "forum", "group"} <= categories
    assert all(p.group and p.group in p.text for p in probes if p.category == "group")


def test_templates_expand_per_group(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text(
        "name: t\ntemplates:\n  - {id: g, category: group, text: '{group}の人は', groups: [猫派, 犬派]}\n",
        encoding="utf-8",
    )
    probes = load_probe_set(path).probes
    assert [(p.id, p.text, p.group) for p in probes] == [("g-01", "猫派の人は", "猫派"), ("g-02", "犬派の人は", "犬派")]


@pytest.mark.parametrize(
    "body, message",
    [
        (
            "name: t\nprompts:\n  - {id: a, category: x, text: hi}\n  - {id: a, category: x, text: yo}\n",
            ":4: duplicate probe id 'a'",
        ),
        (
            "name: t\nprompts:\n  - {id: a, category: x, txt: hi}\n",
            ":3: unknown key 'prompts.0.txt' (allowed: category, group, id, text)",
        ),
        ("name: t\nprompts:\n  - {id: A!, category: x, text: hi}\n", ":3: prompts.0.id: 'A!' must be"),
        ("name: t\nprompts:\n  - {id: a, category: x, text: ''}\n", ":3: prompts.0.text: must be a non-empty string"),
        ("name: t\nprompts:\n  - {id: 7, category: x, text: hi}\n", ":3: prompts.0.id: Input should be a valid string"),
        ("name: t\ntitle: x\nprompts: []\n", ":2: unknown key 'title'"),
        ("name: t\nprompts: {a: 1}\n", ":2: prompts: Input should be a valid list"),
        ("- a\n", ":1: expected a mapping of keys, not a list"),
        ("", ": the file is empty"),
        (
            "name: t\ntemplates:\n  - {id: g, category: x, text: hi, groups: [a]}\n",
            ":3: a template's text must contain {group}",
        ),
        (
            "name: t\ntemplates:\n  - {id: g, category: x, text: '{group}と{name}', groups: [a]}\n",
            ":3: a template's text may only use the placeholder {group}, not '{name}'",
        ),
        (
            "name: t\ntemplates:\n  - id: g\n    category: x\n    text: '{grp}の{group}'\n    groups: [a]\n",
            ":5: a template's text may only use the placeholder {group}, not '{grp}'",
        ),
        (
            "name: t\ntemplates:\n  - {id: g, category: x, text: '{group}の人は}', groups: [a]}\n",
            ":3: a template's text may only use the placeholder {group}, not '}'",
        ),
        (
            "name: t\ntemplates:\n  - {id: g, category: x, text: '{group}'}\n",
            ":3: a template needs exactly one of groups or axes",
        ),
        ("name: t\n", "no prompts, templates or from_corpus"),
        ("name: t\nprompts:\n  - {id: a, category: all, text: hi}\n", ":3: prompts.0.category: 'all' is reserved"),
    ],
)
def test_errors_name_file_and_line(tmp_path, body, message):
    path = tmp_path / "bad.yaml"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_probe_set(path)
    assert str(err.value).startswith(str(path))
    assert message in str(err.value)


def test_cli_validate(tmp_path, capsys):
    assert main(["probes", "validate"]) == 0
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: t\nprompts: [{id: a}]\n", encoding="utf-8")
    assert main(["probes", "validate", str(bad)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"harness: error: {bad}:2:")
