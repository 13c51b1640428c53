"""YAML loading and schema validation that remember where each key sits.

Config, probe and lexicon errors must name the file *and the line*; PyYAML's
``safe_load`` forgets positions, so we compose the node tree once and keep a
map from key paths (``("finetune", "epochs")``, ``("prompts", 3)``) to lines.
``validate_yaml`` then checks the data against a pydantic model and turns the
first problem into one line ``file:line: key: what is wrong``.
"""

from __future__ import annotations

import inspect
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, TypeVar

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, ValidationError

from harness.errors import ConfigError, HarnessError, InputError
from harness.io import require_file

KeyPath = tuple[Any, ...]
M = TypeVar("M", bound=BaseModel)

# A few hundred nested aliases ("billion laughs") expand to billions of nodes:
# cheap for PyYAML, which shares them, but fatal to every walk over the data.
MAX_NODES = 200_000


def located_error(error: type[HarnessError], message: str, path: Path, line: int | None) -> HarnessError:
    """An ``error`` instance saying ``message`` at ``path:line`` (line may be None).

    Classes whose constructor takes ``(message, path, line)`` (``InputError``,
    ``LexiconError``) format the location themselves; any other class (such as
    ``ConfigError``) gets the single line ``path:line: message``.  Either way
    the result carries ``.path`` and ``.line``.
    """
    if _takes_location(error):
        return error(message, path, line)  # type: ignore[call-arg]
    where = f"{path}:{line}" if line is not None else str(path)
    exc = error(f"{where}: {message}")
    exc.path, exc.line = path, line  # type: ignore[attr-defined]
    return exc


def _takes_location(error: type[HarnessError]) -> bool:
    try:
        params = inspect.signature(error).parameters
    except (TypeError, ValueError):  # a builtin __init__ has no signature: message only
        return False
    return "path" in params and "line" in params


@dataclass
class LocatedYaml:
    """Parsed YAML data plus the 1-based line of every key path in it.

    The empty key path ``()`` maps to the line where the document starts, so
    a problem with the whole file (or a missing top-level key) still has one.
    """

    data: Any
    path: Path
    lines: dict[KeyPath, int] = field(default_factory=dict)

    def line_of(self, key_path: KeyPath) -> int | None:
        """Line of the deepest known prefix of ``key_path`` (None if unknown)."""
        key_path = tuple(key_path)
        while key_path:
            if key_path in self.lines:
                return self.lines[key_path]
            key_path = key_path[:-1]
        return self.lines.get(())

    def error(self, key_path: KeyPath, message: str, error: type[HarnessError] = ConfigError) -> HarnessError:
        """An ``error`` (to raise) saying ``message`` at the line of ``key_path``."""
        return located_error(error, message, self.path, self.line_of(key_path))


def _walk(node: yaml.Node, prefix: KeyPath, lines: dict[KeyPath, int], path: Path, error: type[HarnessError]) -> None:
    if isinstance(node, yaml.MappingNode):
        repeated = duplicate_key(node)
        if repeated:
            key, first, again = repeated
            # PyYAML silently keeps the last of two equal keys: a lost setting
            raise located_error(error, f"key '{key}' given twice (first at line {first})", path, again)
        for key_node, value_node in node.value:
            key_path = prefix + (key_node.value,)
            lines[key_path] = key_node.start_mark.line + 1
            _walk(value_node, key_path, lines, path, error)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            lines[prefix + (index,)] = item.start_mark.line + 1
            _walk(item, prefix + (index,), lines, path, error)


def load_yaml(path: str | Path, error: type[HarnessError] = InputError) -> LocatedYaml:
    """Load one YAML document and map its key paths to lines.

    A missing file is an ``InputError``; a file that is not UTF-8, a syntax
    error, a key given twice, a recursive alias or an alias bomb raise
    ``error`` naming the file and line.
    """
    path = require_file(path)
    text = _decode(path.read_bytes(), path, error)
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is not None:
            _check_size(node, path, error)
        # construct from the checked node: parsing twice could not be checked
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as err:
        line = err.problem_mark.line + 1 if err.problem_mark else None
        raise located_error(error, f"YAML syntax error: {err.problem}", path, line) from None
    except yaml.YAMLError as err:
        raise located_error(error, f"YAML error: {err}", path, None) from None
    except RecursionError:
        raise located_error(error, "YAML nested too deeply", path, None) from None
    finally:
        loader.dispose()
    lines: dict[KeyPath, int] = {}
    if node is not None:
        lines[()] = node.start_mark.line + 1
        _walk(node, (), lines, path, error)
    return LocatedYaml(data=data, path=path, lines=lines)


def _decode(raw: bytes, path: Path, error: type[HarnessError]) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as err:
        line = raw.count(b"\n", 0, err.start) + 1
        line_start = raw.rfind(b"\n", 0, err.start) + 1
        # the column counts the characters before the bad byte on its line (1-based)
        column = len(raw[line_start : err.start].decode("utf-8", "replace")) + 1
        hint = ""
        try:
            raw.decode("cp932")
            hint = " (it looks like Shift_JIS)"
        except UnicodeDecodeError:
            pass
        message = (
            f"not valid UTF-8 at column {column} (byte 0x{raw[err.start]:02x}, offset {err.start}){hint}: "
            "save the file as UTF-8"
        )
        raise located_error(error, message, path, line) from None


