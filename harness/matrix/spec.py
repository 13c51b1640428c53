"""Dotted config keys, ``--set`` overrides and the expansion of ``matrix:`` into child runs.

A dotted key names one setting of ``RunConfig`` (``finetune.lr``,
``corpus.max_docs``, ``finetune.lora``).  The same keys serve as ``--set
KEY=VALUE`` (the value is read as YAML) and as matrix axes::

    matrix:
      finetune.lr: [3.0e-4, 1.0e-3]
      finetune.epochs: [1, 2]
    matrix_exclude:
      - {finetune.lr: 1.0e-3, finetune.epochs: 2}

The children are the product of the axes in axis order (the first axis
varies slowest), minus every combination that matches an entry of
``matrix_exclude`` on all the keys that entry names.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import itertools
import json
import re
import types
import typing
from pathlib import Path
from typing import Any, NamedTuple

import yaml
from pydantic import BaseModel

from harness.config import MATRIX_KEYS, RunConfig, config_from_yaml
from harness.data.yamlfile import LocatedYaml, load_yaml
from harness.errors import ConfigError
from harness.matrix.paths import child_dir, generation_cache, shared_base_dir

AXES, EXCLUDE = MATRIX_KEYS
# set by the matrix for every child (from the parent's): an axis on them would be overwritten
RESERVED = ("name", "out_dir")


class ChildSpec(NamedTuple):
    """One child of a matrix: its folder name and the dotted overrides that make it."""

    name: str
    overrides: dict[str, Any]


@dataclasses.dataclass
class MatrixSpec:
    """A config file read as a (possibly one-child) matrix: its base run, axes and exclusions."""

    doc: LocatedYaml  # the base run's data (matrix keys removed, --set applied) with its lines
    axes: dict[str, list[Any]]
    exclude: list[dict[str, Any]]
    sets: dict[str, Any]
    sha256: str  # of the file's bytes and the --set overrides: a changed matrix is not resumed

    @property
    def is_matrix(self) -> bool:
        """True when the file declares axes."""
        return bool(self.axes)

    def line(self, *key_path: Any) -> int | None:
        """The line of a key of the file (its deepest known prefix)."""
        return self.doc.line_of(key_path)


def check_key(key: str) -> str | None:
    """Why ``key`` is not a dotted RunConfig setting (None when it is)."""
    if not key or any(not part for part in key.split(".")):
        return f"'{key}' is not a dotted config key (like finetune.lr)"
    model: Any = RunConfig
    parts = key.split(".")
    for depth, part in enumerate(parts):
        fields = model.model_fields
        if part not in fields:
            where = ".".join(parts[:depth]) or "the top level"
            return f"unknown key '{key}' (keys of {where}: {', '.join(sorted(fields))})"
        annotation = _model_in(fields[part].annotation)
        if depth < len(parts) - 1 and annotation is None:
            return f"unknown key '{key}': '{'.'.join(parts[: depth + 1])}' holds a value, not settings"
        model = annotation
    return None


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model of a field annotated ``M`` or ``M | None`` (else None)."""
    args = typing.get_args(annotation) if typing.get_origin(annotation) in (typing.Union, types.UnionType) else ()
    for candidate in (annotation, *args):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def set_dotted(data: dict[str, Any], key: str, value: Any) -> None:
    """Set ``data[a][b]... = value`` for key ``a.b...`` in place, making missing levels mappings."""
    *parents, last = key.split(".")
    node = data
    for part in parents:
        if not isinstance(node.get(part), dict):
            node[part] = {}
        node = node[part]
    node[last] = copy.deepcopy(value)


def parse_sets(items: list[str] | None) -> dict[str, Any]:
    """``--set KEY=VALUE`` arguments → {dotted key: YAML value}; a bad one is one ConfigError line."""
    sets: dict[str, Any] = {}
    for item in items or []:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep:
            raise ConfigError(f"--set {item}: expected KEY=VALUE (like --set finetune.lr=3e-4)")
        problem = check_key(key)
        if problem:
            raise ConfigError(f"--set {item}: {problem}")
        try:
            sets[key] = plain_number(yaml.safe_load(text))
        except yaml.YAMLError as err:
            raise ConfigError(f"--set {item}: the value is not YAML ({getattr(err, 'problem', err)})") from None
    return sets


