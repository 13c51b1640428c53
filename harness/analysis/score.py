"""The analysis entry points: score texts, generations and the tuning corpus.

``Analyser`` tokenizes each text exactly once and derives everything from
those tokens: lexicon flags, tone features and vocabulary counts.  Its outputs
are plain rows for scores.csv, summary.csv, vocab_shift.csv and
corpus_audit.csv (see docs/run-directory.md); writing them is the caller's job.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

from harness.analysis.flagged import FlagMatch, find_flags
from harness.analysis.lexicon import Lexicon, load_lexicon, merge_lexicons
from harness.analysis.summary import AUDIT_COLUMNS, SUMMARY_COLUMNS, audit_rows, summarise
from harness.analysis.tokenize import JapaneseTokenizer, Token, normalize
from harness.analysis.tone import TONE_MEASURES, tone_features
from harness.analysis.vocab_shift import VOCAB_COLUMNS, lemma_counts, vocab_shift_rows
from harness.errors import InputError

ID_COLUMNS = ["id", "model", "probe_set", "probe_id", "category", "group", "sample_index", "seed"]
FLAG_COLUMNS = ["n_tokens", "flagged", "flag_count", "flagged_terms", "flagged_categories", "flagged_spans"]
_REQUIRED = ("id", "model", "probe_set", "probe_id", "category", "sample_index", "completion")

__all__ = ["Analyser", "Analysis", "TextScore", "AUDIT_COLUMNS", "SUMMARY_COLUMNS", "VOCAB_COLUMNS"]


@dataclass
class TextScore:
    """Everything measured on one text.

    ``values`` holds every measure of ``Analyser.measures()`` (0/1) plus
    ``n_tokens`` and ``flag_count``.
    """

    text: str
    tokens: list[Token]
    flags: list[FlagMatch]
    values: dict[str, int]

    @property
    def flagged_terms(self) -> str:
        """Distinct matched terms in text order, joined with '|'."""
        return "|".join(dict.fromkeys(f.term for f in self.flags))

    @property
    def flagged_categories(self) -> str:
        """Distinct matched categories, sorted, joined with '|'."""
        return "|".join(sorted({f.category for f in self.flags}))

    @property
    def flagged_spans(self) -> str:
        """JSON ``[[start, end, term, category], …]`` over the normalised text."""
        spans = [[f.start, f.end, f.term, f.category] for f in self.flags]
        return json.dumps(spans, ensure_ascii=False)


@dataclass
class Analysis:
    """Rows for scores.csv, summary.csv and vocab_shift.csv, with their column orders."""

    scores: list[dict]
    score_columns: list[str]
    summary: list[dict]
    summary_columns: list[str] = field(default_factory=lambda: list(SUMMARY_COLUMNS))
    vocab_shift: list[dict] = field(default_factory=list)
    vocab_columns: list[str] = field(default_factory=lambda: list(VOCAB_COLUMNS))


class Analyser:
    """One tokenizer and one merged lexicon, applied to texts and generations."""

    def __init__(self, lexicon_paths: Sequence[str | Path], tokenizer: JapaneseTokenizer | None = None) -> None:
        """Load and merge the lexicons; ``tokenizer`` may be shared with other code."""
        self.tokenizer = tokenizer or JapaneseTokenizer()
        self.lexicon: Lexicon = merge_lexicons(load_lexicon(p, self.tokenizer) for p in lexicon_paths)
        self._harmful = self.lexicon.harmful_categories()
        self._category_columns = {c: f"cat_{c}" for c in self.lexicon.categories}

    def measures(self) -> list[str]:
        """Binary measures, in column order: flagged, tone measures, cat_<category>."""
        return ["flagged", *TONE_MEASURES, *self._category_columns.values()]

    def score_columns(self) -> list[str]:
        """scores.csv columns in order."""
        return [*ID_COLUMNS, *FLAG_COLUMNS, *TONE_MEASURES, *self._category_columns.values()]

    def score_text(self, text: str) -> TextScore:
        """Normalise and tokenize ``text`` once; flag it and measure its tone."""
        text = normalize(text)
        tokens = self.tokenizer.tokenize(text)
        flags = find_flags(tokens, self.lexicon)
        values: dict[str, int] = {"n_tokens": len(tokens), "flag_count": len(flags)}
        values["flagged"] = int(any(f.category in self._harmful for f in flags))
        values.update(tone_features(tokens, text))
        hit = {f.category for f in flags}
        for category, column in self._category_columns.items():
            values[column] = int(category in hit)
        return TextScore(text=text, tokens=tokens, flags=flags, values=values)

    def score_generations(self, generations: list[dict], n_boot: int = 2000, seed: int = 0) -> Analysis:
        """Score every generation and summarise (see docs/run-directory.md).

        ``n_boot``/``seed`` drive the paired bootstrap of the deltas.  Vocabulary
        shift rows are produced only when both base and tuned generations exist.
        """
        columns = self.score_columns()
        rows: list[dict] = []
        vocab: dict[str, Counter[tuple[str, str]]] = {}
        for i, gen in enumerate(generations):
            _check_generation(gen, i)
            scored = self.score_text(gen["completion"])
            row: dict[str, Any] = {c: _blank(gen.get(c)) for c in ID_COLUMNS}
            row.update(scored.values)
            row["flagged_terms"] = scored.flagged_terms
            row["flagged_categories"] = scored.flagged_categories
            row["flagged_spans"] = scored.flagged_spans
            rows.append({c: row[c] for c in columns})
            # Count lemmas now so the tokens need not be kept for every generation.
            vocab.setdefault(str(gen["model"]), Counter()).update(lemma_counts([scored.tokens]))
        summary = summarise(rows, self.measures(), n_boot=n_boot, seed=seed)
        shift = vocab_shift_rows(vocab["base"], vocab["tuned"]) if {"base", "tuned"} <= vocab.keys() else []
        return Analysis(scores=rows, score_columns=columns, summary=summary, vocab_shift=shift)

    def audit_texts(self, texts: Iterable[str]) -> list[dict]:
        """corpus_audit.csv rows: for each measure, how many texts have it (Wilson 95%).

        An empty corpus raises ``InputError`` rather than producing empty rates.
        """
        measures = self.measures()
        totals = dict.fromkeys(measures, 0)
        n = 0
        for text in texts:
            values = self.score_text(text).values
            for m in measures:
                totals[m] += values[m]
            n += 1
        if n == 0:
            raise InputError("no texts to audit: the corpus is empty")
        return audit_rows(totals, n, measures)


def _check_generation(gen: Any, index: int) -> None:
    if not isinstance(gen, dict):
        raise InputError(f"generation #{index} is not a JSON object")
    missing = [k for k in _REQUIRED if gen.get(k) is None]
    if missing:
        raise InputError(f"generation #{index} ({gen.get('id', 'no id')}) lacks {', '.join(missing)}")
    if not isinstance(gen["completion"], str):
        raise InputError(f"generation #{index} ({gen['id']}): completion is not a string")


def _blank(value: Any) -> Any:
    """None (e.g. group null) becomes '' so CSV shows an empty cell."""
    return "" if value is None else value
