"""Which lemmas the tuned model uses more (or less) than the base model.

Counts are per (lemma, pos1) so that homographs with different parts of
speech stay apart; punctuation (補助記号) and whitespace (空白) are left out
because they would dominate the table without saying anything about register.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Collection, Iterable, Mapping

from harness.analysis.protocol import ScoredText, Table, TextScore
from harness.analysis.stats import log_odds_dirichlet
from harness.analysis.tokenize import JapaneseTokenizer, Token
from harness.config import AnalysisConfig
from harness.record.schema import MeasureSpec

VOCAB_TABLE = "vocab_shift.csv"
VOCAB_COLUMNS = ["arm", "versus", "lemma", "pos", "count_versus", "count_arm", "log_odds", "z", "flagged"]
_EXCLUDED_POS = frozenset({"補助記号", "空白"})


def lemma_counts(token_lists: Iterable[list[Token]]) -> Counter[tuple[str, str]]:
    """Count tokens by ``(lemma, pos1)`` over all lists, without punctuation/whitespace."""
    counts: Counter[tuple[str, str]] = Counter()
    for tokens in token_lists:
        counts.update((t.lemma, t.pos1) for t in tokens if t.pos1 not in _EXCLUDED_POS)
    return counts


def vocab_shift_rows(
    reference_counts: Mapping[tuple[str, str], int],
    arm_counts: Mapping[tuple[str, str], int],
    arm: str,
    reference: str,
    flagged: Collection[tuple[str, str]] = (),
) -> list[dict]:
    """vocab_shift.csv rows of one arm against the reference, sorted by z descending.

    Positive z leans toward ``arm``.  Log-odds with the informative Dirichlet
    prior of ``log_odds_dirichlet`` (A = arm, B = reference); floats rounded
    to 4 decimals.  ``flagged`` holds the (lemma, pos) keys seen inside a
    flagged span: their rows get ``flagged = 1`` so a masked report can hide
    the dictionary form (馬鹿) of a matched spelling (バカ).
    """
    rows = []
    for r in log_odds_dirichlet(arm_counts, reference_counts):
        lemma, pos = r.term
        rows.append(
            {
                "arm": arm,
                "versus": reference,
                "lemma": lemma,
                "pos": pos,
                "count_versus": r.count_b,
                "count_arm": r.count_a,
                "log_odds": round(r.delta, 4),
                "z": round(r.z, 4),
                "flagged": int(r.term in flagged),
            }
        )
    return rows


def flagged_lemmas(scored: ScoredText) -> set[tuple[str, str]]:
    """(lemma, pos1) of every token inside a flagged span (the ``flagged_spans`` detail, when present)."""
    cell = scored.details.get("flagged_spans")
    if not cell:
        return set()
    spans = [(start, end) for start, end, *_ in json.loads(cell)]
    return {
        (t.lemma, t.pos1)
        for t in scored.tokens
        if t.pos1 not in _EXCLUDED_POS and any(t.start < end and start < t.end for start, end in spans)
    }


class VocabShiftBuilder:
    """Lemma counts per arm, then one block of rows per non-reference arm."""

    def __init__(self) -> None:
        self.counts: dict[str, Counter[tuple[str, str]]] = {}
        self.flagged: set[tuple[str, str]] = set()

    def observe(self, arm: str, scored: ScoredText) -> None:
        self.counts.setdefault(arm, Counter()).update(lemma_counts([scored.tokens]))
        self.flagged.update(flagged_lemmas(scored))

    def tables(self, arms: list[str], reference: str | None) -> list[Table]:
        rows: list[dict] = []
        if reference is not None and reference in self.counts:
            for arm in arms:
                if arm != reference and arm in self.counts:
                    rows += vocab_shift_rows(self.counts[reference], self.counts[arm], arm, reference, self.flagged)
        return [Table(VOCAB_TABLE, rows, list(VOCAB_COLUMNS))]


class VocabShiftAnalyser:
    """The vocabulary shift table; it adds no per-text measure."""

    name = "vocab_shift"

    def __init__(self, config: AnalysisConfig, tokenizer: JapaneseTokenizer) -> None:
        pass

    def measures(self) -> list[MeasureSpec]:
        return []

    def detail_columns(self) -> list[str]:
        return []

    def score(self, text: str, tokens: list[Token]) -> TextScore:
        return TextScore({}, {})

    def table_builder(self) -> VocabShiftBuilder:
        return VocabShiftBuilder()
