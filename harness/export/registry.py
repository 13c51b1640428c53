"""The one registry of export formats: name → target, record builder, writer, optional package.

``FORMATS`` is the only place a format is defined; ``export_run`` and the
CLI's ``--format`` choices read it.  Targets are entries of the run's
``negatives/`` folder.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from harness.errors import HarnessError, MissingDependency
from harness.export.joined import Joined
from harness.export.negatives import NEGATIVE_FIELDS, negative_records
from harness.export.preference import DPO_FIELDS, KTO_FIELDS, dpo_records, kto_records
from harness.export.writers import write_hf, write_jsonl, write_parquet
from harness.record.rundir import RunDir
from harness.record.schema import RunRecord

Builder = Callable[[RunRecord, list[Joined]], list[dict[str, Any]]]
Writer = Callable[[RunDir, str, list[dict[str, Any]], Sequence[str]], Path]


@dataclass(frozen=True)
class ExportFormat:
    """How one format is built and written."""

    target: str  # file or folder name inside negatives/
    fields: tuple[str, ...]  # every record's keys, in order (stable: documented in the card)
    build: Builder
    write: Writer
    requires: str | None = None  # optional package the writer imports

    def check_dependency(self, name: str) -> None:
        """Raise ``MissingDependency`` (naming the pip command) when the optional package is absent."""
        if self.requires is None:
            return
        try:
            importlib.import_module(self.requires)
        except ImportError:
            raise MissingDependency(self.requires, f"{name} export") from None


FORMATS: dict[str, ExportFormat] = {
    "jsonl": ExportFormat("negatives.jsonl", NEGATIVE_FIELDS, negative_records, write_jsonl),
    "parquet": ExportFormat("negatives.parquet", NEGATIVE_FIELDS, negative_records, write_parquet, requires="pyarrow"),
    "hf": ExportFormat("hf", NEGATIVE_FIELDS, negative_records, write_hf, requires="datasets"),
    "dpo": ExportFormat("dpo.jsonl", DPO_FIELDS, dpo_records, write_jsonl),
    "kto": ExportFormat("kto.jsonl", KTO_FIELDS, kto_records, write_jsonl),
}


def format_named(name: str) -> ExportFormat:
    """The registered format ``name``; an unknown name raises ``HarnessError`` listing the valid ones."""
    try:
        return FORMATS[name]
    except KeyError:
        raise HarnessError(f"unknown export format {name!r}; choose one of: {', '.join(FORMATS)}") from None
