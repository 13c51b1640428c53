"""CSV writer/reader and the scores.csv span helpers (harness.csvfile)."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import InputError
from harness.csvfile import format_csv, read_csv, safe_cell, unescape_cell, write_csv
from harness.record.spans import Span, mask_text, parse_spans, split_list


@pytest.mark.parametrize(
    "value, expected",
    [
        (None, ""),
        ("", ""),
        (0, "0"),
        (1, "1"),
        (True, "1"),
        (False, "0"),
        (0.25, "0.25"),
        (-0.25, "-0.25"),
        ("-0.25", "-0.25"),
        ("+1.5e-3", "+1.5e-3"),
        (".5", ".5"),
        ("テスト", "テスト"),
        ('=HYPERLINK("x")', '\'=HYPERLINK("x")'),
        ("=1+1", "'=1+1"),
        ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),
        ("-2+3", "'-2+3"),
        ("-", "'-"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("-inf", "'-inf"),
        ("'=x", "''=x"),  # an existing apostrophe is kept so reading restores it
        ("'hello", "'hello"),
        ("a=b", "a=b"),
        ([[0, 2, "バカ", "insult"]], '[[0, 2, "バカ", "insult"]]'),
    ],
)
def test_safe_cell(value, expected):
    assert safe_cell(value) == expected


@pytest.mark.parametrize("text", ["=x", "'=x", "''=x", "-0.25", "'hello", "-a", "\tx", "plain"])
def test_unescape_cell_reverses_safe_cell(text):
    assert unescape_cell(safe_cell(text)) == text


def test_format_csv_exact_text():
    rows = [{"a": "x,y", "b": 'say "hi"'}, {"a": "=1+1", "b": -0.25}, {"b": "line\nbreak"}]
    assert format_csv(rows, ["a", "b"]) == ('a,b\n"x,y","say ""hi"""\n\'=1+1,-0.25\n,"line\nbreak"\n')


def test_write_read_round_trip(tmp_path: Path):
    rows = [
        {"id": "base/s/p/0", "text": 'カンマ,と"引用"', "n": 3, "rate": 0.125},
        {"id": "tuned/s/p/0", "text": "改行\nと復帰\rも", "n": 0, "rate": -0.25},
        {"id": "x", "text": '=HYPERLINK("x","クリック")', "n": None, "rate": "-0.25"},
        {"id": "y", "text": "'=already"},
    ]
    path = tmp_path / "t.csv"
    write_csv(path, rows, ["id", "text", "n", "rate"])
    assert read_csv(path) == [
        {"id": "base/s/p/0", "text": 'カンマ,と"引用"', "n": "3", "rate": "0.125"},
        {"id": "tuned/s/p/0", "text": "改行\nと復帰\rも", "n": "0", "rate": "-0.25"},
        {"id": "x", "text": '=HYPERLINK("x","クリック")', "n": "", "rate": "-0.25"},
        {"id": "y", "text": "'=already", "n": "", "rate": ""},
    ]
    assert not list(tmp_path.glob(".*tmp")), "atomic write left a temporary file"


def test_injection_neutralised_on_disk_but_numbers_kept(tmp_path: Path):
    path = tmp_path / "t.csv"
    write_csv(path, [{"v": '=HYPERLINK("x")'}, {"v": "-0.25"}, {"v": "@cmd"}, {"v": -1}], ["v"])
    text = path.read_text(encoding="utf-8")
    assert text == 'v\n"\'=HYPERLINK(""x"")"\n-0.25\n\'@cmd\n-1\n'
    assert read_csv(path, raw=True)[0]["v"] == '\'=HYPERLINK("x")'
    assert read_csv(path)[0]["v"] == '=HYPERLINK("x")'


def test_unknown_key_is_a_bug_and_missing_key_is_empty(tmp_path: Path):
    with pytest.raises(ValueError, match="extra"):
        write_csv(tmp_path / "t.csv", [{"a": 1, "extra": 2}], ["a"])
    write_csv(tmp_path / "t.csv", [{"a": 1}], ["a", "b"])
    assert (tmp_path / "t.csv").read_text(encoding="utf-8") == "a,b\n1,\n"


def test_read_missing_file_names_it(tmp_path: Path):
    with pytest.raises(InputError, match="nope.csv: file not found"):
        read_csv(tmp_path / "nope.csv")


def test_read_field_count_mismatch_names_file_and_line(tmp_path: Path):
    path = tmp_path / "bad.csv"
    path.write_text("a,b\n1,2\n\n3,4,5\n", encoding="utf-8")
    with pytest.raises(InputError) as err:
        read_csv(path)
    assert str(err.value) == f"{path}:4: expected 2 fields, found 3"
    assert err.value.line == 4


def test_read_empty_file_is_an_error(tmp_path: Path):
    path = tmp_path / "empty.csv"
    path.write_text("", encoding="utf-8")
    with pytest.raises(InputError, match="empty file"):
        read_csv(path)
    path.write_text("a,b\n", encoding="utf-8")
    assert read_csv(path) == []


def test_parse_spans_sorts_and_merges_overlaps():
    cell = '[[5, 7, "b", "insult"], [0, 2, "a", "x"], [1, 3, "c", "y"]]'
    assert parse_spans(cell, 10) == [Span(0, 3, "a", "x"), Span(5, 7, "b", "insult")]
    assert parse_spans("", 3) == []
    assert parse_spans("[]", 3) == []


@pytest.mark.parametrize(
    "cell", ['[[0, 9, "a", "x"]]', '[[2, 1, "a", "x"]]', "{}", "[[0, 1]]", "not json", '[["0", 1, "a", "x"]]']
)
def test_parse_spans_rejects_bad_cells(cell):
    with pytest.raises(ValueError):
        parse_spans(cell, 5)


def test_mask_text_keeps_length():
    assert mask_text("お前バカだろ", [Span(2, 4, "バカ", "insult")]) == "お前●●だろ"
    assert split_list("老害|カス") == ["老害", "カス"]
    assert split_list("") == []
