"""Which lemmas the tuned model uses more (or less) than the base model.

Counts are per (lemma, pos1) so that homographs with different parts of
speech stay apart; punctuation (補助記号) and whitespace (空白) are left out
because they would dominate the table without saying anything about register.
"""

from __future__ import annotations

from collections import Counter
from typing import Iterable, Mapping

from harness.analysis.stats import log_odds_dirichlet
from harness.analysis.tokenize import Token

VOCAB_COLUMNS = ["lemma", "pos", "count_base", "count_tuned", "log_odds", "z"]
_EXCLUDED_POS = frozenset({"補助記号", "空白"})


def lemma_counts(token_lists: Iterable[list[Token]]) -> Counter[tuple[str, str]]:
    """Count tokens by ``(lemma, pos1)`` over all lists, without punctuation/whitespace."""
    counts: Counter[tuple[str, str]] = Counter()
    for tokens in token_lists:
        counts.update((t.lemma, t.pos1) for t in tokens if t.pos1 not in _EXCLUDED_POS)
    return counts


def vocab_shift_rows(
    base_counts: Mapping[tuple[str, str], int],
    tuned_counts: Mapping[tuple[str, str], int],
) -> list[dict]:
    """vocab_shift.csv rows, sorted by z descending (positive z leans to tuned).

    Log-odds with the informative Dirichlet prior of ``log_odds_dirichlet``
    (A = tuned, B = base); floats rounded to 4 decimals.
    """
    rows = []
    for r in log_odds_dirichlet(tuned_counts, base_counts):
        lemma, pos = r.term
        rows.append(
            {
                "lemma": lemma,
                "pos": pos,
                "count_base": r.count_b,
                "count_tuned": r.count_a,
                "log_odds": round(r.delta, 4),
                "z": round(r.z, 4),
            }
        )
    return rows
