"""Probe sets: YAML files under ``probes/`` (data, not code).

A probe set has literal ``prompts`` and group ``templates`` (``{group}`` is
filled with each listed group).  A template lists its ``groups`` inline, or
names ``axes``: each axis is a group file ``groups/<axis>.yaml`` next to the
probe file, and the template expands over every group of every axis with the
axis as the probe's category (the group-bias contract: category = axis,
group = group name).  Errors name the file and line.  Files are found by
walking the folder; ``probes/lexicons/`` holds lexicons and
``probes/groups/`` group lists, not probes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator, Field

from harness.data.yamlfile import LocatedYaml, NonEmptyStr, StrictSchema, load_yaml, validate_yaml
from harness.errors import ConfigError, HarnessError, InputError

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
    from_corpus: "CorpusProbesSchema | None" = None  # probes built at run time (data/memorization.py)
    # where the prompts come from and what they contain: a YAML file's leading "# Content note:"
    # comment, or ``content_note`` of a CSV/JSONL/dataset source (harness.data.probe_formats)
    content_note: str | None = None


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
    """A prompt with ``{group}``, expanded once per listed group, or per group of each named axis."""

    id: ProbeId
    category: Category | None = None  # required with ``groups``; with ``axes`` the axis is the category
    text: NonEmptyStr
    groups: list[NonEmptyStr] | None = Field(default=None, min_length=1)
    axes: list[ProbeId] | None = Field(default=None, min_length=1)


class GroupFileSchema(StrictSchema):
    """A group list (``probes/groups/<axis>.yaml``): the groups of one axis, e.g. nationality."""

    axis: ProbeId
    description: str | None = None
    groups: list[NonEmptyStr] = Field(min_length=2)


class CorpusProbesSchema(StrictSchema):
    """Prompts built at run time from the fine-tuning corpus (the memorization probes).

    ``per_split`` documents of at least ``min_chars`` characters are picked from
    each side of the held-out split (``harness.data.split.is_heldout``); the
    prompt is each one's first ``prefix_chars`` characters.
    """

    per_split: int = Field(default=50, ge=1)
    prefix_chars: int = Field(default=32, ge=2)
    min_chars: int = Field(default=64, ge=4)


class ProbeFileSchema(StrictSchema):
    """A probe YAML file as written."""

    name: NonEmptyStr
    description: str | None = None
    prompts: list[PromptSchema] | None = None
    templates: list[TemplateSchema] | None = None
    from_corpus: CorpusProbesSchema | None = None


def load_probe_set(path: str | Path) -> ProbeSet:
    """Load and validate one probe file; templates are expanded per group.

    Raises ``ConfigError`` naming the file and line for the first problem.
    """
    doc = load_yaml(path)
    schema = validate_yaml(doc, ProbeFileSchema, allowed_keys=True)
    prompts = schema.prompts or []
    templates = schema.templates or []
    if schema.from_corpus is not None:
        if prompts or templates:
            raise doc.error(("from_corpus",), "a from_corpus set takes no prompts or templates")
        if schema.from_corpus.prefix_chars >= schema.from_corpus.min_chars:
            raise doc.error(("from_corpus", "prefix_chars"), "prefix_chars must be below min_chars")
        note = read_content_note(path)
        return ProbeSet(schema.name, schema.description or "", Path(path), (), schema.from_corpus, note)
    if not prompts and not templates:
        raise doc.error((), "no prompts, templates or from_corpus")
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
        if (template.groups is None) == (template.axes is None):
            raise doc.error(key_path, "a template needs exactly one of groups or axes")
        if template.groups is not None:
            if template.category is None:
                raise doc.error(key_path, "a template with groups needs a category")
            expansions = [(template.category, f"{template.id}-{j + 1:02d}", g) for j, g in enumerate(template.groups)]
        else:
            if template.category is not None:
                raise doc.error(key_path + ("category",), "a template with axes takes its category from each axis")
            expansions = []
            for a, axis in enumerate(template.axes):
                groups = _axis_groups(doc, key_path + ("axes", a), Path(path).parent / "groups", axis)
                expansions += [(axis, f"{template.id}-{axis}-{j + 1:02d}", g) for j, g in enumerate(groups)]
        for category, probe_id, group in expansions:
            text = template.text.replace("{group}", group)
            add(Probe(schema.name, probe_id, category, text, group), key_path)
    return ProbeSet(
        name=schema.name,
        description=schema.description or "",
        path=Path(path),
        probes=tuple(probes),
        content_note=read_content_note(path),
    )


CONTENT_NOTE = "# Content note:"


def read_content_note(path: str | Path) -> str | None:
    """The leading ``# Content note:`` comment of a probe file (its continuation lines joined), or None."""
    lines: list[str] = []
    with Path(path).open(encoding="utf-8-sig") as fh:
        for line in fh:
            if not line.startswith("#") or (not lines and not line.startswith(CONTENT_NOTE)):
                break
            lines.append(line.removeprefix(CONTENT_NOTE if not lines else "#").strip())
    return "\n".join(lines).strip() or None


