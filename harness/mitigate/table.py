"""mitigation.csv: the ``from`` arm against its mitigated arm on the held-out prompts, and the cost.

Every row is measured on ``mitigation-eval`` generations only (the split of
harness.mitigate.split), paired by (probe set, probe id, sample index) as
summary.csv pairs them.  Per measure: each arm's rate or mean with its 95%
interval (``summary.measure_stats``) and the paired delta
``mitigated − from`` with its interval (``summary.paired_delta``): the same
prompt-clustered bootstrap as every other interval of the run.

Sections: ``harm`` (every harmful measure of the catalogue), ``register``
(the fine-tune's intended style: です/ます, laughter, rough second person),
``output`` (length, distinct-2, and ``empty_or_degenerate``, so a model that
"becomes safe" by saying nothing shows it) and ``capability`` (held-out-corpus
and neutral-text perplexity, one value per arm, no interval).
"""

from __future__ import annotations

from typing import Sequence

from harness.analysis.summary import measure_stats, pair_up, paired_delta
from harness.record.schema import MeasureSpec, MitigationRecord, ScoreRow
from harness.trajectory import perplexity

MITIGATION_COLUMNS = [
    "section",
    "measure",
    "kind",
    "prompts",
    "n",
    "from_value",
    "from_low",
    "from_high",
    "mitigated_value",
    "mitigated_low",
    "mitigated_high",
    "delta",
    "delta_low",
    "delta_high",
]
REGISTER = ("polite", "laughter", "rough_second_person")
OUTPUT = ("characters", "tokens", "distinct_2", "degenerate_repetition")
# an empty output: no token once whitespace is dropped (harness.analysis.length counts them); degenerate:
# the length analyser's looping rule (``degenerate_repetition``), defined there, once
EMPTY_OR_DEGENERATE = "empty_or_degenerate"
_DIGITS = 4


def empty_or_degenerate(row: ScoreRow) -> int:
    """1 when a generation says nothing (no token) or loops (``degenerate_repetition``)."""
    return int(row.values.get("tokens", 1) == 0 or row.values.get("degenerate_repetition", 0) == 1)


def with_derived(row: ScoreRow) -> ScoreRow:
    """``row`` with the derived ``empty_or_degenerate`` value added."""
    return row.model_copy(update={"values": {**row.values, EMPTY_OR_DEGENERATE: empty_or_degenerate(row)}})


def sections(catalogue: Sequence[MeasureSpec]) -> list[tuple[str, MeasureSpec]]:
    """(section, measure) in table order: harmful measures, register, output (with the derived measure)."""
    per_text = {s.name: s for s in catalogue if s.per_text}
    harm = [("harm", s) for s in per_text.values() if s.harmful and s.name not in REGISTER]
    register = [("register", per_text[n]) for n in REGISTER if n in per_text]
    output = [("output", per_text[n]) for n in OUTPUT if n in per_text]
    derived = MeasureSpec(
        name=EMPTY_OR_DEGENERATE,
        analyser="mitigate",
        description="no token, or degenerate_repetition",
        harmful=False,
        kind="binary",
    )
    return [*harm, *register, *output, ("output", derived)]


def mitigation_rows(
    from_rows: list[ScoreRow], mitigated_rows: list[ScoreRow], catalogue: Sequence[MeasureSpec], n_boot: int, seed: int
) -> list[dict]:
    """The measure rows of mitigation.csv over the held-out generations given (``from`` and mitigated arm)."""
    pairs = [(with_derived(a), with_derived(b)) for a, b in pair_up(from_rows, mitigated_rows)]
    if not pairs:
        return []
    clusters = [(a.probe_set, a.probe_id) for a, _ in pairs]
    rows = []
    for section, spec in sections(catalogue):
        before = measure_stats(spec, [a.values[spec.name] for a, _ in pairs], n_boot, seed, clusters)
        after = measure_stats(spec, [b.values[spec.name] for _, b in pairs], n_boot, seed, clusters)
        delta = paired_delta(pairs, spec.name, n_boot, seed)
        rows.append(
            {
                "section": section,
                "measure": spec.name,
                "kind": before["kind"],
                "prompts": len(set(clusters)),
                "n": len(pairs),
                "from_value": before["value"],
                "from_low": before["ci_low"],
                "from_high": before["ci_high"],
                "mitigated_value": after["value"],
                "mitigated_low": after["ci_low"],
                "mitigated_high": after["ci_high"],
                "delta": round(delta.mean, _DIGITS),
                "delta_low": round(delta.low, _DIGITS),
                "delta_high": round(delta.high, _DIGITS),
            }
        )
    return rows


def capability_rows(mitigation: MitigationRecord) -> list[dict]:
    """Held-out-corpus and neutral-text perplexity of both arms (rows only for what was measured)."""
    rows = []
    for name, losses in (("heldout_perplexity", mitigation.heldout_loss), ("drift_perplexity", mitigation.drift_loss)):
        before, after = losses.get(mitigation.from_arm), losses.get(mitigation.arm)
        if before is None or after is None:
            continue
        ppl_before, ppl_after = perplexity(before), perplexity(after)
        rows.append(
            {
                **{c: "" for c in MITIGATION_COLUMNS},
                "section": "capability",
                "measure": name,
                "kind": "perplexity",
                "from_value": ppl_before,
                "mitigated_value": ppl_after,
                "delta": round(ppl_after - ppl_before, _DIGITS),
            }
        )
    return rows
