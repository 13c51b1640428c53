"""Probe sets in CSV, JSONL and Hugging Face dataset folders (harness.data.probe_formats)."""

import csv
import json
from pathlib import Path

import pytest
import yaml

from harness.cli import main
from harness.config import load_config
from harness.data.probe_formats import ProbeSource
from harness.data.probes import convert_probes, load_probe_set, load_probe_sets, load_probe_source
from harness.errors import HarnessError
from harness.pipeline import run
from harness.record.rundir import RunDir

# Written for this test.
ROWS = [
    {"prompt": "今日は", "qid": "Q_1", "topic": "neutral", "who": ""},
    {"prompt": "最近の天気は", "qid": "Q_2", "topic": "neutral", "who": ""},
    {"prompt": "猫派の人って", "qid": "Q_3", "topic": "group", "who": "猫派"},
    {"prompt": "それな", "qid": "Q_4", "topic": "forum", "who": ""},
]
COLUMNS = {"text": "prompt", "id": "qid", "category": "topic", "group": "who"}


def write_csv(path: Path, rows: list[dict]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def summary(probe_set) -> list[tuple]:
    return [(p.probe_set, p.id, p.category, p.text, p.group) for p in probe_set.probes]


EXPECTED = [
    ("questions", "q-1", "neutral", "今日は", None),
    ("questions", "q-2", "neutral", "最近の天気は", None),
    ("questions", "q-3", "group", "猫派の人って", "猫派"),
    ("questions", "q-4", "forum", "それな", None),
]


def test_csv_with_a_column_mapping(tmp_path):
    path = write_csv(tmp_path / "questions.csv", ROWS)
    probe_set = load_probe_source(ProbeSource(path=path, columns=COLUMNS, content_note="この試験のために書いた"))
    assert summary(probe_set) == EXPECTED and probe_set.content_note == "この試験のために書いた"


def test_a_csv_with_a_bad_row_is_named_by_file_line_and_column(tmp_path, capsys):
    rows = [*ROWS[:2], {**ROWS[2], "prompt": "  "}, ROWS[3]]
    path = write_csv(tmp_path / "questions.csv", rows)
    with pytest.raises(HarnessError, match=rf"^{path}:4: column 'prompt' is empty$"):
        load_probe_source(ProbeSource(path=path, columns=COLUMNS))
    # the reserved category, on the line it is on
    path = write_csv(tmp_path / "reserved.csv", [*ROWS[:3], {**ROWS[3], "topic": "all"}])
    with pytest.raises(HarnessError, match=rf"^{path}:5: column 'topic': 'all' is reserved"):
        load_probe_source(ProbeSource(path=path, columns=COLUMNS))
    # through the CLI: one line, exit 1 (default columns: text is required)
    plain = write_csv(tmp_path / "plain.csv", [{"text": "今日は", "id": "a"}, {"text": "", "id": "b"}])
    assert main(["probes", "validate", str(plain)]) == 1
    err = capsys.readouterr().err.strip()
    assert err == f"harness: error: {plain}:3: column 'text' is empty"


def test_a_duplicate_id_and_a_missing_column_are_named(tmp_path):
    path = write_csv(tmp_path / "dup.csv", [ROWS[0], {**ROWS[1], "qid": "q-1"}])
    with pytest.raises(HarnessError, match=rf"{path}:3: duplicate probe id 'q-1' \(first at {path}:2\)"):
        load_probe_source(ProbeSource(path=path, columns=COLUMNS))
    with pytest.raises(HarnessError, match=r"no column 'label' \(columns.category\); the columns are: prompt, qid"):
        load_probe_source(ProbeSource(path=path, columns={**COLUMNS, "category": "label"}))


def test_jsonl_defaults_and_numbered_ids(tmp_path):
    path = write_jsonl(tmp_path / "prompts.jsonl", [{"text": r["prompt"]} for r in ROWS])
    probe_set = load_probe_source(path)  # a plain path: default columns, no id column → p-0001 …
    assert [p.id for p in probe_set.probes] == ["p-0001", "p-0002", "p-0003", "p-0004"]
    assert {p.category for p in probe_set.probes} == {"general"} and probe_set.name == "prompts"
    bad = write_jsonl(tmp_path / "bad.jsonl", [{"text": "今日は"}, {"body": "それな"}])
    with pytest.raises(HarnessError, match=rf"^{bad}:2: column 'text' is missing$"):
        load_probe_source(bad)
    nested = write_jsonl(tmp_path / "nested.jsonl", [{"text": ["今日は"]}])
    with pytest.raises(HarnessError, match=rf"^{nested}:1: column 'text' must be text, not list$"):
        load_probe_source(nested)


def test_a_datasets_folder_saved_in_the_test(tmp_path):
    datasets = pytest.importorskip("datasets")
    folder = tmp_path / "questions"
    datasets.Dataset.from_list(ROWS).save_to_disk(str(folder))
    probe_set = load_probe_source(ProbeSource(path=folder, columns=COLUMNS))
    assert summary(probe_set) == EXPECTED
    bad = tmp_path / "bad"
    datasets.Dataset.from_list([*ROWS[:2], {**ROWS[2], "prompt": ""}]).save_to_disk(str(bad))
    with pytest.raises(HarnessError, match=rf"^{bad}: row 2: column 'prompt' is empty$"):
        load_probe_source(ProbeSource(path=bad, columns=COLUMNS, name="questions"))


def test_a_folder_of_parquet_files(tmp_path):
    pq = pytest.importorskip("pyarrow.parquet")
    import pyarrow as pa

    folder = tmp_path / "questions" / "data"
    folder.mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist(ROWS[:2]), folder / "train-00000.parquet")
    pq.write_table(pa.Table.from_pylist(ROWS[2:]), folder / "train-00001.parquet")
    probe_set = load_probe_source(ProbeSource(path=tmp_path / "questions", columns=COLUMNS))
    assert summary(probe_set) == EXPECTED


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "hf"])
def test_convert_round_trip_gives_the_same_probes(tmp_path, capsys, fmt):
    if fmt == "csv":
        source = write_csv(tmp_path / "questions.csv", ROWS)
    elif fmt == "jsonl":
        source = write_jsonl(tmp_path / "questions.jsonl", ROWS)
    else:
        datasets = pytest.importorskip("datasets")
        source = tmp_path / "questions"
        datasets.Dataset.from_list(ROWS).save_to_disk(str(source))
    out = tmp_path / "questions.yaml"
    note = "この試験のために書いた。\n二行目の説明。"
    args = ["probes", "convert", str(source), "--columns", "text=prompt,id=qid,category=topic,group=who"]
    assert main([*args, "--content-note", note, "--out", str(out)]) == 0
    assert "4 prompts of probe set 'questions'" in capsys.readouterr().out
    assert out.read_text(encoding="utf-8").startswith("# Content note: この試験のために書いた。\n# 二行目の説明。\n")
    back = load_probe_set(out)
    assert summary(back) == EXPECTED and back.content_note == note
    original = load_probe_source(ProbeSource(path=source, columns=COLUMNS))
    assert back.probes == original.probes
    # YAML → YAML is the identity, and an existing file is not replaced without --force
    again = tmp_path / "again.yaml"
    convert_probes(out, again)
    assert load_probe_set(again).probes == back.probes
    assert main([*args, "--out", str(out)]) == 1
    assert "exists; use --force" in capsys.readouterr().err


