"""Generations joined to their scores rows, spans parsed: what the sample browser and masking read.

Spans in scores.csv index ``Generation.text`` (the NFKC form), so the text
shown is that field, never the raw completion.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.errors import InputError
from harness.record.rundir import GENERATIONS, SCORES, RunDir
from harness.record.schema import Generation, ScoreRow
from harness.record.spans import Span, parse_spans


@dataclass
class Scored:
    """A generation with its scores row and the parsed spans over its text."""

    generation: Generation
    row: ScoreRow
    spans: list[Span]


def score_generations(run: RunDir) -> list[Scored]:
    """Every generation joined to its scores row, spans parsed and checked against its text.

    A generation of an arm run.json does not list, one without a row, or a span cell that does not parse or falls
    outside the text, raises ``InputError`` naming scores.csv (and the line).
    """
    path = run.file(SCORES)
    rows: dict[str, tuple[int, ScoreRow]] = {}
    for line, row in enumerate(run.read_scores(), start=2):  # line 1 is the header
        rows[row.id] = (line, row)
    scored: list[Scored] = []
    arms = {arm.name for arm in run.record.arms}
    for gen in run.read_generations():
        if gen.arm not in arms:
            raise InputError(f"generation {gen.id!r}: arm {gen.arm!r} is not an arm of run.json", run.file(GENERATIONS))
        if gen.id not in rows:
            raise InputError(f"no row for generation {gen.id!r}", path)
        line, row = rows[gen.id]
        try:
            spans = parse_spans(row.details.get("flagged_spans", ""), len(gen.text))
        except ValueError as err:
            raise InputError(str(err), path, line) from None
        scored.append(Scored(gen, row, spans))
    return scored


def masked_terms(scored: list[Scored]) -> set[str]:
    """Every matched term and surface form, so the vocabulary table can hide them too."""
    terms: set[str] = set()
    for item in scored:
        for span in item.spans:
            terms.update((span.term, item.generation.text[span.start : span.end]))
    return terms
