"""The samples section: completions of every arm side by side, flagged spans highlighted or masked.

Spans in scores.csv index ``Generation.text`` (the NFKC form), so the text
shown is that field, never the raw completion.  A completion becomes a list of
``Segment``s (plain text or a flagged span); the template loops over them and
its autoescaping does all the escaping.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import NamedTuple

from harness.errors import InputError
from harness.record.rundir import SCORES, RunDir
from harness.record.schema import Generation, ScoreRow
from harness.record.spans import MASK_CHAR, Span, parse_spans


class Segment(NamedTuple):
    """A run of a completion: plain text, or a flagged span with its tooltip and category slug."""

    text: str
    is_flag: bool = False
    title: str = ""
    slug: str = ""  # the category, reduced to [a-z0-9_-] for a CSS class


@dataclass
class Scored:
    """A generation with its scores row and the parsed spans over its text."""

    generation: Generation
    row: ScoreRow
    spans: list[Span]


@dataclass
class SampleCell:
    """One arm's completion of one prompt and sample (``missing`` when that arm has none)."""

    arm: str
    missing: bool = False
    seed: int | None = None
    hits: list[str] = field(default_factory=list)  # harmful binary measures this text scored 1 on
    segments: list[Segment] = field(default_factory=list)  # empty: the model ended the text at once


@dataclass
class SampleRow:
    """Sample ``index`` of a prompt: one cell per arm, in the record's arm order."""

    index: int
    cells: list[SampleCell]


@dataclass
class ProbeSamples:
    """A prompt with its shown sample rows."""

    probe_set: str
    probe_id: str
    category: str
    group: str | None
    prompt: str
    rows: list[SampleRow]


@dataclass
class SamplesDigest:
    """The samples section and its counts (shown of total)."""

    probes: list[ProbeSamples]
    probes_total: int
    generations_shown: int
    generations_total: int
    masked: bool


def score_generations(run: RunDir) -> list[Scored]:
    """Every generation joined to its scores row, spans parsed and checked against its text.

    A generation without a row, or a span cell that does not parse or falls
    outside the text, raises ``InputError`` naming scores.csv (and the line).
    """
    path = run.file(SCORES)
    rows: dict[str, tuple[int, ScoreRow]] = {}
    for line, row in enumerate(run.read_scores(), start=2):  # line 1 is the header
        rows[row.id] = (line, row)
    scored: list[Scored] = []
    for gen in run.read_generations():
        if gen.id not in rows:
            raise InputError(f"no row for generation {gen.id!r}", path)
        line, row = rows[gen.id]
        try:
            spans = parse_spans(row.details.get("flagged_spans", ""), len(gen.text))
        except ValueError as err:
            raise InputError(str(err), path, line) from None
        scored.append(Scored(gen, row, spans))
    return scored


def segments(text: str, spans: list[Span], mask: bool) -> list[Segment]:
    """``text`` cut at its spans; a masked span shows ``●`` per character and only its category."""
    out: list[Segment] = []
    pos = 0
    for span in spans:
        if span.start > pos:
            out.append(Segment(text[pos : span.start]))
        inner = MASK_CHAR * (span.end - span.start) if mask else text[span.start : span.end]
        title = span.category if mask else f"{span.category}: {span.term}"
        out.append(Segment(inner, True, title, re.sub(r"[^a-z0-9_-]", "", span.category.lower())))
        pos = span.end
    if pos < len(text):
        out.append(Segment(text[pos:]))
    return out


def masked_terms(scored: list[Scored]) -> set[str]:
    """Every matched term and surface form, so the vocabulary table can hide them too."""
    terms: set[str] = set()
    for item in scored:
        for span in item.spans:
            terms.update((span.term, item.generation.text[span.start : span.end]))
    return terms


def digest_samples(
    scored: list[Scored],
    arms: list[str],
    harmful_binary: list[str],
    *,
    mask: bool,
    max_probes: int | None,
    max_samples: int | None,
) -> SamplesDigest:
    """Group by prompt and sample index, one column per arm; keep the first ``max_*`` (None: all)."""
    probes: dict[tuple[str, str], dict[tuple[str, int], Scored]] = {}
    for item in scored:
        gen = item.generation
        probes.setdefault((gen.probe_set, gen.probe_id), {})[(gen.arm, gen.sample_index)] = item
    keys = list(probes)[:max_probes]
    shown = 0
    out: list[ProbeSamples] = []
    for key in keys:
        items = probes[key]
        first = next(iter(items.values())).generation
        rows: list[SampleRow] = []
        for index in sorted({i for _, i in items})[:max_samples]:
            cells: list[SampleCell] = []
            for arm in arms:
                item = items.get((arm, index))
                if item is None:
                    cells.append(SampleCell(arm, missing=True))
                    continue
                shown += 1
                hits = [m for m in harmful_binary if item.row.values.get(m) == 1]
                cells.append(
                    SampleCell(
                        arm,
                        seed=item.generation.seed,
                        hits=hits,
                        segments=segments(item.generation.text, item.spans, mask)
                        if item.generation.text.strip()
                        else [],
                    )
                )
            rows.append(SampleRow(index, cells))
        out.append(ProbeSamples(first.probe_set, first.probe_id, first.category, first.group, first.prompt, rows))
    return SamplesDigest(out, len(probes), shown, len(scored), mask)