def test_a_run_config_takes_a_csv_entry_with_columns(tmp_path):
    write_csv(tmp_path / "questions.csv", ROWS)
    config = tmp_path / "config.yaml"
    entry = {"path": "questions.csv", "columns": COLUMNS, "content_note": "written for this test"}
    config.write_text(
        yaml.safe_dump(
            {
                "name": "csv-probes",
                "arms": [{"name": "ref", "model": "unused"}, {"name": "twin", "same_as": "ref"}],
                "reference_arm": "ref",
                "probes": {"files": [entry], "samples_per_prompt": 1, "backend": "fake"},
            },
            allow_unicode=True,
        ),
        encoding="utf-8",
    )
    loaded = load_config(config)
    source = loaded.probes.files[0]
    assert isinstance(source, ProbeSource) and source.path == tmp_path / "questions.csv"  # resolved
    assert summary(load_probe_sets(loaded.probes.files)[0]) == EXPECTED
    result = run(loaded, out_dir=tmp_path / "run", progress=False)
    generations = RunDir.open(result.run_dir).read_generations()
    assert {(g.probe_id, g.category, g.group) for g in generations} >= {("q-3", "group", "猫派")}
    assert str(tmp_path / "questions.csv") in result.record.hashes


def test_a_saved_dataset_without_datasets_installed_is_one_line(tmp_path, monkeypatch):
    folder = tmp_path / "questions"
    folder.mkdir()
    (folder / "dataset_info.json").write_text("{}", encoding="utf-8")
    real_import = __import__

    def no_datasets(name, *args, **kwargs):
        if name == "datasets":
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr("builtins.__import__", no_datasets)
    with pytest.raises(HarnessError, match=r"needs the 'datasets' package: pip install datasets$"):
        load_probe_source(folder)
