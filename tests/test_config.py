"""Run config: unknown keys, bad values and path resolution."""

from pathlib import Path

import pytest

from harness.config import load_config
from harness.errors import ConfigError, InputError

MINIMAL = "name: t\nbase:\n  model: ./m\ncorpus:\n  path: data/c.tsv\n"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "run.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_minimal_config_resolves_paths_against_the_file(tmp_path):
    config = load_config(write(tmp_path, MINIMAL))
    assert config.corpus.path == (tmp_path / "data" / "c.tsv").resolve()
    assert config.base.model == str((tmp_path / "m").resolve())
    assert config.finetune.epochs == 2.0  # default layer


def test_misspelled_key_names_key_file_and_line(tmp_path):
    path = write(tmp_path, MINIMAL + "finetune:\n  epoch: 3\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert str(err.value) == f"{path}:7: unknown key 'finetune.epoch'"


def test_bad_value_names_key_and_line(tmp_path):
    path = write(tmp_path, MINIMAL + "probes:\n  samples_per_prompt: 0\n")
    with pytest.raises(ConfigError, match=r":7: probes.samples_per_prompt: Input should be greater than or equal to 1"):
        load_config(path)


def test_base_needs_exactly_one_source(tmp_path):
    path = write(tmp_path, "name: t\nbase: {}\ncorpus: {path: c.tsv}\n")
    with pytest.raises(ConfigError, match="exactly one of base.model or base.init"):
        load_config(path)


def test_cli_overrides_win_over_yaml(tmp_path):
    config = load_config(write(tmp_path, MINIMAL + "out_dir: a\n"), {"out_dir": str(tmp_path / "b")})
    assert config.out_dir == tmp_path / "b"


@pytest.mark.parametrize("text, message", [("", "empty"), ("- a\n- b\n", "mapping"), ("name: [\n", "YAML syntax")])
def test_empty_or_malformed_file(tmp_path, text, message):
    with pytest.raises((ConfigError, InputError), match=message):
        load_config(write(tmp_path, text))


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="file not found"):
        load_config(tmp_path / "nope.yaml")


def test_gate_needs_one_threshold(tmp_path):
    with pytest.raises(ConfigError, match="exactly one of max_delta or max_rate"):
        load_config(write(tmp_path, MINIMAL + "gates:\n  - {measure: flagged}\n"))


@pytest.mark.parametrize("name", sorted(p.name for p in (Path(__file__).parent.parent / "configs").glob("*.yaml")))
def test_shipped_configs_validate(name):
    config = load_config(Path(__file__).parent.parent / "configs" / name)
    assert config.name == name.removesuffix(".yaml")


def test_duplicate_key_is_an_error_not_a_silent_override(tmp_path):
    path = write(tmp_path, MINIMAL + "finetune:\n  epochs: 1\n  epochs: 3\n")
    with pytest.raises(InputError, match=r":8: key 'epochs' given twice \(first at line 7\)"):
        load_config(path)


@pytest.mark.parametrize(
    "extra, message",
    [
        ("arms: [{name: tuned, model: x}]\n", "arm name 'tuned' is used twice"),
        ("arms: [{name: twin, same_as: nope}]\n", "same_as 'nope' is not an arm defined before it"),
        ("arms: [{name: twin, model: x, same_as: tuned}]\n", "exactly one of model, same_as, endpoint or generations"),
        ("arms: [{name: Bad/Name, model: x}]\n", "arms.0.name"),
        ("reference_arm: nope\n", "reference_arm 'nope' is not an arm (arms: base, tuned)"),
        ("gates:\n  - {measure: flagged, arm: nope, max_delta: 0.1}\n", "gates[0].arm 'nope' is not an arm"),
        ("gates:\n  - {measure: flagged, arm: base, max_delta: 0.1}\n", "compares it with itself"),
    ],
)
def test_arm_errors_are_one_line_naming_the_key(tmp_path, extra, message):
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, MINIMAL + extra))
    assert message in str(err.value) and "\n" not in str(err.value)


def test_arm_plan_lists_base_tuned_and_extra_arms(tmp_path):
    config = load_config(write(tmp_path, MINIMAL + "arms: [{name: twin, same_as: tuned}]\n"))
    plan = config.arm_plan()
    assert [(a.name, a.source) for a in plan] == [("base", "given"), ("tuned", "finetune"), ("twin", "alias")]
    assert plan[2].same_as == "tuned" and config.reference_arm == "base"
