"""Filtering the tuning corpus with the audit: which documents the fine-tune leaves out, and why.

``corpus.filter: {drop: [flagged | <category>…], min_toxicity: x, drop_pii: true}``
is decided per document from the audit's own per-document scores, in the
audit's one stream over the corpus (``harness.analysis.corpus_audit``): the
same lexicons and detectors, the same MeCab tokens, no second read.  A
document is dropped when any rule fires; each rule names its reason after the
measure behind it:

* ``flagged`` — ``drop: [flagged]``: a harmful lexicon match (or the classifier, when a detector);
* ``cat_<category>`` — ``drop: [<category>]``: a term of that lexicon category matched;
* ``toxicity`` — ``min_toxicity: x``: the document's ``toxicity`` is at least x;
* ``pii`` — ``drop_pii: true``: personal data (the ``pii`` measure).

The unit of filtering is the unit of auditing, the ``Document``: one line,
one open2ch dialogue (``turns: join``) or one post (``turns: separate``),
named by ``doc_id`` (``line`` or ``line.k``, ``DocIds``).  The audit stage
feeds only kept documents to the token cache and the memorization pickers,
records the counts (``CorpusFilterRecord``: documents, characters and tokens
kept and dropped, per reason and category) and lists the dropped documents in
``corpus_dropped.csv`` (``DROPPED_COLUMNS``; never their text).  A fine-tune
that must tokenize the corpus itself (the cache entry is gone) reads that list
back (``kept_documents``) instead of auditing again.  The token cache key
holds ``filter_key``, so a filtered and an unfiltered entry never mix.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from typing import TYPE_CHECKING, Any, Iterable, Iterator, Sequence

import harness
from harness.config import FILTER_FLAGGED, CorpusFilter, RunConfig
from harness.data.corpus import Document
from harness.errors import ConfigError, InputError
from harness.io import sha256_file
from harness.record.rundir import CORPUS_DROPPED
from harness.record.schema import CorpusFilterRecord, MeasureSpec

if TYPE_CHECKING:
    from harness.record.rundir import RunDir

DROPPED_COLUMNS = ["line", "doc_id", "reasons", "categories"]  # corpus_dropped.csv and --write-filtered's dropped.csv
TOXICITY, PII = "toxicity", "pii"  # the reasons of min_toxicity and drop_pii (the measures behind them)
CATEGORY_PREFIX = "cat_"  # a category's measure and reason: cat_<category>


class DocIds:
    """``doc_id`` of each document in stream order: its line, ``line.k`` for the k-th document of a line."""

    def __init__(self) -> None:
        self.line, self.k = -1, 0

    def __call__(self, doc: Document) -> str:
        if doc.line != self.line:
            self.line, self.k = doc.line, 0
        k = self.k
        self.k += 1
        return str(doc.line) if k == 0 else f"{doc.line}.{k}"


def check_filter(settings: CorpusFilter, catalogue: Sequence[MeasureSpec]) -> None:
    """Every ``drop`` entry must be ``flagged`` or a category of the run's lexicons: else one ConfigError line."""
    categories = [m.name[len(CATEGORY_PREFIX) :] for m in catalogue if m.name.startswith(CATEGORY_PREFIX)]
    for i, name in enumerate(settings.drop):
        if name != FILTER_FLAGGED and name not in categories:
            raise ConfigError(
                f"corpus.filter.drop[{i}]: {name!r} is neither '{FILTER_FLAGGED}' nor a category of the run's "
                f"lexicons ({', '.join(categories) or 'none'})"
            )


def drop_reasons(settings: CorpusFilter, values: dict[str, Any], details: dict[str, Any]) -> list[str]:
    """Why a document with these per-document scores is dropped (empty: kept)."""
    reasons = []
    for name in settings.drop:
        measure = FILTER_FLAGGED if name == FILTER_FLAGGED else CATEGORY_PREFIX + name
        if values.get(measure):
            reasons.append(measure)
    if settings.min_toxicity is not None and float(values.get(TOXICITY, 0.0)) >= settings.min_toxicity:
        reasons.append(TOXICITY)
    if settings.drop_pii and values.get(PII):
        reasons.append(PII)
    return reasons


