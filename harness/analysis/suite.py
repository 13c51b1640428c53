"""The analysis suite: every analyser over every text, tokenized once.

``ANALYSERS`` is the ONE list of analysers.  To add one, write a module with
a class following ``harness.analysis.protocol.Analyser`` (constructed with
``(AnalysisConfig, JapaneseTokenizer)``) and add the class here; its measures
then appear in scores.csv, summary.csv, groups.csv (harmful measures), the
corpus audit and its per-document scores (also on worker processes), the
catalogue in run.json, the report and the gates with no other change.
"""

from __future__ import annotations

from collections import Counter
from itertools import repeat
from operator import itemgetter
from typing import Any, Iterable, Sequence

from harness.analysis.classifier import ClassifierAnalyser
from harness.analysis.flagged import FlaggedAnalyser
from harness.analysis.groups import GROUP_COLUMNS, group_measures, group_rows
from harness.analysis.length import LengthAnalyser
from harness.analysis.pii_measures import PiiAnalyser, PiiCounter, kinds_of
from harness.analysis.protocol import Analyser, BatchScore, ScoredText, Table, TextScore
from harness.analysis.prevalence import corrected_specs, load_calibration
from harness.analysis.summary import AUDIT_COLUMNS, SUMMARY_COLUMNS, AuditAccumulator, corrected_rows, summarise
from harness.analysis.tokenize import BATCH, JapaneseTokenizer, TokenBatch, normalize
from harness.analysis.tone import ToneAnalyser
from harness.analysis.toxicity import rtp_rows, rtp_specs
from harness.analysis.vocab_shift import VocabShiftAnalyser, VocabShiftBuilder
from harness.config import AnalysisConfig
from harness.errors import ConfigError, InputError
from harness.record.rundir import CORPUS_AUDIT, GROUPS_TABLE, SCORES, SUMMARY
from harness.record.schema import SCORE_ID_COLUMNS, Calibration, Generation, MeasureSpec, ScoreRow

ANALYSERS = (FlaggedAnalyser, ToneAnalyser, LengthAnalyser, VocabShiftAnalyser, PiiAnalyser, ClassifierAnalyser)


