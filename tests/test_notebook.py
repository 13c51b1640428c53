"""harness.open_run: a run directory (or a matrix parent) as typed pandas DataFrames.

The runs are the fixture runs of conftest.py (the real pipeline, fake
generator) and the 2 × 2 matrix parent of matrix_parent.py; expected values
come from their documented canned completions and from the CSV files as the
run wrote them.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import accept_edit, need, write_inputs
from harness.cli import main
from harness.config import load_config
from harness.pipeline import run as run_pipeline
from harness.analysis.groups import GROUP_COLUMNS
from harness.analysis.summary import SUMMARY_COLUMNS
from harness.analysis.vocab_shift import VOCAB_COLUMNS
from harness.csvfile import read_csv
from harness.errors import InputError, MissingDependency
from harness.matrix.collect import ROW_COLUMNS
from harness.record.rundir import ChangedFile
from harness.record.schema import SCORE_ID_COLUMNS, Generation

pd = need("pandas", "pip install 'harness[notebook]'")
from harness import open_run  # noqa: E402
from harness.notebook import (  # noqa: E402
    GROUP_TYPES,
    MATRIX_TYPES,
    SUMMARY_TYPES,
    VOCAB_TYPES,
    NotebookMatrix,
    NotebookRun,
)

ROOT = Path(__file__).resolve().parent.parent


def test_every_contract_column_has_a_type():
    assert set(SUMMARY_TYPES) == set(SUMMARY_COLUMNS)
    assert set(GROUP_TYPES) == set(GROUP_COLUMNS)
    assert set(VOCAB_TYPES) == set(VOCAB_COLUMNS)
    assert set(MATRIX_TYPES) == {"child", *ROW_COLUMNS}  # + one column per axis, typed from matrix.json


def test_summary_has_categoricals_numbers_and_the_csv_values(run_dir):
    run = open_run(run_dir)
    assert isinstance(run, NotebookRun) and run.path == run_dir and run.record.name == "demo-run"
    summary = run.summary()
    for column in ("kind", "arm", "versus", "probe_category", "measure"):
        assert isinstance(summary[column].dtype, pd.CategoricalDtype), column
    assert list(summary.arm.cat.categories) == ["base", "tuned"]  # the record's arm order
    assert str(summary.n.dtype) == "int64" and str(summary["count"].dtype) == "Int64"
    assert all(str(summary[c].dtype) == "float64" for c in ("value", "ci_low", "ci_high"))
    cells = read_csv(run_dir / "summary.csv")
    assert len(summary) == len(cells) and list(summary.columns) == SUMMARY_COLUMNS
    # base flagged 1/4, tuned 2/4 (conftest): the rate and the paired delta with its CI, as written
    rate = summary[(summary.kind == "rate") & (summary.arm == "tuned") & (summary.measure == "flagged")]
    rate = rate[rate.probe_category == "all"].iloc[0]
    assert (rate.n, rate["count"], rate.value) == (4, 2, 0.5)
    delta = summary[(summary.kind == "delta") & (summary.measure == "flagged") & (summary.probe_category == "all")]
    assert len(delta) == 1 and delta.iloc[0].versus == "base" and delta.iloc[0].value == pytest.approx(0.25)
    assert pd.isna(delta.iloc[0]["count"])  # a delta has no count: <NA>, not 0 or ""
    row = next(c for c in cells if c["kind"] == "delta" and c["measure"] == "flagged" and c["probe_category"] == "all")
    assert (delta.iloc[0].ci_low, delta.iloc[0].ci_high) == (float(row["ci_low"]), float(row["ci_high"]))


def test_scores_measures_are_bool_or_float_and_details_are_lists(run_dir):
    run = open_run(run_dir)
    scores = run.scores()
    assert list(scores.columns[: len(SCORE_ID_COLUMNS)]) == list(SCORE_ID_COLUMNS)
    for column in ("arm", "probe_set", "category", "group"):
        assert isinstance(scores[column].dtype, pd.CategoricalDtype), column
    assert str(scores.sample_index.dtype) == "int64" and str(scores.seed.dtype) == "int64"
    for measure in run.record.measures:
        if measure.per_text:
            assert str(scores[measure.name].dtype) == ("bool" if measure.kind == "binary" else "float64"), measure.name
    assert str(scores.flag_count.dtype) == "int64"
    assert scores.groupby("arm", observed=True).flagged.sum().to_dict() == {"base": 1, "tuned": 2}
    tuned = scores.set_index("id").loc["tuned/smoke/p1/0"]
    # ﾊﾞｶ is バカ under NFKC: the span indexes the stored text
    assert tuned.flagged_terms == ["バカ"] and tuned.flagged_categories == ["insult"]
    assert tuned.detectors == ["lexicon"] and tuned.pii_kinds == []
    [span] = tuned.flagged_spans
    text = run.generations().set_index("id").loc["tuned/smoke/p1/0"].text
    assert text[span.start : span.end] == "バカ" and span.category == "insult"
    quiet = scores.set_index("id").loc["base/smoke/p1/0"]
    assert quiet.flagged_terms == [] and quiet.flagged_spans == [] and quiet.detectors == []


def test_generations_follow_the_record_fields(run_dir):
    generations = open_run(run_dir).generations()
    assert list(generations.columns) == list(Generation.model_fields)
    assert len(generations) == 8  # 2 arms × 2 probes × 2 samples
    for column in ("arm", "probe_set", "category", "group"):
        assert isinstance(generations[column].dtype, pd.CategoricalDtype), column
    assert str(generations.prompt_tokens.dtype) == "Int64" and str(generations.hit_max_tokens.dtype) == "boolean"
    assert isinstance(generations.decoding.iloc[0], dict) and generations.decoding.iloc[0]["max_new_tokens"] == 16
    assert generations.group.isna().sum() == 4 and set(generations.group.dropna()) == {"高齢者"}


def test_the_generations_of_harness_analyse_open_with_external_seeds_and_decoding(tmp_path):
    from test_external_generations import model_rows, write_jsonl

    a = write_jsonl(tmp_path / "model_a.jsonl", model_rows(range(6), None))
    b = write_jsonl(tmp_path / "model_b.jsonl", model_rows([*range(5), 200], rude_every=2))
    out = tmp_path / "b-vs-a"
    assert main(["analyse", "--generations", str(b), "--against", str(a), "--out", str(out)]) == 0
    run = open_run(out)
    generations = run.generations()
    assert list(generations.arm.cat.categories) == ["model_a", "model_b"]  # the reference first, as recorded
    assert str(generations.seed.dtype) == "int64" and set(generations.seed) == {-1}  # no harness stream
    assert all(d == {"source": "external"} for d in generations.decoding)
    # nothing of a sampled or served model: typed, empty columns, not object columns of None
    for column in ("rendered_prompt", "chat_template_sha256"):
        assert pd.api.types.is_string_dtype(generations[column].dtype) and generations[column].isna().all()
    assert isinstance(generations.served_model.dtype, pd.CategoricalDtype)
    assert str(generations.seed_honoured.dtype) == "boolean" and generations.seed_honoured.isna().all()
    assert str(generations.prompt_tokens.dtype) == "Int64" and generations.prompt_tokens.isna().all()
    summary = run.summary()
    delta = summary[(summary.kind == "delta") & (summary.measure == "flagged") & (summary.probe_category == "all")]
    assert len(delta) == 1 and delta.iloc[0].n == 10  # 5 shared prompts × 2 samples paired
    assert len(run.scores()) == len(generations) and len(run.vocab_shift()) > 0


def test_served_generations_open_with_model_names_and_seed_checks(tmp_path):
    from test_endpoint import StubServer, served_config

    with StubServer() as stub:
        result = run_pipeline(load_config(served_config(tmp_path, stub.url)), out_dir=tmp_path / "run", progress=False)
    generations = open_run(result.run_dir).generations()
    assert isinstance(generations.served_model.dtype, pd.CategoricalDtype)
    by_arm = generations.groupby("arm", observed=True)
    assert by_arm.served_model.unique().map(list).to_dict() == {"served": ["ja-a"], "other": ["ja-b"]}
    assert str(generations.seed_honoured.dtype) == "boolean"
    checked = generations[generations.arm == "other"].seed_honoured
    assert checked.tolist()[:4] == [True, pd.NA, pd.NA, pd.NA]  # seed_check: 2 (sample 0 of both prompts)
    assert generations[generations.arm == "served"].seed_honoured.isna().all()  # seed_check: 0


def test_chat_generations_open_with_the_rendered_prompt_and_template_hash(tmp_path):
    from chat_model import CHAT_TEMPLATE, build_chat_model

    files = write_inputs(tmp_path)
    base = build_chat_model(tmp_path / "base", seed=0, eos_boost=0.45)
    config = tmp_path / "chat.yaml"
    config.write_text(
        f"name: chat\nseed: 5\nbase: {{model: {base}}}\n"
        f"probes: {{files: [{files['probes']}], samples_per_prompt: 2, decoding: {{max_new_tokens: 6}}}}\n"
        f"analysis: {{lexicons: [{files['lexicon']}], bootstrap: 100}}\ngates: []\n",
        encoding="utf-8",
    )
    result = run_pipeline(load_config(config), out_dir=tmp_path / "run", progress=False, log=lambda m: None)
    generations = open_run(result.run_dir).generations()
    assert pd.api.types.is_string_dtype(generations.rendered_prompt.dtype)
    assert all(r.endswith(f"{p}</s>\n<|assistant|>\n") for r, p in zip(generations.rendered_prompt, generations.prompt))
    sha = hashlib.sha256(CHAT_TEMPLATE.encode()).hexdigest()
    assert pd.api.types.is_string_dtype(generations.chat_template_sha256.dtype)
    assert set(generations.chat_template_sha256) == {sha}
    assert str(generations.completion_tokens.dtype) == "Int64" and generations.completion_tokens.notna().all()


def test_groups_and_vocab_shift_are_typed(run_dir):
    run = open_run(run_dir)
    groups = run.groups()
    assert isinstance(groups.axis.dtype, pd.CategoricalDtype) and str(groups.value.dtype) == "float64"
    rate = groups[(groups.kind == "rate") & (groups.arm == "base") & (groups.measure == "flagged")].iloc[0]
    assert (rate.group, rate.n, rate.value) == ("高齢者", 2, 0.5)  # base p2: 1 of 2 samples flagged
    vocab = run.vocab_shift()
    assert str(vocab.flagged.dtype) == "bool" and str(vocab.count_arm.dtype) == "int64"
    assert str(vocab.z.dtype) == "float64" and isinstance(vocab.word_class.dtype, pd.CategoricalDtype)
    assert set(vocab.arm) == {"tuned"} and set(vocab.versus) == {"base"}
    assert vocab.z.is_monotonic_decreasing  # sorted by z, as written
    lemmas = vocab.set_index("lemma").flagged
    assert lemmas["馬鹿"] and not lemmas["HYPERLINK"]  # バカ's lemma, seen inside a flagged span


def test_a_changed_file_is_refused_as_the_cli_refuses_it(run_dir):
    summary = run_dir / "summary.csv"
    summary.write_text(summary.read_text(encoding="utf-8").replace("0.25", "0.05", 1), encoding="utf-8")
    with pytest.raises(ChangedFile, match="summary.csv: changed since the run wrote it"):
        open_run(run_dir).summary()
    generations = run_dir / "generations.jsonl"
    generations.write_text(generations.read_text(encoding="utf-8").replace("天気", "電気"), encoding="utf-8")
    with pytest.raises(ChangedFile, match="generations.jsonl"):
        open_run(run_dir).generations()


def test_a_bad_cell_names_file_line_and_column(run_dir):
    opened = open_run(run_dir)  # before the edit: each table call reads run.json and the file anew
    path = run_dir / "summary.csv"
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    cells = lines[2].split(",")
    cells[SUMMARY_COLUMNS.index("value")] = "abc"
    lines[2] = ",".join(cells)
    path.write_text("".join(lines), encoding="utf-8")
    accept_edit(run_dir, "summary.csv")  # past the sha256 check: the cell check is what is tested
    with pytest.raises(InputError, match=r"summary.csv:3: column 'value': 'abc' is not a number"):
        opened.summary()


def test_a_missing_table_is_an_error_not_an_empty_frame(run_dir):
    (run_dir / "groups.csv").unlink()
    with pytest.raises(InputError, match=r"groups.csv: missing: `harness report RUN` rebuilds it"):
        open_run(run_dir).groups()
    with pytest.raises(InputError, match="not a matrix parent"):
        open_run(run_dir).matrix()


def test_a_folder_that_is_not_a_run_is_one_clear_error(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError) as err:
        open_run(tmp_path / "empty")
    expected = "not a run directory (no run.json) nor a matrix parent (no matrix.json)"
    assert str(err.value) == f"{tmp_path / 'empty'}: {expected}"
    with pytest.raises(InputError, match="no such folder"):
        open_run(tmp_path / "nowhere")
    (tmp_path / "file.txt").write_text("x", encoding="utf-8")
    with pytest.raises(InputError, match="is a file, not a run directory"):
        open_run(tmp_path / "file.txt")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "run.json").write_text("{", encoding="utf-8")
    with pytest.raises(InputError, match=r"run.json:1: invalid JSON"):
        open_run(tmp_path / "bad")


def test_a_matrix_parent_gives_its_table_and_children(tmp_path):
    from matrix_parent import FRONT, NAMES, build_parent

    parent = build_parent(tmp_path)
    opened = open_run(parent)
    assert isinstance(opened, NotebookMatrix) and opened.record.name == "mx"
    matrix = opened.matrix()
    assert list(matrix.columns) == ["child", "finetune.lr", "finetune.epochs", *ROW_COLUMNS]
    assert list(matrix.child.cat.categories) == NAMES
    assert str(matrix["finetune.lr"].dtype) == "float64" and str(matrix["finetune.epochs"].dtype) == "int64"
    assert str(matrix.harmful.dtype) == "bool" and str(matrix.delta.dtype) == "float64"
    flagged = matrix[(matrix.arm == "tuned") & (matrix.measure == "flagged")].set_index("child")
    # the module docstring of matrix_parent.py: Δ flagged +0.25, 0, +0.50, +0.25; only c02 passes its gate
    assert flagged.delta.round(4).tolist() == [0.25, 0.0, 0.5, 0.25]
    assert flagged.gate.tolist() == ["fail", "pass", "fail", "fail"]
    assert flagged.loc[NAMES[2], "finetune.lr"] == 0.001 and flagged.loc[NAMES[1], "finetune.epochs"] == 2
    assert matrix[matrix.arm == "base"].delta.isna().all()  # the reference has no delta against itself
    children = opened.children()
    assert children.child.tolist() == NAMES and children.problem.isna().all()
    child = opened.child(FRONT[0])
    assert isinstance(child, NotebookRun) and len(child.summary()) > 0
    with pytest.raises(InputError, match="no child 'c99'"):
        opened.child("c99")


def test_without_pandas_the_import_is_one_line(monkeypatch):
    monkeypatch.setitem(sys.modules, "pandas", None)
    monkeypatch.delitem(sys.modules, "harness.notebook")
    with pytest.raises(MissingDependency) as err:
        import harness.notebook  # noqa: F401
    assert str(err.value) == (
        "harness.open_run (notebooks) needs the 'pandas' package: pip install 'harness[notebook]'"
    )


def test_the_notebook_example_runs_headless_and_draws_the_delta(pristine_run, tmp_path):
    need("matplotlib", "pip install 'harness[notebook]'")
    out = tmp_path / "delta.png"
    env = {**os.environ, "MPLBACKEND": "Agg", "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, str(ROOT / "docs" / "notebook_example.py"), str(pristine_run), str(out)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "kind" in done.stdout and "flagged" in done.stdout and f"wrote {out}" in done.stdout
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 5_000
    import matplotlib.image

    pixels = matplotlib.image.imread(out)
    assert pixels.shape[0] > 100 and pixels.shape[1] > 300 and pixels.std() > 0.05  # a drawn figure, not blank