# YAML 1.1 (PyYAML) reads 3e-4 as a string: only 3.0e-4 is a float; both mean the number here
EXPONENT = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+")


def plain_number(value: Any) -> Any:
    """``value``, with a string in exponent notation (``3e-4``) read as the float it means."""
    return float(value) if isinstance(value, str) and EXPONENT.fullmatch(value) else value


def read_spec(path: str | Path, sets: dict[str, Any] | None = None) -> MatrixSpec:
    """Read a config file: its base run (``--set`` applied), ``matrix:`` axes and ``matrix_exclude:``.

    Every problem is one ConfigError line naming the file, the line and the key.
    """
    located = load_yaml(path, ConfigError)
    data = located.data
    if data is None:
        raise ConfigError(f"{path}: the config file is empty")
    if not isinstance(data, dict):
        raise ConfigError(f"{path}:1: a run config must be a mapping of keys")
    sets = dict(sets or {})
    axes = read_axes(located, data.get(AXES))
    exclude = read_exclude(located, data.get(EXCLUDE), axes)
    for key in sets:
        if any(_overlaps(key, axis) for axis in axes):
            raise located.error((AXES,), f"--set {key} overlaps the matrix axis on it: change the axis instead")
    base = {k: v for k, v in data.items() if k not in MATRIX_KEYS}
    lines = dict(located.lines)
    for key, value in sets.items():
        set_dotted(base, key, value)
    digest = hashlib.sha256(located.path.read_bytes())
    digest.update(json.dumps(sets, sort_keys=True, default=str).encode())
    doc = dataclasses.replace(located, data=base, lines=lines)
    return MatrixSpec(doc, axes, exclude, sets, digest.hexdigest())


def _overlaps(a: str, b: str) -> bool:
    return a == b or a.startswith(b + ".") or b.startswith(a + ".")


def read_axes(doc: LocatedYaml, raw: Any) -> dict[str, list[Any]]:
    """``matrix:`` as {dotted key: values}; keys are checked against RunConfig."""
    if raw is None:
        return {}
    if not isinstance(raw, dict) or not raw:
        raise doc.error((AXES,), "matrix: expected a mapping of dotted config keys to lists of values")
    axes: dict[str, list[Any]] = {}
    for key, values in raw.items():
        key = str(key)
        problem = check_key(key) or (f"'{key}' is set by the matrix itself" if key in RESERVED else None)
        if problem:
            raise doc.error((AXES, key), f"matrix: {problem}")
        if not isinstance(values, list) or not values:
            raise doc.error((AXES, key), f"matrix.{key}: expected a non-empty list of values")
        values = [plain_number(v) for v in values]
        for i, value in enumerate(values):
            if value in values[:i]:
                raise doc.error((AXES, key, i), f"matrix.{key}: value {value!r} is given twice")
        for other in axes:
            if _overlaps(key, other):
                raise doc.error((AXES, key), f"matrix: axes '{other}' and '{key}' set the same setting")
        axes[key] = [plain_number(v) for v in values]
    return axes


def read_exclude(doc: LocatedYaml, raw: Any, axes: dict[str, list[Any]]) -> list[dict[str, Any]]:
    """``matrix_exclude:`` as a list of partial combinations; each must name axes and their values."""
    if raw is None:
        return []
    if not axes:
        raise doc.error((EXCLUDE,), "matrix_exclude without matrix: there is nothing to exclude")
    if not isinstance(raw, list):
        raise doc.error((EXCLUDE,), "matrix_exclude: expected a list of mappings (axis key: value)")
    out = []
    for i, entry in enumerate(raw):
        if not isinstance(entry, dict) or not entry:
            raise doc.error((EXCLUDE, i), f"matrix_exclude[{i}]: expected a mapping of axis keys to values")
        entry = {str(k): plain_number(v) for k, v in entry.items()}
        for key, value in entry.items():
            if key not in axes:
                raise doc.error((EXCLUDE, i, key), f"matrix_exclude[{i}]: '{key}' is not a matrix axis")
            if value not in axes[key]:
                # a value no child has would exclude nothing, silently
                raise doc.error((EXCLUDE, i, key), f"matrix_exclude[{i}]: {key} has no value {value!r}")
        out.append(entry)
    return out


