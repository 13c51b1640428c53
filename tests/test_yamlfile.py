"""The shared YAML helper: line map, pydantic errors as one located line, bad files."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from pydantic import BaseModel, ConfigDict, Field, model_validator

from harness.data.lexicon_file import LexiconError
from harness.data.yamlfile import MAX_NODES, NonEmptyStr, StrictSchema, load_yaml, validate_yaml
from harness.errors import ConfigError, InputError


class Inner(StrictSchema):
    epochs: float = Field(default=1.0, gt=0)
    name: NonEmptyStr = "x"


class Item(StrictSchema):
    id: str
    size: int = 1


class Outer(StrictSchema):
    title: str
    finetune: Inner = Inner()
    items: list[Item] = []
    optional: Inner | None = None
    by_name: dict[str, Item] = {}


def write(tmp_path: Path, text: str | bytes, name: str = "f.yaml") -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def check(tmp_path: Path, text: str, **kwargs) -> str:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        validate_yaml(load_yaml(path), Outer, **kwargs)
    message = str(info.value)
    assert "\n" not in message
    return message.removeprefix(str(path))


def test_line_map_and_valid_document(tmp_path):
    path = write(tmp_path, "# comment\ntitle: t\nfinetune:\n  epochs: 2\nitems:\n  - id: a\n  - {id: b, size: 3}\n")
    doc = load_yaml(path)
    assert doc.lines[()] == 2  # the document starts after the comment
    assert doc.line_of(("finetune", "epochs")) == 4
    assert doc.line_of(("items", 1, "size")) == 7
    assert doc.line_of(("items", 1, "nope")) == 7  # deepest known prefix
    assert doc.line_of(("missing",)) == 2  # falls back to the document start
    outer = validate_yaml(doc, Outer)
    assert isinstance(outer, Outer)
    assert outer.finetune.epochs == 2 and [i.size for i in outer.items] == [1, 3]


def test_unknown_key_has_config_wording(tmp_path):
    # exactly the wording load_config produced before the helper existed
    assert check(tmp_path, "title: t\nfinetune:\n  epoch: 3\n") == ":3: unknown key 'finetune.epoch'"


@pytest.mark.parametrize(
    "text, expected",
    [
        ("title: t\nfinetune:\n  epoch: 3\n", ":3: unknown key 'finetune.epoch' (allowed: epochs, name)"),
        ("title: t\noptional:\n  bad: 1\n", ":3: unknown key 'optional.bad' (allowed: epochs, name)"),
        (
            "title: t\nitems:\n  - {id: a}\n  - {id: b, colour: red}\n",
            ":4: unknown key 'items.1.colour' (allowed: id, size)",
        ),
        ("title: t\nby_name:\n  a: {id: a, x: 1}\n", ":3: unknown key 'by_name.a.x' (allowed: id, size)"),
        ("title: t\nextra: 1\n", ":2: unknown key 'extra' (allowed: by_name, finetune, items, optional, title)"),
    ],
)
def test_unknown_key_lists_allowed_keys_on_request(tmp_path, text, expected):
    assert check(tmp_path, text, allowed_keys=True) == expected


@pytest.mark.parametrize(
    "text, expected",
    [
        ("title: t\nfinetune:\n  epochs: 0\n", ":3: finetune.epochs: Input should be greater than 0"),
        ("title: t\nfinetune:\n  name: '  '\n", ":3: finetune.name: must be a non-empty string"),
        (
            "title: t\nitems:\n  - {id: a}\n  - {id: b, size: big}\n",
            ":4: items.1.size: Input should be a valid integer, unable to parse string as an integer",
        ),
        ("title: t\nitems:\n  - a\n", ":3: items.0: expected a mapping of keys, not a string"),
        ("title: t\nitems:\n  - {size: 2}\n", ":3: items.0.id: Field required"),
        ("title: 12\n", ":1: title: Input should be a valid string (quote it in YAML)"),
        ("finetune: {}\n", ":1: title: Field required"),
        ("- a\n", ":1: expected a mapping of keys, not a list"),
        ("# nothing\n", ": the file is empty"),
    ],
)
def test_wrong_values_name_key_and_line(tmp_path, text, expected):
    assert check(tmp_path, text) == expected


def test_unknown_key_is_reported_before_the_missing_one_it_explains(tmp_path):
    assert check(tmp_path, "title: t\nitems:\n  - size: 2\n    idd: a\n") == ":4: unknown key 'items.0.idd'"


def test_otherwise_the_earliest_line_wins(tmp_path):
    text = "items:\n  - {id: a, size: x}\nfinetune:\n  epochs: -1\ntitle: t\n"
    assert (
        check(tmp_path, text)
        == ":2: items.0.size: Input should be a valid integer, unable to parse string as an integer"
    )


def test_value_error_prefix_is_dropped(tmp_path):
    class Pair(BaseModel):
        model_config = ConfigDict(extra="forbid")
        a: int | None = None
        b: int | None = None

        @model_validator(mode="after")
        def _one(self) -> "Pair":
            if (self.a is None) == (self.b is None):
                raise ValueError("give exactly one of a or b")
            return self

    path = write(tmp_path, "a: 1\nb: 2\n")
    with pytest.raises(ConfigError) as info:
        validate_yaml(load_yaml(path), Pair)
    assert str(info.value) == f"{path}:1: give exactly one of a or b"


def test_error_class_and_location_attributes(tmp_path):
    path = write(tmp_path, "title: t\nfinetune:\n  epochs: 0\n")
    doc = load_yaml(path)
    with pytest.raises(ConfigError) as info:
        validate_yaml(doc, Outer)
    assert (info.value.path, info.value.line) == (path, 3)
    # a class taking (message, path, line) formats the location itself
    with pytest.raises(LexiconError) as lex:
        validate_yaml(doc, Outer, LexiconError)
    assert (lex.value.path, lex.value.line) == (path, 3)
    assert str(lex.value) == f"{path}:3: finetune.epochs: Input should be greater than 0"
    with pytest.raises(InputError) as inp:
        validate_yaml(doc, Outer, InputError)
    assert str(inp.value) == str(lex.value)


def test_missing_file_is_input_error(tmp_path):
    with pytest.raises(InputError, match="file not found"):
        load_yaml(tmp_path / "nope.yaml")


@pytest.mark.parametrize(
    "text, line, message",
    [
        ("a: [\n", 2, "YAML syntax error"),
        ("a: 1\nb: 2\na: 3\n", 3, "key 'a' given twice (first at line 1)"),
        ("a: 1\n---\nb: 2\n", 2, "YAML syntax error: but found another document"),
    ],
)
def test_malformed_yaml_is_one_line(tmp_path, text, line, message):
    path = write(tmp_path, text)
    with pytest.raises(InputError) as info:
        load_yaml(path)
    assert str(info.value).startswith(f"{path}:{line}: {message}")
    with pytest.raises(ConfigError) as config:
        load_yaml(path, error=ConfigError)
    assert str(config.value) == str(info.value)


def test_non_utf8_file_names_line_and_column(tmp_path):
    path = write(tmp_path, b"title: t\nfinetune:\n  name: caf\xe9\n")
    with pytest.raises(InputError) as info:
        load_yaml(path)
    # "  name: caf" is 11 characters: the bad byte is in column 12
    assert str(info.value) == (f"{path}:3: not valid UTF-8 at column 12 (byte 0xe9, offset 30): save the file as UTF-8")
    assert info.value.line == 3


def test_shift_jis_file_is_named_as_such(tmp_path):
    path = write(tmp_path, "name: t\nprompts:\n  - {id: a, category: x, text: 猫派の人は}\n".encode("shift_jis"))
    with pytest.raises(ConfigError) as info:
        load_yaml(path, error=ConfigError)
    message = str(info.value)
    assert message.startswith(f"{path}:3: not valid UTF-8 at column ")
    assert "(it looks like Shift_JIS): save the file as UTF-8" in message
    assert "\n" not in message


def test_utf8_bom_is_accepted(tmp_path):
    path = write(tmp_path, "\ufefftitle: t\n")
    assert validate_yaml(load_yaml(path), Outer).title == "t"


def test_alias_bomb_is_refused_quickly(tmp_path):
    # "billion laughs": 9 levels of 9 aliases expand to 9**9 nodes
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    for level in range(1, 10):
        lines.append(f"a{level}: &a{level} [" + ", ".join([f"*a{level - 1}"] * 9) + "]")
    path = write(tmp_path, "\n".join(lines) + "\n")
    start = time.perf_counter()
    with pytest.raises(ConfigError) as info:
        load_yaml(path, error=ConfigError)
    assert time.perf_counter() - start < 5
    message = str(info.value)
    assert message.startswith(f"{path}:")
    assert f"more than {MAX_NODES} YAML nodes once aliases are expanded" in message


def test_modest_aliases_are_fine(tmp_path):
    path = write(tmp_path, "title: &t hello\nfinetune: &f {epochs: 2}\noptional: *f\nby_name: {a: {id: *t}}\n")
    outer = validate_yaml(load_yaml(path), Outer)
    assert outer.optional is not None and outer.optional.epochs == 2 and outer.by_name["a"].id == "hello"


def test_recursive_alias_is_refused(tmp_path):
    path = write(tmp_path, "title: t\nloop: &a [1, *a]\n")
    with pytest.raises(InputError, match=r":2: recursive YAML alias"):
        load_yaml(path)
