"""Flagged-term lexicons: YAML files under ``probes/lexicons/``.

The file format and its checks live in ``harness.data.lexicon_file``; this
module turns a validated file into entries.  Terms are NFKC-normalised and
tokenized once at load time with the same tokenizer that later tokenizes the
texts, so an entry is a token sequence.  How entry tokens match text tokens
(``match: auto`` vs ``surface``) is described in ``harness.analysis.flagged``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Any, Iterable

from harness.analysis.particle_slots import particle_forms
from harness.analysis.tokenize import JapaneseTokenizer, Token, normalize
from harness.analysis.toxicity import category_weight
from harness.analysis.variants import variant_keys
from harness.data.lexicon_file import (
    MATCH_MODES,
    SEVERITIES,
    LexiconError,
    LexiconFile,
    read_lexicon_file,
    read_word_list,
)
from harness.errors import ConfigError

__all__ = [
    "MATCH_MODES",
    "SEVERITIES",
    "Category",
    "Entry",
    "Lexicon",
    "LexiconError",
    "LexiconIndex",
    "build_lexicon",
    "load_lexicon",
    "load_word_list",
    "merge_lexicons",
]


@dataclass(frozen=True)
class Category:
    """A lexicon category; ``severity`` is 'harmful' (counts as flagged) or 'topic'."""

    name: str
    severity: str
    description: str = ""
    weight: float = 0.0  # toxicity weight of one match (0 for topic categories)


@dataclass(frozen=True)
class Entry:
    """One lexicon term: its normalised text, category, match mode and tokens."""

    term: str
    category: str
    match: str
    tokens: tuple[Token, ...]
    line: int | None = None
    weight: float = 0.0
    folded: frozenset[str] = frozenset()  # variant keys (empty: no variant matching)
    pos: tuple[str, ...] | None = None  # allowed pos1 of the first token (None: any)
    context: str = "any"  # "target": needs a target frame; "compared": a comparison frame (context_rules)
    not_in: tuple[str, ...] = ()  # compounds inside which the entry does not flag

    @cached_property
    def keys(self) -> tuple[tuple[str, tuple[str, str] | None], ...]:
        """Per entry token: ``(surface, lemma_key or None)``.

        The lemma key is set only when the entry's match mode is ``auto`` and
        the token is written in dictionary form (surface == orthBase): writing
        バカ or 殺す asks for every form of the word, writing an inflected
        form such as 死ね asks for that form only.
        """
        lemma_ok = self.match in ("auto", "spelling")
        return tuple((t.surface, t.lemma_key if lemma_ok and t.surface == t.orth_base else None) for t in self.tokens)

    @cached_property
    def kanji(self) -> tuple[frozenset[str] | None, ...]:
        """Per entry token: the kanji a token matched by lemma must agree with (``spelling_agrees``), or
        None when any spelling of the lemma will do (every mode but ``match: spelling``).

        Unidic files some different words under one lexeme, written with different kanji: 刺す (stab),
        指す (point) and 差す all have the lemma 差す-他動詞 and the reading サス.  An entry marked
        ``match: spelling`` matches its lexeme only where the token's kanji agree with its own: 刺し
        matches 刺す, 指し does not.  Opt-in, per entry: for most lexemes the other kanji are the same word
        typed another way (ウジが沸く for 湧く), which ``auto`` should still catch.
        """
        if self.match != "spelling":
            return (None,) * len(self.tokens)
        return tuple(kanji_of(t.orth_base) or None for t in self.tokens)


@dataclass(frozen=True)
class LexiconIndex:
    """Entry positions keyed by their first token's surface and lemma key."""

    by_surface: dict[str, list[int]]
    by_lemma: dict[tuple[str, str], list[int]]
    by_folded: dict[str, list[int]]  # variant key → entries
    folded_first: frozenset[str]  # first characters of variant keys
    folded_max: int  # longest variant key, in characters
    folded_prefixes: frozenset[str] = frozenset()  # every prefix of every variant key (stops scans early)
    # first two characters of every variant key (the key itself when it has one): a
    # text's tokens whose folded text starts otherwise cannot start a variant match
    folded_starts: frozenset[str] = frozenset()
    short_keys: bool = False  # some variant key has one character
    lemmas: frozenset[str] = frozenset()  # the lemmas of ``by_lemma`` (a quick test before the keys)
    folded_lengths: tuple[int, ...] = ()  # the distinct lengths of the variant keys
    # ``flagged.may_start`` per surface met so far (a cache: not part of the index's value)
    heads: dict[str, bool] = field(default_factory=dict, compare=False, repr=False)
    # ``flagged._prefilter``: where a match may start, per distinct token and pair of tokens (a cache too)
    row_bits: list[Any] = field(default_factory=list, compare=False, repr=False)