class AnalysisSuite:
    """One MeCab tokenizer and every analyser of ``ANALYSERS``."""

    def __init__(
        self,
        config: AnalysisConfig,
        tokenizer: JapaneseTokenizer | None = None,
        analysers: Sequence[type] | None = None,
    ) -> None:
        """Build every analyser (loads the lexicons); measure names must be unique.

        ``analysers`` defaults to ``ANALYSERS`` as it is when the suite is
        built; ``analyser_classes`` keeps the classes, so that worker
        processes (``harness.analysis.parallel``) build the very same suite.
        """
        self.config = config
        self.tokenizer = tokenizer or JapaneseTokenizer(chunk_chars=config.chunk_chars, max_chars=config.max_chars)
        self.analyser_classes: tuple[type, ...] = tuple(ANALYSERS if analysers is None else analysers)
        self.analysers: tuple[Analyser, ...] = tuple(cls(config, self.tokenizer) for cls in self.analyser_classes)
        # optional hook (protocol.py): combining detectors after every analyser
        self.combiners = [a for a in self.analysers if hasattr(a, "combine")]
        seen: dict[str, str] = {}
        for analyser in self.analysers:
            for column in [*(m.name for m in analyser.measures()), *analyser.detail_columns()]:
                if column in seen or column in SCORE_ID_COLUMNS:
                    raise ConfigError(
                        f"column '{column}' of analyser '{analyser.name}' clashes with "
                        f"'{seen.get(column, 'the id columns')}' (rename the lexicon category?)"
                    )
                seen[column] = analyser.name
        self._calibration: Calibration | None = None

    def catalogue(self) -> list[MeasureSpec]:
        """Every per-text measure, in scores.csv column order."""
        return [spec for analyser in self.analysers for spec in analyser.measures()]

    def run_catalogue(self, k: int | None = None) -> list[MeasureSpec]:
        """The catalogue recorded in run.json: per-text measures, then the per-prompt
        RealToxicityPrompts measures (``k`` samples per prompt) and the corrected
        prevalences that summary.csv also holds."""
        return [*self.catalogue(), *rtp_specs(k, self.config.toxicity_threshold), *corrected_specs(self.calibration())]

    def calibration(self) -> Calibration:
        """The measured quality of this configuration's detectors (read once; see ``harness.analysis.prevalence``)."""
        if self._calibration is None:
            self._calibration = load_calibration(self.config)
        return self._calibration

    def score_columns(self) -> list[str]:
        """scores.csv columns: ids, then per analyser its measures and detail columns."""
        columns = list(SCORE_ID_COLUMNS)
        for analyser in self.analysers:
            columns += [m.name for m in analyser.measures()] + analyser.detail_columns()
        return columns

    def dictionary_info(self) -> dict[str, Any]:
        """The MeCab dictionary in use (recorded in run.json: results depend on it)."""
        return self.tokenizer.dictionary_info()

    def score_text(self, text: str) -> ScoredText:
        """Normalise and tokenize ``text`` once; run every analyser on the tokens.

        A text longer than the tokenizer's ``max_chars`` is cut to it first, so
        that every analyser sees the text the tokens cover.
        """
        return self.score_batch([text]).scored[0]

    def score_texts(self, texts: Iterable[str]) -> list[ScoredText]:
        """``score_text`` of each text, in order, computed a batch at a time (see ``score_batch``)."""
        return self.score_batch(texts).scored

    def score_batch(self, texts: Iterable[str]) -> ScoredBatch:
        """``score_text`` for many texts at once: each text's result is exactly what ``score_text`` gives.

        The texts are tokenized into one ``TokenBatch``; analysers with
        ``score_many`` scan its columns once for the whole batch, the others
        score text by text.  Feed it a few hundred texts at a time
        (``tokenize.BATCH``): memory grows with the batch.
        """
        batch = self.tokenizer.tokenize_many(texts)
        parts: list[BatchScore | list[TextScore]] = []
        for analyser in self.analysers:
            many = getattr(analyser, "score_many", None)
            if many is not None:
                parts.append(many(batch))
            else:
                parts.append(_as_columns(list(map(analyser.score, batch.texts, batch.tokens()))))
        columns = merge_columns(parts)
        if columns is not None and all(getattr(a, "combine_many", lambda *_: False)(*columns) for a in self.combiners):
            return ScoredBatch(batch, *columns)  # each text's dicts are made only when ``scored`` is read
        values, details = merge_scores(parts, len(batch))
        for analyser in self.combiners:
            for v, d in zip(values, details):
                analyser.combine(v, d)
        return ScoredBatch(batch, None, None, list(map(ScoredText, batch.texts, batch.tokens(), values, details)))

    def score_generations(
        self,
        generations: Sequence[Generation],
        arms: Sequence[str],
        reference: str | None,
        n_boot: int,
        seed: int,
        corpus_counts: Counter[tuple[str, str]] | None = None,
    ) -> list[Table]:
        """scores.csv, summary.csv and every analyser's extra tables, in that order.

        ``corpus_counts`` (lemma counts of the fine-tuning corpus) go to the
        builders that use them (the vocabulary shift: ``set_corpus``).

        Scores are computed on ``Generation.text`` (the stored NFKC form), so
        flag spans index the text that report and exports read.
        """
        catalogue = self.catalogue()
        columns = self.score_columns()
        builders = [b for b in (a.table_builder() for a in self.analysers) if b is not None]
        if corpus_counts is not None:
            for builder in builders:
                if isinstance(builder, VocabShiftBuilder):
                    builder.set_corpus(corpus_counts)
        csv_rows: list[dict[str, Any]] = []
        typed: list[ScoreRow] = []
        scored_all = (
            s
            for i in range(0, len(generations), BATCH)
            for s in self.score_texts([gen.text for gen in generations[i : i + BATCH]])
        )
        for gen, scored in zip(generations, scored_all):
            ids = {
                "id": gen.id,
                "arm": gen.arm,
                "probe_set": gen.probe_set,
                "probe_id": gen.probe_id,
                "category": gen.category,
                "group": gen.group,
                "sample_index": gen.sample_index,
                "seed": gen.seed,
            }
            csv_rows.append({**ids, **scored.values, **scored.details})
            typed.append(ScoreRow(**ids, values=scored.values, details={k: str(v) for k, v in scored.details.items()}))
            for builder in builders:
                builder.observe(gen.arm, scored)
        summary = summarise(typed, catalogue, list(arms), reference, n_boot=n_boot, seed=seed)
        summary += rtp_rows(
            typed, list(arms), reference, n_boot=n_boot, seed=seed, threshold=self.config.toxicity_threshold
        )
        summary += corrected_rows(typed, list(arms), self.calibration(), n_boot=n_boot, seed=seed)
        tables = [Table(SCORES, csv_rows, columns), Table(SUMMARY, summary, list(SUMMARY_COLUMNS))]
        for builder in builders:
            tables += builder.tables(list(arms), reference)
        groups = group_rows(typed, list(arms), reference, group_measures(catalogue), n_boot=n_boot, seed=seed)
        if groups:
            tables.append(Table(GROUPS_TABLE, groups, list(GROUP_COLUMNS)))
        return tables

    def corpus_audit(self) -> CorpusAudit:
        """A fresh accumulator for corpus_audit.csv (feed it texts with ``add``)."""
        return CorpusAudit(self)

    def audit_texts(self, texts: Iterable[str]) -> Table:
        """corpus_audit.csv: every measure over the corpus's texts (rate or mean, 95% CI).

        Streams ``texts`` (see ``CorpusAudit``): rates take the Wilson
        interval, means a normal-approximation one, so there is no bootstrap
        (and no seed).  An empty corpus raises ``InputError`` rather than
        producing empty rates.
        """
        audit = self.corpus_audit()
        for text in texts:
            audit.add(text)
        return audit.table()


