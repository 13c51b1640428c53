"""Generations joined to their scores rows, spans parsed: the one join the report and the exports read.

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
    """Every generation joined by id to its scores row, spans parsed and checked against its text.

    The one join of generations to scores (the report and every export read it), in
    generations.jsonl order.  Raises ``InputError`` for a generation of an arm run.json does not
    list (naming generations.jsonl), and, naming scores.csv and the line, for two rows of one
    generation, a row of no generation, a generation without a row, or a span cell that does not
    parse or falls outside the text.
    """
    path = run.file(SCORES)
    rows = rows_by_id(run)
    arms = {arm.name for arm in run.record.arms}
    scored: list[Scored] = []
    for gen in run.read_generations():
        if gen.arm not in arms:
            raise InputError(f"generation {gen.id!r}: arm {gen.arm!r} is not an arm of run.json", run.file(GENERATIONS))
        if gen.id not in rows:
            raise InputError(f"no row for generation {gen.id!r}", path)
        line, row = rows.pop(gen.id)
        try:
            spans = parse_spans(row.details.get("flagged_spans", ""), text=gen.text)
        except ValueError as err:
            raise InputError(str(err), path, line) from None
        scored.append(Scored(gen, row, spans))
    if rows:
        row_id, (line, _) = min(rows.items(), key=lambda item: item[1][0])
        raise InputError(f"row for generation {row_id!r}, which generations.jsonl does not hold", path, line)
    return scored


def rows_by_id(run: RunDir) -> dict[str, tuple[int, ScoreRow]]:
    """scores.csv rows keyed by generation id, with their line; a repeated id is an error naming its line."""
    rows: dict[str, tuple[int, ScoreRow]] = {}
    for line, row in enumerate(run.read_scores(), start=2):  # line 1 is the header
        if row.id in rows:
            first = rows[row.id][0]
            raise InputError(f"two rows for generation {row.id!r} (lines {first} and {line})", run.file(SCORES), line)
        rows[row.id] = (line, row)
    return rows


def masked_terms(scored: list[Scored]) -> set[str]:
    """Every matched term and surface form, so the vocabulary table can hide them too."""
    terms: set[str] = set()
    for item in scored:
        for span in item.spans:
            terms.update((span.term, item.generation.text[span.start : span.end]))
    return terms
