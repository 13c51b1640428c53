"""Probe sets: YAML files under ``probes/`` (data, not code).

A probe set has literal ``prompts`` and group ``templates`` (``{group}`` is
filled with each listed group).  Errors name the file and line.  Files are
found by walking the folder; ``probes/lexicons/`` holds lexicons, not probes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from harness.errors import ConfigError, HarnessError
from harness.data.yamlfile import LocatedYaml, load_yaml

ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]*$")
TOP_KEYS = {"name", "description", "prompts", "templates"}
PROMPT_KEYS = {"id", "category", "text", "group"}
TEMPLATE_KEYS = {"id", "category", "text", "groups"}


@dataclass(frozen=True)
class Probe:
    """One prompt sent to every model."""

    probe_set: str
    id: str
    category: str
    text: str
    group: str | None = None


@dataclass(frozen=True)
class ProbeSet:
    name: str
    description: str
    path: Path
    probes: tuple[Probe, ...]


def _fail(doc: LocatedYaml, key_path: tuple, message: str) -> ConfigError:
    line = doc.line_of(key_path)
    where = f"{doc.path}:{line}" if line else str(doc.path)
    return ConfigError(f"{where}: {message}")


def _check_keys(doc: LocatedYaml, key_path: tuple, item: dict, allowed: set[str], required: set[str]) -> None:
    for key in item:
        if key not in allowed:
            raise _fail(doc, key_path + (key,), f"unknown key '{key}' (allowed: {', '.join(sorted(allowed))})")
    for key in sorted(required):
        if not isinstance(item.get(key), str) or not item[key].strip():
            raise _fail(doc, key_path, f"'{key}' must be a non-empty string")


def load_probe_set(path: str | Path) -> ProbeSet:
    """Load and validate one probe file; templates are expanded per group."""
    doc = load_yaml(path)
    data = doc.data
    if not isinstance(data, dict):
        raise _fail(doc, (), "a probe file must be a mapping with 'name' and 'prompts'")
    _check_keys(doc, (), data, TOP_KEYS, {"name"})
    name = data["name"]
    prompts = data.get("prompts") or []
    templates = data.get("templates") or []
    if not isinstance(prompts, list) or not isinstance(templates, list):
        raise _fail(doc, (), "'prompts' and 'templates' must be lists")
    if not prompts and not templates:
        raise _fail(doc, (), "no prompts or templates")
    probes: list[Probe] = []
    seen: dict[str, tuple] = {}

    def add(probe: Probe, key_path: tuple) -> None:
        if probe.id in seen:
            raise _fail(doc, key_path, f"duplicate probe id '{probe.id}' (first at line {doc.line_of(seen[probe.id])})")
        seen[probe.id] = key_path
        probes.append(probe)

    for i, item in enumerate(prompts):
        key_path = ("prompts", i)
        if not isinstance(item, dict):
            raise _fail(doc, key_path, "each prompt must be a mapping with id, category and text")
        _check_keys(doc, key_path, item, PROMPT_KEYS, {"id", "category", "text"})
        _check_id(doc, key_path, item["id"])
        group = item.get("group")
        if group is not None and not isinstance(group, str):
            raise _fail(doc, key_path + ("group",), "'group' must be a string")
        add(Probe(name, item["id"], item["category"], item["text"], group), key_path)
    for i, item in enumerate(templates):
        key_path = ("templates", i)
        if not isinstance(item, dict):
            raise _fail(doc, key_path, "each template must be a mapping with id, category, text and groups")
        _check_keys(doc, key_path, item, TEMPLATE_KEYS, {"id", "category", "text"})
        _check_id(doc, key_path, item["id"])
        if "{group}" not in item["text"]:
            raise _fail(doc, key_path + ("text",), "a template's text must contain {group}")
        groups = item.get("groups")
        if not isinstance(groups, list) or not groups or not all(isinstance(g, str) and g for g in groups):
            raise _fail(doc, key_path + ("groups",), "'groups' must be a non-empty list of strings")
        for j, group in enumerate(groups):
            probe_id = f"{item['id']}-{j + 1:02d}"
            add(Probe(name, probe_id, item["category"], item["text"].replace("{group}", group), group), key_path)
    return ProbeSet(name=name, description=str(data.get("description", "")), path=Path(path), probes=tuple(probes))


def _check_id(doc: LocatedYaml, key_path: tuple, value: str) -> None:
    if not ID_PATTERN.match(value):
        raise _fail(doc, key_path + ("id",), f"id '{value}' must be lowercase letters, digits and hyphens")


def discover_probe_files(root: str | Path) -> list[Path]:
    """Every ``*.yaml``/``*.yml`` under ``root`` except the lexicons folder, sorted."""
    root = Path(root)
    files = [p for p in root.rglob("*.y*ml") if "lexicons" not in p.relative_to(root).parts]
    return sorted(files)


def validate_probe_files(paths: list[Path]) -> list[str]:
    """Load each file; return one error line per bad file (empty when all are valid)."""
    errors: list[str] = []
    for path in paths:
        try:
            load_probe_set(path)
        except HarnessError as err:
            errors.append(str(err))
    return errors


def load_probe_sets(paths: list[Path]) -> list[ProbeSet]:
    """Load several probe files; set names must be unique."""
    sets = [load_probe_set(p) for p in paths]
    names = [s.name for s in sets]
    for name in set(names):
        if names.count(name) > 1:
            raise ConfigError(f"probe set name '{name}' is used by more than one file")
    return sets
