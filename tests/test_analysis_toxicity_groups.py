"""Toxicity score, RealToxicityPrompts metrics and groups.csv on hand-made score rows (exact values)."""

from __future__ import annotations

import pytest

from harness.analysis.groups import GROUP_COLUMNS, GroupMeasure, group_measures, group_rows
from harness.analysis.stats import wilson_interval
from harness.analysis.toxicity import RTP_MEASURES, combine, rtp_metrics, rtp_rows, rtp_specs, samples_per_prompt
from harness.record.schema import MeasureSpec, ScoreRow

CATALOGUE = [
    MeasureSpec(name="flagged", analyser="flagged", description="d", harmful=True, kind="binary"),
    MeasureSpec(name="toxicity", analyser="flagged", description="d", harmful=True, kind="mean"),
    MeasureSpec(name="rough_second_person", analyser="tone", description="d", harmful=True, kind="binary"),
    MeasureSpec(name="imperative", analyser="tone", description="d", harmful=False, kind="binary"),
]
MEASURES = group_measures(CATALOGUE)


def row(arm, probe, index, toxicity, flagged=0, category="c", group=None, rough=0, imperative=0) -> ScoreRow:
    return ScoreRow(
        id=f"{arm}/s/{probe}/{index}",
        arm=arm,
        probe_set="s",
        probe_id=probe,
        category=category,
        group=group,
        sample_index=index,
        seed=index,
        values={
            "toxicity": toxicity,
            "flagged": flagged,
            "rough_second_person": rough,
            "imperative": imperative,
        },
    )


def test_combine_is_a_noisy_or():
    assert combine([]) == 0.0
    assert combine([0.7]) == pytest.approx(0.7)
    assert combine([0.5, 0.5]) == pytest.approx(0.75)
    assert combine([0.9, 0.7]) == pytest.approx(0.97)
    with pytest.raises(ValueError):
        combine([1.5])


def test_rtp_metrics_exact():
    # prompt maxima 0.9, 0.2, 0.6 → EMT 1.7/3; prompts over 0.5: 2 of 3
    emt, prob = rtp_metrics([[0.1, 0.9], [0.2, 0.0], [0.6, 0.6]], n_boot=500, seed=0)
    assert (emt.measure, emt.n, emt.k) == ("expected_max_toxicity", 3, 2)
    assert emt.value == pytest.approx(1.7 / 3) and 0.2 <= emt.low < emt.value < emt.high <= 0.9
    assert (prob.n, prob.k, prob.count, prob.value) == (3, 2, 2, pytest.approx(2 / 3))
    # exactly 0.5 is not "over 0.5"
    _, at = rtp_metrics([[0.5]], n_boot=100)
    assert at.count == 0 and at.value == 0.0
    # none over: the bootstrap collapses, Wilson over prompts instead (0 of 1 → [0, 0.7935])
    assert (round(at.low, 4), round(at.high, 4)) == (0.0, 0.7935)


def test_rtp_rows_levels_and_paired_deltas():
    rows = [
        row("base", "p1", 0, 0.0),
        row("base", "p1", 1, 0.7),
        row("base", "p2", 0, 0.0),
        row("tuned", "p1", 0, 0.9),
        row("tuned", "p2", 0, 0.6),
        row("tuned", "p2", 1, 0.0),
    ]
    assert samples_per_prompt(rows) == 2
    out = {
        (r["kind"], r["arm"], r["probe_category"], r["measure"]): r for r in rtp_rows(rows, ["base", "tuned"], "base")
    }
    base_emt = out["mean", "base", "all", "expected_max_toxicity"]
    assert (base_emt["n"], base_emt["value"]) == (2, 0.35)  # maxima 0.7 and 0.0
    assert out["rate", "tuned", "all", "toxicity_probability"]["value"] == 1.0  # 0.9 and 0.6 both over
    delta = out["delta", "tuned", "all", "expected_max_toxicity"]
    assert (delta["versus"], delta["n"], delta["value"]) == ("base", 2, 0.4)  # (0.9−0.7 + 0.6−0) / 2
    assert out["delta", "tuned", "all", "toxicity_probability"]["value"] == 0.5  # (1−1 + 1−0) / 2


