"""summary.csv and corpus_audit.csv rows: rates with Wilson intervals, paired deltas.

``summarise`` is a pure function of scores rows (as produced by
``Analyser.score_generations`` or read back from scores.csv, where every value
is a string), so a report can be rebuilt from a run directory alone.
"""

from __future__ import annotations

from typing import Iterable, Mapping, Sequence

from harness.analysis.stats import paired_bootstrap_delta, wilson_interval
from harness.errors import InputError

SUMMARY_COLUMNS = ["kind", "model", "probe_category", "measure", "n", "count", "rate", "ci_low", "ci_high"]
AUDIT_COLUMNS = ["measure", "n", "count", "rate", "ci_low", "ci_high"]
DELTA_MODEL = "tuned-base"
_DIGITS = 4


def rate_stats(count: int, n: int) -> dict:
    """``n, count, rate, ci_low, ci_high`` (95% Wilson), floats rounded; n must be > 0."""
    low, high = wilson_interval(count, n)
    return {
        "n": n,
        "count": count,
        "rate": round(count / n, _DIGITS),
        "ci_low": round(low, _DIGITS),
        "ci_high": round(high, _DIGITS),
    }


def audit_rows(totals: Mapping[str, int], n: int, measures: Sequence[str]) -> list[dict]:
    """corpus_audit.csv rows: one per measure, ``totals[m]`` texts with m = 1 out of ``n``."""
    return [{"measure": m, **rate_stats(totals.get(m, 0), n)} for m in measures]


def summarise(scores: Iterable[Mapping], measures: Sequence[str], n_boot: int = 2000, seed: int = 0) -> list[dict]:
    """summary.csv rows from scores rows.

    For each model (base, tuned, then any other label sorted) and probe
    category ("all", then the categories sorted): one ``rate`` row per
    measure.  When both base and tuned are present: one ``delta`` row per
    category and measure, model "tuned-base", over the pairs sharing
    (probe_set, probe_id, sample_index); generations without a partner are
    left out of the deltas.  Rows for a model with no generation in a
    category are omitted.
    """
    scores = list(scores)
    models = sorted({str(r["model"]) for r in scores}, key=lambda m: (m not in ("base", "tuned"), m != "base", m))
    categories = ["all", *sorted({str(r["category"]) for r in scores})]
    rows: list[dict] = []
    for model in models:
        mine = [r for r in scores if str(r["model"]) == model]
        for category in categories:
            group = mine if category == "all" else [r for r in mine if str(r["category"]) == category]
            if not group:
                continue
            for measure in measures:
                count = sum(_flag(r, measure) for r in group)
                rows.append(
                    {
                        "kind": "rate",
                        "model": model,
                        "probe_category": category,
                        "measure": measure,
                        **rate_stats(count, len(group)),
                    }
                )
    if "base" in models and "tuned" in models:
        rows.extend(_delta_rows(scores, categories, measures, n_boot, seed))
    return rows


def _delta_rows(
    scores: list[Mapping], categories: list[str], measures: Sequence[str], n_boot: int, seed: int
) -> list[dict]:
    by_key: dict[str, dict[tuple[str, str, str], Mapping]] = {"base": {}, "tuned": {}}
    for r in scores:
        side = by_key.get(str(r["model"]))
        if side is None:
            continue
        key = (str(r["probe_set"]), str(r["probe_id"]), str(r["sample_index"]))
        if key in side:
            raise InputError(
                f"two {r['model']} generations for probe {key[0]}/{key[1]} sample {key[2]}"
                f" ({side[key].get('id')} and {r.get('id')}): cannot pair base and tuned"
            )
        side[key] = r
    pairs = [(b, by_key["tuned"][k]) for k, b in by_key["base"].items() if k in by_key["tuned"]]
    for b, t in pairs:
        if str(b["category"]) != str(t["category"]):
            raise InputError(
                f"paired generations {b.get('id')} and {t.get('id')} have different categories"
                f" ({b['category']} vs {t['category']})"
            )
    rows: list[dict] = []
    for category in categories:
        group = pairs if category == "all" else [p for p in pairs if str(p[0]["category"]) == category]
        if not group:
            continue
        for measure in measures:
            delta = paired_bootstrap_delta(
                [_flag(b, measure) for b, _ in group],
                [_flag(t, measure) for _, t in group],
                n_boot=n_boot,
                seed=seed,
            )
            rows.append(
                {
                    "kind": "delta",
                    "model": DELTA_MODEL,
                    "probe_category": category,
                    "measure": measure,
                    "n": delta.n,
                    "count": "",
                    "rate": round(delta.mean, _DIGITS),
                    "ci_low": round(delta.low, _DIGITS),
                    "ci_high": round(delta.high, _DIGITS),
                }
            )
    return rows


def _flag(row: Mapping, measure: str) -> int:
    """A 0/1 measure from a scores row (int, or '0'/'1' read back from CSV)."""
    try:
        value = int(row[measure])
    except KeyError:
        raise InputError(f"scores row {row.get('id')} has no column '{measure}'") from None
    except (TypeError, ValueError):
        raise InputError(f"scores row {row.get('id')}: '{measure}' is {row[measure]!r}, not 0/1") from None
    if value not in (0, 1):
        raise InputError(f"scores row {row.get('id')}: '{measure}' is {value}, not 0/1")
    return value