def _check_size(root: yaml.Node, path: Path, error: type[HarnessError]) -> None:
    """Refuse a node graph that expands to more than MAX_NODES or contains itself."""
    sizes: dict[int, int] = {}  # memo by node identity: an alias is counted, not re-walked
    active: set[int] = set()

    def size(node: yaml.Node) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in active:
            raise located_error(error, "recursive YAML alias (a node contains itself)", path, line_of(node))
        active.add(key)
        children: list[yaml.Node] = []
        if isinstance(node, yaml.SequenceNode):
            children = node.value
        elif isinstance(node, yaml.MappingNode):
            children = [part for pair in node.value for part in pair]
        total = 1
        for item in children:
            total += size(item)
            if total > MAX_NODES:
                message = f"more than {MAX_NODES} YAML nodes once aliases are expanded (an alias bomb?)"
                raise located_error(error, message, path, line_of(node))
        active.discard(key)
        sizes[key] = total
        return total

    size(root)


# -- pydantic schemas ---------------------------------------------------------


class StrictSchema(BaseModel):
    """Base for YAML file schemas: an unknown (misspelled) key is an error."""

    model_config = ConfigDict(extra="forbid")


def _non_empty(value: str) -> str:
    if not value.strip():
        raise ValueError("must be a non-empty string")
    return value


NonEmptyStr = Annotated[str, AfterValidator(_non_empty)]
"""A string with something besides blanks in it (kept as written)."""


def validate_yaml(
    doc: LocatedYaml, model: type[M], error: type[HarnessError] = ConfigError, *, allowed_keys: bool = False
) -> M:
    """Validate ``doc.data`` against ``model``; raise ``error`` for the first problem.

    The message is one line ``file:line: ...``: ``unknown key 'a.b'`` for a
    key the schema forbids (with ``(allowed: ...)`` appended when
    ``allowed_keys``), otherwise ``a.b: <pydantic message>``.  Unknown keys
    are reported first (they usually explain a missing one), then the problem
    on the earliest line.  An empty document is "the file is empty".
    """
    if doc.data is None:
        raise doc.error((), "the file is empty", error)
    try:
        return model.model_validate(doc.data)
    except ValidationError as err:
        problems = err.errors()
    ranked = []
    for index, problem in enumerate(problems):
        loc = tuple(p for p in problem["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        line = doc.line_of(loc)
        ranked.append((problem["type"] != "extra_forbidden", line or 0, index, loc, line))
    *_, index, loc, line = min(ranked)
    message = describe_error(problems[index], loc, model if allowed_keys else None)
    raise located_error(error, message, doc.path, line) from None


_KINDS = {list: "a list", dict: "a mapping", str: "a string", int: "a number", float: "a number", bool: "true/false"}


def describe_error(problem: Any, loc: KeyPath, model: type[BaseModel] | None = None) -> str:
    """One pydantic error as ``a.b: message`` (``unknown key 'a.b'`` for extras).

    With ``model``, an unknown-key message lists the keys allowed there.
    """
    dotted = ".".join(map(str, loc))
    value = problem.get("input")
    if problem["type"] == "extra_forbidden":
        allowed = _allowed_keys(model, loc[:-1]) if model is not None else None
        return f"unknown key '{dotted}'" + (f" (allowed: {', '.join(allowed)})" if allowed else "")
    if problem["type"] in ("model_type", "dict_type"):
        msg = f"expected a mapping of keys, not {_KINDS.get(type(value), type(value).__name__)}"
    elif problem["type"] == "value_error":
        msg = problem["msg"].removeprefix("Value error, ")
    else:
        msg = problem["msg"]
        if problem["type"] == "string_type" and (isinstance(value, (int, float, bool)) or hasattr(value, "isoformat")):
            msg += " (quote it in YAML)"  # 007, yes, 2024-01-01 are not strings to YAML
    return f"{dotted}: {msg}" if dotted else msg


def _allowed_keys(model: type[BaseModel], loc: KeyPath) -> list[str] | None:
    """Field names of the model found at ``loc`` inside ``model`` (None if not a model)."""
    current: Any = model
    for part in loc:
        current = _inner(current, part)
        if current is None:
            return None
    current = _unwrap(current)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return sorted(f.alias or name for name, f in current.model_fields.items())
    return None


def _unwrap(annotation: Any) -> Any:
    """``X`` for ``Annotated[X, ...]`` and ``X | None``; other annotations as they are."""
    while True:
        origin, args = typing.get_origin(annotation), typing.get_args(annotation)
        if origin is Annotated:
            annotation = args[0]
        elif origin in (typing.Union, types.UnionType):
            members = [a for a in args if a is not type(None)]
            if len(members) != 1:
                return annotation
            annotation = members[0]
        else:
            return annotation


def _inner(annotation: Any, part: Any) -> Any:
    """The type one step (field, list index, dict key) inside ``annotation``."""
    annotation = _unwrap(annotation)
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        found = annotation.model_fields.get(part) if isinstance(part, str) else None
        return found.annotation if found is not None else None
    if origin in (list, tuple, set, frozenset) and args:
        return args[0]
    if origin is dict and len(args) == 2:
        return args[1]
    return None


# -- node-level helpers ---------------------------------------------------------


def mark_line(mark: Any) -> int | None:
    """1-based line of a YAML mark (marks count from 0); None without a mark."""
    return mark.line + 1 if mark is not None else None


def line_of(node: Any) -> int | None:
    """1-based line where a composed node starts; None for a missing node."""
    return mark_line(getattr(node, "start_mark", None))


def duplicate_key(node: Any) -> tuple[str, int | None, int | None] | None:
    """``(key, first line, repeat line)`` of the first key given twice, else None.

    PyYAML silently keeps the last of two equal keys, which would drop a
    category or a whole section without a word.
    """
    seen: dict[str, int | None] = {}
    if isinstance(node, yaml.MappingNode):
        for key_node, _ in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                continue
            if key_node.value in seen:
                return key_node.value, seen[key_node.value], line_of(key_node)
            seen[key_node.value] = line_of(key_node)
    return None
