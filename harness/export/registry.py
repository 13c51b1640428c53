"""The one registry of export formats: name → target, record builder, writer, optional package.

``FORMATS`` is the only place a format is defined; ``export_run`` and the
CLI's ``--format`` choices read it.  Targets are entries of the run's
``negatives/`` folder.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from harness.errors import HarnessError, MissingDependency
from harness.export.context import Built, ExportContext
from harness.export.joined import Joined
from harness.export.negatives import negative_records
from harness.export.preference import dpo_records, kto_records
from harness.export.schema import DPO_FEATURES, KTO_FEATURES, NEGATIVE_FEATURES, Features, names
from harness.export.writers import write_hf, write_jsonl, write_parquet
from harness.record.rundir import RunDir

Builder = Callable[[ExportContext, list[Joined]], Built]
Writer = Callable[[RunDir, str, list[dict[str, Any]], Features], Path]


@dataclass(frozen=True)
class ExportFormat:
    """How one format is built and written."""

    target: str  # file or folder name inside negatives/
    features: Features  # every record's fields, types and meanings (harness.export.schema)
    build: Builder
    write: Writer
    requires: str | None = None  # optional package the writer imports
    config: str | None = None  # the card's config name for load_dataset(folder); None: loaded on its own

    @property
    def fields(self) -> tuple[str, ...]:
        """Every record's keys, in order."""
        return names(self.features)

    def check_dependency(self, name: str) -> None:
        """Raise ``MissingDependency`` (naming the pip command) when the optional package is absent."""
        if self.requires is None:
            return
        try:
            importlib.import_module(self.requires)
        except ImportError:
            raise MissingDependency(self.requires, f"{name} export") from None


FORMATS: dict[str, ExportFormat] = {
    "jsonl": ExportFormat("negatives.jsonl", NEGATIVE_FEATURES, negative_records, write_jsonl, config="negatives"),
    # not a config of the card: datasets picks one builder for a whole folder (json here), so
    # the parquet file loads on its own: load_dataset("parquet", data_files=...)
    "parquet": ExportFormat(
        "negatives.parquet", NEGATIVE_FEATURES, negative_records, write_parquet, requires="pyarrow"
    ),
    "hf": ExportFormat("hf", NEGATIVE_FEATURES, negative_records, write_hf, requires="datasets"),
    "dpo": ExportFormat("dpo.jsonl", DPO_FEATURES, dpo_records, write_jsonl, config="dpo"),
    "kto": ExportFormat("kto.jsonl", KTO_FEATURES, kto_records, write_jsonl, config="kto"),
}


def format_named(name: str) -> ExportFormat:
    """The registered format ``name``; an unknown name raises ``HarnessError`` listing the valid ones."""
    try:
        return FORMATS[name]
    except KeyError:
        raise HarnessError(f"unknown export format {name!r}; choose one of: {', '.join(FORMATS)}") from None


def check_export_ready(formats: list[str], near_duplicates: float | None) -> None:
    """Fail before any work when an export format is unknown or a package it needs is missing.

    The export stage runs after training and probing; without this check a
    missing optional package would surface only then.
    """
    for name in formats:
        format_named(name).check_dependency(name)
    if near_duplicates is not None:
        from harness.export.dedup import check_near_duplicates_available

        check_near_duplicates_available()
