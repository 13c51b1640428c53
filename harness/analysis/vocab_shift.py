"""Which lemmas the tuned model uses more (or less) than the base model.

Counts are per (lemma, pos1) so that homographs with different parts of
speech stay apart; punctuation (補助記号), symbols (記号) and whitespace (空白)
are left out because they would dominate the table without saying anything
about register.

Choices (``analysis`` config keys):

* ``vocab_count: tokens | documents`` — count every token, or each lemma at
  most once per generation, so one runaway generation repeating a word
  cannot dominate the table;
* ``vocab_prior: pooled | uniform | corpus`` — the informative Dirichlet
  prior of the log-odds (Monroe, Colaresi & Quinn 2008, see
  ``harness.analysis.stats.log_odds_dirichlet``): ``pooled`` takes each
  lemma's share of both arms together (the default), ``uniform`` 1/V for
  every lemma (close to add-α smoothing), ``corpus`` its share of the
  fine-tuning corpus (add-one smoothed over the arms' vocabulary), which asks
  "more than the corpus would lead us to expect";
* ``vocab_prior_strength`` — α0, the prior's total pseudo-count (default:
  the pooled token count of the two arms; smaller shrinks less).

Every row carries ``word_class`` (content: nouns, verbs, adjectives,
adverbs, adjectival nouns; function: particles, auxiliaries, pronouns,
conjunctions, prefixes/suffixes, interjections, adnominals; other) for the
content-word and function-word views, and ``corpus_per_1k``, the lemma's rate
per 1,000 tokens of the fine-tuning corpus (empty without a corpus), so each
top term can be traced to the data.  ``vocab_divergence.csv`` holds the
Jensen–Shannon divergence (bits) between the arms' lemma distributions per
view, with a 95% bootstrap interval resampling generations of each arm.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from typing import Collection, Iterable, Mapping, Sequence

from harness.analysis.protocol import BatchScore, ScoredText, Table, TextScore
import numpy as np

from harness.analysis.stats import jensen_shannon_bits, log_odds_dirichlet
from harness.analysis.tokenize import JapaneseTokenizer, Token, TokenBatch, token_columns
from harness.config import AnalysisConfig
from harness.record.rundir import DIVERGENCE_TABLE, VOCAB_TABLE
from harness.record.schema import MeasureSpec

VOCAB_COLUMNS = [
    "arm",
    "versus",
    "lemma",
    "pos",
    "count_versus",
    "count_arm",
    "log_odds",
    "z",
    "flagged",
    "word_class",
    "corpus_per_1k",
]
DIVERGENCE_COLUMNS = ["arm", "versus", "view", "tokens_versus", "tokens_arm", "jsd_bits", "ci_low", "ci_high"]
_EXCLUDED_POS = frozenset({"補助記号", "空白", "記号"})
CONTENT_POS = frozenset({"名詞", "動詞", "形容詞", "副詞", "形状詞"})
FUNCTION_POS = frozenset({"助詞", "助動詞", "代名詞", "接続詞", "接頭辞", "接尾辞", "感動詞", "連体詞"})
VIEWS = ("all", "content", "function")
_DIVERGENCE_BOOT = 200


def word_class(pos1: str) -> str:
    """``content``, ``function`` or ``other`` for a unidic pos1."""
    return "content" if pos1 in CONTENT_POS else "function" if pos1 in FUNCTION_POS else "other"


def prior_shares(
    kind: str, keys: Iterable[tuple[str, str]], corpus: Mapping[tuple[str, str], int] | None
) -> dict[tuple[str, str], float] | None:
    """Prior share per lemma for ``vocab_prior`` (None: the pooled default of ``log_odds_dirichlet``)."""
    keys = list(keys)
    if kind == "uniform":
        return {k: 1.0 / len(keys) for k in keys} if keys else {}
    if kind == "corpus":
        if corpus is None:
            return None  # no corpus in the config: fall back to pooled (recorded in run.json config)
        total = sum(corpus.get(k, 0) for k in keys) + len(keys)
        return {k: (corpus.get(k, 0) + 1) / total for k in keys}
    return None


def lemma_counts(token_lists: Iterable[Sequence[Token]]) -> Counter[tuple[str, str]]:
    """Count tokens by ``(lemma, pos1)`` over all lists, without punctuation/whitespace."""
    counts: Counter[tuple[str, str]] = Counter()
    for tokens in token_lists:
        columns = token_columns(tokens)
        counts.update(zip(columns.lemma, columns.pos1))  # in C; the excluded pos1 go after
    for key in [key for key in counts if key[1] in _EXCLUDED_POS]:
        del counts[key]
    return counts


def vocab_shift_rows(
    reference_counts: Mapping[tuple[str, str], int],
    arm_counts: Mapping[tuple[str, str], int],
    arm: str,
    reference: str,
    flagged: Collection[tuple[str, str]] = (),
    prior: Mapping[tuple[str, str], float] | None = None,
    alpha0: float | None = None,
    corpus: Mapping[tuple[str, str], int] | None = None,
) -> list[dict]:
    """vocab_shift.csv rows of one arm against the reference, sorted by z descending.

    Positive z leans toward ``arm``.  Log-odds with the informative Dirichlet
    prior of ``log_odds_dirichlet`` (A = arm, B = reference); floats rounded
    to 4 decimals.  ``flagged`` holds the (lemma, pos) keys seen inside a
    flagged span: their rows get ``flagged = 1`` so a masked report can hide
    the dictionary form (馬鹿) of a matched spelling (バカ).
    """
    rows = []
    corpus_total = sum(corpus.values()) if corpus else 0
    for r in log_odds_dirichlet(arm_counts, reference_counts, alpha0=alpha0, prior=prior):
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
                "word_class": word_class(pos),
                "corpus_per_1k": round(1000 * corpus.get(r.term, 0) / corpus_total, 4) if corpus_total else "",
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
    """Lemma counts per arm (and per text, for the divergence bootstrap); one block of rows per non-reference arm."""

    def __init__(self, config: AnalysisConfig | None = None) -> None:
        self.config = config or AnalysisConfig(lexicons=[])
        self.counts: dict[str, Counter[tuple[str, str]]] = {}
        self.per_text: dict[str, list[Counter[tuple[str, str]]]] = {}
        self.flagged: set[tuple[str, str]] = set()
        self.corpus: Counter[tuple[str, str]] | None = None

    def set_corpus(self, counts: Counter[tuple[str, str]]) -> None:
        """The fine-tuning corpus's lemma counts (for ``corpus_per_1k`` and the ``corpus`` prior)."""
        self.corpus = counts

    def observe(self, arm: str, scored: ScoredText) -> None:
        counts = lemma_counts([scored.tokens])
        if self.config.vocab_count == "documents":
            counts = Counter(dict.fromkeys(counts, 1))
        self.counts.setdefault(arm, Counter()).update(counts)
        self.per_text.setdefault(arm, []).append(counts)
        self.flagged.update(flagged_lemmas(scored))

    def tables(self, arms: list[str], reference: str | None) -> list[Table]:
        rows: list[dict] = []
        divergence: list[dict] = []
        if reference is not None and reference in self.counts:
            for arm in arms:
                if arm != reference and arm in self.counts:
                    keys = self.counts[reference].keys() | self.counts[arm].keys()
                    prior = prior_shares(self.config.vocab_prior, keys, self.corpus)
                    rows += vocab_shift_rows(
                        self.counts[reference],
                        self.counts[arm],
                        arm,
                        reference,
                        self.flagged,
                        prior=prior,
                        alpha0=self.config.vocab_prior_strength,
                        corpus=self.corpus,
                    )
                    divergence += divergence_rows(self.per_text[reference], self.per_text[arm], arm, reference)
        return [
            Table(VOCAB_TABLE, rows, list(VOCAB_COLUMNS)),
            Table(DIVERGENCE_TABLE, divergence, list(DIVERGENCE_COLUMNS)),
        ]


