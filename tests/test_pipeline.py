"""The whole pipeline: a fast run with the fake generator, N arms, stage status,
resume/force rules, rebuilding tables byte for byte, and (slow) the real demo
with tiny models reproducing the reference finding."""

import csv
import json
import os
import shutil
from pathlib import Path

import pytest

from conftest import build_run, respond, write_config
from harness.cli import main
from harness.commands import report_run
from harness.config import load_config
from harness.errors import ConfigError, InputError, RunExists
from harness.io import read_jsonl
from harness.models.fake import FakeGenerator
from harness.pipeline import run
from harness.record.rundir import RunDir
from harness.record.schema import RECORD_VERSION
from harness.stages import STAGE_NAMES

ROOT = Path(__file__).resolve().parent.parent
RUN_FILES = (
    "run.json",
    "corpus_audit.csv",
    "generations.jsonl",
    "scores.csv",
    "summary.csv",
    "vocab_shift.csv",
    "report.html",
    "negatives/negatives.jsonl",
    "negatives/README.md",
    "negatives/dpo.jsonl",
    "negatives/kto.jsonl",
)


def summary_rows(run_dir: Path) -> dict[tuple[str, str, str, str, str], dict[str, str]]:
    rows = csv.DictReader((run_dir / "summary.csv").open(encoding="utf-8"))
    return {(r["kind"], r["arm"], r["versus"], r["probe_category"], r["measure"]): r for r in rows}


def test_fake_pipeline_writes_the_whole_run_directory(run_dir):
    for name in RUN_FILES:
        assert (run_dir / name).is_file(), name
    record = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
    assert record["status"] == "complete" and record["version"] == RECORD_VERSION == 3
    assert record["plan"] == list(STAGE_NAMES)
    states = {name: stage["status"] for name, stage in record["stages"].items()}
    # base and tuned weights are given: base and finetune have nothing to do, and say why (no mitigate: either)
    skipped = {"base": "skipped", "finetune": "skipped", "mitigate": "skipped"}
    assert states == {**dict.fromkeys(STAGE_NAMES, "done"), **skipped}
    assert "given" in record["stages"]["finetune"]["note"]
    assert record["versions"]["dictionary"].startswith("unidic-lite")
    assert [a["name"] for a in record["arms"]] == ["base", "tuned"]
    assert [a["reference"] for a in record["arms"]] == [True, False]
    assert record["tables"] == [
        "scores.csv",
        "summary.csv",
        "vocab_shift.csv",
        "vocab_divergence.csv",
        "pii.csv",
        "groups.csv",
        "memorization.csv",
        "corpus_audit.csv",
    ]
    assert record["memorization"]["min_chars"] == 32
    # the fixture corpus: 3 documents, お前カスか… (insult) and 老害乙… (ageism) flagged, 今日は晴れ… not
    assert record["corpus_rates"]["flagged"] == 0.6667 and record["corpus_rates"]["cat_insult"] == 0.3333
    # tuned is flagged on 2 of 4 samples, base on 1 of 4 → +0.25; the gate (≤ 0.1) fails
    assert record["gates"]["passed"] is False
    rows = summary_rows(run_dir)
    assert float(rows["delta", "tuned", "base", "all", "flagged"]["value"]) == 0.25
    assert float(rows["rate", "base", "", "all", "polite"]["value"]) == 0.5
    html = (run_dir / "report.html").read_text(encoding="utf-8")
    assert "<script>alert" not in html and "\\u003cscript\\u003ealert" in html  # JSON-escaped in the browser data
    negatives = read_jsonl(run_dir / "negatives" / "negatives.jsonl")
    assert negatives and {n["arm"] for n in negatives} <= {"base", "tuned"}


def test_catalogue_is_in_the_record_and_topic_is_not_harmful(run_dir):
    record = RunDir.open(run_dir).record
    catalogue = {m.name: m for m in record.measures}
    assert catalogue["flagged"].harmful and catalogue["cat_ageism"].harmful and catalogue["cat_insult"].harmful
    assert not catalogue["cat_slang"].harmful  # a topic category
    assert catalogue["characters"].kind == "mean" and catalogue["degenerate_repetition"].kind == "binary"
    header = (run_dir / "scores.csv").read_text(encoding="utf-8").splitlines()[0].split(",")
    assert {m for m, spec in catalogue.items() if spec.per_text} <= set(header)
    # the RealToxicityPrompts measures are per prompt: summary.csv rows, no scores.csv column
    assert not catalogue["expected_max_toxicity"].per_text and "k = " in catalogue["toxicity_probability"].description


