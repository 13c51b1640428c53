"""Report sections over the analysis tables and records other stages add (groups, memorization, PII,
RealToxicityPrompts, training curves, drift), fed by hand-made tables with the contract's exact columns.

Content note: the group names and texts below are neutral placeholders written for these tests.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from harness.errors import InputError
from harness.record.rundir import SUMMARY, RunDir
from harness.analysis.groups import GROUP_COLUMNS
from harness.analysis.memorization import MEMO_COLUMNS as MEMORIZATION_COLUMNS
from harness.analysis.pii_measures import PII_COLUMNS
from harness.report.charts import interval_plot, IntervalInput, line_chart, nice_ticks, shift_chart
from harness.report.html import render_report
from harness.report.sections import training_curves


def _section(page: str, anchor: str) -> str:
    return page.split(f'<h2 id="{anchor}">', 1)[1].split("<h2 id=", 1)[0]


def _write(run_dir: Path, name: str, columns: tuple[str, ...], rows: list[dict]) -> None:
    RunDir.open(run_dir).write_table(name, rows, list(columns))


GROUP_ROWS = [
    {"kind": "rate", "arm": "base", "axis": "age", "group": "高齢者", "measure": "flagged", "n": 8, "value": 0.125,
     "ci_low": 0.02, "ci_high": 0.47},
    {"kind": "rate", "arm": "tuned", "axis": "age", "group": "高齢者", "measure": "flagged", "n": 8, "value": 0.5,
     "ci_low": 0.22, "ci_high": 0.78},
    {"kind": "rate", "arm": "base", "axis": "age", "group": "若者", "measure": "flagged", "n": 8, "value": 0.125,
     "ci_low": 0.02, "ci_high": 0.47},
    {"kind": "rate", "arm": "tuned", "axis": "age", "group": "若者", "measure": "flagged", "n": 8, "value": 0.25,
     "ci_low": 0.07, "ci_high": 0.59},
    {"kind": "disparity_diff", "arm": "tuned", "axis": "age", "measure": "flagged", "n": 16, "value": 0.25,
     "ci_low": -0.1, "ci_high": 0.6},
    {"kind": "disparity_ratio", "arm": "tuned", "axis": "age", "measure": "flagged", "n": 16, "value": 2.0},
    {"kind": "disparity_change", "arm": "tuned", "versus": "base", "axis": "age", "measure": "flagged", "n": 16,
     "value": 0.25, "ci_low": -0.05, "ci_high": 0.55},
]  # fmt: skip


def test_absent_tables_say_not_measured(run_dir: Path):
    run = RunDir.open(run_dir)
    for name in ("groups.csv", "memorization.csv", "pii.csv"):
        (run_dir / name).unlink()
    rtp = {"toxicity", "expected_max_toxicity", "toxicity_probability"}
    run.record.measures = [m for m in run.record.measures if m.name not in rtp]
    run.save()
    summary = [r for r in run.read_table(SUMMARY) if r["measure"] not in rtp]
    run.write_table(SUMMARY, summary, list(summary[0]))
    page = render_report(RunDir.open(run_dir))
    assert "Not measured in this run (no groups.csv" in _section(page, "groups")
    memorization = _section(page, "memorization")
    assert "Not measured in this run (no memorization.csv)" in memorization
    assert "Not measured in this run (no pii.csv)" in memorization
    assert "Not measured in this run (no toxicity measures" in _section(page, "rtp")
    for anchor in ("verdict", "run", "gates", "corpus", "training", "rates", "summary", "tone", "wordshift", "groups",
                   "memorization", "rtp", "samples", "methods"):  # fmt: skip
        assert f'href="#{anchor}"' in page or anchor == "verdict"
        assert f'id="{anchor}"' in page


def test_groups_section(run_dir: Path):
    _write(run_dir, "groups.csv", GROUP_COLUMNS, GROUP_ROWS)
    groups = _section(render_report(RunDir.open(run_dir)), "groups")
    assert "<h3>age · flagged</h3>" in groups
    assert (
        '<tr><td>高齢者</td><td class="num">12.5% [2.0–47.0] (n=8)</td><td class="num">50.0% [22.0–78.0] (n=8)</td>'
        in (groups)
    )
    assert (
        '<tr><td>tuned</td><td class="num">+25.0 pp [-10.0, +60.0]</td><td class="num">×2.00</td>'
        '<td class="num">+25.0 pp [-5.0, +55.0]</td></tr>'
    ) in groups
    assert groups.count("<circle") == 4  # one interval per group × arm


def test_groups_table_with_a_missing_column_is_an_error(run_dir: Path):
    _write(run_dir, "groups.csv", GROUP_COLUMNS[:-1], [{k: v for k, v in GROUP_ROWS[0].items() if k != "ci_high"}])
    with pytest.raises(InputError, match=r"groups\.csv:1: missing column\(s\) ci_high"):
        render_report(RunDir.open(run_dir))


def test_memorization_and_pii(run_dir: Path):
    _write(
        run_dir,
        "memorization.csv",
        MEMORIZATION_COLUMNS,
        [{"arm": "tuned", "source": "train", "min_chars": 32, "n": 40, "count": 6, "value": 0.15, "ci_low": 0.07,
          "ci_high": 0.29}],
    )  # fmt: skip
    _write(
        run_dir,
        "pii.csv",
        PII_COLUMNS,
        [
            {"scope": "corpus", "arm": "", "kind": "email", "n_texts": 3, "count": 1, "value": 1 / 3},
            {"scope": "generations", "arm": "tuned", "kind": "any", "n_texts": 4, "count": 0, "value": 0.0},
        ],
    )
    section = _section(render_report(RunDir.open(run_dir)), "memorization")
    assert (
        '<tr><td>tuned</td><td>train</td><td class="num">32</td><td class="num">15.0% [7.0–29.0]</td>'
        '<td class="num">6/40</td></tr>'
    ) in section
    assert (
        '<tr><td>corpus</td><td>—</td><td>email</td><td class="num">33.3%</td><td class="num">1/3</td></tr>' in section
    )
    assert '<tr><td>generations</td><td>tuned</td><td>any</td><td class="num">0.0%</td>' in section


def test_rtp_metrics_with_k(run_dir: Path):
    # the fixture run's own RealToxicityPrompts measures (k = 2 samples per prompt, 4 prompts)
    rtp = _section(render_report(RunDir.open(run_dir)), "rtp")
    assert "(k = 2 samples per prompt)" in rtp
    row = rtp.split(">expected_max_toxicity<", 1)[1].split("</tr>", 1)[0]
    assert '<td class="num">0.44 [0.00–0.88]</td><td class="num">0.79 [0.70–0.88]</td>' in row
    assert '<td class="num">+0.35 [+0.00, +0.70]</td>' in row
    row = rtp.split(">toxicity_probability<", 1)[1].split("</tr>", 1)[0]
    assert '<td class="num">50.0% [0.0–100.0]</td><td class="num">100.0% [34.2–100.0]</td>' in row


def test_training_curves_and_drift():
    point = SimpleNamespace
    tune = SimpleNamespace(
        loss_curve=[point(step=s, loss=4.0 - s / 10, lr=1e-4) for s in range(0, 20, 2)],
        eval_curve=[point(step=0, loss=4.1), point(step=18, loss=3.0)],
        drift=SimpleNamespace(corpus="gsd.txt", tokens=1234, loss_before=3.0, loss_after=3.3,
                              perplexity_before=20.09, perplexity_after=27.11),
    )  # fmt: skip
    curves = training_curves(SimpleNamespace(finetune=tune))
    assert curves is not None and curves.chart is not None
    assert [line.label for line in curves.chart.lines] == ["train loss", "eval loss"]
    assert len(curves.chart.lines[0].points.split()) == 10
    assert dict(curves.drift)["loss"] == "3.000 → 3.300 (+0.300)"
    assert dict(curves.drift)["perplexity"] == "20.09 → 27.11 (×1.349)"
    assert training_curves(SimpleNamespace(finetune=None)) is None
    bare = training_curves(SimpleNamespace(finetune=SimpleNamespace()))  # a record from before curves existed
    assert bare is not None and bare.chart is None and bare.drift is None


def test_chart_geometry():
    assert nice_ticks(0.47) == [0.0, 0.1, 0.2, 0.3, 0.4, 0.5]
    plot = interval_plot([("a", [IntervalInput("base", 0.25, 0.1, 0.5, "t")])], ["base", "tuned"])
    (interval,) = plot.rows[0].intervals
    assert plot.plot_left < interval.x_low < interval.x < interval.x_high <= plot.plot_right
    assert [t.label for t in plot.ticks][-1] == "50%"
    chart = shift_chart("tuned", "base", [("w", "w", 2.0, ""), ("y", "●", -1.0, ""), ("z", "z", 0.5, "")])
    assert [b.lemma for b in chart.bars] == ["w", "y", "z"]  # largest |z| first
    assert chart.bars[0].x == chart.centre and chart.bars[1].x + chart.bars[1].width == chart.centre
    assert chart.bars[0].width == 2 * chart.bars[1].width
    assert line_chart([("one point", [(0.0, 1.0)])]) is None


def test_tone_and_rate_plots_present(run_dir: Path):
    page = render_report(RunDir.open(run_dir))
    rates = _section(page, "rates")
    assert "<h3>Lexicon categories, severity harmful</h3>" in rates and "<h3>Lexicon categories, topic</h3>" in rates
    assert "<title>tuned: 50.0% [9.4–90.5] (2/4)</title>" in rates
    assert "<svg" in _section(page, "tone") and "<svg" in _section(page, "wordshift")
    corpus = _section(page, "corpus")
    assert '<tr><td>flagged</td><td class="num">66.7% [20.8–93.8] (n=3)</td>' in corpus
    assert '<td class="num">×0.37</td>' in corpus and '<td class="num">×0.75</td>' in corpus  # 25% and 50% ÷ 66.67%
    methods = _section(page, "methods")
    assert "samples per prompt (k for per-prompt maxima)</th><td>2</td>" in methods
    assert "lexicon.yaml</td><td><code>" in methods


def test_shift_chart_ticks_stay_inside_the_bars():
    chart = shift_chart("tuned", "base", [("w", "w", 0.86, ""), ("y", "y", -0.5, "")])
    labels = [t.label for t in chart.ticks]
    assert labels.count("0") == 1 and "+0" not in labels and "-0" not in labels
    assert all(abs(t.pos - chart.centre) <= chart.bars[0].width + 1e-9 for t in chart.ticks)
    assert {"+0.5", "-0.5"} <= set(labels)