@dataclass
class Lexicon:
    """A loaded (or merged) lexicon.  Treat it as read-only: ``index`` is cached."""

    name: str
    version: int | str
    path: str
    categories: dict[str, Category]
    entries: list[Entry] = field(default_factory=list)
    exceptions: tuple[str, ...] = ()  # phrases inside which nothing flags

    @cached_property
    def index(self) -> LexiconIndex:
        """First-token index so matching costs O(tokens), not O(tokens × entries)."""
        by_surface: dict[str, list[int]] = {}
        by_lemma: dict[tuple[str, str], list[int]] = {}
        by_folded: dict[str, list[int]] = {}
        for i, entry in enumerate(self.entries):
            surface, lemma_key = entry.keys[0]
            by_surface.setdefault(surface, []).append(i)
            if lemma_key is not None:
                by_lemma.setdefault(lemma_key, []).append(i)
            for key in entry.folded:
                by_folded.setdefault(key, []).append(i)
        first = frozenset(k[0] for k in by_folded)
        longest = max((len(k) for k in by_folded), default=0)
        prefixes = frozenset(k[:i] for k in by_folded for i in range(1, len(k) + 1))
        starts = frozenset(k[:2] for k in by_folded)
        short = any(len(k) == 1 for k in by_folded)
        lemmas = frozenset(lemma for lemma, _ in by_lemma)
        lengths = tuple(sorted({len(k) for k in by_folded}))
        return LexiconIndex(by_surface, by_lemma, by_folded, first, longest, prefixes, starts, short, lemmas, lengths)

    def harmful_categories(self) -> set[str]:
        """Names of the categories whose matches count as ``flagged``."""
        return {c.name for c in self.categories.values() if c.severity == "harmful"}


def load_lexicon(path: str | Path, tokenizer: JapaneseTokenizer) -> Lexicon:
    """Read, validate and tokenize one lexicon YAML file.

    Raises ``InputError`` when the file is missing and ``LexiconError`` (a
    ``ConfigError``) naming the file, the line and the entry for anything
    invalid.
    """
    return build_lexicon(read_lexicon_file(path), tokenizer)


def load_word_list(
    path: str | Path,
    category: str,
    tokenizer: JapaneseTokenizer,
    severity: str = "harmful",
    weight: float | None = None,
    context: str = "any",
    exclude: Iterable[str] = (),
) -> Lexicon:
    """A plain one-term-per-line list as a one-category lexicon, with the same variant and context machinery."""
    return build_lexicon(read_word_list(path, category, severity, weight, context, tuple(exclude)), tokenizer)


def build_lexicon(spec: LexiconFile, tokenizer: JapaneseTokenizer) -> Lexicon:
    """Tokenize a validated lexicon file's terms and generate their variant keys."""
    categories = {
        name: Category(
            name=name,
            severity=cat.severity,
            description=cat.description or "",
            weight=0.0 if cat.severity != "harmful" else (cat.weight or category_weight(name)),
        )
        for name, cat in spec.categories.items()
    }
    entries: list[Entry] = []
    listed = {normalize(term.term).strip() for term in spec.terms}
    for term in spec.terms:
        text = normalize(term.term).strip()
        tokens = tuple(tokenizer.tokenize(text))
        if not tokens:
            raise LexiconError(f"{term.label}: term has no tokens", spec.path, term.line)
        category = categories[term.category]
        weight = 0.0 if category.severity != "harmful" else (term.weight or category.weight)
        adjective = len(tokens) == 1 and tokens[0].pos1 == "形容詞"
        folded = frozenset(variant_keys(text, tokenizer.reading(text), adjective)) if term.variants else frozenset()
        entry = Entry(
            term=text,
            category=term.category,
            match=term.match,
            tokens=tokens,
            line=term.line,
            weight=weight,
            folded=folded,
            pos=term.pos,
            context=term.context,
            not_in=tuple(normalize(x).strip() for x in term.not_in),
        )
        entries.append(entry)
        if term.variants:  # the term's other particle forms (頭悪い, 頭は悪い …): same term, no spelling keys
            forms = particle_forms(tokens, tokenizer.tokenize)
            entries.extend(
                replace(entry, tokens=form, folded=frozenset())
                for form in forms
                if "".join(t.surface for t in form) not in listed
            )
    return Lexicon(
        name=spec.name,
        version=spec.version,
        path=str(spec.path),
        categories=categories,
        entries=entries,
        exceptions=tuple(normalize(x).strip() for x in spec.exceptions),
    )


def merge_lexicons(lexicons: Iterable[Lexicon], keep_first: bool = False) -> Lexicon:
    """Combine several lexicons into one.

    Categories are united; one category defined with two severities is an
    error.  A term in several files is kept once when the category agrees and
    is an error otherwise (one span would count for two categories) — unless
    ``keep_first``, used for plain word lists: there the first file's entry
    wins, since public lists overlap the shipped lexicon.  Exception phrases
    are united.
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
            elif prior[0].category != entry.category and not keep_first:
                raise ConfigError(
                    f"term '{entry.term}' is '{prior[0].category}' in {prior[1]} but '{entry.category}' in {lex.path}"
                )
    return Lexicon(
        name="+".join(lex.name for lex in lexicons),
        version="+".join(str(lex.version) for lex in lexicons),
        path="; ".join(lex.path for lex in lexicons),
        categories=categories,
        entries=entries,
        exceptions=tuple(dict.fromkeys(x for lex in lexicons for x in lex.exceptions)),
    )


def kanji_of(text: str) -> frozenset[str]:
    """The CJK ideographs of ``text``."""
    return frozenset(c for c in text if "\u4e00" <= c <= "\u9fff" or c == "々")


def spelling_agrees(entry_kanji: frozenset[str] | None, orth_base: str) -> bool:
    """Whether a text token written ``orth_base`` may be the entry token whose kanji are ``entry_kanji``
    (``Entry.kanji``): one's kanji hold the other's (刺す/刺し, 痛めつける/痛め付ける; a kana spelling too)."""
    if entry_kanji is None:
        return True
    theirs = kanji_of(orth_base)
    return theirs <= entry_kanji or entry_kanji <= theirs
