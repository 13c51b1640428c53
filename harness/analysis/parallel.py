"""Scoring a large corpus on several processes.

MeCab and the analysers are pure Python + C per text, so one process uses one
core.  ``score_parallel`` hands batches of texts to a pool of worker
processes, each with its own ``AnalysisSuite`` (built once per worker from the
same ``AnalysisConfig`` and the same analyser classes, so an analyser the
caller's suite has is never missing in a worker), and yields the results in
input order.  Workers are forked where that is safe — on Linux, in a process
with one thread and no torch loaded — and start in milliseconds with the
modules already imported; ``spawn`` imports the harness again in each (~1 s
of CPU per worker, most of the speed-up on a corpus scored in seconds).
Elsewhere they are spawned: a fork copies locks that other threads may hold
(torch's OpenMP pool, BLAS threads), and the child can deadlock on them.
Only values and a few detail cells travel back — every measure value and the
``KEPT_DETAILS`` cells, never tokens, as one list per column a batch
(``BatchValues``) — so the pipe carries ~200 bytes a text, and the parent
adds a batch up by columns rather than text by text.

The pool is two queues and N processes, not ``multiprocessing.Pool``: the
Pool's worker-handler thread also waits on the result pipe, so it wakes and
loops each time a result is ready, until the result thread has read it —
0.3–0.4 CPU s of the parent's 0.5 on 80,000 texts, taken from the workers'
two cores.  Workers normalise the raw texts they receive (NFKC is
idempotent, so already-normalised text is unchanged), and the caller may
hand whole batches (``score_batches``): the parent spends no Python step
per text.

Speed-up: see ``benchmarks/analysis.py`` (``--workers``), which times one
process against the pool in the same run.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import pickle
import queue
import sys
from collections import Counter
from itertools import repeat
from typing import Any, Iterable, Iterator, NamedTuple, Sequence

from harness.analysis.tokenize import BATCH
from harness.analysis.vocab_shift import lemma_counts
from harness.config import AnalysisConfig
from harness.text import normalize

# detail cells a worker sends back: the corpus audit's per-document scores and its PII counts use them
KEPT_DETAILS = ("flagged_categories", "detectors", "pii_kinds")

_SUITE = None  # the worker's suite (set by _init)
_COUNT_LEMMAS = True  # whether the worker sends (lemma, pos1) counts back (set by _init)


class ScoredValues(NamedTuple):
    """What a worker sends back for one text."""

    values: dict[str, Any]
    details: dict[str, Any]
    truncated: bool


class BatchValues(NamedTuple):
    """What a worker sends back for one batch, as columns: measure → one value per text, in order."""

    values: dict[str, list[Any]]
    details: dict[str, list[Any]]  # the ``KEPT_DETAILS`` cells
    truncated: list[bool]

    def texts(self) -> Iterator[ScoredValues]:
        """The batch text by text."""
        names, kept = list(self.values), list(self.details)
        n = len(self.truncated)
        value_rows = zip(*self.values.values()) if names else repeat((), n)
        detail_rows = zip(*self.details.values()) if kept else repeat((), n)
        rows = zip(value_rows, detail_rows, self.truncated)
        for values, details, truncated in rows:
            yield ScoredValues(dict(zip(names, values)), dict(zip(kept, details)), truncated)


def _init(config: AnalysisConfig, analysers: tuple[type, ...] | None, count_lemmas: bool = True) -> None:
    global _SUITE, _COUNT_LEMMAS
    _COUNT_LEMMAS = count_lemmas
    if _SUITE is not None:  # forked from a parent that lent its own suite (``score_parallel_batches``)
        return
    from harness.analysis.suite import AnalysisSuite

    _SUITE = AnalysisSuite(config, analysers=analysers)


def _score_batch(texts: list[str]) -> tuple[BatchValues, Counter[tuple[str, str]] | None]:
    assert _SUITE is not None
    return score_values(_SUITE, texts, _COUNT_LEMMAS)


def score_values(
    suite: Any, texts: list[str], count_lemmas: bool = True
) -> tuple[BatchValues, Counter[tuple[str, str]] | None]:
    """``texts`` scored by ``suite`` (an ``AnalysisSuite``): their values and kept details
    as columns, and (``count_lemmas``) their (lemma, pos1) counts — one Counter a batch: far
    fewer bytes than per text; None when not asked for (nothing to pickle).

    The texts are NFKC-normalised here, in the worker (a no-op on NFKC text:
    the form is idempotent), so the pool's parent only hands raw texts on.
    """
    limit = suite.tokenizer.max_chars
    texts = list(map(normalize, texts))
    scored = suite.score_batch(texts)
    columns = scored.value_columns()
    details = {k: scored.detail_column(k) for k in KEPT_DETAILS}
    truncated = [len(t) > limit for t in texts]
    return BatchValues(columns, details, truncated), lemma_counts([scored.tokens]) if count_lemmas else None


def start_method() -> str:
    """``fork`` on Linux in a single-threaded process without torch, else ``spawn`` (see the module docstring)."""
    if not sys.platform.startswith("linux") or "torch" in sys.modules:
        return "spawn"
    try:
        threads = len(os.listdir("/proc/self/task"))  # OS threads, BLAS pools included
    except OSError:
        return "spawn"
    return "fork" if threads == 1 else "spawn"


def _batches(texts: Iterable[str], size: int) -> Iterator[list[str]]:
    batch: list[str] = []
    for text in texts:
        batch.append(text)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def score_parallel(
    config: AnalysisConfig,
    texts: Iterable[str],
    workers: int,
    batch: int = BATCH,
    lemmas: Counter[tuple[str, str]] | None = None,
    analysers: Sequence[type] | None = None,
) -> Iterator[ScoredValues]:
    """Score ``texts`` (already NFKC) on ``workers`` processes; results in input order.

    ``lemmas``, when given, receives the texts' (lemma, pos1) counts
    (``harness.analysis.vocab_shift.lemma_counts``; the corpus side of the
    vocabulary shift), counted by the workers from the tokens they made.
    ``analysers``: the analyser classes of the caller's suite
    (``AnalysisSuite.analyser_classes``; default ``ANALYSERS``).  They travel
    to the workers by reference, so each must be importable by its module name.

    The input is consumed lazily (at most a few batches per worker ahead), so
    a corpus of any size streams through in bounded memory.
    """
    for values in score_parallel_batches(config, texts, workers, batch, lemmas, analysers):
        yield from values.texts()


def score_parallel_batches(
    config: AnalysisConfig,
    texts: Iterable[str],
    workers: int,
    batch: int = BATCH,
    lemmas: Counter[tuple[str, str]] | None = None,
    analysers: Sequence[type] | None = None,
    suite: Any = None,
) -> Iterator[BatchValues]:
    """``score_parallel`` a batch at a time, as columns (what the corpus audit adds up).

    ``suite``: the caller's ``AnalysisSuite`` (same config and analysers).  When
    workers are forked they inherit it, lexicons loaded and caches warm, instead
    of building their own; spawned workers build theirs from ``config``.
    """
    return score_batches(config, _batches(texts, batch), workers, lemmas, analysers, suite)


def score_batches(
    config: AnalysisConfig,
    batches: Iterable[list[str]],
    workers: int,
    lemmas: Counter[tuple[str, str]] | None = None,
    analysers: Sequence[type] | None = None,
    suite: Any = None,
) -> Iterator[BatchValues]:
    """``score_parallel_batches`` over batches the caller made (lists of texts, NFKC or not:
    the workers normalise), so that the parent spends no Python step per text on them."""
    global _SUITE
    method = start_method()
    context = multiprocessing.get_context(method)
    classes = None if analysers is None else tuple(analysers)
    tasks, results = context.Queue(), context.Queue()
    args = (tasks, results, config, classes, lemmas is not None)
    procs = [context.Process(target=_serve, args=args, daemon=True) for _ in range(workers)]
    lent = suite is not None and method == "fork" and _SUITE is None
    if lent:
        _SUITE = suite  # copied into each worker as it forks
    if method == "fork":
        # what exists now is never collected in the workers: their collector does not walk
        # (and so copy) the parent's pages; the parent collects as before once they are started
        gc.freeze()
    try:
        for proc in procs:
            proc.start()
    finally:
        if method == "fork":
            gc.unfreeze()
        if lent:
            _SUITE = None
    finished = False
    try:
        # at most 4 batches per worker are in flight (memory bounded); a worker takes the next
        # one as soon as it is free, and results are put back in input order
        early: dict[int, tuple[BatchValues, Counter[tuple[str, str]] | None]] = {}
        sent = done = 0
        for batch_texts in batches:
            tasks.put((sent, batch_texts))
            sent += 1
            if sent - done >= 4 * workers:
                yield _received(_result(done, early, results, procs), lemmas)
                done += 1
        while done < sent:
            yield _received(_result(done, early, results, procs), lemmas)
            done += 1
        finished = True
    finally:
        _stop(procs, tasks, finished)


def _serve(tasks: Any, results: Any, config: AnalysisConfig, analysers: tuple[type, ...] | None, count: bool) -> None:
    """A worker: score each ``(number, texts)`` task until ``None``; send back ``(number, result, error)``."""
    _init(config, analysers, count)
    for number, texts in iter(tasks.get, None):
        try:
            results.put((number, _score_batch(texts), None))
        except Exception as error:  # noqa: BLE001  (raised again in the parent)
            try:
                pickle.dumps(error)
            except Exception:  # noqa: BLE001
                error = RuntimeError(f"{type(error).__name__}: {error}")
            results.put((number, None, error))


def _result(number: int, early: dict, results: Any, procs: list) -> tuple[BatchValues, Counter | None]:
    """Batch ``number``'s result; results of later batches that arrive first wait in ``early``."""
    while number not in early:
        try:
            got, result, error = results.get(timeout=1)
        except queue.Empty:
            dead = [p.exitcode for p in procs if not p.is_alive()]
            if dead:
                raise RuntimeError(f"an analysis worker stopped (exit code {dead[0]})") from None
            continue
        if error is not None:
            raise error
        early[got] = result
    return early.pop(number)


def _stop(procs: list, tasks: Any, finished: bool) -> None:
    """Let the workers end after their tasks (``finished``), else end them now."""
    if finished:
        for _ in procs:
            tasks.put(None)
        tasks.close()
        tasks.join_thread()
        for proc in procs:
            proc.join()
        return
    tasks.cancel_join_thread()  # tasks no worker will take: exiting must not wait on them
    tasks.close()  # the feeder thread ends once it has written what the pipe takes
    for proc in procs:
        proc.terminate()
    for proc in procs:
        proc.join()


def _received(result: tuple[BatchValues, Counter[tuple[str, str]] | None], lemmas: Counter | None) -> BatchValues:
    values, counts = result
    if lemmas is not None and counts is not None:
        lemmas.update(counts)
    return values