def divergence_rows(
    reference_texts: list[Counter[tuple[str, str]]],
    arm_texts: list[Counter[tuple[str, str]]],
    arm: str,
    reference: str,
    n_boot: int = _DIVERGENCE_BOOT,
    seed: int = 0,
) -> list[dict]:
    """vocab_divergence.csv rows: JSD (bits) per view with a bootstrap over each arm's texts."""
    out = []
    for view in VIEWS:
        keep = (lambda pos: True) if view == "all" else (lambda pos, v=view: word_class(pos) == v)
        index: dict[tuple[str, str], int] = {}
        sides = []
        for texts in (reference_texts, arm_texts):
            rows_idx, terms, weights = [], [], []
            for i, counts in enumerate(texts):
                for key, c in counts.items():
                    if keep(key[1]):
                        rows_idx.append(i)
                        terms.append(index.setdefault(key, len(index)))
                        weights.append(c)
            sides.append(
                (
                    len(texts),
                    np.asarray(rows_idx, dtype=np.int64),
                    np.asarray(terms, dtype=np.int64),
                    np.asarray(weights, dtype=float),
                )
            )
        size = len(index)
        totals = [np.bincount(t, weights=w, minlength=size) if size else np.zeros(0) for _, _, t, w in sides]
        value = jensen_shannon_bits(totals[0], totals[1]) if size else math.nan
        rng = np.random.default_rng(seed)
        draws = []
        for _ in range(n_boot if size else 0):
            boot = []
            for n_texts, rows_idx, terms, weights in sides:
                multiplicity = np.bincount(rng.integers(0, n_texts, size=n_texts), minlength=n_texts)
                boot.append(np.bincount(terms, weights=weights * multiplicity[rows_idx], minlength=size))
            draws.append(jensen_shannon_bits(boot[0], boot[1]))
        finite = [d for d in draws if math.isfinite(d)]
        low, high = np.quantile(finite, [0.025, 0.975]) if finite else (math.nan, math.nan)
        out.append(
            {
                "arm": arm,
                "versus": reference,
                "view": view,
                "tokens_versus": int(totals[0].sum()),
                "tokens_arm": int(totals[1].sum()),
                "jsd_bits": round(value, 4) if math.isfinite(value) else "",
                "ci_low": round(float(low), 4) if math.isfinite(low) else "",
                "ci_high": round(float(high), 4) if math.isfinite(high) else "",
            }
        )
    return out


class VocabShiftAnalyser:
    """The vocabulary shift table; it adds no per-text measure."""

    name = "vocab_shift"

    def __init__(self, config: AnalysisConfig, tokenizer: JapaneseTokenizer) -> None:
        self.config = config

    def measures(self) -> list[MeasureSpec]:
        return []

    def detail_columns(self) -> list[str]:
        return []

    def score(self, text: str, tokens: Sequence[Token]) -> TextScore:
        return TextScore({}, {})

    def score_many(self, batch: TokenBatch) -> BatchScore:
        """No per-text measures: the counts are taken by the table builder."""
        return BatchScore({}, {})

    def table_builder(self) -> VocabShiftBuilder:
        return VocabShiftBuilder(self.config)
