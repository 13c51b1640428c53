"""Flagged-term lexicons: YAML files under ``probes/lexicons/``.

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

Terms are NFKC-normalised and tokenized once at load time with the same
tokenizer that later tokenizes the texts, so an entry is a token sequence.
How entry tokens match text tokens (``match: auto`` vs ``surface``) is
described in ``harness.analysis.flagged``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Iterable

import yaml

from harness.analysis.tokenize import JapaneseTokenizer, Token, normalize
from harness.data.yamlfile import child, duplicate_key, key_lines, line_of, mark_line
from harness.errors import ConfigError, InputError

SEVERITIES = ("harmful", "topic")
MATCH_MODES = ("auto", "surface")
_TOP_KEYS = {"name", "version", "description", "categories", "terms"}
_CATEGORY_KEYS = {"severity", "description"}
_TERM_KEYS = {"term", "category", "match"}
# Category names become CSV columns (cat_<name>) and are joined with '|'.
_CATEGORY_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


class LexiconError(ConfigError):
    """A lexicon file is invalid; ``path`` and ``line`` say where (line may be None)."""

    def __init__(self, message: str, path: str | Path, line: int | None = None):
        where = f"{path}:{line}: " if line is not None else f"{path}: "
        super().__init__(where + message)
        self.path = path
        self.line = line


@dataclass(frozen=True)
class Category:
    """A lexicon category; ``severity`` is 'harmful' (counts as flagged) or 'topic'."""

    name: str
    severity: str
    description: str = ""


@dataclass(frozen=True)
class Entry:
    """One lexicon term: its normalised text, category, match mode and tokens."""

    term: str
    category: str
    match: str
    tokens: tuple[Token, ...]
    line: int | None = None

    @cached_property
    def keys(self) -> tuple[tuple[str, tuple[str, str] | None], ...]:
        """Per entry token: ``(surface, lemma_key or None)``.

        The lemma key is set only when the entry's match mode is ``auto`` and
        the token is written in dictionary form (surface == orthBase): writing
        バカ or 殺す asks for every form of the word, writing an inflected
        form such as 死ね asks for that form only.
        """
        lemma_ok = self.match == "auto"
        return tuple((t.surface, t.lemma_key if lemma_ok and t.surface == t.orth_base else None) for t in self.tokens)


@dataclass(frozen=True)
class LexiconIndex:
    """Entry positions keyed by their first token's surface and lemma key."""

    by_surface: dict[str, list[int]]
    by_lemma: dict[tuple[str, str], list[int]]


@dataclass
class Lexicon:
    """A loaded (or merged) lexicon.  Treat it as read-only: ``index`` is cached."""

    name: str
    version: int | str
    path: str
    categories: dict[str, Category]
    entries: list[Entry] = field(default_factory=list)

    @cached_property
    def index(self) -> LexiconIndex:
        """First-token index so matching costs O(tokens), not O(tokens × entries)."""
        by_surface: dict[str, list[int]] = {}
        by_lemma: dict[tuple[str, str], list[int]] = {}
        for i, entry in enumerate(self.entries):
            surface, lemma_key = entry.keys[0]
            by_surface.setdefault(surface, []).append(i)
            if lemma_key is not None:
                by_lemma.setdefault(lemma_key, []).append(i)
        return LexiconIndex(by_surface, by_lemma)

    def harmful_categories(self) -> set[str]:
        """Names of the categories whose matches count as ``flagged``."""
        return {c.name for c in self.categories.values() if c.severity == "harmful"}


