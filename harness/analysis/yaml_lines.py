"""Line numbers for YAML files, so that a schema error can say where it is.

``yaml.safe_load`` returns plain data without positions.  Composing the same
text gives the node tree, whose marks hold the lines; these helpers read them.
Lines are 1-based, as editors show them.
"""

from __future__ import annotations

from typing import Any

import yaml


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
