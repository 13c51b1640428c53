"""The features of every export, declared once: names, types and meanings, per kind of record.

``NEGATIVE_FEATURES`` (``negatives.jsonl``/``.parquet``/``hf/``),
``DPO_FEATURES`` and ``KTO_FEATURES`` are the only declaration of what an
exported record holds.  The Arrow schema built from them types the Parquet
file and the ``datasets`` folder; the same features, written as
``dataset_info.features`` in the card's YAML header, type
``load_dataset(folder)`` over the JSONL files; the card's field tables list
them with their meanings.  Nothing is inferred from the records, so a column
whose values are all null (``decoding.max_length`` unset) keeps its declared
type.  ``decoding``'s fields are ``DecodingConfig``'s, typed from its
annotations (an optional int stays an int64 column that may hold nulls).
"""

from __future__ import annotations

import types
import typing
from dataclasses import dataclass
from typing import Any, Union

from harness.config import DecodingConfig

STRING, INT, FLOAT, BOOL, STRINGS = "string", "int64", "float64", "bool", "list<string>"


@dataclass(frozen=True)
class Feature:
    """One exported field: its name, its type (a dtype above, or a tuple of ``Feature`` for a struct), its meaning."""

    name: str
    dtype: Any
    doc: str


def dtype_of(annotation: Any) -> str:
    """The export dtype of a config field's annotation (``X | None`` is a nullable ``X``)."""
    scalars = {bool: BOOL, int: INT, float: FLOAT, str: STRING}
    if typing.get_origin(annotation) in (Union, types.UnionType):
        present = [a for a in typing.get_args(annotation) if a is not type(None)]
        annotation = present[0] if len(present) == 1 else annotation
    if annotation not in scalars:
        raise TypeError(f"decoding field type {annotation!r} has no export dtype")
    return scalars[annotation]


DECODING_FEATURES = tuple(
    Feature(name, dtype_of(field.annotation), f"DecodingConfig.{name}")
    for name, field in DecodingConfig.model_fields.items()
)

PROBE_FEATURES = (
    Feature("id", STRING, "the generation: arm/probe_set/probe_id/sample_index"),
    Feature("probe_set", STRING, "the probe set"),
    Feature("probe_id", STRING, "the prompt within its probe set"),
    Feature("sample_index", INT, "which of the prompt's samples"),
    Feature("category", STRING, "the prompt's category"),
    Feature("group", STRING, "the prompt's target group, or null"),
)
PROVENANCE_FEATURES = (
    Feature("arm", STRING, "the model's arm name"),
    Feature("arm_path", STRING, "its model folder as run.json records it (an alias: the folder it aliases)"),
    Feature(
        "model_sha256",
        STRING,
        "the arm's model fingerprint recorded by the probe stage (sha256 of its weight, config and tokenizer "
        "files), or null",
    ),
    Feature("seed", INT, "the sampling seed of the generation"),
    Feature("decoding", DECODING_FEATURES, "the decoding settings of the generation (a struct)"),
    Feature("run", STRING, "the run's name"),
    Feature("run_id", STRING, "run name @ creation time"),
    Feature("git_sha", STRING, "the harness commit"),
    Feature("lexicon_sha256", STRINGS, "sha256 of each lexicon file, then of each word list (config order)"),
    Feature("detectors", STRINGS, "the detectors that flagged the text (e.g. lexicon)"),
)
PROMPT = Feature("prompt", STRING, "the prompt (PII masked when asked)")
COMPLETION = Feature("completion", STRING, "the completion: as generated, or masked")
NEGATIVE_FEATURES = (
    *PROBE_FEATURES,
    PROMPT,
    COMPLETION,
    Feature("flagged_terms", STRINGS, "the matched lexicon terms"),
    Feature("flagged_categories", STRINGS, "their lexicon categories"),
    Feature("score", FLOAT, "the score measure (e.g. toxicity in [0, 1]), or null"),
    Feature("label", STRING, "always undesirable"),
    *PROVENANCE_FEATURES,
)
DPO_FEATURES = (
    PROMPT,
    Feature("chosen", STRING, "the reference arm's clean completion of the same prompt, sample index and seed"),
    Feature("rejected", STRING, "the arm's undesirable completion"),
    *PROBE_FEATURES,
    Feature("chosen_id", STRING, "the chosen generation's id (id and provenance are the rejected one's)"),
    Feature("reference", STRING, "the reference arm"),
    Feature("reference_path", STRING, "the reference arm's model folder"),
    *PROVENANCE_FEATURES,
)
KTO_FEATURES = (
    PROMPT,
    COMPLETION,
    Feature("label", BOOL, "true = desirable (not flagged at all), false = undesirable"),
    *PROBE_FEATURES,
    *PROVENANCE_FEATURES,
)

Features = tuple[Feature, ...]


def names(features: Features) -> tuple[str, ...]:
    """The field names, in order."""
    return tuple(f.name for f in features)


def conform(records: list[dict[str, Any]], features: Features) -> list[dict[str, Any]]:
    """Each record with exactly the declared fields in order; a struct keeps exactly its declared fields.

    A record whose top-level keys differ from the features is a builder bug (``ValueError``);
    a struct missing a declared field gets null there.
    """
    expected = set(names(features))
    out = []
    for record in records:
        if set(record) != expected:
            missing, extra = sorted(expected - set(record)), sorted(set(record) - expected)
            raise ValueError(f"export record does not match its features: missing {missing}, extra {extra}")
        out.append({f.name: conform_value(record[f.name], f.dtype) for f in features})
    return out


def conform_value(value: Any, dtype: Any) -> Any:
    """A struct value reduced to its declared fields (missing ones null); any other value as it is."""
    if isinstance(dtype, tuple) and isinstance(value, dict):
        return {f.name: conform_value(value.get(f.name), f.dtype) for f in dtype}
    return value


def arrow_schema(features: Features) -> Any:
    """The pyarrow schema of ``features`` (needs pyarrow)."""
    import pyarrow as pa

    scalars = {STRING: pa.string(), INT: pa.int64(), FLOAT: pa.float64(), BOOL: pa.bool_()}
    scalars[STRINGS] = pa.list_(pa.string())

    def convert(dtype: Any) -> Any:
        return pa.struct([(f.name, convert(f.dtype)) for f in dtype]) if isinstance(dtype, tuple) else scalars[dtype]

    return pa.schema([(f.name, convert(f.dtype)) for f in features])


def yaml_features(features: Features) -> list[dict[str, Any]]:
    """The card's ``dataset_info.features`` (the ``datasets`` YAML form: dtype / list / struct)."""

    def feature(f: Feature) -> dict[str, Any]:
        if isinstance(f.dtype, tuple):
            return {"name": f.name, "struct": [feature(sub) for sub in f.dtype]}
        if f.dtype == STRINGS:
            return {"name": f.name, "list": STRING}
        return {"name": f.name, "dtype": f.dtype}

    return [feature(f) for f in features]


def type_label(dtype: Any) -> str:
    """A type as the card's field tables show it (a struct lists its fields' types)."""
    if isinstance(dtype, tuple):
        return "struct{" + ", ".join(f"{f.name}: {type_label(f.dtype)}" for f in dtype) + "}"
    return dtype