def value_label(value: Any) -> str:
    """An axis value as a name part: null → none, {rank: 8} → rank-8, lists joined by '-'."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "-".join(f"{k}-{value_label(v)}" for k, v in value.items()) or "empty"
    if isinstance(value, (list, tuple)):
        return "-".join(value_label(v) for v in value) or "empty"
    return str(value)


def child_name(index: int, width: int, overrides: dict[str, Any]) -> str:
    """``c01-lr-0.0003_epochs-2``: index, then ``<last key part>-<value>`` per axis, only [A-Za-z0-9._-]."""
    parts = [f"{key.rsplit('.', 1)[-1]}-{value_label(value)}" for key, value in overrides.items()]
    name = f"c{index:0{width}d}" + ("-" + "_".join(parts) if parts else "")
    return re.sub(r"[^A-Za-z0-9._-]", "-", name)


def expand(spec: MatrixSpec) -> list[ChildSpec]:
    """The children: the product of the axes in axis order, minus the excluded combinations."""
    keys = list(spec.axes)
    combos = [dict(zip(keys, values)) for values in itertools.product(*spec.axes.values())]
    kept = [c for c in combos if not any(all(c[k] == v for k, v in e.items()) for e in spec.exclude)]
    if not kept:
        raise spec.doc.error((EXCLUDE,), "matrix_exclude removes every combination: no child run is left")
    width = max(2, len(str(len(kept))))
    return [ChildSpec(child_name(i, width, c), c) for i, c in enumerate(kept, start=1)]


def base_config(spec: MatrixSpec) -> RunConfig:
    """The matrix's base run (the file without its axes, ``--set`` applied), validated."""
    return config_from_yaml(spec.doc)


def child_config(spec: MatrixSpec, child: ChildSpec, run_name: str, extra: dict[str, Any]) -> RunConfig:
    """The RunConfig of one child: the base run, its axis values, then ``extra`` (dotted keys the runner sets).

    A value an axis gives is checked at the axis's line; the error names the child.
    """
    data = copy.deepcopy(spec.doc.data)
    lines = dict(spec.doc.lines)
    for key, value in child.overrides.items():
        set_dotted(data, key, value)
        line = spec.line(AXES, key)
        # errors inside the value point at the axis that gave it
        lines = {k: v for k, v in lines.items() if tuple(k[: len(key.split("."))]) != tuple(key.split("."))}
        if line is not None:
            lines[tuple(key.split("."))] = line
    for key, value in extra.items():
        set_dotted(data, key, value)
    data["name"] = run_name
    try:
        return config_from_yaml(dataclasses.replace(spec.doc, data=data, lines=lines))
    except ConfigError as err:
        raise ConfigError(f"{err} (matrix child {child.name})") from None


@dataclasses.dataclass
class Expansion:
    """The children of a matrix with their validated configs."""

    spec: MatrixSpec
    parent: Path
    name: str
    shared_base: bool
    configs: dict[str, RunConfig]
    overrides: dict[str, dict[str, Any]]


def uses_shared_base(spec: MatrixSpec, base: RunConfig) -> bool:
    """A base built by ``base.init`` that no axis changes (``base.*``, ``seed``) is built once for all."""
    if base.base is None or base.base.init is None:
        return False
    return not any(key == "seed" or key == "base" or key.startswith("base.") for key in spec.axes)


def expand_matrix(spec: MatrixSpec, out: Path | None = None) -> Expansion:
    """Validate the base run and every child config; no work is done and nothing is written."""
    from harness.pipeline import check_inputs, default_out_dir
    from harness.stages import STAGE_NAMES

    base = base_config(spec)
    parent = Path(out or default_out_dir(base)).resolve()
    shared = uses_shared_base(spec, base)
    configs, overrides = {}, {}
    for child in expand(spec):
        extra: dict[str, Any] = {"out_dir": str(child_dir(parent, child.name))}
        if base.probes.cache_dir is None:  # children with the same base model sample it once
            extra["probes.cache_dir"] = str(generation_cache(parent))
        if shared:
            extra["base"] = {"model": str(shared_base_dir(parent))}
        config = child_config(spec, child, f"{base.name}.{child.name}", extra)
        check_inputs(config, STAGE_NAMES)
        configs[child.name], overrides[child.name] = config, child.overrides
    return Expansion(spec, parent, base.name, shared, configs, overrides)
