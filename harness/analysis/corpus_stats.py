"""What the tuning corpus contributes to the analysis of generations, kept in the run directory.

Four tables depend on the corpus, not only on the generations:
corpus_audit.csv, pii.csv (its ``corpus`` rows), vocab_shift.csv
(``corpus_per_1k`` and the ``corpus`` prior) and memorization.csv (the hashed
N-character windows).  The audit stage collects all four in its one stream
over the corpus (``CorpusStats``) and writes them to ``corpus_stats/``:

* ``stats.json`` — a ``CorpusStatsRecord`` (typed, with its own ``version``):
  the corpus_audit.csv rows, PII counts, (lemma, pos1) counts and how the
  memorization index was built;
* ``ngrams.npy`` — the memorization index's sorted uint64 hashes (8 bytes a
  window, at most ``analysis.memorization_max_ngrams``), its sha256 in stats.json.

The analyse stage reads them back (``read_corpus_stats``) and never opens the
corpus, so ``harness report --reanalyse`` rebuilds every table byte for byte
after the corpus has moved away.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections import Counter
from pathlib import Path

import numpy as np
from pydantic import ValidationError

from harness.analysis.memorization import MemorizationIndex
from harness.analysis.pii_measures import PiiCounter
from harness.config import AnalysisConfig
from harness.errors import InputError
from harness.record.rundir import CORPUS_STATS, RunDir, describe_validation
from harness.record.schema import (
    CORPUS_STATS_VERSION,
    CorpusAuditRow,
    CorpusStatsRecord,
    MemorizationStats,
    PickedProbe,
)

STATS_FILE = "stats.json"
NGRAMS_FILE = "ngrams.npy"


class CorpusStats:
    """The corpus side of the analysis: PII counts, lemma counts and the memorization index."""

    def __init__(
        self,
        index: MemorizationIndex,
        lemmas: Counter[tuple[str, str]],
        pii: PiiCounter,
        audit: list[CorpusAuditRow] | None = None,
        picked: dict[str, list[PickedProbe]] | None = None,
    ) -> None:
        self.index = index
        self.lemmas = lemmas
        self.pii = pii
        self.audit = audit or []  # corpus_audit.csv rows (set by the audit stage once the stream ends)
        self.picked = picked or {}  # memorization probe sets picked in the audit's stream

    def audit_rows(self) -> list[dict]:
        """corpus_audit.csv rows, as the audit stage wrote them."""
        return [row.cells() for row in self.audit]

    @classmethod
    def empty(cls, config: AnalysisConfig) -> CorpusStats:
        """Nothing counted yet; the audit fills ``index`` (``add``), ``lemmas`` and ``pii``."""
        return cls(
            MemorizationIndex(config.memorization_chars, config.memorization_max_ngrams), Counter(), PiiCounter()
        )

    def add(self, text: str) -> None:
        """Add one corpus document to the memorization index."""
        self.index.add(text)

    def pii_rows(self) -> list[dict]:
        """pii.csv rows of the corpus (scope ``corpus``, arm empty)."""
        return self.pii.rows("corpus", "")

    def memorization_summary(self) -> dict:
        """How memorization was measured (run.json ``memorization``)."""
        index = self.index
        return {
            "min_chars": index.n,
            "documents": index.documents,
            "ngrams": len(index),
            "stride": index.stride,
            "max_ngrams": index.max_ngrams,
            "bytes": len(index) * 8,
        }


def ngrams_bytes(hashes: np.ndarray) -> bytes:
    """The ``.npy`` bytes of a hash array (no pickling)."""
    buffer = io.BytesIO()
    np.save(buffer, hashes, allow_pickle=False)
    return buffer.getvalue()


def write_corpus_stats(run: RunDir, stats: CorpusStats) -> Path:
    """Write ``corpus_stats/`` (stats.json + ngrams.npy), swapped in whole."""
    index = stats.index.finish()
    data = ngrams_bytes(index.hashes())
    record = CorpusStatsRecord(
        documents=index.documents,
        pii_texts=stats.pii.n,
        pii_counts=dict(sorted(stats.pii.counts.items())),
        lemma_counts=[(lemma, pos, count) for (lemma, pos), count in sorted(stats.lemmas.items())],
        audit=stats.audit,
        memorization_probes=stats.picked,
        memorization=MemorizationStats(
            min_chars=index.n,
            max_ngrams=index.max_ngrams,
            stride=index.stride,
            documents=index.documents,
            ngrams=len(index),
            sha256=hashlib.sha256(data).hexdigest(),
        ),
    )

    def fill(folder: Path) -> None:
        (folder / NGRAMS_FILE).write_bytes(data)
        (folder / STATS_FILE).write_text(record.model_dump_json() + "\n", encoding="utf-8")

    return run.write_folder(CORPUS_STATS, fill)


def read_corpus_stats(run: RunDir) -> CorpusStats:
    """``corpus_stats/`` as written by the audit stage; a missing, changed or foreign file is one ``InputError``."""
    folder = run.file(CORPUS_STATS)
    record = read_stats_record(folder / STATS_FILE)
    path = folder / NGRAMS_FILE
    try:
        data = path.read_bytes()
    except OSError:
        raise InputError("missing: rerun the audit stage (harness run CONFIG --force)", path) from None
    if hashlib.sha256(data).hexdigest() != record.memorization.sha256:
        raise InputError(f"sha256 differs from {STATS_FILE}: the file changed since the audit wrote it", path)
    try:
        hashes = np.load(io.BytesIO(data), allow_pickle=False)
        m = record.memorization
        index = MemorizationIndex.from_hashes(hashes, m.min_chars, m.max_ngrams, m.stride, m.documents)
    except ValueError as err:
        raise InputError(f"not a memorization index ({err})", path) from None
    lemmas = Counter({(lemma, pos): count for lemma, pos, count in record.lemma_counts})
    pii = PiiCounter.from_counts(record.pii_texts, record.pii_counts)
    return CorpusStats(index, lemmas, pii, record.audit, record.memorization_probes)


def read_stats_record(path: Path) -> CorpusStatsRecord:
    """stats.json, validated; another version is refused with what to do."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError("missing: rerun the audit stage (harness run CONFIG --force)", path) from None
    except (ValueError, UnicodeDecodeError) as err:
        raise InputError(f"not valid JSON ({err})", path) from None
    version = data.get("version") if isinstance(data, dict) else None
    if version != CORPUS_STATS_VERSION:
        raise InputError(
            f"corpus stats version {version!r} is not {CORPUS_STATS_VERSION}, the one this harness reads: "
            "rerun the run with --force",
            path,
        )
    try:
        return CorpusStatsRecord.model_validate(data)
    except ValidationError as err:
        raise InputError(describe_validation(err), path) from None
