"""The typed run record: schema files current, versions refused clearly, files validated with line numbers."""

import json
from pathlib import Path

import pytest

from harness.errors import InputError
from conftest import accept_edit
from harness.record.rundir import ENTRIES, RecordVersionError, RunDir
from harness.record.schema import RECORD_VERSION, Generation, schema_documents

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("name", sorted(schema_documents()))
def test_json_schemas_in_docs_are_current(name):
    """Regenerate with `python -m harness.record docs` after changing harness/record/schema.py."""
    on_disk = json.loads((ROOT / "docs" / name).read_text(encoding="utf-8"))
    assert on_disk == schema_documents()[name], f"docs/{name} is stale: run `python -m harness.record docs`"


def test_generation_build_derives_id_and_normalised_text():
    gen = Generation.build(
        arm="tuned",
        probe_set="s",
        probe_id="p1",
        category="forum",
        group=None,
        prompt="ww",
        completion="ﾊﾞｶｗ",
        sample_index=3,
        seed=7,
        decoding={"max_new_tokens": 8},
    )
    assert gen.id == "tuned/s/p1/3" and gen.text == "バカw" and gen.completion == "ﾊﾞｶｗ"
    assert gen.pair_key == ("s", "p1", 3)


def test_round_trip_of_the_record(run_dir):
    run = RunDir.open(run_dir)
    again = RunDir.open(run_dir)
    assert run.record == again.record and run.record.version == RECORD_VERSION
    assert run.record.config.analysis.bootstrap == 200
    assert run.record.reference_arm == "base"


def test_older_record_versions_are_refused_with_a_clear_message(run_dir):
    data = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
    data["version"] = 1
    (run_dir / "run.json").write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(RecordVersionError, match="record version 1 was written by an older harness.*--force"):
        RunDir.open(run_dir)
    data["version"] = RECORD_VERSION + 1
    (run_dir / "run.json").write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(RecordVersionError, match="upgrade the harness"):
        RunDir.open(run_dir)


def test_a_malformed_record_names_the_key(run_dir):
    data = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
    data["arms"][0]["reference"] = "maybe"
    (run_dir / "run.json").write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(InputError, match=r"run.json: arms.0.reference: "):
        RunDir.open(run_dir)


def test_not_a_run_directory_is_one_clear_error(tmp_path):
    with pytest.raises(InputError, match="not a run directory"):
        RunDir.open(tmp_path)
    with pytest.raises(InputError, match="no such folder"):
        RunDir.open(tmp_path / "missing")
    (tmp_path / "corpus.tsv").write_text("x", encoding="utf-8")
    with pytest.raises(InputError, match="is a file, not a run directory"):
        RunDir.open(tmp_path / "corpus.tsv")


def test_a_bad_generation_line_names_file_and_line(run_dir):
    path = run_dir / "generations.jsonl"
    lines = path.read_text(encoding="utf-8").splitlines()
    broken = json.loads(lines[2])
    del broken["text"]
    lines[2] = json.dumps(broken, ensure_ascii=False)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    accept_edit(run_dir, "generations.jsonl")
    with pytest.raises(InputError, match=r"generations.jsonl:3: text: Field required"):
        RunDir.open(run_dir).read_generations()


def test_duplicate_generation_ids_are_refused(run_dir):
    path = run_dir / "generations.jsonl"
    first = path.read_text(encoding="utf-8").splitlines()[0]
    path.write_text(path.read_text(encoding="utf-8") + first + "\n", encoding="utf-8")
    accept_edit(run_dir, "generations.jsonl")
    with pytest.raises(InputError, match="duplicate generation id 'base/smoke/p1/0' \\(first on line 1\\)"):
        RunDir.open(run_dir).read_generations()


def test_scores_read_back_typed_from_the_catalogue(run_dir):
    rows = {r.id: r for r in RunDir.open(run_dir).read_scores()}
    row = rows["tuned/smoke/p1/0"]
    assert row.values["flagged"] == 1 and isinstance(row.values["characters"], float)
    assert row.details["flagged_terms"] == "バカ" and row.group is None
    assert rows["base/smoke/p2/0"].group == "高齢者"


def test_a_non_binary_cell_in_a_binary_measure_names_file_and_line(run_dir):
    path = run_dir / "scores.csv"
    lines = path.read_text(encoding="utf-8").splitlines()
    header = lines[0].split(",")
    cells = lines[1].split(",")
    cells[header.index("polite")] = "2"
    lines[1] = ",".join(cells)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    accept_edit(run_dir, "scores.csv")
    with pytest.raises(InputError, match=r"scores.csv:2: column 'polite': '2' is not 0/1"):
        RunDir.open(run_dir).read_scores()


def test_force_moves_every_declared_output_aside(run_dir):
    """checkpoints/, gates.junit.xml and corpus_scores.csv were once missing from the list --force moved."""
    (run_dir / "checkpoints" / "step-000010").mkdir(parents=True)
    (run_dir / "corpus_scores.csv").write_text("doc_id\n1\n", encoding="utf-8")
    (run_dir / "mine.txt").write_text("not harness output", encoding="utf-8")
    assert (run_dir / "gates.junit.xml").is_file()
    with RunDir.open(run_dir, lock=True) as run:
        aside = run.move_owned_aside()
    left = {p.name for p in run_dir.iterdir()}
    assert left <= {"mine.txt", *(name for name, entry in ENTRIES.items() if entry.kept)}
    assert {"checkpoints", "gates.junit.xml", "corpus_scores.csv", "corpus_stats"} <= {p.name for p in aside.iterdir()}


def test_every_entry_a_run_writes_is_declared(run_dir):
    undeclared = [p.name for p in run_dir.iterdir() if p.name not in ENTRIES]
    assert not undeclared, f"written but not in harness.record.rundir.ENTRIES: {undeclared}"


def test_writing_an_undeclared_entry_is_refused(run_dir):
    with RunDir.open(run_dir, lock=True) as run:
        with pytest.raises(ValueError, match="not a declared run-directory entry"):
            run.write_text("stray.txt", "x")
        with pytest.raises(ValueError, match="not a declared"):
            run.write_table("extra.csv", [], ["a"])
        run.write_text("negatives/notes.md", "inside a declared folder")  # nested names are fine
    assert not (run_dir / "stray.txt").exists()


def test_the_run_directory_page_describes_every_declared_entry():
    page = (Path(__file__).resolve().parent.parent / "docs" / "run-directory.md").read_text(encoding="utf-8")
    missing = [name for name in ENTRIES if f"  {name}" not in page]
    assert not missing, f"docs/run-directory.md does not list {missing}"
