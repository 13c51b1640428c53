"""summarise: rate and mean rows, paired deltas and the row layout, on hand-made score rows.

Wilson bounds (z = 1.96, formula in test_analysis_stats): 1/3 → (0.0615, 0.7923),
3/4 → (0.3006, 0.9544), 0/2 → (0, 0.6576), 2/2 → (0.3424, 1), 1/1 → (0.2065, 1).
"""

from __future__ import annotations

import math

import pytest

from harness.analysis.summary import SUMMARY_COLUMNS, summarise
from harness.errors import InputError
from harness.record.schema import MeasureSpec, ScoreRow

CATALOGUE = [
    MeasureSpec(name="flagged", analyser="t", description="", harmful=True, kind="binary"),
    MeasureSpec(name="chars", analyser="t", description="", harmful=False, kind="mean"),
]
# p2 is listed first and its category sorts after p1's: the output order must not follow the input
CATEGORY = {"p2": "zeta", "p1": "alpha", "p3": "mid"}


def row(arm: str, probe_id: str, index: int, flagged: int, chars: float, category: str | None = None) -> ScoreRow:
    return ScoreRow(
        id=f"{arm}/s/{probe_id}/{index}",
        arm=arm,
        probe_set="s",
        probe_id=probe_id,
        category=category or CATEGORY[probe_id],
        sample_index=index,
        seed=index,
        values={"flagged": flagged, "chars": chars},
    )


BASE = [row("base", "p2", 0, 1, 30), row("base", "p1", 0, 0, 10), row("base", "p1", 1, 0, 20)]
TUNED = [
    row("tuned", "p2", 0, 0, 30),
    row("tuned", "p1", 0, 1, 12),
    row("tuned", "p1", 1, 1, 26),
    row("tuned", "p3", 0, 1, 5),  # no base partner
]
SCORES = BASE + TUNED


@pytest.fixture(scope="module")
def summary() -> list[dict]:
    return summarise(SCORES, CATALOGUE, ["base", "tuned"], "base", n_boot=2000, seed=0)


def find(rows: list[dict], kind: str, arm: str, category: str, measure: str, versus: str = "") -> dict | None:
    key = (kind, arm, versus, category, measure)
    found = [r for r in rows if (r["kind"], r["arm"], r["versus"], r["probe_category"], r["measure"]) == key]
    assert len(found) <= 1
    return {k: found[0][k] for k in ("n", "count", "value", "ci_low", "ci_high")} if found else None


def test_columns(summary):
    assert all(list(r) == SUMMARY_COLUMNS for r in summary)
    assert SUMMARY_COLUMNS == [
        "kind",
        "arm",
        "versus",
        "probe_category",
        "measure",
        "n",
        "count",
        "value",
        "ci_low",
        "ci_high",
    ]


def test_binary_measure_gives_rate_rows_bootstrapped_over_prompts(summary):
    # base: p2 [1], p1 [0, 0].  Two prompts drawn with replacement: {p2,p2} → 1 and
    # {p1,p1} → 0 each with probability 1/4 > 2.5%, so the interval is [0, 1].
    assert find(summary, "rate", "base", "all", "flagged") == {
        "n": 3,
        "count": 1,
        "value": 0.3333,
        "ci_low": 0.0,
        "ci_high": 1.0,
    }
    # one prompt, no hit: the bootstrap collapses; Wilson on 1 prompt, 0 hits → (0, 0.7935)
    assert find(summary, "rate", "base", "alpha", "flagged") == {
        "n": 2,
        "count": 0,
        "value": 0.0,
        "ci_low": 0.0,
        "ci_high": 0.7935,
    }
    # tuned: p2 [0], p1 [1, 1], p3 [1]: P(p2 three times) = 1/27 > 2.5% → low 0
    assert find(summary, "rate", "tuned", "all", "flagged") == {
        "n": 4,
        "count": 3,
        "value": 0.75,
        "ci_low": 0.0,
        "ci_high": 1.0,
    }
    # all hits on one prompt: Wilson on 1 prompt, 1 hit → (0.2065, 1)
    assert find(summary, "rate", "tuned", "alpha", "flagged") == {
        "n": 2,
        "count": 2,
        "value": 1.0,
        "ci_low": 0.2065,
        "ci_high": 1.0,
    }
    assert find(summary, "rate", "tuned", "mid", "flagged") == {
        "n": 1,
        "count": 1,
        "value": 1.0,
        "ci_low": 0.2065,
        "ci_high": 1.0,
    }
    assert find(summary, "mean", "base", "all", "flagged") is None  # a binary measure has no mean row


def test_mean_measure_gives_bootstrap_mean_rows(summary):
    base = find(summary, "mean", "base", "all", "chars")
    assert (base["n"], base["count"], base["value"]) == (3, "", 20.0)
    assert 10.0 <= base["ci_low"] < 20.0 < base["ci_high"] <= 30.0
    # p2 alone, one prompt: nothing to resample, so no interval (never a point that reads as certain)
    zeta = find(summary, "mean", "tuned", "zeta", "chars")
    assert (zeta["n"], zeta["count"], zeta["value"]) == (1, "", 30.0)
    assert math.isnan(zeta["ci_low"]) and math.isnan(zeta["ci_high"])
    assert find(summary, "mean", "tuned", "all", "chars")["value"] == 18.25  # (30 + 12 + 26 + 5) / 4
    assert find(summary, "rate", "base", "all", "chars") is None


