"""The analysis suite: every analyser over every text, tokenized once.

``ANALYSERS`` is the ONE list of analysers.  To add one, write a module with
a class following ``harness.analysis.protocol.Analyser`` (constructed with
``(AnalysisConfig, JapaneseTokenizer)``) and add the class here; its measures
then appear in scores.csv, summary.csv, the catalogue in run.json, the report
and the gates with no other change.
"""

from __future__ import annotations

from typing import Any, Iterable, Sequence

from harness.analysis.flagged import FlaggedAnalyser
from harness.analysis.length import LengthAnalyser
from harness.analysis.protocol import Analyser, ScoredText, Table, TextScore
from harness.analysis.summary import AUDIT_COLUMNS, SUMMARY_COLUMNS, audit_rows, summarise
from harness.analysis.tokenize import JapaneseTokenizer, normalize
from harness.analysis.tone import ToneAnalyser
from harness.analysis.vocab_shift import VocabShiftAnalyser
from harness.config import AnalysisConfig
from harness.errors import ConfigError, InputError
from harness.record.schema import SCORE_ID_COLUMNS, Generation, MeasureSpec, ScoreRow

ANALYSERS = (FlaggedAnalyser, ToneAnalyser, LengthAnalyser, VocabShiftAnalyser)

SCORES_TABLE = "scores.csv"
SUMMARY_TABLE = "summary.csv"
CORPUS_AUDIT_TABLE = "corpus_audit.csv"


class AnalysisSuite:
    """One MeCab tokenizer and every analyser of ``ANALYSERS``."""

    def __init__(self, config: AnalysisConfig, tokenizer: JapaneseTokenizer | None = None) -> None:
        """Build every analyser (loads the lexicons); measure names must be unique."""
        self.config = config
        self.tokenizer = tokenizer or JapaneseTokenizer()
        self.analysers: tuple[Analyser, ...] = tuple(cls(config, self.tokenizer) for cls in ANALYSERS)
        seen: dict[str, str] = {}
        for analyser in self.analysers:
            for column in [*(m.name for m in analyser.measures()), *analyser.detail_columns()]:
                if column in seen or column in SCORE_ID_COLUMNS:
                    raise ConfigError(
                        f"column '{column}' of analyser '{analyser.name}' clashes with "
                        f"'{seen.get(column, 'the id columns')}' (rename the lexicon category?)"
                    )
                seen[column] = analyser.name

    def catalogue(self) -> list[MeasureSpec]:
        """Every measure, in scores.csv column order."""
        return [spec for analyser in self.analysers for spec in analyser.measures()]

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
        """Normalise and tokenize ``text`` once; run every analyser on the tokens."""
        text = normalize(text)
        tokens = self.tokenizer.tokenize(text)
        values: dict[str, Any] = {}
        details: dict[str, Any] = {}
        for analyser in self.analysers:
            result: TextScore = analyser.score(text, tokens)
            values.update(result.values)
            details.update(result.details)
        return ScoredText(text, tokens, values, details)

    def score_generations(
        self,
        generations: Sequence[Generation],
        arms: Sequence[str],
        reference: str | None,
        n_boot: int,
        seed: int,
    ) -> list[Table]:
        """scores.csv, summary.csv and every analyser's extra tables, in that order.

        Scores are computed on ``Generation.text`` (the stored NFKC form), so
        flag spans index the text that report and exports read.
        """
        catalogue = self.catalogue()
        columns = self.score_columns()
        builders = [b for b in (a.table_builder() for a in self.analysers) if b is not None]
        csv_rows: list[dict[str, Any]] = []
        typed: list[ScoreRow] = []
        for gen in generations:
            scored = self.score_text(gen.text)
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
        tables = [Table(SCORES_TABLE, csv_rows, columns), Table(SUMMARY_TABLE, summary, list(SUMMARY_COLUMNS))]
        for builder in builders:
            tables += builder.tables(list(arms), reference)
        return tables

    def audit_texts(self, texts: Iterable[str], n_boot: int, seed: int) -> Table:
        """corpus_audit.csv: every measure over the corpus's texts (rate or mean, 95% CI).

        An empty corpus raises ``InputError`` rather than producing empty rates.
        """
        catalogue = self.catalogue()
        values: dict[str, list[float]] = {spec.name: [] for spec in catalogue}
        for text in texts:
            scored = self.score_text(text)
            for spec in catalogue:
                values[spec.name].append(scored.values[spec.name])
        if not catalogue or not values[catalogue[0].name]:
            raise InputError("no texts to audit: the corpus is empty")
        return Table(CORPUS_AUDIT_TABLE, audit_rows(values, catalogue, n_boot, seed), list(AUDIT_COLUMNS))
