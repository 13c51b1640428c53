"""Detector quality and the corrected prevalence (issue 16, deliverable 4): harness.analysis.prevalence.

Hand-checked Rogan–Gladen values (with clipping and the Se + Sp ≤ 1
refusal), stratum-weighted precision and recall on a tiny hand-made label
set, the quality file's matching by input hashes, the summary rows with
their intervals, the run record, and the report's sentence.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

import harness.analysis.prevalence as prevalence
from harness.analysis.prevalence import (
    JudgedPost,
    corrected_specs,
    load_calibration,
    measure_detector,
    rogan_gladen,
    rogan_gladen_draws,
    stratum_counts,
    weighted_cells,
    detector_rates,
)
from harness.analysis.summary import corrected_rows
from harness.config import AnalysisConfig
from harness.io import sha256_file
from harness.record.schema import Calibration, DetectorQualityFile, ScoreRow
from harness.report.sections import prevalence_sentence

ROOT = Path(__file__).resolve().parents[1]


# --- Rogan–Gladen -----------------------------------------------------------------------------


def test_rogan_gladen_hand_checked():
    # (0.2 + 0.9 − 1) / (0.8 + 0.9 − 1) = 0.1 / 0.7
    assert rogan_gladen(0.2, 0.8, 0.9) == pytest.approx(0.1 / 0.7)
    # a perfect detector changes nothing
    assert rogan_gladen(0.37, 1.0, 1.0) == pytest.approx(0.37)
    # Se 0.5, Sp 0.95: (0.10 + 0.95 − 1) / 0.45 = 0.05 / 0.45
    assert rogan_gladen(0.10, 0.5, 0.95) == pytest.approx(0.05 / 0.45)


def test_rogan_gladen_clips_to_the_unit_interval():
    assert rogan_gladen(0.05, 0.8, 0.9) == 0.0  # (0.05 − 0.1) / 0.7 < 0: fewer flags than false alarms alone
    assert rogan_gladen(0.95, 0.8, 0.9) == 1.0  # (0.85) / 0.7 > 1


@pytest.mark.parametrize("se, sp", [(0.5, 0.5), (0.4, 0.5), (0.0, 0.2)])
def test_rogan_gladen_refuses_a_detector_no_better_than_chance(se, sp):
    with pytest.raises(ValueError, match="Se \\+ Sp > 1"):
        rogan_gladen(0.3, se, sp)


def test_rogan_gladen_refuses_values_outside_the_unit_interval():
    with pytest.raises(ValueError, match="p must be in"):
        rogan_gladen(1.2, 0.8, 0.9)


def test_rogan_gladen_draws_nan_where_undefined_and_clipped():
    out = rogan_gladen_draws(
        np.array([0.2, 0.2, 0.05, 0.95]), np.array([0.8, 0.4, 0.8, 0.8]), np.array([0.9, 0.5, 0.9, 0.9])
    )
    assert out[0] == pytest.approx(0.1 / 0.7)
    assert math.isnan(out[1])
    assert out[2] == 0.0 and out[3] == 1.0


# --- weighted precision and recall ------------------------------------------------------------


def tiny_items() -> list[JudgedPost]:
    """Stratum a (weight 1): tp 2, fp 1, fn 1, tn 6; stratum b (weight 10): fp 1, fn 2, tn 7."""
    a = [(True, True)] * 2 + [(False, True)] + [(True, False)] + [(False, False)] * 6
    b = [(False, True)] + [(True, False)] * 2 + [(False, False)] * 7
    return [JudgedPost("a", 1.0, t, f) for t, f in a] + [JudgedPost("b", 10.0, t, f) for t, f in b]


def test_weighted_precision_recall_by_hand():
    # weighted cells: tp 2, fp 1 + 10 = 11, fn 1 + 20 = 21, tn 6 + 70 = 76
    cells = weighted_cells(stratum_counts(tiny_items()))
    assert cells.tolist() == [2.0, 11.0, 21.0, 76.0]
    rates = detector_rates(cells)
    assert rates["precision"] == pytest.approx(2 / 13)
    assert rates["sensitivity"] == pytest.approx(2 / 23)
    assert rates["specificity"] == pytest.approx(76 / 87)
    assert rates["f1"] == pytest.approx(4 / 36)
    # unweighted, the same posts would read precision 2/4 and recall 2/5: weighting matters
    assert 2 / 4 != pytest.approx(rates["precision"])


def test_measure_detector_records_estimates_with_intervals(tmp_path: Path):
    source = tmp_path / "lex.yaml"
    source.write_text("x", encoding="utf-8")
    quality = measure_detector("lexicon", "flagged", [source], tiny_items(), n_boot=500, seed=3)
    assert quality.inputs[0].sha256 == sha256_file(source)
    assert (quality.n, quality.positives) == (20, 5)
    assert quality.precision.value == pytest.approx(2 / 13, abs=1e-4)
    for est in (quality.sensitivity, quality.specificity, quality.precision, quality.f1):
        assert est.ci_low <= est.value <= est.ci_high
    again = measure_detector("lexicon", "flagged", [source], tiny_items(), n_boot=500, seed=3)
    assert again == quality  # seeded


def test_a_stratum_with_two_weights_is_refused():
    with pytest.raises(ValueError, match="two weights"):
        stratum_counts([JudgedPost("a", 1.0, True, True), JudgedPost("a", 2.0, False, False)])


# --- the quality file and the run's calibration -----------------------------------------------


def quality_file(tmp_path: Path, lexicon: Path, se_sp: tuple[int, int] | None = None) -> Path:
    """A quality file whose lexicon entry hashes ``lexicon``; counts give Se 0.8, Sp 0.9 unless ``se_sp``."""
    tp, tn = se_sp or (8, 9)
    items = [JudgedPost("s", 2.0, True, i < tp) for i in range(10)] + [
        JudgedPost("s", 2.0, False, i >= tn) for i in range(10)
    ]
    entry = measure_detector("lexicon", "flagged", [lexicon], items, n_boot=200, seed=0)
    data = DetectorQualityFile(
        labels="labels/x.csv", labels_sha256="0" * 64, split="test", guideline=1, n_boot=200, seed=0, detectors=[entry]
    )
    path = tmp_path / "detector_quality.json"
    path.write_text(data.model_dump_json(indent=2), encoding="utf-8")
    return path


def test_calibration_uses_an_entry_whose_hashes_match(tmp_path: Path):
    lexicon = tmp_path / "lex.yaml"
    lexicon.write_text("a", encoding="utf-8")
    path = quality_file(tmp_path, lexicon)
    calibration = load_calibration(AnalysisConfig(lexicons=[lexicon]), path)
    assert [d.detector for d in calibration.detectors] == ["lexicon"]
    assert calibration.notes == []
    assert calibration.sha256 == sha256_file(path)
    assert [s.name for s in corrected_specs(calibration)] == ["flagged_corrected"]


def test_calibration_notes_an_edited_lexicon_and_corrects_nothing(tmp_path: Path):
    lexicon = tmp_path / "lex.yaml"
    lexicon.write_text("a", encoding="utf-8")
    path = quality_file(tmp_path, lexicon)
    lexicon.write_text("a, edited", encoding="utf-8")
    calibration = load_calibration(AnalysisConfig(lexicons=[lexicon]), path)
    assert calibration.detectors == []
    assert "sha256 differs" in calibration.notes[0] and "flagged_corrected not computed" in calibration.notes[0]
    assert corrected_specs(calibration) == []


def test_calibration_notes_a_detector_no_better_than_chance(tmp_path: Path):
    lexicon = tmp_path / "lex.yaml"
    lexicon.write_text("a", encoding="utf-8")
    path = quality_file(tmp_path, lexicon, se_sp=(5, 5))  # Se 0.5, Sp 0.5
    calibration = load_calibration(AnalysisConfig(lexicons=[lexicon]), path)
    assert calibration.detectors == [] and "no better than chance" in calibration.notes[0]


def test_calibration_without_a_quality_file(tmp_path: Path):
    calibration = load_calibration(AnalysisConfig(), tmp_path / "absent.json")
    assert calibration.detectors == [] and "no detector quality file" in calibration.notes[0]


def test_a_malformed_quality_file_names_the_file(tmp_path: Path):
    path = tmp_path / "detector_quality.json"
    path.write_text(json.dumps({"version": 1, "labels": "x"}), encoding="utf-8")
    with pytest.raises(Exception, match="detector_quality.json"):
        load_calibration(AnalysisConfig(), path)


def test_the_committed_quality_file_matches_the_bundled_lexicon():
    """Fails when the lexicon changes without benchmarks/flagging_quality.py --write-quality."""
    calibration = load_calibration(AnalysisConfig())
    assert calibration.notes == []
    assert [(d.detector, d.measure) for d in calibration.detectors] == [("lexicon", "flagged")]


SHARED = ROOT.parent / "shared" / "corpora" / "open2ch-ranking-dev" / "dev.tsv"


@pytest.mark.skipif(not SHARED.is_file(), reason="../shared corpus absent")
def test_the_committed_counts_are_the_lexicon_s_on_the_blind_split():
    """The stored 2×2 counts are what the lexicon engine does today (a code change also needs a re-measure)."""
    from harness.analysis.suite import AnalysisSuite
    from harness.labels.labelfile import MERGED
    from harness.labels.merge import read_merged
    from harness.labels.posts import post_text, read_corpus

    lines = read_corpus(SHARED)
    suite = AnalysisSuite(AnalysisConfig())
    items = [
        JudgedPost(
            r.stratum, r.weight, r.label == "toxic", bool(suite.score_text(post_text(lines, r.key)).values["flagged"])
        )
        for r in read_merged(MERGED)
        if r.split == "test"
    ]
    assert stratum_counts(items) == load_calibration(AnalysisConfig()).detectors[0].strata


# --- summary rows -----------------------------------------------------------------------------


def score_rows(arm: str, flags: list[int], per_prompt: int = 2, category: str = "c") -> list[ScoreRow]:
    return [
        ScoreRow(
            id=f"{arm}/s/p{i // per_prompt}/{i % per_prompt}",
            arm=arm,
            probe_set="s",
            probe_id=f"p{i // per_prompt}",
            category=category,
            sample_index=i % per_prompt,
            seed=i,
            values={"flagged": float(f)},
        )
        for i, f in enumerate(flags)
    ]


def calibration_for_tests(tmp_path: Path) -> Calibration:
    lexicon = tmp_path / "lex.yaml"
    lexicon.write_text("a", encoding="utf-8")
    return load_calibration(AnalysisConfig(lexicons=[lexicon]), quality_file(tmp_path, lexicon))


def test_corrected_rows_present_with_intervals(tmp_path: Path):
    calibration = calibration_for_tests(tmp_path)
    flags = [1, 0, 0, 0, 1, 1, 0, 0, 0, 0] * 4  # 30% flagged, 20 prompts
    rows = corrected_rows(
        score_rows("base", flags) + score_rows("tuned", [0] * 40), ["base", "tuned"], calibration, 300, 1
    )
    keyed = {(r["arm"], r["probe_category"]): r for r in rows}
    assert set(keyed) == {("base", "all"), ("base", "c"), ("tuned", "all"), ("tuned", "c")}
    base = keyed[("base", "all")]
    assert base["kind"] == "rate" and base["measure"] == "flagged_corrected" and base["count"] == ""
    assert base["n"] == 40
    assert base["value"] == pytest.approx((0.3 + 0.9 - 1) / 0.7, abs=1e-4)  # Se 0.8, Sp 0.9 from the file
    assert base["ci_low"] < base["value"] < base["ci_high"]
    # no flag at all: the estimate clips to 0, but the interval still reaches above it (the rate's fallback)
    tuned = keyed[("tuned", "all")]
    assert tuned["value"] == 0.0 and tuned["ci_low"] == 0.0 and tuned["ci_high"] > 0.0
    assert corrected_rows(score_rows("base", flags), ["base"], calibration, 300, 1) == rows[:2]  # seeded


def test_no_corrected_rows_without_a_matching_detector():
    assert corrected_rows(score_rows("base", [1, 0]), ["base"], Calibration(notes=["x"])) == []


def test_the_corrected_interval_is_wider_than_the_rate_s(tmp_path: Path):
    """The interval carries Se/Sp's uncertainty too: wider than the raw rate's scaled by 1/(Se + Sp − 1)."""
    from harness.analysis.summary import measure_stats
    from harness.record.schema import MeasureSpec

    calibration = calibration_for_tests(tmp_path)
    rows = score_rows("base", [1, 0, 0, 0, 1, 1, 0, 0, 0, 0] * 4)
    spec = MeasureSpec(name="flagged", analyser="x", description="", harmful=True, kind="binary")
    raw = measure_stats(spec, [r.values["flagged"] for r in rows], 300, 1, [r.probe_id for r in rows])
    corrected = corrected_rows(rows, ["base"], calibration, 300, 1)[0]
    assert corrected["ci_high"] - corrected["ci_low"] > (raw["ci_high"] - raw["ci_low"]) / 0.7


# --- the run, its record and its report -------------------------------------------------------


def test_a_run_records_detector_quality_and_writes_corrected_rows(make_run, tmp_path: Path, monkeypatch):
    from conftest import write_inputs

    import harness.pipeline
    import harness.resources

    lexicon = write_inputs(tmp_path)["lexicon"]  # the fixture run's lexicon, byte for byte
    (tmp_path / "q").mkdir()
    path = quality_file(tmp_path / "q", lexicon)
    for module in (harness.resources, harness.pipeline, prevalence):
        monkeypatch.setattr(module, "detector_quality_file", lambda: path)
    result = make_run()
    record = json.loads((result.run_dir / "run.json").read_text(encoding="utf-8"))
    assert record["calibration"]["detectors"][0]["measure"] == "flagged"
    assert record["hashes"][str(path)] == sha256_file(path)
    assert any(m["name"] == "flagged_corrected" and not m["per_text"] for m in record["measures"])
    summary = (result.run_dir / "summary.csv").read_text(encoding="utf-8").splitlines()
    corrected = [line for line in summary if ",flagged_corrected," in line]
    assert len(corrected) >= 2 and all(line.split(",")[-2] != "" for line in corrected)
    html = (result.run_dir / "report.html").read_text(encoding="utf-8")
    assert 'id="prevalence"' in html and "the corrected prevalence estimates the share that are toxic" in html


def test_a_run_without_measured_quality_says_why(run_dir: Path):
    """The fixture runs use their own lexicon: no corrected row, a note in run.json and in the report."""
    record = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
    assert record["calibration"]["detectors"] == []
    assert "flagged_corrected not computed" in record["calibration"]["notes"][0]
    assert "flagged_corrected" not in (run_dir / "summary.csv").read_text(encoding="utf-8")
    assert "flagged_corrected not computed" in (run_dir / "report.html").read_text(encoding="utf-8")


def test_report_sentence_explains_the_difference(tmp_path: Path):
    entry = calibration_for_tests(tmp_path).detectors[0]  # Se 0.8, Sp 0.9
    sentence = prevalence_sentence(entry)
    assert sentence.count(". ") == 0 and sentence.endswith(".")  # one sentence
    assert "sensitivity 0.80" in sentence and "specificity 0.90" in sentence
    # the correction turns from lowering to raising at FPR / (FPR + FNR) = 0.1 / 0.3
    assert "below a raw rate of 33.3%" in sentence
    assert rogan_gladen(0.3, 0.8, 0.9) < 0.3 < 0.4 < rogan_gladen(0.4, 0.8, 0.9)


def test_report_notes_a_rate_outside_the_detector_s_range(tmp_path: Path):
    from harness.report.sections import SummaryRow, outside_note

    entry = calibration_for_tests(tmp_path).detectors[0]  # Se 0.8, Sp 0.9: rates in [0.1, 0.8] need no clipping

    def raw(value: float) -> SummaryRow:
        return SummaryRow("rate", "a", "", "all", "flagged", "10", "1", value, 0.0, 1.0)

    assert outside_note(raw(0.05), entry).startswith("clipped to 0") and "10.0%" in outside_note(raw(0.05), entry)
    assert outside_note(raw(0.9), entry).startswith("clipped to 1")
    assert outside_note(raw(0.3), entry) == ""