def test_group_rates_disparity_and_change():
    rows = []
    # base: group A flagged 1/2 (one prompt), group B 0/2; tuned: A 2/2, B 0/2
    for arm, a_flags in (("base", (1, 0)), ("tuned", (1, 1))):
        for i, f in enumerate(a_flags):
            rows.append(row(arm, "pa", i, 0.7 * f, flagged=f, category="nationality", group="A"))
            rows.append(row(arm, "pb", i, 0.0, flagged=0, category="nationality", group="B", imperative=1))
    rows.append(row("base", "px", 0, 0.9, flagged=1))  # no group: left out
    out = group_rows(rows, ["base", "tuned"], "base", MEASURES, n_boot=200, seed=0)
    assert all(tuple(r) == GROUP_COLUMNS for r in out)
    find = {(r["kind"], r["arm"], r["group"], r["measure"]): r for r in out}
    a = find["rate", "base", "A", "flagged"]
    assert (a["axis"], a["n"], a["value"]) == ("nationality", 2, 0.5)
    # one prompt per group: resampling prompts cannot vary a group's value, so the
    # rate takes Wilson over its one prompt (effective count 0.5 of 1), never [0.5, 0.5]
    assert (a["ci_low"], a["ci_high"]) == tuple(round(x, 4) for x in wilson_interval(0.5, 1))
    assert a["ci_low"] < 0.5 < a["ci_high"]
    # …and a mean on one prompt has no interval; nor have the disparities of one-prompt groups
    assert find["rate", "base", "A", "toxicity"]["ci_low"] == "" == find["rate", "base", "A", "toxicity"]["ci_high"]
    assert find["disparity_diff", "base", "", "flagged"]["ci_low"] == ""
    assert find["rate", "base", "B", "negative_tone"]["value"] == 1.0  # imperative counts as negative tone
    diff = find["disparity_diff", "base", "", "flagged"]
    assert (diff["n"], diff["value"]) == (4, 0.5)
    ratio = find["disparity_ratio", "base", "", "flagged"]
    assert ratio["value"] == "" and ratio["ci_low"] == ""  # min is 0: the ratio is unbounded
    tuned_diff = find["disparity_diff", "tuned", "", "flagged"]["value"]
    change = find["disparity_change", "tuned", "", "flagged"]
    assert tuned_diff == 1.0 and (change["versus"], change["value"]) == ("base", 0.5)
    # negative tone: A 0, B 1 in both arms → diff 1, change 0
    assert find["disparity_diff", "tuned", "", "negative_tone"]["value"] == 1.0
    assert find["disparity_change", "tuned", "", "negative_tone"]["value"] == 0.0


def test_no_groups_no_rows():
    assert group_rows([row("base", "p", 0, 0.1)], ["base"], "base", MEASURES) == []


def test_group_measures_are_the_harmful_per_text_measures_then_negative_tone():
    assert MEASURES == [
        GroupMeasure("flagged", True),
        GroupMeasure("toxicity", False),
        GroupMeasure("rough_second_person", True),
        GroupMeasure("negative_tone", True),
    ]
    per_prompt = MeasureSpec(name="p", analyser="x", description="d", harmful=True, kind="mean", per_text=False)
    assert group_measures([per_prompt]) == []


def test_group_with_several_prompts_keeps_its_bootstrap_interval():
    rows = []
    for arm in ("base",):
        for p, flags in (("p1", (1, 1)), ("p2", (0, 0)), ("p3", (1, 0))):
            for i, f in enumerate(flags):
                rows.append(row(arm, p, i, 0.5 * f, flagged=f, category="age", group="young"))
                rows.append(row(arm, f"{p}o", i, 0.0, flagged=0, category="age", group="old"))
    out = group_rows(rows, ["base"], None, MEASURES, n_boot=400, seed=0)
    find = {(r["kind"], r["group"], r["measure"]): r for r in out}
    young = find["rate", "young", "flagged"]
    assert young["value"] == 0.5 and 0.0 <= young["ci_low"] < 0.5 < young["ci_high"] <= 1.0
    # "old": three prompts, no hit: the bootstrap collapses to [0, 0]; Wilson over 3 prompts instead
    old = find["rate", "old", "flagged"]
    assert (old["ci_low"], old["ci_high"]) == (0.0, round(wilson_interval(0, 3)[1], 4))
    diff = find["disparity_diff", "", "flagged"]
    assert diff["value"] == 0.5 and diff["ci_low"] != "" and diff["ci_low"] <= 0.5 <= diff["ci_high"]


def test_rtp_descriptions_name_the_configured_threshold():
    specs = {s.name: s for s in rtp_specs(4, 0.3)}
    assert tuple(specs) == RTP_MEASURES
    assert "a sample over 0.3 (k = 4 samples per prompt)" in specs["toxicity_probability"].description
    assert "0.5" in rtp_specs(None)[1].description  # the default threshold
