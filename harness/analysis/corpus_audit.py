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
"""

from __future__ import annotations

from collections import deque
from itertools import islice
from typing import Any, Iterable, Iterator, NamedTuple

from harness.analysis.corpus_stats import CorpusStats
from harness.analysis.parallel import KEPT_DETAILS, score_parallel_batches
from harness.analysis.protocol import Table
from harness.analysis.suite import AnalysisSuite
from harness.analysis.tokenize import BATCH
from harness.analysis.vocab_shift import lemma_counts
from harness.data.corpus import Document
from harness.text import normalize

DOC_ID = "doc_id"


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
) -> AuditResult:
    """Score every document once; see the module docstring.

    ``stats``, when given, collects the corpus side of the generation analysis
    in the same stream (memorization index, lemma counts, PII counts).
    """
    audit = suite.corpus_audit()
    rows: list[dict] = []
    last = [-1, 0]  # documents of one line come together: (line, how many so far)

    def doc_id(doc: Document) -> str:
        if doc.line != last[0]:
            last[0], last[1] = doc.line, 0
        k = last[1]
        last[1] += 1
        return str(doc.line) if k == 0 else f"{doc.line}.{k}"

    if workers <= 1:
        stream = iter(docs)
        while batch := list(islice(stream, BATCH)):
            texts = [doc.text for doc in batch]
            suite.prepare(texts)  # batch analysers (the classifier) score these at once
            scored = audit.add_many(texts)
            if stats is not None:
                for text in texts:
                    stats.add(text)
                stats.lemmas.update(lemma_counts([scored.tokens]))
            if want_scores:
                for doc, one in zip(batch, scored.scored):
                    rows.append(_score_row(doc_id(doc), one.values, one.details))
    else:
        pending: deque[str] = deque()

        def texts() -> Iterator[str]:
            for doc in docs:
                if want_scores:
                    pending.append(doc_id(doc))
                if stats is not None:
                    stats.add(doc.text)
                yield normalize(doc.text)

        lemmas = stats.lemmas if stats is not None else None
        classes = suite.analyser_classes
        scored = score_parallel_batches(suite.config, texts(), workers, lemmas=lemmas, analysers=classes, suite=suite)
        for values in scored:
            audit.add_columns(values.values, values.details["pii_kinds"], values.truncated)
            if want_scores:
                for result in values.texts():
                    rows.append(_score_row(pending.popleft(), result.values, result.details))
    table = audit.table()
    if stats is not None:
        stats.pii = audit.pii
    rates = {row["measure"]: float(row["value"]) for row in table.rows}
    return AuditResult(table, audit.pii_rows(), rows, corpus_score_columns(suite), audit.n, audit.truncated, rates)