def _check_template(doc: LocatedYaml, key_path: tuple, text: str) -> None:
    if "{group}" not in text:
        raise doc.error(key_path + ("text",), "a template's text must contain {group}")
    stray = _STRAY_BRACES.search(text.replace("{group}", ""))
    if stray:
        message = f"a template's text may only use the placeholder {{group}}, not '{stray.group()}'"
        raise doc.error(key_path + ("text",), message)


def load_group_file(path: str | Path) -> list[str]:
    """The groups of one group file; its ``axis`` must equal the file name (errors name file and line)."""
    doc = load_yaml(path)
    schema = validate_yaml(doc, GroupFileSchema, allowed_keys=True)
    if schema.axis != Path(path).stem:
        raise doc.error(("axis",), f"axis '{schema.axis}' must match the file name '{Path(path).stem}'")
    seen: set[str] = set()
    for i, group in enumerate(schema.groups):
        if group in seen:
            raise doc.error(("groups", i), f"duplicate group '{group}'")
        seen.add(group)
    return schema.groups


def _axis_groups(doc: LocatedYaml, key_path: tuple, folder: Path, axis: str) -> list[str]:
    path = folder / f"{axis}.yaml"
    if not path.is_file():
        raise doc.error(key_path, f"no group file for axis '{axis}' (expected {path})")
    return load_group_file(path)


NOT_PROBES = ("lexicons", "groups")  # folders under probes/ that hold other data


def discover_probe_files(root: str | Path) -> list[Path]:
    """Every ``*.yaml``/``*.yml`` under ``root`` except the lexicon and group folders, sorted."""
    root = Path(root)
    files = [p for p in root.rglob("*.y*ml") if not set(NOT_PROBES) & set(p.relative_to(root).parts)]
    return sorted(files)


def discover_group_files(root: str | Path) -> list[Path]:
    """Every group file (``groups/*.yaml``) under ``root``, sorted."""
    return sorted(p for p in Path(root).rglob("*.y*ml") if p.parent.name == "groups")


def validate_probe_files(paths: list, group_files: list[Path] = ()) -> list[str]:
    """Load each probe source (and group file); return one error line per bad one (empty when all are valid).

    A source is a YAML file, or any ``probes.files`` entry (harness.data.probe_formats).
    """
    errors: list[str] = []
    for path in paths:
        try:
            load_probe_source(path)
        except HarnessError as err:
            errors.append(str(err))
    for path in group_files:
        try:
            load_group_file(path)
        except HarnessError as err:
            if str(err) not in errors:
                errors.append(str(err))
    return errors


def load_probe_source(entry) -> ProbeSet:
    """One probe set from any ``probes.files`` entry: a YAML path, or a CSV/JSONL/dataset source
    (a path or a ``harness.data.probe_formats.ProbeSource``)."""
    from harness.data.probe_formats import as_source, read_probe_rows, source_format, source_name

    source = as_source(entry)
    if source_format(source) == "yaml":
        return load_probe_set(source.path)
    name = source_name(source)
    probes = tuple(Probe(name, p.id, p.category, p.text, p.group) for p in read_probe_rows(source))
    return ProbeSet(name, source.description or "", source.path, probes, content_note=source.content_note)


def convert_probes(entry, out: str | Path, force: bool = False) -> ProbeSet:
    """Write the harness YAML of any probe source to ``out``; reading ``out`` back gives the same probes."""
    from harness.data.probe_formats import write_probe_yaml

    out = Path(out)
    if out.exists() and not force:
        raise InputError("exists; use --force to replace it", out)
    probe_set = load_probe_source(entry)
    if not probe_set.probes:
        raise ConfigError(f"{probe_set.path}: no prompts to convert (a from_corpus set is built at run time)")
    write_probe_yaml(out, probe_set.name, probe_set.description, probe_set.content_note, list(probe_set.probes))
    return probe_set


def load_probe_sets(paths: list) -> list[ProbeSet]:
    """Load several probe sources (YAML paths or ``probes.files`` entries of any format); set names must be unique."""
    sets = [load_probe_source(p) for p in paths]
    names = [s.name for s in sets]
    for name in set(names):
        if names.count(name) > 1:
            raise ConfigError(f"probe set name '{name}' is used by more than one file")
    return sets
