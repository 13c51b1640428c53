"""ONE schema per export format, shared by JSONL, Parquet, the ``hf`` folder and the dataset card.

Lists stay lists and structs stay structs in every format: the Arrow schema
built here types the Parquet file and the ``datasets`` folder, and the same
schema, written as ``dataset_info.features`` in the card, types
``load_dataset(folder)`` over the JSONL files.  ``decoding`` is a struct whose
fields come from the records (or, with none, from ``DecodingConfig``).
"""

from __future__ import annotations

from typing import Any, Sequence

from harness.config import DecodingConfig

STRING, INT, FLOAT, BOOL, STRINGS = "string", "int64", "float64", "bool", "list<string>"
DECODING = "decoding"

# every field any format writes, with its type; a format may override (KTO's boolean label)
FIELD_TYPES: dict[str, str] = {
    **dict.fromkeys(
        (
            "id", "probe_set", "probe_id", "category", "group", "prompt", "completion", "label", "arm",
            "arm_path", "model_sha256", "run", "run_id", "git_sha", "chosen", "rejected",
            "chosen_id", "reference", "reference_path",
        ),
        STRING,
    ),
    **dict.fromkeys(("sample_index", "seed"), INT),
    "score": FLOAT,
    **dict.fromkeys(("flagged_terms", "flagged_categories", "lexicon_sha256", "detectors"), STRINGS),
}  # fmt: skip


def _scalar_type(values: list[Any]) -> str:
    present = [v for v in values if v is not None]
    if present and all(isinstance(v, bool) for v in present):
        return BOOL
    if present and all(isinstance(v, int) and not isinstance(v, bool) for v in present):
        return INT
    if present and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in present):
        return FLOAT
    return STRING


def decoding_fields(records: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """The ``decoding`` struct's (name, type) pairs: keys in first-seen order over the records."""
    samples = [r[DECODING] for r in records if isinstance(r.get(DECODING), dict)] or [DecodingConfig().model_dump()]
    keys = list(dict.fromkeys(k for sample in samples for k in sample))
    return [(k, _scalar_type([s.get(k) for s in samples])) for k in keys]


def field_types(
    fields: Sequence[str], records: list[dict[str, Any]], overrides: dict[str, str] | None = None
) -> list[tuple[str, Any]]:
    """(name, type) per field; ``decoding``'s type is its list of (name, type) pairs."""
    types = {**FIELD_TYPES, **(overrides or {})}
    return [(name, decoding_fields(records) if name == DECODING else types[name]) for name in fields]


def arrow_schema(typed: list[tuple[str, Any]]) -> Any:
    """The pyarrow schema of ``field_types`` (needs pyarrow)."""
    import pyarrow as pa

    scalars = {
        STRING: pa.string(),
        INT: pa.int64(),
        FLOAT: pa.float64(),
        BOOL: pa.bool_(),
        STRINGS: pa.list_(pa.string()),
    }

    def convert(kind: Any) -> Any:
        if isinstance(kind, list):
            return pa.struct([(name, convert(sub)) for name, sub in kind])
        return scalars[kind]

    return pa.schema([(name, convert(kind)) for name, kind in typed])


def yaml_features(typed: list[tuple[str, Any]]) -> list[dict[str, Any]]:
    """The card's ``dataset_info.features`` (the ``datasets`` YAML form: dtype / list / struct)."""

    def feature(name: str, kind: Any) -> dict[str, Any]:
        if isinstance(kind, list):
            return {"name": name, "struct": [feature(n, k) for n, k in kind]}
        if kind == STRINGS:
            return {"name": name, "list": STRING}
        return {"name": name, "dtype": kind}

    return [feature(name, kind) for name, kind in typed]