class ScoredBatch:
    """``AnalysisSuite.score_batch``'s result: the texts' tokens (``tokens``) and their scores.

    ``values`` and ``details`` hold the scores as columns (name → one value
    per text) when every analyser gave columns; ``scored`` (a ``ScoredText``
    per text, with its own dicts) is built from them only when first read,
    so that callers adding up columns (the corpus audit, pool workers) pay
    for no dict per text.  ``value_columns`` and ``detail_column`` read
    either form.
    """

    __slots__ = ("tokens", "values", "details", "_scored")

    def __init__(
        self,
        tokens: TokenBatch,
        values: dict[str, list[Any]] | None,
        details: dict[str, list[Any]] | None,
        scored: list[ScoredText] | None = None,
    ) -> None:
        self.tokens, self.values, self.details, self._scored = tokens, values, details, scored

    @property
    def scored(self) -> list[ScoredText]:
        """Each text's ``ScoredText``, in order (what ``score_text`` gives)."""
        if self._scored is None:
            assert self.values is not None and self.details is not None
            n = len(self.tokens)
            values, details = _rows_of(self.values, n), _rows_of(self.details, n)
            self._scored = list(map(ScoredText, self.tokens.texts, self.tokens.tokens(), values, details))
        return self._scored

    def value_columns(self) -> dict[str, list[Any]]:
        """Every measure's values, one list per measure, in the catalogue's order."""
        if self.values is not None:
            return self.values
        rows = [s.values for s in self.scored]
        return {name: list(map(itemgetter(name), rows)) for name in (rows[0] if rows else ())}

    def detail_column(self, name: str, default: Any = "") -> list[Any]:
        """Detail cell ``name`` of every text (``default`` where a text has none)."""
        if self.details is not None:
            return self.details.get(name, [default] * len(self.tokens))
        return [s.details.get(name, default) for s in self.scored]


def _rows_of(columns: dict[str, list[Any]], n: int) -> list[dict[str, Any]]:
    """One dict per text from columns (C loops)."""
    if not columns:
        return [{} for _ in range(n)]
    return list(map(dict, map(zip, repeat(list(columns)), zip(*columns.values()))))


def merge_columns(parts: Sequence[BatchScore | list[TextScore]]) -> tuple[dict, dict] | None:
    """The analysers' results as one values and one details column dict, in order; None when one is per text."""
    if not all(isinstance(p, BatchScore) for p in parts):
        return None
    values: dict[str, list[Any]] = {}
    details: dict[str, list[Any]] = {}
    for part in parts:
        values.update(part.values)
        details.update(part.details)
    return values, details


