"""Writers: records → a file or folder of the run directory, always through ``RunDir``.

Each writer takes ``(run, name, records, typed)`` (``name`` relative to the
run directory, e.g. ``negatives/dpo.jsonl``; ``typed`` the format's
``(field, type)`` list from ``harness.export.schema``) and returns the path
written; every write is atomic (a file rename or ``RunDir.write_folder``'s
folder swap).  All three write the same schema: lists stay lists, structs
stay structs.  The optional packages are imported inside the writers, so the
harness runs without them until a format that needs them is asked for.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from harness.export.schema import arrow_schema
from harness.record.rundir import RunDir

Typed = list[tuple[str, Any]]


def ordered(records: list[dict[str, Any]], typed: Typed) -> list[dict[str, Any]]:
    """Each record with exactly the format's fields, in schema order."""
    return [{name: record.get(name) for name, _ in typed} for record in records]


def arrow_table(records: list[dict[str, Any]], typed: Typed) -> Any:
    """A pyarrow table of the records under the format's schema (an empty table keeps its columns)."""
    import pyarrow as pa

    return pa.Table.from_pylist(ordered(records, typed), schema=arrow_schema(typed))


def write_jsonl(run: RunDir, name: str, records: list[dict[str, Any]], typed: Typed) -> Path:
    """JSON Lines, one record a line in schema field order, non-ASCII kept readable."""
    lines = (json.dumps(r, ensure_ascii=False) + "\n" for r in ordered(records, typed))
    return run.write_text(name, "".join(lines))


def write_parquet(run: RunDir, name: str, records: list[dict[str, Any]], typed: Typed) -> Path:
    """One Parquet file (needs pyarrow)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    sink = pa.BufferOutputStream()
    pq.write_table(arrow_table(records, typed), sink)
    return run.write_bytes(name, sink.getvalue().to_pybytes())


def write_hf(run: RunDir, name: str, records: list[dict[str, Any]], typed: Typed) -> Path:
    """A ``datasets.Dataset.save_to_disk`` folder (needs datasets); load it with ``datasets.load_from_disk``."""
    import datasets

    def fill(folder: Path) -> None:
        # datasets writes no shard at all for zero rows unless asked for one, and
        # such a folder cannot be loaded back
        shards = None if records else 1
        datasets.Dataset(arrow_table(records, typed)).save_to_disk(str(folder), num_shards=shards)

    return run.write_folder(name, fill)
