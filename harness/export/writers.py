"""Writers: records → a file or folder of the run directory, always through ``RunDir``.

Each writer takes ``(run, name, records, features)`` (``name`` relative to the
run directory, e.g. ``negatives/dpo.jsonl``; ``features`` the format's
declared features from ``harness.export.schema``) and returns the path
written; every write is atomic (a file rename or ``RunDir.write_folder``'s
folder swap).  All three write the same schema: lists stay lists, structs
stay structs.  The optional packages are imported inside the writers, so the
harness runs without them until a format that needs them is asked for.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from harness.export.schema import Features, arrow_schema, conform
from harness.record.rundir import RunDir


def arrow_table(records: list[dict[str, Any]], features: Features) -> Any:
    """A pyarrow table of the records under the format's schema (an empty table keeps its columns)."""
    import pyarrow as pa

    return pa.Table.from_pylist(conform(records, features), schema=arrow_schema(features))


def write_jsonl(run: RunDir, name: str, records: list[dict[str, Any]], features: Features) -> Path:
    """JSON Lines, one record a line in schema field order, non-ASCII kept readable."""
    lines = (json.dumps(r, ensure_ascii=False) + "\n" for r in conform(records, features))
    return run.write_text(name, "".join(lines))


def write_parquet(run: RunDir, name: str, records: list[dict[str, Any]], features: Features) -> Path:
    """One Parquet file (needs pyarrow)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    sink = pa.BufferOutputStream()
    pq.write_table(arrow_table(records, features), sink)
    return run.write_bytes(name, sink.getvalue().to_pybytes())


def write_hf(run: RunDir, name: str, records: list[dict[str, Any]], features: Features) -> Path:
    """A ``datasets.Dataset.save_to_disk`` folder (needs datasets); load it with ``datasets.load_from_disk``."""
    import datasets

    def fill(folder: Path) -> None:
        # datasets writes no shard at all for zero rows unless asked for one, and
        # such a folder cannot be loaded back
        shards = None if records else 1
        datasets.Dataset(arrow_table(records, features)).save_to_disk(str(folder), num_shards=shards)

    return run.write_folder(name, fill)
