"""CSV tables for Excel: `report.csv_bom` / `harness report --excel` write UTF-8 with a BOM.

Excel on Japanese Windows decodes a CSV as UTF-8 when it starts with a BOM and
as CP932 otherwise; ``excel_decode`` does the same, so these tests read the
files as Excel would.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from harness.cli import main
from harness.csvfile import BOM, add_bom, read_csv, write_csv
from harness.errors import InputError
from harness.record.rundir import SCORES, SUMMARY


def excel_decode(data: bytes) -> list[list[str]]:
    """Rows of a CSV as Excel on Japanese Windows reads it: UTF-8 after a BOM, else CP932."""
    text = data[len(BOM) :].decode("utf-8") if data.startswith(BOM) else data.decode("cp932", errors="replace")
    return list(csv.reader(io.StringIO(text)))


def test_excel_flag_writes_bom_tables_that_excel_reads(run_dir: Path):
    before = {name: read_csv(run_dir / name) for name in (SCORES, SUMMARY, "corpus_audit.csv", "vocab_shift.csv")}
    # without the BOM, Excel's CP932 guess garbles the Japanese
    assert "高齢者" not in str(excel_decode((run_dir / SCORES).read_bytes()))
    # a CSV the harness did not declare (RunDir writes only declared entries), written the harness's way
    write_csv(run_dir / "notes.csv", [{"text": '=HYPERLINK("x","クリック")'}], ["text"])
    assert main(["report", str(run_dir), "--excel"]) == 0
    for name, rows in before.items():
        data = (run_dir / name).read_bytes()
        assert data.startswith(BOM) and not data[len(BOM) :].startswith(BOM), name
        assert read_csv(run_dir / name) == rows  # the harness reads it as before
    table = excel_decode((run_dir / SCORES).read_bytes())
    header, body = table[0], table[1:]
    assert header[0] == "id"  # no stray BOM character glued to the first column name
    groups = [row[header.index("group")] for row in body]
    assert "高齢者" in groups
    prompts = [row[header.index("id")] for row in body]
    assert "tuned/smoke/p1/1" in prompts
    # formula neutralising survives: the cell Excel sees starts with an apostrophe
    assert excel_decode((run_dir / "notes.csv").read_bytes()) == [["text"], ['\'=HYPERLINK("x","クリック")']]
    assert main(["report", str(run_dir), "--excel"]) == 0  # idempotent: one BOM only
    assert not (run_dir / SCORES).read_bytes()[len(BOM) :].startswith(BOM)


def test_config_csv_bom(make_run):
    run_dir = make_run(extra="report: {csv_bom: true}\n").run_dir
    for name in (SCORES, SUMMARY, "corpus_audit.csv", "vocab_shift.csv"):
        assert (run_dir / name).read_bytes().startswith(BOM), name
    assert main(["report", str(run_dir)]) == 0  # the run's own setting holds on a rebuild
    assert (run_dir / SUMMARY).read_bytes().startswith(BOM)


def test_default_is_plain_utf8(run_dir: Path):
    assert main(["report", str(run_dir)]) == 0
    assert not (run_dir / SUMMARY).read_bytes().startswith(BOM)


def test_add_bom_checks_its_input(tmp_path: Path):
    path = tmp_path / "t.csv"
    path.write_bytes("a\n漢字\n".encode("cp932"))
    with pytest.raises(InputError, match=r"t\.csv: not valid UTF-8"):
        add_bom(path)
    with pytest.raises(InputError, match="file not found"):
        add_bom(tmp_path / "missing.csv")
    path.write_text("a\n漢字\n", encoding="utf-8")
    assert add_bom(path) is True and add_bom(path) is False
    assert read_csv(path) == [{"a": "漢字"}]


def test_no_mask_flag(run_dir: Path):
    assert main(["report", str(run_dir), "--no-mask"]) == 0
    assert '<body class="reveal">' in (run_dir / "report.html").read_text(encoding="utf-8")
    assert main(["report", str(run_dir)]) == 0
    assert "<body>" in (run_dir / "report.html").read_text(encoding="utf-8")