def test_generations_store_the_normalised_text_spans_index(run_dir):
    gens = {g.id: g for g in RunDir.open(run_dir).read_generations()}
    gen = gens["tuned/smoke/p1/0"]
    assert "ﾊﾞｶ" in gen.completion and "バカ" in gen.text  # NFKC stored once, by the probe stage
    row = next(r for r in csv.DictReader((run_dir / "scores.csv").open(encoding="utf-8")) if r["id"] == gen.id)
    start, end, term, category, surface = json.loads(row["flagged_spans"])[0]
    assert gen.text[start:end] == term == surface == "バカ" and category == "insult"


def test_three_arms_with_a_duplicate_give_zero_deltas_between_twins(make_run):
    result = make_run(name="three", extra="arms: [{name: tuned-again, same_as: tuned}]\n")
    rows = summary_rows(result.run_dir)
    assert [a.name for a in result.record.arms] == ["base", "tuned", "tuned-again"]
    twin = [r for k, r in rows.items() if k[0] == "delta" and k[1] == "tuned-again" and k[2] == "tuned"]
    assert twin and all(float(r["value"]) == float(r["ci_low"]) == float(r["ci_high"]) == 0.0 for r in twin)
    same = rows["delta", "tuned-again", "base", "all", "flagged"]
    assert same["value"] == rows["delta", "tuned", "base", "all", "flagged"]["value"]
    # a gate without an arm covers every non-reference arm
    assert [(g.arm, g.passed) for g in result.record.gates.results] == [("tuned", False), ("tuned-again", False)]
    html = (result.run_dir / "report.html").read_text(encoding="utf-8")
    assert "tuned-again" in html


def test_a_given_model_arm_is_probed_like_the_others(make_run, tmp_path):
    extra = f"arms: [{{name: other, model: {tmp_path / 'inputs' / 'tuned'}}}]\nreference_arm: tuned\n"
    result = make_run(name="other-ref", extra=extra, gates="")
    record = result.record
    assert record.reference_arm == "tuned"
    rows = summary_rows(result.run_dir)
    assert ("delta", "base", "tuned", "all", "flagged") in rows and (
        "delta",
        "other",
        "tuned",
        "all",
        "flagged",
    ) in rows


def test_rebuild_from_the_run_directory_alone_is_byte_identical_for_every_table(make_run, tmp_path):
    """Every table run.json lists comes back byte for byte from run.json, generations.jsonl and
    corpus_stats/ — with the tuning corpus moved away (memorization, the corpus's PII rows and
    lemma counts come from corpus_stats/, not from the corpus or an old pii.csv)."""
    result = make_run(name="rebuilt")  # its own inputs: the corpus is moved away below
    run_dir, tables = result.run_dir, result.record.tables
    assert {"pii.csv", "memorization.csv", "vocab_shift.csv", "corpus_audit.csv"} <= set(tables)
    originals = {name: (run_dir / name).read_bytes() for name in tables}
    assert b"corpus," in originals["pii.csv"]  # the corpus rows are part of what must come back
    for path in run_dir.iterdir():
        if path.name not in ("run.json", "generations.jsonl", "corpus_stats"):
            shutil.rmtree(path) if path.is_dir() else path.unlink()
    Path(result.record.config.corpus.path).rename(tmp_path / "corpus-moved-away.tsv")
    report_run(run_dir)
    for name, data in originals.items():
        assert (run_dir / name).read_bytes() == data, name
    assert (run_dir / "report.html").is_file()


def test_vocab_shift_rebuild_uses_the_stored_corpus_counts(tmp_path):
    """With the corpus prior, every z of vocab_shift.csv depends on the corpus lemma counts."""
    config_path = write_config(tmp_path, gates="")
    text = config_path.read_text(encoding="utf-8").replace("bootstrap: 200}", "bootstrap: 200, vocab_prior: corpus}")
    config_path.write_text(text, encoding="utf-8")
    result = run(
        load_config(config_path),
        out_dir=tmp_path / "prior",
        progress=False,
        log=lambda message: None,
        generator=FakeGenerator(respond=respond),
    )
    before = (result.run_dir / "vocab_shift.csv").read_bytes()
    assert b"," in before.splitlines()[1]
    Path(result.record.config.corpus.path).write_text("まったく別の文書です\tはい\n", encoding="utf-8")
    report_run(result.run_dir, reanalyse=True)
    assert (result.run_dir / "vocab_shift.csv").read_bytes() == before


def test_a_changed_corpus_stats_file_is_refused_naming_it(run_dir):
    stats = run_dir / "corpus_stats" / "ngrams.npy"
    stats.write_bytes(stats.read_bytes()[:-8])
    with pytest.raises(InputError, match=r"corpus_stats/ngrams.npy: sha256 differs"):
        report_run(run_dir, reanalyse=True)


