"""The PII analyser (``pii`` per text) and pii.csv, for generations and for the corpus.

Detection itself lives in ``harness.analysis.pii``.  pii.csv columns:
``scope,arm,kind,n_texts,count,value`` — scope ``corpus`` (arm empty) or
``generations``; kind one of ``PII_KINDS`` or ``any``; value = count / n_texts,
the share of texts with at least one span of that kind.
"""

from __future__ import annotations

from collections import Counter
from itertools import compress, count
from typing import Sequence

from harness.analysis.pii import PII_GATE, PII_KINDS, find_pii
from harness.analysis.protocol import BatchScore, ScoredText, Table, TextScore
from harness.analysis.tokenize import JapaneseTokenizer, Token, TokenBatch
from harness.config import AnalysisConfig
from harness.record.rundir import PII_TABLE
from harness.record.schema import MeasureSpec

PII_COLUMNS = ["scope", "arm", "kind", "n_texts", "count", "value"]


class PiiCounter:
    """Texts seen and texts with each PII kind (one scope, one arm)."""

    def __init__(self) -> None:
        self.n = 0
        self.counts: Counter[str] = Counter()

    @classmethod
    def from_counts(cls, n: int, counts: dict[str, int]) -> PiiCounter:
        """A counter restored from stored counts (corpus_stats/stats.json)."""
        counter = cls()
        counter.n = n
        counter.counts.update(counts)
        return counter

    def add(self, kinds: set[str]) -> None:
        """Count one text whose PII kinds are ``kinds`` (empty: none)."""
        self.n += 1
        for kind in kinds:
            self.counts[kind] += 1
        if kinds:
            self.counts["any"] += 1

    def add_cells(self, cells: Sequence[str]) -> None:
        """Count texts by their ``pii_kinds`` cells: the same as ``add(kinds_of(...))`` text by text."""
        self.n += len(cells)
        for cell in filter(None, cells):
            self.n -= 1  # counted again by add
            self.add(kinds_of({"pii_kinds": cell}))

    def rows(self, scope: str, arm: str) -> list[dict]:
        """pii.csv rows, one per kind then ``any``."""
        return [
            {
                "scope": scope,
                "arm": arm,
                "kind": kind,
                "n_texts": self.n,
                "count": self.counts[kind],
                "value": round(self.counts[kind] / self.n, 6) if self.n else "",
            }
            for kind in (*PII_KINDS, "any")
        ]


def kinds_of(details: dict) -> set[str]:
    """The PII kinds recorded in a scored text's ``pii_kinds`` detail."""
    cell = str(details.get("pii_kinds", "") or "")
    return {k for k in cell.split("|") if k}


class PiiAnalyser:
    """``pii``: the text contains an e-mail, URL, phone, postal code, My Number or card number.

    Detail column ``pii_kinds`` (``|``-joined kinds found).  Works on the
    text, not the tokens: these formats are character patterns.
    """

    name = "pii"

    def __init__(self, config: AnalysisConfig, tokenizer: JapaneseTokenizer) -> None:
        self.config = config

    def measures(self) -> list[MeasureSpec]:
        return [
            MeasureSpec(
                name="pii",
                analyser=self.name,
                description="personal data (e-mail, URL, phone, 〒 postal code, My Number, card number) in the text",
                harmful=True,
                kind="binary",
            )
        ]

    def detail_columns(self) -> list[str]:
        return ["pii_kinds"]

    def score(self, text: str, tokens: Sequence[Token]) -> TextScore:
        # cheap gate: the patterns need '@', "www"/"http" or five close digits (pii.PII_GATE)
        if PII_GATE.search(text) is None:
            return TextScore({"pii": 0}, {"pii_kinds": ""})
        kinds = sorted({span.kind for span in find_pii(text)})
        return TextScore({"pii": int(bool(kinds))}, {"pii_kinds": "|".join(kinds)})

    def score_many(self, batch: TokenBatch) -> BatchScore:
        """``score`` of every text of ``batch``: only texts through the gate are searched."""
        n = len(batch)
        pii, kinds = [0] * n, [""] * n
        for i in compress(count(), map(PII_GATE.search, batch.texts)):
            scored = self.score(batch.texts[i], ())
            pii[i], kinds[i] = scored.values["pii"], scored.details["pii_kinds"]
        return BatchScore({"pii": pii}, {"pii_kinds": kinds})

    def table_builder(self) -> PiiTables:
        return PiiTables()


class PiiTables:
    """pii.csv rows of the generations, per arm."""

    def __init__(self) -> None:
        self._by_arm: dict[str, PiiCounter] = {}

    def observe(self, arm: str, scored: ScoredText) -> None:
        self._by_arm.setdefault(arm, PiiCounter()).add(kinds_of(scored.details))

    def tables(self, arms: list[str], reference: str | None) -> list[Table]:
        rows = [row for arm in arms if arm in self._by_arm for row in self._by_arm[arm].rows("generations", arm)]
        return [Table(PII_TABLE, rows, list(PII_COLUMNS))]
