"""Writers: records → a file or folder of the run directory, always through ``RunDir``.

Each writer takes ``(run, name, records, fields)`` (``name`` relative to the
run directory, e.g. ``negatives/dpo.jsonl``; ``fields`` the format's column
names, which give an empty columnar export its columns) and returns the path
written; every write is atomic (a file rename or ``RunDir.write_folder``'s
folder swap).
The optional packages are imported inside the writers, so the harness runs
without them until a format that needs them is asked for.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

from harness.record.rundir import RunDir


def flatten(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Nested values (lists, dicts) as JSON strings, because columnar formats want scalar columns."""
    return [
        {
            key: json.dumps(value, ensure_ascii=False) if isinstance(value, (dict, list)) else value
            for key, value in record.items()
        }
        for record in records
    ]


def arrow_table(records: list[dict[str, Any]], fields: Sequence[str]) -> Any:
    """A pyarrow table of the flattened records; with no records, empty string columns named ``fields``."""
    import pyarrow as pa

    if not records:
        return pa.table({field: pa.array([], pa.string()) for field in fields})
    return pa.Table.from_pylist(flatten(records))


def write_jsonl(run: RunDir, name: str, records: list[dict[str, Any]], fields: Sequence[str]) -> Path:
    """JSON Lines, one record a line, non-ASCII kept readable (no schema: ``fields`` is unused)."""
    return run.write_text(name, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))


def write_parquet(run: RunDir, name: str, records: list[dict[str, Any]], fields: Sequence[str]) -> Path:
    """One Parquet file (needs pyarrow); nested values are JSON strings."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    sink = pa.BufferOutputStream()
    pq.write_table(arrow_table(records, fields), sink)
    return run.write_bytes(name, sink.getvalue().to_pybytes())


def write_hf(run: RunDir, name: str, records: list[dict[str, Any]], fields: Sequence[str]) -> Path:
    """A ``datasets.Dataset.save_to_disk`` folder (needs datasets); nested values are JSON strings."""
    import datasets

    def fill(folder: Path) -> None:
        # datasets writes no shard at all for zero rows unless asked for one, and
        # such a folder cannot be loaded back
        shards = None if records else 1
        datasets.Dataset(arrow_table(records, fields)).save_to_disk(str(folder), num_shards=shards)

    return run.write_folder(name, fill)
