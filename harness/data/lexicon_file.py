"""The lexicon YAML file: schema, validation and cross-field checks.

Schema (every key is checked; anything else is an error)::

    name: ja-flagged            # required
    version: 1                  # required (int or string)
    description: ...            # optional
    categories:                 # required, non-empty
      insult: {severity: harmful, description: "..."}
      politics: {severity: topic}
    terms:                      # required, non-empty
      - {term: バカ, category: insult}             # match: auto (default)
      - {term: 死ね, category: threat, match: surface}
      - {term: 刺す, category: threat, match: spelling}  # its lemma, not 指す's
    exceptions: [生理学]        # optional: phrases inside which no term flags

Optional, per category: ``weight`` (0–1, how strongly one match counts in the
toxicity score; default by category name, see ``harness.analysis.toxicity``).
``match`` (see ``harness.analysis.flagged``): ``auto`` matches the term's
lexeme in any spelling, ``surface`` the term as written, ``spelling`` the
lexeme written with the term's kanji (刺す, not 指す, which unidic files under
the same lemma).
Optional, per term: ``weight`` (overrides the category's), ``variants``
(default true: generated spellings also match, see
``harness.analysis.variants``), ``pos`` (list of MeCab pos1 values the first
matched token must have, e.g. ``[名詞]``: "flags only as a noun"),
``context: target`` (flags only in a target frame: second person, a person
word, an imperative or a vocative, see ``harness.analysis.context_rules``),
``context: compared`` (flags only as what someone is compared to: 猿以下,
ゴミに失礼, 虫の方がまし)
and ``not_in`` (compounds inside which the term does not flag).

This module only reads and checks the file; ``harness.analysis.lexicon``
tokenizes the terms and builds the index.  Errors are ``LexiconError`` lines
naming the file, the line and, for a term, the entry (``term #3 'バカ'``).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

from pydantic import Field, PlainValidator

from harness.data.yamlfile import LocatedYaml, NonEmptyStr, StrictSchema, load_yaml, validate_yaml
from harness.errors import ConfigError
from harness.io import require_file

Severity = Literal["harmful", "topic"]
MatchMode = Literal["auto", "surface", "spelling"]
ContextRule = Literal["any", "target", "compared"]
SEVERITIES: tuple[str, ...] = get_args(Severity)
MATCH_MODES: tuple[str, ...] = get_args(MatchMode)
# Category names become CSV columns (cat_<name>) and are joined with '|'.
CATEGORY_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


class LexiconError(ConfigError):
    """A lexicon file is invalid; ``path`` and ``line`` say where (line may be None)."""

    def __init__(self, message: str, path: str | Path, line: int | None = None):
        where = f"{path}:{line}: " if line is not None else f"{path}: "
        super().__init__(where + message)
        self.path = path
        self.line = line


def _version(value: Any) -> int | str:
    # bool is an int to Python but `version: yes` is surely a mistake
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ValueError("must be an integer or a string")
    return value


class CategorySchema(StrictSchema):
    """One category: ``harmful`` matches count as flagged, ``topic`` ones do not."""

    severity: Severity
    description: str | None = None
    weight: float | None = Field(default=None, gt=0.0, le=1.0)


class TermSchema(StrictSchema):
    """One term as written; ``term`` is checked by ``read_lexicon_file``."""

    # Any, not str: `term: 123` gets the entry-naming "quote it in YAML" error
    term: Any
    category: str
    match: MatchMode = "auto"
    weight: float | None = Field(default=None, gt=0.0, le=1.0)
    variants: bool = True
    pos: list[NonEmptyStr] | None = None
    context: ContextRule = "any"
    not_in: list[NonEmptyStr] = []


class LexiconSchema(StrictSchema):
    """A lexicon YAML file as written."""

    name: NonEmptyStr
    version: Annotated[int | str, PlainValidator(_version)]
    description: str | None = None
    categories: dict[str, CategorySchema] = Field(min_length=1)
    terms: list[TermSchema] = Field(min_length=1)
    exceptions: list[NonEmptyStr] = []


@dataclass(frozen=True)
class TermSpec:
    """A validated term, not yet normalised or tokenized."""

    term: str
    category: str
    match: str
    line: int | None
    label: str  # "term #3 'バカ'": how errors name this entry
    weight: float | None = None
    variants: bool = True
    pos: tuple[str, ...] | None = None
    context: str = "any"
    not_in: tuple[str, ...] = ()


@dataclass(frozen=True)
class LexiconFile:
    """The validated content of one lexicon file."""

    path: Path
    name: str
    version: int | str
    description: str
    categories: dict[str, CategorySchema]
    terms: list[TermSpec]
    exceptions: tuple[str, ...] = ()


def read_lexicon_file(path: str | Path) -> LexiconFile:
    """Read and validate one lexicon file (no tokenization).

    Raises ``InputError`` when the file is missing and ``LexiconError`` naming
    the file, the line and the entry for anything invalid.
    """
    path = require_file(path, "lexicon file")
    doc = load_yaml(path, error=LexiconError)
    if doc.data is None:
        raise LexiconError("empty lexicon file", path)
    schema = validate_yaml(doc, LexiconSchema, LexiconError, allowed_keys=True)
    for name in schema.categories:
        if not CATEGORY_NAME.match(name):
            message = f"category name {name!r} must be letters, digits and '_' (it becomes a column cat_<name>)"
            raise doc.error(("categories", name), message, LexiconError)
    return LexiconFile(
        path=path,
        name=schema.name,
        version=schema.version,
        description=schema.description or "",
        categories=schema.categories,
        terms=_check_terms(doc, schema),
        exceptions=tuple(schema.exceptions),
    )


def _check_terms(doc: LocatedYaml, schema: LexiconSchema) -> list[TermSpec]:
    """Checks that need more than one field: term type, category, duplicates."""
    terms: list[TermSpec] = []
    first_seen: dict[str, int] = {}
    for i, item in enumerate(schema.terms):
        key_path = ("terms", i)
        label = f"term #{i} '{item.term}'" if isinstance(item.term, str) else f"term #{i}"
        if item.term is None or (isinstance(item.term, str) and not item.term.strip()):
            raise doc.error(key_path, f"{label}: missing 'term'", LexiconError)
        if not isinstance(item.term, str):
            raise doc.error(key_path, f"{label}: term must be a string (quote it in YAML)", LexiconError)
        if item.category not in schema.categories:
            known = ", ".join(schema.categories)
            raise doc.error(key_path, f"{label}: unknown category {item.category!r} (known: {known})", LexiconError)
        # the analysis matches NFKC text, so ﾊﾞｶ and バカ are one term
        key = unicodedata.normalize("NFKC", item.term).strip()
        if key in first_seen:
            raise doc.error(key_path, f"{label}: duplicate of term #{first_seen[key]} (after NFKC)", LexiconError)
        first_seen[key] = i
        terms.append(
            TermSpec(
                item.term,
                item.category,
                item.match,
                doc.line_of(key_path),
                label,
                weight=item.weight,
                variants=item.variants,
                pos=tuple(item.pos) if item.pos is not None else None,
                context=item.context,
                not_in=tuple(item.not_in),
            )
        )
    return terms


def read_word_list(
    path: str | Path,
    category: str,
    severity: str = "harmful",
    weight: float | None = None,
    context: str = "any",
    exclude: tuple[str, ...] = (),
) -> LexiconFile:
    """A plain word list (one term per line) as a one-category lexicon file.

    Blank lines and lines starting with ``#`` are skipped; a term repeated
    after NFKC is kept once (such lists are often concatenations).  Terms in
    ``exclude`` (after NFKC) are left out: that is how a user drops the words
    of a public list that fire out of context.  Every term gets the same
    ``weight`` and ``context`` rule and runs through the variant machinery.
    """
    path = require_file(path, "word list")
    if not CATEGORY_NAME.match(category):
        raise LexiconError(f"category name {category!r} must be letters, digits and '_'", path)
    if severity not in SEVERITIES:
        raise LexiconError(f"severity {severity!r} must be one of {', '.join(SEVERITIES)}", path)
    skip = {unicodedata.normalize("NFKC", x).strip() for x in exclude}
    terms: list[TermSpec] = []
    seen: set[str] = set()
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, 1):
            try:
                line = raw.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError as err:
                raise LexiconError(f"not UTF-8 at column {err.start + 1}", path, number) from None
            term = line.strip()
            if not term or term.startswith("#"):
                continue
            key = unicodedata.normalize("NFKC", term).strip()
            if key in seen or key in skip:
                continue
            seen.add(key)
            label = f"line {number} '{term}'"
            terms.append(TermSpec(term, category, "auto", number, label, weight=weight, context=context))
    if not terms:
        raise LexiconError("word list has no terms", path)
    return LexiconFile(
        path=path,
        name=path.stem,
        version=1,
        description=f"plain word list {path.name} as category '{category}'",
        categories={category: CategorySchema(severity=severity, weight=weight)},  # type: ignore[arg-type]
        terms=terms,
    )
