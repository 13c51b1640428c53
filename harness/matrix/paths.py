"""The layout of a matrix parent folder: the one place its names are defined.

``PARENT/matrix.json`` (a ``MatrixRecord``), ``PARENT/.harness.lock``,
``PARENT/base_model/`` (a base built once when no axis touches ``base.*``),
``PARENT/cache/generations/`` (the generation cache every child uses),
``PARENT/children/<name>/`` (each an ordinary run directory) and the parent's
outputs ``matrix.csv`` and ``matrix.html``.
"""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import ValidationError

from harness.errors import InputError
from harness.record.schema import MATRIX_VERSION, MatrixRecord

MATRIX_JSON = "matrix.json"
CHILDREN = "children"
SHARED_BASE = "base_model"
MATRIX_CSV = "matrix.csv"
MATRIX_HTML = "matrix.html"


def children_dir(parent: str | Path) -> Path:
    """The folder holding the child run directories."""
    return Path(parent) / CHILDREN


def child_dir(parent: str | Path, name: str) -> Path:
    """The run directory of child ``name``."""
    return children_dir(parent) / name


def generation_cache(parent: str | Path) -> Path:
    """The generation cache every child of the matrix reads and writes (content-keyed)."""
    return Path(parent) / "cache" / "generations"


def shared_base_dir(parent: str | Path) -> Path:
    """The base model built once for every child (when no axis touches ``base.*``)."""
    return Path(parent) / SHARED_BASE


def is_matrix(path: str | Path) -> bool:
    """True when ``path`` is a folder with a matrix.json."""
    return (Path(path) / MATRIX_JSON).is_file()


def parent_of(run_dir: str | Path) -> Path | None:
    """The matrix parent whose child ``run_dir`` is (``PARENT/children/<name>``), or None for a lone run."""
    folder = Path(run_dir).resolve()
    parent = folder.parent.parent
    return parent if folder.parent.name == CHILDREN and is_matrix(parent) else None


def read_matrix(parent: str | Path) -> MatrixRecord:
    """Read and validate ``PARENT/matrix.json``; a bad file is one line naming it."""
    path = Path(parent) / MATRIX_JSON
    if not path.is_file():
        raise InputError(f"not a matrix parent (no {MATRIX_JSON})", Path(parent))
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise InputError(f"unreadable matrix record ({err})", path) from None
    if not isinstance(data, dict) or data.get("version") != MATRIX_VERSION:
        version = data.get("version") if isinstance(data, dict) else None
        message = f"matrix record version {version!r} is not {MATRIX_VERSION}; rerun the matrix with --force"
        raise InputError(message, path)
    try:
        return MatrixRecord.model_validate(data)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise InputError(f"{where}: {first['msg']}", path) from None
