"""Which lemmas the tuned model uses more (or less) than the base model.

Counts are per (lemma, pos1) so that homographs with different parts of
speech stay apart; punctuation (補助記号) and whitespace (空白) are left out
because they would dominate the table without saying anything about register.
"""

from __future__ import annotations

from collections import Counter
from typing import Iterable, Mapping

from harness.analysis.protocol import Table, TextScore
from harness.analysis.stats import log_odds_dirichlet
from harness.analysis.tokenize import JapaneseTokenizer, Token
from harness.config import AnalysisConfig
from harness.record.schema import MeasureSpec

VOCAB_TABLE = "vocab_shift.csv"
VOCAB_COLUMNS = ["arm", "versus", "lemma", "pos", "count_versus", "count_arm", "log_odds", "z"]
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
    arm: str = "tuned",
    reference: str = "base",
) -> list[dict]:
    """vocab_shift.csv rows of one arm against the reference, sorted by z descending.

    Positive z leans toward ``arm``.  Log-odds with the informative Dirichlet
    prior of ``log_odds_dirichlet`` (A = arm, B = reference); floats rounded
    to 4 decimals.
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
            }
        )
    return rows


class VocabShiftBuilder:
    """Lemma counts per arm, then one block of rows per non-reference arm."""

    def __init__(self) -> None:
        self.counts: dict[str, Counter[tuple[str, str]]] = {}

    def observe(self, arm: str, tokens: list[Token]) -> None:
        self.counts.setdefault(arm, Counter()).update(lemma_counts([tokens]))

    def tables(self, arms: list[str], reference: str | None) -> list[Table]:
        rows: list[dict] = []
        if reference is not None and reference in self.counts:
            for arm in arms:
                if arm != reference and arm in self.counts:
                    rows += vocab_shift_rows(self.counts[reference], self.counts[arm], arm, reference)
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