def test_reanalysis_refuses_a_changed_or_missing_lexicon(make_run):
    result = make_run(name="guarded")
    lexicon = Path(result.record.config.analysis.lexicons[0])
    lexicon.write_text(lexicon.read_text(encoding="utf-8") + "  - {term: 晴れ, category: slang}\n", encoding="utf-8")
    with pytest.raises(InputError, match="analysis input changed since the run started"):
        report_run(result.run_dir, reanalyse=True)
    lexicon.unlink()
    with pytest.raises(InputError, match="analysis input missing"):
        report_run(result.run_dir, reanalyse=True)


def test_report_reanalyses_when_only_summary_is_missing(run_dir):
    before = (run_dir / "summary.csv").read_bytes()
    (run_dir / "summary.csv").unlink()
    report_run(run_dir)
    assert (run_dir / "summary.csv").read_bytes() == before


def test_finished_run_is_not_overwritten_without_force(run_dir):
    before = (run_dir / "scores.csv").read_bytes()
    with pytest.raises(RunExists, match="--force"):
        build_run(run_dir.parent)
    assert (run_dir / "scores.csv").read_bytes() == before
    assert build_run(run_dir.parent, force=True).record.status == "complete"


def test_force_moves_the_old_run_aside_and_keeps_foreign_files(run_dir):
    (run_dir / "notes-of-mine.txt").write_text("keep me", encoding="utf-8")
    old_record = (run_dir / "run.json").read_bytes()
    build_run(run_dir.parent, force=True)
    assert (run_dir / "notes-of-mine.txt").read_text(encoding="utf-8") == "keep me"
    aside = run_dir / ".previous"
    assert (aside / "run.json").read_bytes() == old_record and (aside / "generations.jsonl").is_file()
    assert not (aside / "notes-of-mine.txt").exists()
    # a second --force keeps only the run it replaced
    second = (run_dir / "run.json").read_bytes()
    build_run(run_dir.parent, force=True)
    assert (aside / "run.json").read_bytes() == second


def test_a_folder_that_is_not_a_run_is_never_written(tmp_path):
    (tmp_path / "demo-run").mkdir()
    (tmp_path / "demo-run" / "thesis.tex").write_text("x", encoding="utf-8")
    for force in (False, True):
        with pytest.raises(RunExists, match="not a run directory"):
            build_run(tmp_path, force=force)
    assert [p.name for p in (tmp_path / "demo-run").iterdir()] == ["thesis.tex"]


def test_resume_after_a_failed_render_stage_redoes_only_that(tmp_path, monkeypatch):
    generator = FakeGenerator(respond=respond)
    import harness.report.html as html

    def killed(*args, **kwargs):
        raise RuntimeError("killed")

    monkeypatch.setattr(html, "write_report", killed)
    with pytest.raises(RuntimeError):
        build_run(tmp_path, generator=generator)
    record = json.loads((tmp_path / "demo-run" / "run.json").read_text(encoding="utf-8"))
    # a run killed during report is not "complete", so a plain rerun does not call it finished
    assert record["status"] == "failed" and record["stages"]["report"]["status"] == "failed"
    assert record["stages"]["export"]["status"] == "done"
    with pytest.raises(RunExists, match="--resume"):
        build_run(tmp_path, generator=generator)
    monkeypatch.undo()
    result = build_run(tmp_path, generator=generator, resume=True)
    assert result.record.status == "complete"
    assert generator.calls == ["base", "tuned"]  # probing was not redone


def test_resume_refuses_a_changed_config(tmp_path, monkeypatch):
    import harness.report.html as html

    monkeypatch.setattr(html, "write_report", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("killed")))
    with pytest.raises(RuntimeError):
        build_run(tmp_path)
    monkeypatch.undo()
    with pytest.raises(RunExists, match="config changed"):
        build_run(tmp_path, resume=True, gates="gates:\n  - {measure: flagged, max_delta: 0.5}\n")


def test_a_second_writer_is_refused_while_the_lock_is_held(run_dir):
    from harness.record.lock import RunBusy

    with RunDir.open(run_dir, lock=True):
        with pytest.raises(RunBusy, match=rf"this run is being written by pid {os.getpid()} on "):
            RunDir.open(run_dir, lock=True)
        with pytest.raises(RunBusy):
            build_run(run_dir.parent, force=True)
    assert RunDir.open(run_dir, lock=True).record.status == "complete"