def load_lexicon(path: str | Path, tokenizer: JapaneseTokenizer) -> Lexicon:
    """Read, validate and tokenize one lexicon YAML file.

    Raises ``InputError`` when the file is missing and ``LexiconError`` (a
    ``ConfigError``) naming the file, the line and the entry for anything
    invalid.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError("lexicon file not found", path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise LexiconError(f"not valid UTF-8 (byte {err.start})", path) from None
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        problem = getattr(err, "problem", None) or str(err)
        raise LexiconError(f"YAML syntax error: {problem}", path, mark_line(mark)) from None
    if data is None:
        raise LexiconError("empty lexicon file", path)
    if not isinstance(data, dict):
        raise LexiconError("expected a mapping with name, version, categories, terms", path, 1)

    top_lines = _key_lines(root, path)
    _check_keys(data, _TOP_KEYS, "lexicon", path, top_lines, 1)
    for key in ("name", "version", "categories", "terms"):
        if key not in data or data[key] in (None, "", [], {}):
            raise LexiconError(f"missing or empty '{key}'", path, top_lines.get(key, 1))
    name = data["name"]
    if not isinstance(name, str):
        raise LexiconError("'name' must be a string", path, top_lines["name"])
    version = data["version"]
    if not isinstance(version, (int, str)) or isinstance(version, bool):
        raise LexiconError("'version' must be an integer or a string", path, top_lines["version"])

    categories = _load_categories(data["categories"], child(root, "categories"), path)
    entries = _load_terms(data["terms"], child(root, "terms"), categories, path, tokenizer)
    return Lexicon(name=name, version=version, path=str(path), categories=categories, entries=entries)


def merge_lexicons(lexicons: Iterable[Lexicon]) -> Lexicon:
    """Combine several lexicons into one.

    Categories are united; one category defined with two severities is an
    error.  A term in several files is kept once when the category agrees and
    is an error otherwise (one span would count for two categories).
    """
    lexicons = list(lexicons)
    if not lexicons:
        raise ConfigError("no lexicon given: name at least one lexicon file")
    if len(lexicons) == 1:
        return lexicons[0]
    categories: dict[str, Category] = {}
    origin: dict[str, str] = {}
    entries: list[Entry] = []
    seen: dict[str, tuple[Entry, str]] = {}
    for lex in lexicons:
        for cat in lex.categories.values():
            known = categories.get(cat.name)
            if known is None:
                categories[cat.name] = cat
                origin[cat.name] = lex.path
            elif known.severity != cat.severity:
                raise ConfigError(
                    f"category '{cat.name}' is '{known.severity}' in {origin[cat.name]} "
                    f"but '{cat.severity}' in {lex.path}"
                )
        for entry in lex.entries:
            prior = seen.get(entry.term)
            if prior is None:
                seen[entry.term] = (entry, lex.path)
                entries.append(entry)
            elif prior[0].category != entry.category:
                raise ConfigError(
                    f"term '{entry.term}' is '{prior[0].category}' in {prior[1]} but '{entry.category}' in {lex.path}"
                )
    return Lexicon(
        name="+".join(lex.name for lex in lexicons),
        version="+".join(str(lex.version) for lex in lexicons),
        path="; ".join(lex.path for lex in lexicons),
        categories=categories,
        entries=entries,
    )


def _load_categories(raw: Any, node: Any, path: Path) -> dict[str, Category]:
    lines = _key_lines(node, path)
    if not isinstance(raw, dict):
        raise LexiconError("'categories' must be a mapping of name → {severity, description}", path, line_of(node))
    categories: dict[str, Category] = {}
    for name, spec in raw.items():
        line = lines.get(name)
        if not isinstance(name, str) or not _CATEGORY_NAME.match(name):
            raise LexiconError(
                f"category name {name!r} must be letters, digits and '_' (it becomes a column cat_<name>)",
                path,
                line,
            )
        if not isinstance(spec, dict):
            raise LexiconError(f"category '{name}': expected {{severity: ..., description: ...}}", path, line)
        _check_keys(spec, _CATEGORY_KEYS, f"category '{name}'", path, {}, line)
        severity = spec.get("severity")
        if severity not in SEVERITIES:
            raise LexiconError(
                f"category '{name}': severity {severity!r} is not one of {', '.join(SEVERITIES)}", path, line
            )
        description = spec.get("description") or ""
        if not isinstance(description, str):
            raise LexiconError(f"category '{name}': description must be a string", path, line)
        categories[name] = Category(name=name, severity=severity, description=description)
    return categories


def _load_terms(
    raw: Any, node: Any, categories: dict[str, Category], path: Path, tokenizer: JapaneseTokenizer
) -> list[Entry]:
    if not isinstance(raw, list):
        raise LexiconError("'terms' must be a list of {term, category[, match]}", path, line_of(node))
    item_nodes = list(getattr(node, "value", []))
    entries: list[Entry] = []
    first_seen: dict[str, int] = {}
    for i, item in enumerate(raw):
        item_node = item_nodes[i] if i < len(item_nodes) else None
        line = line_of(item_node)
        _key_lines(item_node, path)  # {term: a, term: b} would silently keep b
        label = f"term #{i}"
        if not isinstance(item, dict):
            raise LexiconError(f"{label}: expected a mapping {{term, category[, match]}}", path, line)
        if isinstance(item.get("term"), str):
            label = f"term #{i} '{item['term']}'"
        _check_keys(item, _TERM_KEYS, label, path, {}, line)
        term = item.get("term")
        if term is None or term == "":
            raise LexiconError(f"{label}: missing 'term'", path, line)
        if not isinstance(term, str):
            raise LexiconError(f"{label}: term must be a string (quote it in YAML)", path, line)
        term = normalize(term).strip()
        category = item.get("category")
        if category is None:
            raise LexiconError(f"{label}: missing 'category'", path, line)
        if category not in categories:
            known = ", ".join(categories)
            raise LexiconError(f"{label}: unknown category {category!r} (known: {known})", path, line)
        match = item.get("match", "auto")
        if match not in MATCH_MODES:
            raise LexiconError(f"{label}: match {match!r} is not one of {', '.join(MATCH_MODES)}", path, line)
        if term in first_seen:
            raise LexiconError(f"{label}: duplicate of term #{first_seen[term]} (after NFKC)", path, line)
        tokens = tuple(tokenizer.tokenize(term))
        if not tokens:
            raise LexiconError(f"{label}: term has no tokens", path, line)
        first_seen[term] = i
        entries.append(Entry(term=term, category=category, match=match, tokens=tokens, line=line))
    return entries


def _check_keys(
    mapping: dict, allowed: set[str], what: str, path: Path, lines: dict[Any, int], line: int | None
) -> None:
    unknown = [k for k in mapping if k not in allowed]
    if unknown:
        key = unknown[0]
        raise LexiconError(
            f"{what}: unknown key {key!r} (allowed: {', '.join(sorted(allowed))})",
            path,
            lines.get(key, line),
        )


def _key_lines(node: Any, path: Path) -> dict[Any, int]:
    """Line of each key of a mapping node; a key given twice is an error."""
    repeated = duplicate_key(node)
    if repeated is not None:
        key, first, again = repeated
        raise LexiconError(f"key {key!r} given twice (first on line {first})", path, again)
    return key_lines(node)
