"""The matrix parent's matrix.csv and matrix.html (harness.matrix.report), from a 2 × 2 parent of real runs."""

from __future__ import annotations

import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import pytest

from harness.csvfile import read_csv
from harness.errors import InputError
from harness.matrix.collect import ROW_COLUMNS, collect, matrix_columns, pareto_front, tradeoff_front
from harness.matrix.paths import MATRIX_CSV, MATRIX_HTML
from harness.matrix.report import write_parent_outputs
from harness.record.rundir import SUMMARY, RunDir
from harness.record.schema import MatrixRecord
from harness.report.render import CONTENT_SECURITY_POLICY
from matrix_parent import AXES, FRONT, NAMES, OVERRIDES, build_parent, set_costs


@pytest.fixture(scope="module")
def pristine_parent(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_parent(tmp_path_factory.mktemp("matrix"))


@pytest.fixture
def parent(pristine_parent: Path, tmp_path: Path) -> Path:
    target = tmp_path / pristine_parent.name
    shutil.copytree(pristine_parent, target)
    return target


def test_matrix_csv_one_row_per_child_arm_measure(parent):
    csv_path, html_path = write_parent_outputs(parent)
    assert csv_path == parent / MATRIX_CSV and html_path == parent / MATRIX_HTML
    rows = read_csv(csv_path)
    header = csv_path.read_text(encoding="utf-8").splitlines()[0].split(",")
    assert header == ["child", "finetune.lr", "finetune.epochs", *ROW_COLUMNS]
    first = RunDir.open(parent / "children" / NAMES[0])
    measures = [m.name for m in first.record.measures]  # RealToxicityPrompts' per-prompt ones included
    # every child × arm × measure exactly once, in matrix.json order, then arm order, then catalogue order
    assert [(r["child"], r["arm"], r["measure"]) for r in rows] == [
        (c, a, m) for c in NAMES for a in ("base", "tuned") for m in measures
    ]
    for row in rows:
        overrides = OVERRIDES[NAMES.index(row["child"])]
        assert row["finetune.lr"] == str(overrides["finetune.lr"])
        assert row["finetune.epochs"] == str(overrides["finetune.epochs"])
    flagged = {(r["child"], r["arm"]): r for r in rows if r["measure"] == "flagged"}
    # estimates and CIs are the child's summary.csv row, category all, copied as written
    summary = next(
        r
        for r in first.read_table(SUMMARY)
        if (r["kind"], r["arm"], r["probe_category"], r["measure"]) == ("rate", "tuned", "all", "flagged")
    )
    tuned = flagged[NAMES[0], "tuned"]
    assert (tuned["value"], tuned["ci_low"], tuned["ci_high"], tuned["n"]) == (
        summary["value"], summary["ci_low"], summary["ci_high"], summary["n"],
    )  # fmt: skip
    assert [float(flagged[c, "tuned"]["delta"]) for c in NAMES] == [0.25, 0.0, 0.5, 0.25]
    assert float(tuned["delta_ci_low"]) <= 0.25 <= float(tuned["delta_ci_high"])
    assert tuned["reference"] == "base" and tuned["harmful"] == "1" and tuned["kind"] == "rate"
    # the reference arm has no delta against itself, and no gate covers it
    base = flagged[NAMES[0], "base"]
    assert base["delta"] == base["delta_ci_low"] == base["gate"] == ""
    # the fixture gate (flagged max_delta 0.1 on tuned) from each child's run.json
    assert [flagged[c, "tuned"]["gate"] for c in NAMES] == ["fail", "pass", "fail", "fail"]
    assert {r["gate"] for r in rows if r["measure"] != "flagged"} == {""}


def test_matrix_csv_is_rebuilt_byte_identical(parent):
    csv_path, _ = write_parent_outputs(parent)
    first = csv_path.read_bytes()
    csv_path.unlink()
    write_parent_outputs(parent)
    assert csv_path.read_bytes() == first


def test_pareto_front_by_hand():
    points = {
        "a": (0.25, 1.0, 0.5),
        "b": (0.0, 3.0, 1.0),
        "c": (0.5, 0.5, 0.2),
        "d": (0.25, 2.0, 0.6),  # dominated by a
        "e": (0.5, 0.5, 0.2),  # equal to c: neither dominates the other
        "f": (0.5, 0.6, 0.2),  # dominated by c (and e)
    }
    assert pareto_front(points) == ["a", "b", "c", "e"]
    assert pareto_front({"only": (1.0,)}) == ["only"]


def test_front_names_the_children_not_dominated(parent):
    front = tradeoff_front(collect(parent).children)
    assert front.names == FRONT
    assert front.dimensions == ["harm", "held-out perplexity change", "neutral-text perplexity change"]
    assert front.notes == []
    write_parent_outputs(parent)
    page = (parent / MATRIX_HTML).read_text(encoding="utf-8")
    assert f"Not dominated: {', '.join(FRONT)}" in page
    assert f"Ship candidates (on the front, gates passed): {NAMES[1]}" in page


def test_a_cost_missing_on_one_child_is_left_out_of_the_front_with_a_note(parent):
    set_costs(parent / "children" / NAMES[1], 3.0, None)  # c02 recorded no neutral-text drift
    front = tradeoff_front(collect(parent).children)
    assert front.dimensions == ["harm", "held-out perplexity change"]
    assert front.notes == ["neutral-text perplexity change is not recorded for every child: the front leaves it out"]
    assert front.names == FRONT  # on harm and held-out cost alone c04 is still dominated by c01


class _Page(HTMLParser):
    """Links and every attribute value of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.attrs: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.attrs += [v or "" for _, v in attrs]
        if tag == "a":
            self.links.append(dict(attrs)["href"])


def test_matrix_html_is_self_contained_and_links_resolve(parent):
    write_parent_outputs(parent)
    page = (parent / MATRIX_HTML).read_text(encoding="utf-8")
    csp = CONTENT_SECURITY_POLICY.replace("'", "&#39;")
    assert f'<meta http-equiv="Content-Security-Policy" content="{csp}">' in page
    assert "<script" not in page and "<link" not in page and "http:" not in page and "https:" not in page
    parsed = _Page()
    parsed.feed(page)
    assert sorted(parsed.links) == sorted(f"children/{c}/report.html" for c in NAMES)
    for link in parsed.links:
        assert (parent / link).is_file()
    # one delta chart per harmful measure and axis, with a CI line per child
    assert page.count('aria-label="flagged delta against finetune.lr"') == 1
    assert page.count('aria-label="flagged delta against finetune.epochs"') == 1
    assert page.count('aria-label="flagged delta against held-out perplexity change"') == 1
    chart = page.split('aria-label="flagged delta against finetune.lr"', 1)[1].split("</svg>", 1)[0]
    assert chart.count("<title>") == 4 and "finetune.epochs=1" not in chart  # series are named in the legend
    legend = page.split('aria-label="flagged delta against finetune.lr"', 1)[1].split("</p>", 1)[0]
    assert "finetune.epochs=1" in legend and "finetune.epochs=2" in legend
    # gates per child: the failing and the passing gate of each child
    gates = page.split("<h2>Gates per child</h2>", 1)[1]
    assert gates.count('<span class="fail">fail</span>') == 3 and gates.count('<span class="pass">pass</span>') == 1


def test_child_names_are_escaped_and_links_quoted(tmp_path):
    evil = ["c01-<script>alert(1)", 'c02-"onmouseover="x', "c03-a b", "c04-&amp"]
    parent = build_parent(tmp_path, names=evil)
    write_parent_outputs(parent)
    page = (parent / MATRIX_HTML).read_text(encoding="utf-8")
    assert "<script" not in page and 'onmouseover="' not in page and "&amp\n" not in page
    assert "c01-&lt;script&gt;alert(1)" in page and "c02-&#34;onmouseover=&#34;x" in page
    parsed = _Page()
    parsed.feed(page)
    assert len(parsed.links) == 4
    for link in parsed.links:
        assert re.fullmatch(r"children/[A-Za-z0-9%._-]+/report\.html", link), link
    from urllib.parse import unquote

    assert sorted((parent / unquote(link)).parent.name for link in parsed.links) == sorted(evil)
    rows = read_csv(parent / MATRIX_CSV)
    assert {r["child"] for r in rows} == set(evil)


def test_unfinished_children_are_listed_not_collected(parent):
    shutil.rmtree(parent / "children" / NAMES[3])
    record = MatrixRecord.model_validate_json((parent / "matrix.json").read_text(encoding="utf-8"))
    record.children[3].status = "pending"
    run = RunDir.open(parent / "children" / NAMES[2])
    run.record.status = "failed"
    run.save()
    (parent / "matrix.json").write_text(record.model_dump_json(), encoding="utf-8")
    write_parent_outputs(parent)
    assert {r["child"] for r in read_csv(parent / MATRIX_CSV)} == set(NAMES[:2])
    page = (parent / MATRIX_HTML).read_text(encoding="utf-8")
    assert "pending: no run directory yet" in page and "run failed" in page
    assert "2 of 4 collected" in page
    assert tradeoff_front(collect(parent).children).names == NAMES[:2]


def test_bad_parent_inputs_are_one_clear_error(parent, tmp_path):
    record = MatrixRecord.model_validate_json((parent / "matrix.json").read_text(encoding="utf-8"))
    record.children[1].name = "../../elsewhere"
    (parent / "matrix.json").write_text(record.model_dump_json(), encoding="utf-8")
    with pytest.raises(InputError, match="child name '../../elsewhere' is not a folder name"):
        write_parent_outputs(parent)
    with pytest.raises(InputError, match="not a matrix parent"):
        write_parent_outputs(tmp_path / "nowhere")
    (parent / "matrix.json").write_text('{"version": 99}', encoding="utf-8")
    with pytest.raises(InputError, match="matrix record version 99"):
        write_parent_outputs(parent)
    with pytest.raises(InputError, match="'arm' is also a matrix.csv column"):
        matrix_columns(["finetune.lr", "arm"])


def test_a_changed_child_table_is_refused_and_earlier_outputs_stay(parent):
    csv_path, _ = write_parent_outputs(parent)
    before = csv_path.read_bytes()
    summary = parent / "children" / NAMES[1] / SUMMARY
    summary.write_text(summary.read_text(encoding="utf-8").replace("0.25", "0.05"), encoding="utf-8")
    with pytest.raises(InputError, match="summary.csv"):
        write_parent_outputs(parent)
    assert csv_path.read_bytes() == before


def test_axes_cover_the_record(parent):
    assert collect(parent).axes == list(AXES)


def test_without_fine_tune_records_the_front_is_by_harm_alone(parent):
    for name in NAMES:
        run = RunDir.open(parent / "children" / name)
        run.record.finetune = None  # given tuned weights: nothing trained, no perplexities
        run.save()
    front = tradeoff_front(collect(parent).children)
    assert front.dimensions == ["harm"] and front.names == [NAMES[1]]  # the lowest flagged delta
    write_parent_outputs(parent)
    page = (parent / MATRIX_HTML).read_text(encoding="utf-8")
    assert "No child recorded a capability cost" in page
    assert 'aria-label="flagged delta against finetune.lr"' in page
