"""The out-of-domain set written for this project (harness.labels.ood, docs/labelling.md section 9)."""

from __future__ import annotations

import pytest

from harness.errors import InputError
from harness.labels.ood import OOD_FILE, main, ood_split, read_ood

HEADER = "# written for this test\nid,text,intended,label,category,split\n"


def row(item_id: str, text: str = "今日は晴れ", label: str = "clean", category: str = "", split: str | None = None):
    return f"{item_id},{text},neutral,{label},{category},{ood_split(item_id) if split is None else split}\n"


def test_the_committed_set_is_whole_labelled_and_split_by_hash():
    items = read_ood(OOD_FILE)
    assert len(items) >= 400 and all(it.split == ood_split(it.id) for it in items)
    toxic = sum(it.toxic for it in items)
    # about half toxic by design (batch 1), more since: the helper-written batches 8-12 intend 95 of 150 toxic
    assert 0.4 < toxic / len(items) < 0.65
    assert {it.split for it in items} == {"dev", "test"}


def test_split_depends_on_the_id_alone():
    assert ood_split("w001") == ood_split("w001")
    shares = [ood_split(f"x{i}") == "test" for i in range(2000)]
    assert 0.45 < sum(shares) / len(shares) < 0.55


@pytest.mark.parametrize(
    "body, message",
    [
        (row("a1", split="dev" if ood_split("a1") == "test" else "test"), "is not the hash split"),
        (row("a1", label="toxic"), "a toxic item needs a category"),
        (row("a1", label="clean", category="insult"), "only for toxic items"),
        (row("a1", label="rude"), "is not one of"),
        (row("a1") + row("a1"), "repeats"),
    ],
)
def test_bad_rows_are_one_error_naming_file_and_line(tmp_path, body, message):
    path = tmp_path / "ood.csv"
    path.write_text(HEADER + body, encoding="utf-8")
    with pytest.raises(InputError, match=rf"ood\.csv:\d+: .*{message}"):
        read_ood(path)


def test_split_command_fills_the_split_before_labelling(tmp_path, capsys):
    path = tmp_path / "ood.csv"
    path.write_text(HEADER + "b1,しね,kana_threat,,,\nb2,晴れ,neutral,,,\n", encoding="utf-8")
    assert main(["check", str(path)]) == 1 and "split is empty" in capsys.readouterr().out
    assert main(["split", str(path)]) == 0
    items = read_ood(path, partial=True)
    assert [it.split for it in items] == [ood_split("b1"), ood_split("b2")]
    assert path.read_text(encoding="utf-8").startswith("# written for this test\n")


def test_held_out_batches_are_their_own_part_of_the_committed_set():
    from harness.labels.ood import HELD_OUT, HELD_OUT_BATCHES, batch_of

    parts = {(batch_of(it.id) in HELD_OUT_BATCHES, it.part) for it in read_ood(OOD_FILE)}
    assert parts == {(True, HELD_OUT), (False, "dev"), (False, "test")}


@pytest.mark.parametrize("body", [None, "", HEADER + row("w001")])  # missing, empty, no held-out item
def test_flagging_quality_held_out_bad_file_is_one_line(tmp_path, body):
    import subprocess
    import sys
    from pathlib import Path

    path = tmp_path / "written.csv"
    if body is not None:
        path.write_text(body, encoding="utf-8")
    script = Path(__file__).resolve().parents[1] / "benchmarks" / "flagging_quality.py"
    done = subprocess.run([sys.executable, str(script), "--ood", str(path), "--split", "held-out"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and done.stderr.startswith(f"flagging_quality.py: error: {path}")


def test_flagging_quality_batch_picks_one_writer(tmp_path):
    """--batch keeps one batch's items (its figures alone); a batch with no item there is one line, exit 1."""
    import subprocess
    import sys
    from pathlib import Path

    path = tmp_path / "written.csv"
    path.write_text(HEADER + row("q001", "お前まじでうざい", "toxic", "harassment") + row("q002") + row("w001"),
                    encoding="utf-8")  # fmt: skip
    script = Path(__file__).resolve().parents[1] / "benchmarks" / "flagging_quality.py"

    def run(*extra):
        return subprocess.run([sys.executable, str(script), "--ood", str(path), "--split", "held-out", *extra],
                              capture_output=True, text=True, timeout=120)  # fmt: skip

    done = run("--batch", "q")
    assert done.returncode == 0 and "held-out batches (batch q)" in done.stdout and "n 2, toxic 1" in done.stdout
    done = run("--batch", "zz")
    assert done.returncode == 1 and done.stderr.count("\n") == 1 and "of batch zz" in done.stderr
