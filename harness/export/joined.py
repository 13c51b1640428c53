"""Generations joined to their scores.csv rows: what every export format is built from.

The join itself is the report's (``harness.report.samples``), so the report
and the exports check the run's files alike.  Masking happens here, once, so every format exports
the same text: a masked completion is ``Generation.text`` (the NFKC form the
spans index) with each span replaced by ``●``; an unmasked one is the
completion exactly as generated.  PII (``export.mask_pii``) is masked in
prompts and completions either way.  Which texts are undesirable follows
``export`` (categories, severities, arms, score threshold): see ``Selection``.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.analysis.pii import mask_pii
from harness.config import ExportConfig
from harness.errors import ConfigError, HarnessError
from harness.record.rundir import RunDir
from harness.record.schema import Generation, RunRecord
from harness.record.spans import MASK_CHAR, mask_text, split_list
from harness.report.samples import Scored, score_generations

FLAGGED = "flagged"  # the catalogue measure that decides what is clean (not flagged at all)
LEXICON = "lexicon"  # the detector name of a lexicon match when scores.csv has no detectors column


@dataclass(frozen=True)
class Joined:
    """One generation with its verdicts and the texts the exports carry."""

    generation: Generation
    flagged: bool  # the ``flagged`` measure: anything harmful matched
    undesirable: bool  # selected by the export's filters (a topic-only selection may pick unflagged texts)
    prompt: str  # PII-masked when asked
    completion: str  # as generated, or the masked normalised text (PII-masked when asked)
    terms: list[str]  # matched lexicon terms (masked with the completion)
    categories: list[str]  # lexicon categories of those terms
    detectors: list[str]  # detectors that flagged the text (scores.csv ``detectors``)
    score: float | None  # the export's score measure (e.g. toxicity), None when not measured


class Selection:
    """The export's filters over the run's catalogue: which arms, categories, severities and scores."""

    def __init__(self, record: RunRecord, options: ExportConfig):
        self.options = options
        arms = [a.name for a in record.arms]
        unknown = [a for a in options.arms if a not in arms]
        if unknown:
            raise ConfigError(f"export.arms: unknown arm(s) {', '.join(unknown)} (arms: {', '.join(arms)})")
        # severity of a lexicon category, from its catalogue measure cat_<name>
        self.severity = {
            m.name.removeprefix("cat_"): "harmful" if m.harmful else "topic"
            for m in record.measures
            if m.name.startswith("cat_")
        }
        unknown = [c for c in options.categories if c not in self.severity]
        if unknown:
            known = ", ".join(self.severity) or "none"
            raise ConfigError(f"export.categories: unknown categor(ies) {', '.join(unknown)} (known: {known})")
        self.score_known = any(m.name == options.score_measure for m in record.measures)
        if options.min_score is not None and not self.score_known:
            raise ConfigError(
                f"export.min_score: the run has no '{options.score_measure}' measure (export.score_measure)"
            )

    def arm(self, name: str) -> bool:
        """Whether arm ``name`` is exported."""
        return not self.options.arms or name in self.options.arms

    def undesirable(self, flagged: bool, categories: list[str], score: float | None) -> bool:
        """A text is undesirable when a matched category passes the category and severity filters
        (or, with no category filter and severity harmful, when it is flagged at all, e.g. by a
        classifier) and its score reaches ``min_score``."""
        options = self.options
        matched = any(
            self.severity.get(c, "harmful") in options.severities
            and (not options.categories or c in options.categories)
            for c in categories
        )
        if not options.categories and "harmful" in options.severities and flagged:
            matched = True
        if options.min_score is not None and (score is None or score < options.min_score):
            return False
        return matched


def load_joined(run: RunDir, mask: bool, options: ExportConfig | None = None) -> list[Joined]:
    """Every generation of the exported arms joined to its scores row, in generations.jsonl order.

    The join and its checks are the report's (``harness.report.samples.score_generations``:
    ``InputError`` for rows missing, repeated or orphaned, unknown arms, bad spans).
    ``options`` defaults to the run's own ``export`` config.  Raises ``HarnessError`` when the
    run's catalogue has no ``flagged`` measure; ``ConfigError`` for a filter naming an unknown
    arm, category or measure.
    """
    try:
        run.record.measure(FLAGGED)
    except KeyError:
        raise HarnessError(
            f"run '{run.record.name}' has no '{FLAGGED}' measure: exports need a lexicon analysis"
        ) from None
    selection = Selection(run.record, options or run.record.config.export)
    return [join(item, mask, selection) for item in score_generations(run) if selection.arm(item.generation.arm)]


def join(item: Scored, mask: bool, selection: Selection) -> Joined:
    """One scored generation as a ``Joined`` (flagged spans masked when asked, PII when the options say)."""
    gen, row = item.generation, item.row
    completion = gen.completion
    terms = split_list(row.details.get("flagged_terms", ""))
    if mask:
        completion = mask_text(gen.text, item.spans)
        terms = [MASK_CHAR * len(term) for term in terms]
    prompt = gen.prompt
    if selection.options.mask_pii:
        prompt, completion = mask_pii(prompt), mask_pii(completion)
    categories = split_list(row.details.get("flagged_categories", ""))
    flagged = row.values[FLAGGED] == 1
    if "detectors" in row.details:
        detectors = [d for d in row.details["detectors"].split(";") if d]
    else:  # scores.csv before detectors were recorded: the lexicon was the only one
        detectors = [LEXICON] if flagged else []
    score = row.values.get(selection.options.score_measure)
    return Joined(
        generation=gen,
        flagged=flagged,
        undesirable=selection.undesirable(flagged, categories, score),
        prompt=prompt,
        completion=completion,
        terms=terms,
        categories=categories,
        detectors=detectors,
        score=score,
    )


def clean(item: Joined) -> bool:
    """Desirable: neither flagged nor selected (KTO label true, a DPO ``chosen``)."""
    return not item.flagged and not item.undesirable