def test_delta_is_the_mean_paired_difference(summary):
    # pairs p2/0, p1/0, p1/1; tuned p3/0 has no base partner and is left out.
    # flagged: −1, +1, +1 → 1/3.  Resampled means lie in {−1, −1/3, 1/3, 1};
    # P(all −1) = 1/27 and P(all +1) = 8/27 both exceed 2.5%: the interval is [−1, 1].
    assert find(summary, "delta", "tuned", "all", "flagged", "base") == {
        "n": 3,
        "count": "",
        "value": 0.3333,
        "ci_low": -1.0,
        "ci_high": 1.0,
    }
    # chars: 0, +2, +6 → 8/3 (tuned − base; the unpaired means differ by 18.25 − 20 = −1.75).
    # Prompts p2 [0] and p1 [2, 6] are resampled whole: {p2,p2} → 0, {p1,p1} → 4.
    assert find(summary, "delta", "tuned", "all", "chars", "base") == {
        "n": 3,
        "count": "",
        "value": 2.6667,
        "ci_low": 0.0,
        "ci_high": 4.0,
    }
    # alpha: +2, +6 → 4, both samples of the one prompt p1: resampling prompts
    # cannot vary it (one prompt says nothing about prompt-to-prompt spread)
    assert find(summary, "delta", "tuned", "alpha", "chars", "base") == {
        "n": 2,
        "count": "",
        "value": 4.0,
        "ci_low": 4.0,
        "ci_high": 4.0,
    }
    assert find(summary, "delta", "tuned", "zeta", "flagged", "base") == {
        "n": 1,
        "count": "",
        "value": -1.0,
        "ci_low": -1.0,
        "ci_high": -1.0,
    }
    assert find(summary, "delta", "tuned", "mid", "flagged", "base") is None  # p3 is unpaired


def test_layout_all_first_then_sorted_categories(summary):
    blocks = [(r["kind"], r["arm"], r["versus"], r["probe_category"]) for r in summary[:: len(CATALOGUE)]]
    assert blocks == [
        ("rate", "base", "", "all"),
        ("rate", "base", "", "alpha"),
        ("rate", "base", "", "zeta"),  # base has no generation in "mid": no rows
        ("rate", "tuned", "", "all"),
        ("rate", "tuned", "", "alpha"),
        ("rate", "tuned", "", "mid"),
        ("rate", "tuned", "", "zeta"),
        ("delta", "tuned", "base", "all"),
        ("delta", "tuned", "base", "alpha"),
        ("delta", "tuned", "base", "zeta"),
    ]
    assert len(summary) == 10 * len(CATALOGUE)
    # within a block: the catalogue order, binary as rate, mean as mean
    assert [(r["kind"], r["measure"]) for r in summary[:2]] == [("rate", "flagged"), ("mean", "chars")]


def test_arm_without_generations_has_no_rows():
    rows = summarise(BASE, CATALOGUE, ["base", "tuned"], "base", n_boot=200, seed=0)
    assert {r["arm"] for r in rows} == {"base"}
    assert {r["kind"] for r in rows} == {"rate", "mean"}  # nothing to pair with


def test_no_reference_or_empty_reference_gives_no_deltas():
    assert {r["kind"] for r in summarise(SCORES, CATALOGUE, ["base", "tuned"], None, n_boot=200)} == {"rate", "mean"}
    rows = summarise(TUNED, CATALOGUE, ["base", "tuned"], "base", n_boot=200)
    assert {(r["kind"], r["arm"]) for r in rows} == {("rate", "tuned"), ("mean", "tuned")}


def test_delta_pairs_for_three_arms():
    # reference listed second: each arm against it, then the later non-reference arm against the earlier one
    other = [row("other", r.probe_id, r.sample_index, 1, r.values["chars"] + 1) for r in TUNED[:3]]
    rows = summarise([*SCORES, *other], CATALOGUE, ["tuned", "base", "other"], "base", n_boot=200, seed=0)
    pairs = list(dict.fromkeys((r["arm"], r["versus"]) for r in rows if r["kind"] == "delta"))
    assert pairs == [("tuned", "base"), ("other", "base"), ("other", "tuned")]
    assert find(rows, "delta", "other", "all", "chars", "tuned") == {
        "n": 3,
        "count": "",
        "value": 1.0,
        "ci_low": 1.0,
        "ci_high": 1.0,
    }
    # flagged other − tuned: 1−0, 1−1, 1−1
    assert find(rows, "delta", "other", "all", "flagged", "tuned")["value"] == 0.3333


def test_deterministic_for_a_seed():
    first = summarise(SCORES, CATALOGUE, ["base", "tuned"], "base", n_boot=500, seed=7)
    # repr: the one-prompt means hold NaN bounds, and NaN != NaN
    assert repr(summarise(list(SCORES), CATALOGUE, ["base", "tuned"], "base", n_boot=500, seed=7)) == repr(first)


def test_duplicate_generations_cannot_be_paired():
    twice = row("tuned", "p1", 0, 0, 1)
    with pytest.raises(InputError, match="two tuned generations for probe s/p1 sample 0.*cannot pair"):
        summarise([*SCORES, twice], CATALOGUE, ["base", "tuned"], "base")
    twice = row("base", "p2", 0, 0, 1)
    with pytest.raises(InputError, match="two base generations for probe s/p2 sample 0.*cannot pair"):
        summarise([*SCORES, twice], CATALOGUE, ["base", "tuned"], "base")


def test_unknown_arm_is_refused():
    with pytest.raises(InputError, match="arm 'ghost' is not an arm of the run"):
        summarise([*SCORES, row("ghost", "p1", 0, 0, 1)], CATALOGUE, ["base", "tuned"], "base")


def test_paired_generations_must_share_a_category():
    moved = row("tuned", "p1", 0, 1, 12, category="zeta")
    with pytest.raises(InputError, match="different categories"):
        summarise([*BASE, moved], CATALOGUE, ["base", "tuned"], "base")
