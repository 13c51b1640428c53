"""YAML loading that remembers where each key and list item sits.

Config, probe and lexicon errors must name the file *and the line*; PyYAML's
``safe_load`` forgets positions, so we compose the node tree once and keep a
map from key paths (``("finetune", "epochs")``, ``("prompts", 3)``) to lines.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from harness.errors import InputError

KeyPath = tuple[Any, ...]


@dataclass
class LocatedYaml:
    """Parsed YAML data plus the 1-based line of every key path in it."""

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
        return None


def _walk(node: yaml.Node, prefix: KeyPath, lines: dict[KeyPath, int], path: Path) -> None:
    if isinstance(node, yaml.MappingNode):
        repeated = duplicate_key(node)
        if repeated:
            key, first, again = repeated
            # PyYAML silently keeps the last of two equal keys: a lost setting
            raise InputError(f"key '{key}' given twice (first at line {first})", path, again)
        for key_node, value_node in node.value:
            key_path = prefix + (key_node.value,)
            lines[key_path] = key_node.start_mark.line + 1
            _walk(value_node, key_path, lines, path)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            lines[prefix + (index,)] = item.start_mark.line + 1
            _walk(item, prefix + (index,), lines, path)


def load_yaml(path: str | Path) -> LocatedYaml:
    """Load one YAML document; a missing file or syntax error names file and line."""
    path = Path(path)
    if not path.is_file():
        raise InputError("file not found", path)
    text = path.read_text(encoding="utf-8")
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as err:
        line = err.problem_mark.line + 1 if err.problem_mark else None
        raise InputError(f"YAML syntax error: {err.problem}", path, line) from None
    except yaml.YAMLError as err:
        raise InputError(f"YAML error: {err}", path) from None
    lines: dict[KeyPath, int] = {}
    if node is not None:
        _walk(node, (), lines, path)
    return LocatedYaml(data=data, path=path, lines=lines)


# -- node-level helpers (also used by the lexicon loader) ----------------------


def mark_line(mark: Any) -> int | None:
    """1-based line of a YAML mark (marks count from 0); None without a mark."""
    return mark.line + 1 if mark is not None else None


def line_of(node: Any) -> int | None:
    """1-based line where a composed node starts; None for a missing node."""
    return mark_line(getattr(node, "start_mark", None))


def key_lines(node: Any) -> dict[str, int]:
    """Line of each scalar key of a mapping node (the first, if a key repeats)."""
    lines: dict[str, int] = {}
    if isinstance(node, yaml.MappingNode):
        for key_node, _ in node.value:
            if isinstance(key_node, yaml.ScalarNode):
                lines.setdefault(key_node.value, line_of(key_node))
    return lines


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


def child(node: Any, key: str) -> Any:
    """The value node under ``key`` of a mapping node, or None."""
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.value == key:
                return value_node
    return None