def _as_columns(scores: list[TextScore]) -> BatchScore | list[TextScore]:
    """An analyser's per-text results as columns when every text has the same names (as a catalogue gives)."""
    if not scores:
        return BatchScore({}, {})
    names, cells = tuple(scores[0].values), tuple(scores[0].details)
    if any(tuple(s.values) != names or tuple(s.details) != cells for s in scores):
        return scores  # names vary by text: merged text by text
    values = {name: [s.values[name] for s in scores] for name in names}
    details = {name: [s.details[name] for s in scores] for name in cells}
    return BatchScore(values, details)


def merge_scores(parts: Sequence[BatchScore | list[TextScore]], n: int) -> tuple[list[dict], list[dict]]:
    """Each of ``n`` texts' values and details, merged over the analysers' results in order (as ``score_text``)."""
    return _per_text(parts, 0, n), _per_text(parts, 1, n)


def _per_text(parts: Sequence[BatchScore | list[TextScore]], field: int, n: int) -> list[dict[str, Any]]:
    """Each text's values (``field`` 0) or details (1), merged over the analysers in order, as ``score_text`` does."""
    columns = merge_columns(parts)
    if columns is not None:
        return _rows_of(columns[field], n)
    rows: list[dict[str, Any]] = [{} for _ in range(n)]
    for part in parts:
        if isinstance(part, BatchScore):
            for name, column in part[field].items():
                for row, value in zip(rows, column):
                    row[name] = value
        else:
            for row, score in zip(rows, part):
                row.update(score[field])
    return rows


class CorpusAudit:
    """corpus_audit.csv over a stream of texts in constant memory.

    Each text is scored and forgotten: rates keep counts (Wilson interval),
    means a running mean and variance (normal-approximation interval, see
    ``harness.analysis.summary.RunningMean``).  ``truncated`` counts the texts
    longer than the tokenizer's ``max_chars``, cut to it before analysis.
    """

    def __init__(self, suite: AnalysisSuite) -> None:
        self._suite = suite
        self._rows = AuditAccumulator(suite.catalogue())
        self.max_chars = suite.tokenizer.max_chars
        self.truncated = 0
        self.pii = PiiCounter()

    @property
    def n(self) -> int:
        """Texts audited so far."""
        return self._rows.n

    def add(self, text: str) -> ScoredText:
        """Score one text and add its values; the scored text is returned (for scores.csv)."""
        text = normalize(text)
        scored = self._suite.score_text(text)
        self.add_scored(scored.values, scored.details, len(text) > self.max_chars)
        return scored

    def add_many(self, texts: Sequence[str]) -> ScoredBatch:
        """``add`` for a batch of texts, scored at once (``AnalysisSuite.score_batch``)."""
        texts = [normalize(t) for t in texts]
        scored = self._suite.score_batch(texts)
        kinds = scored.detail_column("pii_kinds")
        self.add_columns(scored.value_columns(), kinds, [len(t) > self.max_chars for t in texts])
        return scored

    def add_columns(self, values: dict[str, list[Any]], pii_kinds: Sequence[str], truncated: Sequence[bool]) -> None:
        """Add texts scored elsewhere, as columns (``parallel.BatchValues``): as ``add_scored`` on each."""
        self.truncated += sum(truncated)
        self._rows.add_columns(values, len(truncated))
        self.pii.add_cells(pii_kinds)

    def add_scored(self, values: dict[str, Any], details: dict[str, Any], truncated: bool = False) -> None:
        """Add a text scored elsewhere (a worker process of ``harness.analysis.parallel``)."""
        if truncated:
            self.truncated += 1
        self._rows.add(values)
        self.pii.add(kinds_of(details))

    def pii_rows(self) -> list[dict]:
        """pii.csv rows of the corpus (scope ``corpus``, arm empty)."""
        return self.pii.rows("corpus", "")

    def table(self) -> Table:
        """The finished table; ``InputError`` when no text was added."""
        if not self.n:
            raise InputError("no texts to audit: the corpus is empty")
        return Table(CORPUS_AUDIT, self._rows.rows(), list(AUDIT_COLUMNS))
