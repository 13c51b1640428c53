"""What every record builder gets (``ExportContext``) and returns (``Built``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from harness.config import ExportConfig
from harness.export.provenance import Provenance
from harness.record.schema import RunRecord


@dataclass
class ExportContext:
    """The run record, its provenance builder and the export options (filters, dedup, masking)."""

    record: RunRecord
    provenance: Provenance
    options: ExportConfig


@dataclass
class Built:
    """A format's records, the duplicates removed, and warnings worth recording (e.g. label imbalance)."""

    records: list[dict[str, Any]]
    exact_duplicates: int = 0
    near_duplicates: int = 0
    notes: list[str] = field(default_factory=list)
