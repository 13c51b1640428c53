"""Auditing a corpus: corpus_audit.csv, the corpus's pii.csv rows and, on request, one scores row per document.

``audit_corpus_docs`` streams documents through one ``CorpusAudit``, either
in this process or on a pool of workers (``harness.analysis.parallel``), in
input order either way.  With ``want_scores`` it also returns the per-document
rows of ``harness audit CORPUS --scores`` (columns: ``corpus_score_columns``):
``doc_id`` (the document's line; ``line.k`` for the k-th document of a line
when a line holds several), then every per-text measure of the suite's
catalogue in scores.csv order (so a new analyser's measures are there too),
then the detail cells workers send back (``KEPT_DETAILS``:
``flagged_categories``, ``detectors``, ``pii_kinds``).

``scored``, when given, is called once per document after it is scored, in
input order, with its doc_id, the document and its values and details: the
audit stage decides there what the corpus filter keeps and feeds the kept
documents on (``harness.corpus_feeds``), so nothing downstream sees a document
before its scores.
"""

from __future__ import annotations

from collections import deque
from itertools import islice
from typing import Any, Callable, Iterable, Iterator, NamedTuple

from harness.analysis.corpus_stats import CorpusStats
from harness.analysis.parallel import KEPT_DETAILS, score_batches
from harness.analysis.protocol import Table
from harness.analysis.suite import AnalysisSuite
from harness.analysis.tokenize import BATCH
from harness.analysis.vocab_shift import lemma_counts
from harness.data.corpus import Document
from harness.data.corpus_filter import DocIds

DOC_ID = "doc_id"
# called with (doc_id, document, values, details) once a document is scored
ScoredHook = Callable[[str, Document, dict[str, Any], dict[str, Any]], None]


def corpus_score_columns(suite: AnalysisSuite) -> list[str]:
    """The per-document scores' columns: ``doc_id``, every per-text measure, then ``KEPT_DETAILS``."""
    return [DOC_ID, *(m.name for m in suite.catalogue()), *KEPT_DETAILS]


class AuditResult(NamedTuple):
    """What an audit produced."""

    table: Table  # corpus_audit.csv
    pii_rows: list[dict]
    score_rows: list[dict]  # empty unless asked for
    score_columns: list[str]  # the score rows' columns (``corpus_score_columns``)
    documents: int
    truncated: int
    rates: dict[str, float]  # measure → corpus rate or mean (for amplification)


def _score_row(doc_id: str, values: dict[str, Any], details: dict[str, Any]) -> dict:
    return {DOC_ID: doc_id, **values, **{k: details.get(k, "") for k in KEPT_DETAILS}}


def audit_corpus_docs(
    suite: AnalysisSuite,
    docs: Iterable[Document],
    workers: int = 1,
    want_scores: bool = False,
    stats: CorpusStats | None = None,
    scored: ScoredHook | None = None,
) -> AuditResult:
    """Score every document once; see the module docstring.

    ``stats``, when given, collects the corpus side of the generation analysis
    in the same stream (memorization index, lemma counts, PII counts).
    """
    audit = suite.corpus_audit()
    rows: list[dict] = []
    doc_id = DocIds()

    def done(key: str, doc: Document, values: dict[str, Any], details: dict[str, Any]) -> None:
        if want_scores:
            rows.append(_score_row(key, values, details))
        if scored is not None:
            scored(key, doc, values, details)

    per_document = want_scores or scored is not None  # else no document's own scores are kept (faster)
    if workers <= 1:
        stream = iter(docs)
        while batch := list(islice(stream, BATCH)):
            texts = [doc.text for doc in batch]
            batch_scores = audit.add_many(texts)
            if stats is not None:
                for text in texts:
                    stats.add(text)
                stats.lemmas.update(lemma_counts([batch_scores.tokens]))
            if per_document:
                for doc, one in zip(batch, batch_scores.scored):
                    done(doc_id(doc), doc, one.values, one.details)
    else:
        pending: deque[tuple[str, Document]] = deque()  # the documents in flight, in input order

        def texts() -> Iterator[list[str]]:  # raw texts a batch: the workers normalise them
            stream = iter(docs)
            while chunk := list(islice(stream, BATCH)):
                if per_document:
                    pending.extend(zip(map(doc_id, chunk), chunk))
                if stats is not None:
                    for doc in chunk:
                        stats.add(doc.text)
                yield [doc.text for doc in chunk]

        lemmas = stats.lemmas if stats is not None else None
        classes = suite.analyser_classes
        batches = score_batches(suite.config, texts(), workers, lemmas=lemmas, analysers=classes, suite=suite)
        for values in batches:
            audit.add_columns(values.values, values.details["pii_kinds"], values.truncated)
            if per_document:
                for result in values.texts():
                    done(*pending.popleft(), result.values, result.details)
    table = audit.table()
    if stats is not None:
        stats.pii = audit.pii
    rates = {row["measure"]: float(row["value"]) for row in table.rows}
    return AuditResult(table, audit.pii_rows(), rows, corpus_score_columns(suite), audit.n, audit.truncated, rates)
