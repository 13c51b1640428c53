"""Generations joined to their scores.csv rows: what every export format is built from.

Everything is read through ``RunDir`` (validated ``Generation`` and
``ScoreRow`` records).  Masking happens here, once, so every format exports
the same text: a masked completion is ``Generation.text`` (the NFKC form the
spans index) with each span replaced by ``●``; an unmasked one is the
completion exactly as generated.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.errors import HarnessError, InputError
from harness.record.rundir import GENERATIONS, SCORES, RunDir
from harness.record.schema import Generation, ScoreRow
from harness.record.spans import MASK_CHAR, mask_text, parse_spans, split_list

FLAGGED = "flagged"  # the catalogue measure that decides negatives, pairs and labels


@dataclass(frozen=True)
class Joined:
    """One generation with its verdict and the text the exports carry."""

    generation: Generation
    flagged: bool
    completion: str  # as generated, or the masked normalised text
    terms: list[str]  # matched lexicon terms (masked with the completion)
    categories: list[str]  # lexicon categories of those terms


def load_joined(run: RunDir, mask: bool) -> list[Joined]:
    """Every generation of ``run`` joined by id to its scores row, in generations.jsonl order.

    Raises ``InputError`` naming scores.csv when a generation has no row (or
    two), or when its spans do not fit its text; ``HarnessError`` when the
    run's catalogue has no ``flagged`` measure.
    """
    try:
        run.record.measure(FLAGGED)
    except KeyError:
        raise HarnessError(
            f"run '{run.record.name}' has no '{FLAGGED}' measure: exports need a lexicon analysis"
        ) from None
    rows = rows_by_id(run)
    arms = {arm.name for arm in run.record.arms}
    joined: list[Joined] = []
    for gen in run.read_generations():
        if gen.arm not in arms:
            raise InputError(f"generation {gen.id!r}: arm {gen.arm!r} is not an arm of run.json", run.file(GENERATIONS))
        row = rows.get(gen.id)
        if row is None:
            raise InputError(f"no row for generation {gen.id!r}", run.file(SCORES))
        joined.append(join(run, gen, row, mask))
    return joined


def rows_by_id(run: RunDir) -> dict[str, ScoreRow]:
    """scores.csv rows keyed by generation id; a repeated id is an error."""
    rows: dict[str, ScoreRow] = {}
    for row in run.read_scores():
        if row.id in rows:
            raise InputError(f"two rows for generation {row.id!r}", run.file(SCORES))
        rows[row.id] = row
    return rows


def join(run: RunDir, gen: Generation, row: ScoreRow, mask: bool) -> Joined:
    """One generation and its row as a ``Joined`` (masked when asked)."""
    completion = gen.completion
    terms = split_list(row.details.get("flagged_terms", ""))
    if mask:
        try:
            spans = parse_spans(row.details.get("flagged_spans", ""), len(gen.text))
        except ValueError as err:
            raise InputError(f"generation {gen.id!r}: {err}", run.file(SCORES)) from None
        completion = mask_text(gen.text, spans)
        terms = [MASK_CHAR * len(term) for term in terms]
    categories = split_list(row.details.get("flagged_categories", ""))
    return Joined(gen, row.values[FLAGGED] == 1, completion, terms, categories)
