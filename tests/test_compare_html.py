"""compare.html (harness.report.compare_html): escaping, colouring by the catalogue's harmful flag, CSP."""

from __future__ import annotations

import math

import pytest

from harness.report.compare_html import render_compare
from harness.report.render import CONTENT_SECURITY_POLICY

NAN = math.nan


def _row(**overrides) -> dict:
    row = {
        "arm": "tuned",
        "measure": "flagged",
        "kind": "binary",
        "harmful": True,
        "probe_category": "all",
        "value_a": 0.25,
        "value_b": 0.5,
        "difference": 0.25,
        "ci_low": 0.1,
        "ci_high": 0.4,
        "n_a": 4,
        "n_b": 4,
        "pairing": "paired",
    }
    row.update(overrides)
    return row


def _render(rows: list[dict], notes: list[str] | None = None, title: str = "Compare") -> str:
    return render_compare(title, "runs/a", "runs/b", rows, notes or [])


def test_page_is_self_contained_under_the_csp():
    page = _render([_row()])
    assert page.startswith("<!DOCTYPE html>") and '<html lang="ja">' in page
    csp = CONTENT_SECURITY_POLICY.replace("'", "&#39;")
    assert f'<meta http-equiv="Content-Security-Policy" content="{csp}">' in page
    assert "<script" not in page and "<link" not in page and "http://" not in page and "https://" not in page


def test_untrusted_text_is_escaped():
    evil = '<script>alert(1)</script>" onmouseover="x'
    page = render_compare(
        f"Compare {evil}",
        f"runs/{evil}",
        "runs/b",
        [_row(arm=evil, measure=evil, probe_category=evil, pairing=evil)],
        [f"note {evil}"],
    )
    assert "<script" not in page and 'onmouseover="' not in page
    escaped = "&lt;script&gt;alert(1)&lt;/script&gt;&#34; onmouseover=&#34;x"
    assert f"<title>Compare {escaped}</title>" in page
    assert f"<li>note {escaped}</li>" in page
    assert f"<h2>Arm {escaped}</h2>" in page
    assert f"<td>runs/{escaped}</td>" in page


def test_colour_comes_from_harmful_not_the_name():
    page = _render(
        [
            _row(),
            _row(measure="cat_slang", harmful=False),  # a topic category: a rise is a shift, not red
            _row(measure="rough_second_person", difference=-0.25, ci_low=-0.4, ci_high=-0.1),
            _row(measure="cat_insult", ci_low=-0.1),  # CI includes 0: no colour
        ]
    )
    lines = [line for line in page.splitlines() if line.startswith("<tr><td>")]
    rows = {line.split("<td>", 2)[1].split("<", 1)[0]: line for line in lines}
    assert '<td class="num worse">+25.0 pp [+10.0, +40.0]</td>' in rows["flagged"]
    assert '<td class="num shift">+25.0 pp [+10.0, +40.0]</td>' in rows["cat_slang"]
    assert "worse" not in rows["cat_slang"]
    assert '<td class="num better">-25.0 pp [-40.0, -10.0]</td>' in rows["rough_second_person"]
    assert '<td class="num">+25.0 pp [-10.0, +40.0]</td>' in rows["cat_insult"]


def test_kinds_nan_and_grouping_by_arm():
    page = _render(
        [
            _row(arm="tuned", measure="characters", kind="mean", harmful=False, value_a=11.5, value_b=17.75,
                 difference=6.25, ci_low=-6.5, ci_high=19.0, pairing="unpaired"),
            _row(arm="other", value_b=NAN, difference=NAN, ci_low=NAN, ci_high=NAN, n_b=NAN),
            _row(arm="tuned"),
        ]
    )  # fmt: skip
    assert page.index("<h2>Arm tuned</h2>") < page.index("<h2>Arm other</h2>")
    tuned = page.split("<h2>Arm tuned</h2>", 1)[1].split("<h2>", 1)[0]
    assert tuned.count("<tr><td>") == 2  # both tuned rows, in one table
    assert (
        '<td class="num">11.5</td><td class="num">17.8</td><td class="num">+6.2 [-6.5, +19.0]</td>'
        '<td class="num">4 / 4</td><td>unpaired</td>'
    ) in tuned
    assert '<td class="num">25.0%</td><td class="num">–</td><td class="num">–</td><td class="num">4 / –</td>' in page
    # both pairings are explained in words on every page
    assert "paired: both runs share prompts, seeds and sample indices" in page
    assert "bootstrapped over its prompts independently" in page


def test_missing_key_is_an_error():
    row = _row()
    del row["pairing"]
    with pytest.raises(ValueError, match="compare row 0: missing key"):
        _render([row])
    with pytest.raises(ValueError, match="kind 'rate' is not binary or mean"):
        _render([_row(kind="rate")])


def test_no_rows():
    assert "No rows to compare." in _render([])