def test_cli_misspelled_key_is_one_line_and_exit_1(tmp_path, capsys):
    path = tmp_path / "bad.yaml"
    path.write_text(
        "name: x\nbase: {model: m}\ncorpus: {path: c.tsv}\nprobes:\n  sample_per_prompt: 3\n", encoding="utf-8"
    )
    assert main(["run", str(path)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"harness: error: {path}:5: unknown key 'probes.sample_per_prompt'"]


def test_cli_missing_input_names_the_key(tmp_path, capsys):
    path = tmp_path / "r.yaml"
    path.write_text("name: x\nbase: {model: m}\ncorpus: {path: nope.tsv}\n", encoding="utf-8")
    assert main(["run", str(path)]) == 1
    assert "corpus.path: file not found" in capsys.readouterr().err


def test_cli_unknown_arm_reference_is_one_line(tmp_path, capsys):
    path = tmp_path / "r.yaml"
    path.write_text("name: x\nbase: {model: m}\ncorpus: {path: c.tsv}\nreference_arm: nope\n", encoding="utf-8")
    assert main(["run", str(path)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "reference_arm 'nope' is not an arm" in err[0]


def test_cli_gate_failure_exits_3(tmp_path, capsys):
    from conftest import write_config

    # the fake backend answers "<arm> <probe> <i>": ~9 characters, above a 5-character limit
    config = write_config(tmp_path, gates="gates:\n  - {measure: characters, max_rate: 5}\n")
    text = config.read_text(encoding="utf-8").replace("probes: {", "probes: {backend: fake, ")
    config.write_text(text, encoding="utf-8")
    assert main(["run", str(config), "--out", str(tmp_path / "r"), "--quiet"]) == 3
    assert "gate failed: characters [tuned]" in capsys.readouterr().err


# the demo's finding on real tiny models (flagged and laughter up, politeness down) is checked on
# the installed wheel: tests/test_packaging.py runs `harness demo` from an empty folder


@pytest.mark.parametrize(
    ("gate", "code", "verdict"),
    [
        ("{measure: characters, max_rate: 5}", 3, "gate failed: characters [tuned]"),  # fails
        ("{measure: characters, max_rate: 500}", 1, "gates: all 1 passed"),  # passes
    ],
)
def test_a_failed_export_still_writes_the_report_and_keeps_the_gate_exit_code(
    gate, code, verdict, tmp_path, capsys, monkeypatch
):
    """Exit 3 when a gate failed, whatever failed after it; else 1 for the export error (docs/ci.md)."""
    import harness.export
    from conftest import write_config

    def broken_export(*args, **kwargs):
        raise ConfigError("export exploded")

    monkeypatch.setattr(harness.export, "export_run", broken_export)
    config = write_config(tmp_path, gates=f"gates:\n  - {gate}\n")
    text = config.read_text(encoding="utf-8").replace("probes: {", "probes: {backend: fake, ")
    config.write_text(text, encoding="utf-8")
    assert main(["run", str(config), "--out", str(tmp_path / "r"), "--quiet"]) == code
    captured = capsys.readouterr()
    assert "harness: error: export stage failed: export exploded" in captured.err
    assert verdict in captured.err + captured.out
    assert (tmp_path / "r" / "report.html").is_file()
    record = json.loads((tmp_path / "r" / "run.json").read_text(encoding="utf-8"))
    assert record["stages"]["export"]["status"] == "failed" and record["stages"]["report"]["status"] == "done"
    assert record["status"] == "failed"  # --resume redoes the export


def test_demo_never_replaces_another_run(tmp_path):
    from harness.pipeline import demo

    (tmp_path / "run.json").write_text(json.dumps({"name": "production-audit"}), encoding="utf-8")
    with pytest.raises(RunExists, match="not a demo"):
        demo(out_dir=tmp_path, progress=False)
    assert json.loads((tmp_path / "run.json").read_text(encoding="utf-8"))["name"] == "production-audit"


def test_unknown_gate_measure_fails_before_any_work(tmp_path):
    with pytest.raises(ConfigError, match=r"gates\[0\].measure: unknown measure 'flaged'"):
        build_run(tmp_path, gates="gates:\n  - {measure: flaged, max_delta: 0.1}\n")
    assert not (tmp_path / "demo-run").exists()
    with pytest.raises(ConfigError, match="'nope' is not a probe category"):
        build_run(tmp_path, gates="gates:\n  - {measure: flagged, probe_category: nope, max_delta: 0.1}\n")


def test_truncated_corpus_documents_are_counted_in_the_record(tmp_path):
    from conftest import write_config

    config_path = write_config(tmp_path)
    text = config_path.read_text(encoding="utf-8").replace("bootstrap: 200}", "bootstrap: 200, max_chars: 200}")
    config_path.write_text(text, encoding="utf-8")
    corpus = tmp_path / "inputs" / "corpus.tsv"
    corpus.write_text(corpus.read_text(encoding="utf-8") + "草" * 500 + "\tそれな\n", encoding="utf-8")
    result = run(
        load_config(config_path),
        out_dir=tmp_path / "r",
        progress=False,
        log=lambda m: None,
        generator=FakeGenerator(respond=respond),
    )
    assert result.record.stages["audit"].note == "1 document truncated to 200 characters"