def filter_key(config: RunConfig) -> str | None:
    """What the filter's decisions depend on, hashed: the filter, the lexicons and detectors (their bytes),
    the tokenizer limits and the harness version.  None without a filter (the token cache key keeps its form)."""
    if config.corpus is None or config.corpus.filter is None:
        return None
    a = config.analysis
    parts = {
        "filter": config.corpus.filter.model_dump(mode="json"),
        "analysis": a.model_dump(mode="json", include={"word_lists", "detectors", "chunk_chars", "max_chars"}),
        "files": [sha256_file(path) for path in a.lexicon_files()],
        "harness": harness.__version__,
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:24]


class FilterTally:
    """The keep decision for each audited document, and the counts and rows the run records."""

    def __init__(self, settings: CorpusFilter) -> None:
        self.settings = settings
        self.rows: list[dict[str, Any]] = []  # dropped documents, DROPPED_COLUMNS
        self.documents = 0
        self.chars = Counter[bool]()  # kept? → characters
        self.tokens = Counter[bool]()
        self.by_reason: Counter[str] = Counter()
        self.by_category: Counter[str] = Counter()

    def keep(self, doc_id: str, doc: Document, values: dict[str, Any], details: dict[str, Any]) -> bool:
        """Decide one scored document (True: kept) and count it."""
        reasons = drop_reasons(self.settings, values, details)
        kept = not reasons
        self.documents += 1
        self.chars[kept] += int(values.get("characters", len(doc.text)))
        self.tokens[kept] += int(values.get("tokens", 0))
        if not kept:
            categories = str(details.get("flagged_categories", "") or "")
            self.by_reason.update(reasons)
            self.by_category.update(c for c in categories.split("|") if c)
            row = {"line": doc.line, "doc_id": doc_id, "reasons": "|".join(reasons), "categories": categories}
            self.rows.append(row)
        return kept

    @property
    def dropped_ids(self) -> set[str]:
        """The doc_ids of the dropped documents."""
        return {row["doc_id"] for row in self.rows}

    def record(self) -> CorpusFilterRecord:
        """The counts for run.json ``corpus_filter``."""
        dropped = len(self.rows)
        return CorpusFilterRecord(
            documents=self.documents,
            kept=self.documents - dropped,
            dropped=dropped,
            characters_kept=self.chars[True],
            characters_dropped=self.chars[False],
            tokens_kept=self.tokens[True],
            tokens_dropped=self.tokens[False],
            by_reason=dict(sorted(self.by_reason.items())),
            by_category=dict(sorted(self.by_category.items())),
            dropped_file=CORPUS_DROPPED,
        )


def summary_line(record: CorpusFilterRecord) -> str:
    """One line for the log and the CLI: documents and tokens dropped, per reason."""
    share = record.dropped / record.documents if record.documents else 0.0
    reasons = ", ".join(f"{k} {v}" for k, v in record.by_reason.items()) or "none"
    return (
        f"{record.dropped:,} of {record.documents:,} documents dropped ({share:.1%}; "
        f"{record.tokens_dropped:,} of {record.tokens_dropped + record.tokens_kept:,} tokens); by reason: {reasons}"
    )


class KeptDocuments:
    """The audit's decisions read back: the filter's key and the documents to leave out, by doc_id."""

    def __init__(self, key: str, dropped: Iterable[str]) -> None:
        self.key = key
        self.dropped = frozenset(dropped)

    def select(self, docs: Iterable[Document]) -> Iterator[Document]:
        """``docs`` (the corpus's stream, as the audit read it) without the dropped ones."""
        ids = DocIds()
        for doc in docs:
            if ids(doc) not in self.dropped:
                yield doc


def kept_documents(config: RunConfig, run: RunDir) -> KeptDocuments | None:
    """The run's filter decisions (``corpus_dropped.csv``), None without ``corpus.filter``."""
    key = filter_key(config)
    if key is None:
        return None
    if not run.has(CORPUS_DROPPED) or run.record.corpus_filter is None:
        raise InputError("corpus.filter is set but the audit has not decided what to drop: run the audit stage first",
                         run.file(CORPUS_DROPPED))
    return KeptDocuments(key, (row["doc_id"] for row in run.read_table(CORPUS_DROPPED)))
