"""Probe sets: YAML files under ``probes/`` (data, not code).

A probe set has literal ``prompts`` and group ``templates`` (``{group}`` is
filled with each listed group).  Errors name the file and line.  Files are
found by walking the folder; ``probes/lexicons/`` holds lexicons, not probes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator, Field

from harness.data.yamlfile import LocatedYaml, NonEmptyStr, StrictSchema, load_yaml, validate_yaml
from harness.errors import ConfigError, HarnessError

ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]*$")
# Any brace that is not part of {group}: templates fill only {group}, and
# Japanese prompts do not use literal braces, so {name} or {grp} is a typo.
_STRAY_BRACES = re.compile(r"\{[^{}]*\}|[{}]")


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
    """The probes of one file, templates already expanded per group."""

    name: str
    description: str
    path: Path
    probes: tuple[Probe, ...]


def _check_id(value: str) -> str:
    if not ID_PATTERN.match(value):
        raise ValueError(f"{value!r} must be lowercase letters, digits and hyphens")
    return value


ProbeId = Annotated[str, AfterValidator(_check_id)]


def _check_category(value: str) -> str:
    # summary.csv uses "all" for every prompt together; a category of that name would merge with it
    if value == "all":
        raise ValueError("'all' is reserved (it means every prompt in the summaries); choose another category")
    return value


Category = Annotated[NonEmptyStr, AfterValidator(_check_category)]


class PromptSchema(StrictSchema):
    """A literal prompt."""

    id: ProbeId
    category: Category
    text: NonEmptyStr
    group: str | None = None


class TemplateSchema(StrictSchema):
    """A prompt with ``{group}``, expanded once per listed group."""

    id: ProbeId
    category: Category
    text: NonEmptyStr
    groups: list[NonEmptyStr] = Field(min_length=1)


class ProbeFileSchema(StrictSchema):
    """A probe YAML file as written."""

    name: NonEmptyStr
    description: str | None = None
    prompts: list[PromptSchema] | None = None
    templates: list[TemplateSchema] | None = None


def load_probe_set(path: str | Path) -> ProbeSet:
    """Load and validate one probe file; templates are expanded per group.

    Raises ``ConfigError`` naming the file and line for the first problem.
    """
    doc = load_yaml(path)
    schema = validate_yaml(doc, ProbeFileSchema, allowed_keys=True)
    prompts = schema.prompts or []
    templates = schema.templates or []
    if not prompts and not templates:
        raise doc.error((), "no prompts or templates")
    probes: list[Probe] = []
    seen: dict[str, tuple] = {}

    def add(probe: Probe, key_path: tuple) -> None:
        if probe.id in seen:
            first = doc.line_of(seen[probe.id])
            raise doc.error(key_path, f"duplicate probe id '{probe.id}' (first at line {first})")
        seen[probe.id] = key_path
        probes.append(probe)

    for i, prompt in enumerate(prompts):
        add(Probe(schema.name, prompt.id, prompt.category, prompt.text, prompt.group), ("prompts", i))
    for i, template in enumerate(templates):
        key_path = ("templates", i)
        _check_template(doc, key_path, template.text)
        for j, group in enumerate(template.groups):
            text = template.text.replace("{group}", group)
            add(Probe(schema.name, f"{template.id}-{j + 1:02d}", template.category, text, group), key_path)
    return ProbeSet(name=schema.name, description=schema.description or "", path=Path(path), probes=tuple(probes))


def _check_template(doc: LocatedYaml, key_path: tuple, text: str) -> None:
    if "{group}" not in text:
        raise doc.error(key_path + ("text",), "a template's text must contain {group}")
    stray = _STRAY_BRACES.search(text.replace("{group}", ""))
    if stray:
        message = f"a template's text may only use the placeholder {{group}}, not '{stray.group()}'"
        raise doc.error(key_path + ("text",), message)


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
