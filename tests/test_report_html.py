"""The HTML report (harness.report.html) rendered from the hand-made run directory."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.errors import InputError
from harness.report.html import render_report, write_report
from harness.csvfile import read_csv, write_csv


def _samples(page: str) -> str:
    return page.split("<h2>Samples</h2>", 1)[1]


def _set_cell(path: Path, row_id: str, column: str, value: str, key: str = "id") -> None:
    rows = read_csv(path)
    columns = list(rows[0])
    for row in rows:
        if row[key] == row_id:
            row[column] = value
    write_csv(path, rows, columns)


def test_page_is_self_contained(run_dir: Path):
    page = render_report(run_dir)
    assert page.startswith("<!DOCTYPE html>")
    assert '<html lang="ja">' in page
    assert '<meta charset="utf-8">' in page
    assert "http://" not in page and "https://" not in page
    assert "<script" not in page and "<link" not in page and "@import" not in page
    assert "Safety report — demo-run" in page


def test_untrusted_text_is_escaped(run_dir: Path):
    page = render_report(run_dir)
    assert "<script>alert" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "=HYPERLINK(&quot;x&quot;,&quot;クリック&quot;)して見ろよ" in page


def test_attribute_values_cannot_break_out(run_dir: Path):
    evil = 'x" onmouseover="alert(1)'
    spans = json.dumps([[27, 29, "バカ", evil]], ensure_ascii=False)
    _set_cell(run_dir / "scores.csv", "tuned/smoke/p1/0", "flagged_spans", spans)
    page = render_report(run_dir, mask=False)
    assert 'onmouseover="' not in page
    assert 'title="x&quot; onmouseover=&quot;alert(1): バカ"' in page
    assert 'class="flag cat-xonmouseoveralert1"' in page


def test_masked_by_default(run_dir: Path):
    page = render_report(run_dir)
    samples = _samples(page)
    assert "flagged terms are masked" in page
    assert ('&lt;/script&gt;お前<mark class="flag cat-insult" title="insult">●●</mark>だろww') in samples
    assert (
        '<mark class="flag cat-ageism" title="ageism">●●</mark>は'
        '<mark class="flag cat-insult" title="insult">●●</mark>w'
    ) in samples
    for term in ("バカ", "ﾊﾞｶ", "カス", "老害"):
        assert term not in page


def test_mask_on_when_config_omits_it(make_run_dir):
    run_dir = make_run_dir(run_updates={"config": {"name": "demo-run"}})
    assert "バカ" not in _samples(render_report(run_dir))


def test_unmasked_shows_term_in_mark(make_run_dir):
    run_dir = make_run_dir(run_updates={"config": {"analysis": {"mask_flagged": False}}})
    page = render_report(run_dir)
    samples = _samples(page)
    assert '<mark class="flag cat-insult" title="insult: バカ">バカ</mark>' in samples
    assert "ﾊﾞｶ" not in samples  # the NFKC text is what the offsets refer to
    assert "●" not in samples
    assert "NOT masked" in page


def test_mask_keyword_overrides_config(run_dir: Path):
    assert '<mark class="flag cat-insult" title="insult: バカ">バカ</mark>' in render_report(run_dir, mask=False)


def test_flagged_lemmas_masked_in_vocab_table(run_dir: Path):
    _set_cell(run_dir / "vocab_shift.csv", "カス", "z", "0.5", key="lemma")
    page = render_report(run_dir)
    assert "<tr><td>●●</td><td>名詞</td>" in page
    assert "カス" not in page
    assert "<tr><td>カス</td>" in render_report(run_dir, mask=False)


def test_run_metadata_gates_and_finetune(run_dir: Path):
    page = render_report(run_dir)
    assert '<span class="badge complete">complete</span>' in page
    assert "unidic-lite 1.0.8" in page
    assert '<td>tuned</td><td>model</td><td class="num">1,234,567 (1.2M)</td>' in page
    assert "gate failed" in page and ">FAIL<" in page
    assert '<td class="num">4.200 → 3.100</td>' in page
    assert '<td class="num">66.690 → 22.200</td>' in page


def test_optional_sections_may_be_missing(make_run_dir):
    run_dir = make_run_dir(run_updates={"finetune": None, "gates": None, "versions": None, "models": None})
    page = render_report(run_dir)
    assert "The gate stage has not run." in page
    assert "<h2>Fine-tuning</h2>" not in page


def test_summary_cells(run_dir: Path):
    page = render_report(run_dir)
    flagged_all = page.split("<h3>All probes</h3>")[1].split("</tr>")[1]
    assert flagged_all == (
        "<tr><td>flagged</td>"
        '<td class="num">25.0% [4.6–69.9]<span class="n">1/4</span></td>'
        '<td class="num">50.0% [15.0–85.0]<span class="n">2/4</span></td>'
        '<td class="num ">+25.0 pp [+0.0, +75.0]<span class="n">n=4</span></td>'
    )
    assert "<summary>Probe category: forum</summary>" in page
    assert "<summary>Probe category: group</summary>" in page


def test_harmful_increase_is_red(run_dir: Path):
    path = run_dir / "summary.csv"
    rows = read_csv(path)
    for row in rows:
        if (row["kind"], row["probe_category"]) == ("delta", "all") and row["measure"] in ("flagged", "polite"):
            row["ci_low"], row["ci_high"] = ("0.1", "0.4") if row["measure"] == "flagged" else ("-0.9", "-0.1")
    write_csv(path, rows, list(rows[0]))
    page = render_report(run_dir)
    assert '<td class="num worse">+25.0 pp [+10.0, +40.0]' in page
    assert '<td class="num shift">-50.0 pp [-90.0, -10.0]' in page  # tone: neutral highlight


def test_vocab_tables(run_dir: Path):
    page = render_report(run_dir, mask=False)
    tuned, base = page.split("<h4>Toward tuned</h4>")[1].split("<h4>Toward base</h4>")
    order = [tuned.index(f"<td>{lemma}</td>") for lemma in ("w", "馬鹿", "お前")]
    assert order == sorted(order)
    assert '<td class="num">+1.42</td>' in tuned and "天気" not in tuned
    assert base.index("<td>です</td>") < base.index("<td>天気</td>")


def test_samples_are_paired_and_limited(run_dir: Path):
    samples = _samples(render_report(run_dir))
    assert "Showing 2 of 2 probes, 8 of 8 generations." in samples
    assert "<h4>base · sample 0 · seed 101</h4>" in samples
    assert "<h4>tuned · sample 0 · seed 101 <span" in samples
    assert "group <strong>高齢者</strong>" in samples
    limited = _samples(render_report(run_dir, max_probes=1, max_samples=1))
    assert "Showing 1 of 2 probes, 2 of 8 generations." in limited
    assert "smoke/p2" not in limited and "sample 1" not in limited


def test_missing_scores_csv_names_the_file(run_dir: Path):
    (run_dir / "scores.csv").unlink()
    with pytest.raises(InputError, match=r"scores\.csv: file not found"):
        render_report(run_dir)


@pytest.mark.parametrize("name", ["run.json", "generations.jsonl", "summary.csv", "vocab_shift.csv"])
def test_every_input_is_required(run_dir: Path, name: str):
    (run_dir / name).unlink()
    with pytest.raises(InputError, match=name.replace(".", r"\.")):
        render_report(run_dir)


def test_bad_span_names_file_and_line(run_dir: Path):
    _set_cell(run_dir / "scores.csv", "tuned/smoke/p1/0", "flagged_spans", '[[0, 99, "x", "y"]]')
    with pytest.raises(InputError, match=r"scores\.csv:6: span"):
        render_report(run_dir)


def test_write_report(run_dir: Path):
    path = write_report(run_dir, max_probes=1)
    assert path == run_dir / "report.html"
    assert path.read_text(encoding="utf-8") == render_report(run_dir, max_probes=1)
    assert not list(run_dir.glob(".report.html.*"))


def test_corpus_rate_column_only_with_an_audit(run_dir: Path):
    assert "tuning corpus" not in render_report(run_dir)
    write_csv(
        run_dir / "corpus_audit.csv",
        [{"measure": "flagged", "n": 40, "count": 10, "rate": 0.25, "ci_low": 0.1419, "ci_high": 0.4019}],
        ["measure", "n", "count", "rate", "ci_low", "ci_high"],
    )
    page = render_report(run_dir)
    assert "tuning corpus [95% CI]" in page
    assert "25.0% [14.2–40.2]" in page and "10/40" in page
