"""Provenance for the run record: clock, package versions, git commit, input hashes."""

from __future__ import annotations

import platform
import subprocess
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Iterable

from harness.io import sha256_file
from harness.resources import checkout_root

PACKAGES = ("harness", "torch", "transformers", "tokenizers", "sentencepiece", "fugashi", "unidic-lite")


def now() -> str:
    """UTC time to the second, ISO 8601 (what run.json's timestamps use)."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def package_versions() -> dict[str, str | None]:
    """Python, platform and the versions of the packages results depend on (None: absent)."""
    out: dict[str, str | None] = {"python": platform.python_version(), "platform": platform.platform()}
    for dist in PACKAGES:
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = None
    return out


def git_sha() -> str | None:
    """The checkout's commit, or None for an installed package (never the commit of a folder around it)."""
    root = checkout_root()
    if root is None:
        return None
    try:
        proc = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=5, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return (proc.stdout.strip() or None) if proc.returncode == 0 else None


def file_hashes(paths: Iterable[str | Path]) -> dict[str, str]:
    """``{path: sha256}`` of every existing file among ``paths``."""
    return {str(p): sha256_file(p) for p in paths if Path(p).is_file()}
