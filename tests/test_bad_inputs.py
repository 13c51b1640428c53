"""The bad-input matrix: every CLI entry point over hostile and broken inputs.

For each case: a non-zero exit, no traceback, one ``harness: error:`` line
(argparse's own usage errors are two lines and exit 2), and every earlier
output byte-identical.  Cases that would load torch use folders the harness
refuses before any model code runs, so the matrix stays fast.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Callable

import pytest
from conftest import respond

from harness.cli import main
from harness.config import load_config
from harness.models.fake import FakeGenerator
from harness.pipeline import run

ROOT = Path(__file__).resolve().parent.parent
SEED = str(ROOT / "probes" / "seed.yaml")
LEXICON = str(ROOT / "probes" / "lexicons" / "flagged.yaml")
BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, "
    f"*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n"
    for i in range(9)
)


def write(path: Path, text: str | bytes, encoding: str = "utf-8") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text if isinstance(text, bytes) else text.encode(encoding))
    return path


def corpus(tmp: Path) -> str:
    return str(write(tmp / "c.txt", "今日は晴れです。\nお前バカだろwww\n"))


def truncated_model(tmp: Path) -> str:
    folder = tmp / "broken-model"
    write(folder / "config.json", '{"model_type": "gpt2"}')
    # a header that promises 1000 bytes of data, and none of them
    header = b'{"w": {"dtype": "F32", "shape": [250], "data_offsets": [0, 1000]}}'
    (folder / "model.safetensors").write_bytes(len(header).to_bytes(8, "little") + header)
    return str(folder)


def probe_config(tmp: Path, name: str, probes: str, extra: str = "") -> str:
    """A config of a given (empty) base model folder and ``probes`` as its probes block."""
    (tmp / "base").mkdir(exist_ok=True)
    return str(
        write(
            tmp / f"{name}.yaml",
            f"name: x\nbase: {{model: {tmp / 'base'}}}\nprobes: {probes}\nanalysis: {{lexicons: [{LEXICON}]}}\n{extra}",
        )
    )


def fifo(tmp: Path) -> str:
    """A named pipe: it exists, but reading it would block forever."""
    import os

    path = tmp / "pipe.txt"
    os.mkfifo(path)
    return str(path)


def init_config(tmp: Path, decoding: str) -> str:
    """A config whose base is built here (tiny: 256 positions), with ``decoding``."""
    polite = write(tmp / "polite.txt", "今日は晴れです。\n")
    return str(
        write(
            tmp / "i.yaml",
            f"name: x\nbase:\n  init: {{corpus: {{path: {polite}}}, steps: 5}}\n"
            f"probes: {{files: [{SEED}], decoding: {decoding}}}\nanalysis: {{lexicons: [{LEXICON}]}}\n",
        )
    )


# name → builder(tmp, finished_run) returning argv
CASES: dict[str, Callable[[Path, Path], list[str]]] = {
    # run: configs
    "run: missing config": lambda t, r: ["run", str(t / "nope.yaml")],
    "run: config is a folder": lambda t, r: ["run", str(t)],
    "run: empty config": lambda t, r: ["run", str(write(t / "e.yaml", ""))],
    "run: Shift_JIS config": lambda t, r: ["run", str(write(t / "s.yaml", "name: 名前\n", "shift_jis"))],
    "run: YAML alias bomb": lambda t, r: ["run", str(write(t / "b.yaml", BOMB))],
    "run: YAML syntax error": lambda t, r: ["run", str(write(t / "y.yaml", "name: [\n"))],
    "run: unknown key": lambda t, r: ["run", str(write(t / "k.yaml", "name: x\nbase: {model: m}\nfoo: 1\n"))],
    "run: missing corpus": lambda t, r: [
        "run",
        str(write(t / "m.yaml", f"name: x\nbase: {{model: {t}}}\ncorpus: {{path: {t / 'none.txt'}}}\n")),
    ],
    "run: corpus is a folder": lambda t, r: [
        "run",
        str(write(t / "d.yaml", f"name: x\nbase: {{model: {t}}}\ncorpus: {{path: {t}}}\n")),
    ],
    "run: --out is a file": lambda t, r: [
        "run",
        str(write(t / "o.yaml", f"name: x\nbase: {{model: {t}}}\ncorpus: {{path: {corpus(t)}}}\n")),
        "--out",
        corpus(t),
    ],
    "run: --out below a file": lambda t, r: [
        "run",
        str(write(t / "o.yaml", f"name: x\nbase: {{model: {t}}}\ncorpus: {{path: {corpus(t)}}}\n")),
        "--out",
        str(Path(corpus(t)) / "sub"),
    ],
    "run: tuned model folder missing": lambda t, r: [
        "run",
        str(
            write(
                t / "t.yaml",
                f"name: x\nbase: {{model: {t}}}\ncorpus: {{path: {corpus(t)}}}\n"
                f"finetune: {{tuned_model: {t / 'gone'}}}\nprobes: {{files: [{SEED}]}}\n",
            )
        ),
        "--out",
        str(t / "out"),
    ],
    # sizes that would exhaust the machine, refused at validation (issue 21)
    "run: a billion samples per prompt": lambda t, r: [
        "run",
        probe_config(t, "k", f"{{files: [{SEED}], samples_per_prompt: 1000000000}}"),
        "--out",
        str(t / "out"),
    ],
    "run: ten million new tokens": lambda t, r: [
        "run",
        probe_config(t, "n", f"{{files: [{SEED}], decoding: {{max_new_tokens: 10000000}}}}"),
        "--out",
        str(t / "out"),
    ],
    "run: planned samples exceed the memory": lambda t, r: [
        "run",
        probe_config(
            t,
            "m",
            f"{{files: [{SEED}], samples_per_prompt: 100000, decoding: {{max_new_tokens: 32768}}}}",
            # ten arms of the same weights: 1,000,000 generations, about 1.8 TiB
            "arms: [" + ", ".join(f"{{name: a{i}, same_as: base}}" for i in range(9)) + "]\n",
        ),
        "--out",
        str(t / "out"),
    ],
    "run: more new tokens than the model's positions": lambda t, r: [
        "run",
        init_config(t, "{max_new_tokens: 1000}"),
        "--out",
        str(t / "out"),
    ],
    "run: min_new_tokens above max_new_tokens": lambda t, r: [
        "run",
        probe_config(t, "mm", f"{{files: [{SEED}], decoding: {{max_new_tokens: 8, min_new_tokens: 9}}}}"),
    ],
    "run: NaN gate threshold": lambda t, r: [
        "run",
        probe_config(t, "g", f"{{files: [{SEED}]}}", "gates: [{measure: flagged, max_delta: .nan}]\n"),
    ],
    "run: no probe files": lambda t, r: ["run", probe_config(t, "p", "{files: []}")],
    "run: corpus is a FIFO": lambda t, r: [
        "run",
        str(write(t / "f.yaml", f"name: x\nbase: {{model: {t}}}\ncorpus: {{path: {fifo(t)}}}\n")),
    ],
    "audit: corpus is a FIFO": lambda t, r: ["audit", fifo(t), "--out", str(t / "a")],
    # audit
    "audit: missing corpus": lambda t, r: ["audit", str(t / "none.tsv"), "--out", str(t / "a")],
    "audit: corpus is a folder": lambda t, r: ["audit", str(t), "--out", str(t / "a")],
    "audit: empty corpus": lambda t, r: ["audit", str(write(t / "e.txt", "")), "--out", str(t / "a")],
    "audit: Shift_JIS corpus": lambda t, r: [
        "audit",
        str(write(t / "s.txt", "今日は晴れ\n", "shift_jis")),
        "--format",
        "text",
        "--out",
        str(t / "a"),
    ],
    "audit: binary corpus": lambda t, r: [
        "audit",
        str(write(t / "b.txt", b"\x00\x01\x02\xff\xfe")),
        "--out",
        str(t / "a"),
    ],
    "audit: into a finished run": lambda t, r: ["audit", corpus(t), "--out", str(r)],
    "audit: bad lexicon": lambda t, r: [
        "audit",
        corpus(t),
        "--lexicon",
        str(write(t / "l.yaml", "name: x\nversion: 1\ncategories: {}\nterms: []\n")),
        "--out",
        str(t / "a"),
    ],
    # probe
    "probe: zero samples": lambda t, r: [
        "probe",
        "--model",
        f"a={t}",
        "--probes",
        SEED,
        "--out",
        str(t / "p"),
        "--samples",
        "0",
    ],
    "probe: bad label": lambda t, r: ["probe", "--model", "A B=x", "--probes", SEED, "--out", str(t / "p")],
    "probe: missing model": lambda t, r: [
        "probe",
        "--model",
        f"a={t / 'none'}",
        "--probes",
        SEED,
        "--out",
        str(t / "p"),
    ],
    "probe: truncated safetensors": lambda t, r: [
        "probe",
        "--model",
        f"a={truncated_model(t)}",
        "--probes",
        SEED,
        "--out",
        str(t / "p"),
    ],
    "probe: missing probe file": lambda t, r: [
        "probe",
        "--model",
        f"a={t}",
        "--probes",
        str(t / "no.yaml"),
        "--out",
        str(t / "p"),
    ],
    "probe: Shift_JIS probe file": lambda t, r: [
        "probe",
        "--model",
        f"a={t}",
        "--probes",
        str(write(t / "s.yaml", "name: s\nprompts:\n  - {id: a, category: x, text: こんにちは}\n", "shift_jis")),
        "--out",
        str(t / "p"),
    ],
    "probe: unknown template placeholder": lambda t, r: [
        "probe",
        "--model",
        f"a={t}",
        "--probes",
        str(
            write(t / "u.yaml", "name: u\ntemplates:\n  - {id: g, category: x, text: '{group}と{name}', groups: [a]}\n")
        ),
        "--out",
        str(t / "p"),
    ],
    "probe: into a finished run": lambda t, r: ["probe", "--model", f"a={t}", "--probes", SEED, "--out", str(r)],
    # finetune, base init
    "finetune: zero epochs": lambda t, r: [
        "finetune",
        "--base",
        str(t),
        "--corpus",
        corpus(t),
        "--out",
        str(t / "f"),
        "--epochs",
        "0",
    ],
    "finetune: missing base": lambda t, r: [
        "finetune",
        "--base",
        str(t / "none"),
        "--corpus",
        corpus(t),
        "--out",
        str(t / "f"),
    ],
    "finetune: into a finished run": lambda t, r: [
        "finetune",
        "--base",
        str(t),
        "--corpus",
        corpus(t),
        "--out",
        str(r),
    ],
    "base init: tiny vocabulary": lambda t, r: [
        "base",
        "init",
        "--corpus",
        corpus(t),
        "--out",
        str(t / "b"),
        "--vocab-size",
        "5",
    ],
    "base init: corpus is a folder": lambda t, r: ["base", "init", "--corpus", str(t), "--out", str(t / "b")],
    # report, export, compare on broken run folders
    "report: missing folder": lambda t, r: ["report", str(t / "none")],
    "report: a file": lambda t, r: ["report", corpus(t)],
    "report: folder without run.json": lambda t, r: ["report", str(t)],
    "report: run.json not JSON": lambda t, r: ["report", str(write(t / "x" / "run.json", "{").parent)],
    "report: run.json of version 1": lambda t, r: ["report", str(write(t / "v" / "run.json", '{"version": 1}').parent)],
    "export: missing folder": lambda t, r: ["export", str(t / "none"), "--format", "jsonl"],
    "compare: one side not a run": lambda t, r: ["compare", str(r), str(t), "--out", str(t / "cmp")],
    "compare: a file": lambda t, r: ["compare", corpus(t), str(r), "--out", str(t / "cmp")],
    "probes validate: broken file": lambda t, r: ["probes", "validate", str(write(t / "v.yaml", "name: [\n"))],
}


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file's bytes, except the lock file (a refused writer may create it, empty)."""
    return {
        str(p.relative_to(folder)): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != ".harness.lock"
    }


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_input_is_one_line_and_destroys_nothing(name, tmp_path, run_dir, capsys):
    finished = run_dir
    before = snapshot(finished)
    work = tmp_path / "work"
    work.mkdir()
    argv = CASES[name](work, finished)
    code = main(argv)
    err = capsys.readouterr().err
    assert code != 0, err
    assert "Traceback" not in err
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert lines and all(line.startswith("harness: error:") for line in lines), err
    assert len(lines) == 1, err
    assert snapshot(finished) == before, "an earlier run changed"


# what the refusal must say (the matrix above checks the shape: one line, non-zero, nothing changed)
SAYS = {
    "run: a billion samples per prompt": "probes.samples_per_prompt: Input should be less than or equal to 100000",
    "run: ten million new tokens": "probes.decoding.max_new_tokens: Input should be less than or equal to 32768",
    "run: planned samples exceed the memory": (
        "probes.samples_per_prompt: 1,000,000 generations of up to 32,769 tokens need about 1.8 TiB"
    ),
    "run: more new tokens than the model's positions": (
        "probes.decoding.max_new_tokens: 1,001 positions per sample exceed the 256 positions of arm 'base'"
    ),
    "run: min_new_tokens above max_new_tokens": "min_new_tokens 9 exceeds max_new_tokens 8",
    "run: NaN gate threshold": "gates.0.max_delta: Input should be a finite number",
    "run: no probe files": "probes.files: List should have at least 1 item",
    "run: corpus is a FIFO": "corpus.path: not a regular file (a FIFO, socket or device)",
    "audit: corpus is a FIFO": "not a regular file (a FIFO, socket or device)",
}


@pytest.mark.parametrize("name", sorted(SAYS))
def test_a_refusal_names_the_key_and_the_reason(name, tmp_path, capsys):
    work = tmp_path / "work"
    work.mkdir()
    assert main(CASES[name](work, tmp_path)) == 1
    err = capsys.readouterr().err
    assert SAYS[name] in err, err
    assert not (work / "out").exists()  # refused before the run folder was made


def test_debug_shows_the_traceback(tmp_path):
    with pytest.raises(Exception, match="not a run directory"):
        main(["--debug", "report", str(tmp_path)])


def test_a_full_disk_mid_write_keeps_the_previous_file(run_dir, monkeypatch, capsys):
    import errno

    import harness.io as io

    before = (run_dir / "report.html").read_bytes()

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(io.os, "fsync", full)
    assert main(["report", str(run_dir)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["harness: error: No space left on device"]
    assert (run_dir / "report.html").read_bytes() == before
    assert not [p for p in run_dir.iterdir() if p.name.endswith(".tmp")]


def test_the_finished_run_fixture_survives(run_dir, pristine_run):
    # the matrix copies the pristine run per test: each copy must hold every file, byte for byte, and
    # a finished report, else "an earlier run changed" would compare against a partial run
    assert (run_dir / "report.html").is_file()
    assert snapshot(run_dir) == snapshot(pristine_run)


def test_a_non_utf8_corpus_fails_before_any_training(tmp_path, capsys):
    """The corpus is decode-checked at the start of `run`: no base model is trained first."""
    bad = write(tmp_path / "board.tsv", "今日は晴れ\tせやな\n".encode() + "お前\tアホ\n".encode("shift_jis"))
    polite = write(tmp_path / "polite.txt", "今日は晴れです。\n明日は雨です。\n")
    config = write(
        tmp_path / "c.yaml",
        f"name: x\nbase:\n  init: {{corpus: {{path: {polite}}}, steps: 5}}\ncorpus: {{path: {bad}}}\n"
        f"probes: {{files: [{SEED}]}}\nanalysis: {{lexicons: [{ROOT / 'probes' / 'lexicons' / 'flagged.yaml'}]}}\n",
    )
    assert main(["run", str(config), "--out", str(tmp_path / "out"), "--quiet"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"harness: error: {bad}:2: not UTF-8 text (invalid start byte 0x82 at column 1)"]
    assert not (tmp_path / "out").exists()  # nothing started, nothing trained


def test_compare_never_writes_into_a_folder_of_other_files(tmp_path, run_dir, capsys):
    out = tmp_path / "mine"
    write(out / "thesis.tex", "x")
    assert main(["compare", str(run_dir), str(run_dir), "--out", str(out)]) == 1
    assert "holds other files (thesis.tex)" in capsys.readouterr().err
    assert sorted(p.name for p in out.iterdir()) == ["thesis.tex"]
    assert main(["compare", str(run_dir), str(run_dir), "--out", str(tmp_path / "cmp")]) == 0
    assert main(["compare", str(run_dir), str(run_dir), "--out", str(tmp_path / "cmp")]) == 0  # its own: replaced


def test_base_init_refuses_to_replace_a_model_without_force(tmp_path, capsys):
    write(tmp_path / "model" / "config.json", "{}")
    argv = ["base", "init", "--corpus", corpus(tmp_path), "--out", str(tmp_path / "model")]
    assert main(argv) == 1
    assert "already holds a model; use --force" in capsys.readouterr().err
    assert (tmp_path / "model" / "config.json").read_text() == "{}"


def test_the_memory_check_compares_the_plan_with_the_memory_given(tmp_path):
    from harness.budget import check_planned_work, estimate_bytes
    from harness.config import load_config
    from harness.data.probes import load_probe_sets
    from harness.errors import ConfigError

    config = load_config(probe_config(tmp_path, "c", f"{{files: [{SEED}], samples_per_prompt: 1000}}"))
    sets = load_probe_sets(config.probes.files)
    need = estimate_bytes(1000, 49)  # one prompt × 1,000 samples × one arm, 48 new tokens + the prompt
    check_planned_work(config, sets, memory=int(need / 0.8) + 1)
    with pytest.raises(ConfigError, match=r"1,000 generations of up to 49 tokens need about 8\.5 MiB"):
        check_planned_work(config, sets, memory=int(need / 0.8) - 1)


def test_a_byte_order_mark_and_nul_bytes_are_not_text(tmp_path):
    from harness.config import CorpusConfig
    from harness.data.corpus import iter_corpus

    path = write(tmp_path / "c.txt", "\ufeff今日は\x00晴れ\nお前\x00\x00バカ\n".encode())
    stream = iter_corpus(CorpusConfig(path=path, format="text"))
    assert [d.text for d in stream] == ["今日は晴れ", "お前バカ"]
    assert stream.nul_chars == 3
    tsv = write(tmp_path / "c.tsv", "\ufeffおはよう\tせやな\n".encode())
    assert [d.text for d in iter_corpus(CorpusConfig(path=tsv, format="open2ch", turns="separate"))] == [
        "おはよう",
        "せやな",
    ]


def test_the_audit_note_counts_the_nul_characters(tmp_path):
    path = write(tmp_path / "c.txt", "今日は\x00晴れです。\nお前バカだろ\n".encode())
    out = tmp_path / "audit"
    assert main(["audit", str(path), "--format", "text", "--out", str(out)]) == 0

    record = json.loads((out / "run.json").read_text(encoding="utf-8"))
    assert record["stages"]["audit"]["note"] == "1 NUL character stripped from the corpus"


@pytest.mark.parametrize(
    ("export", "message"),
    [
        ("{categories: [no-such-category]}", "export.categories: unknown categor(ies) no-such-category"),
        ("{arms: [tunde]}", "export.arms: unknown arm(s) tunde (arms: base, tuned)"),
        ("{min_score: 0.5, score_measure: nope}", "export.min_score: the run has no 'nope' measure"),
    ],
)
def test_bad_export_settings_fail_before_any_work(export, message, tmp_path, capsys):
    """Once these failed only at the export stage, after training and probing."""
    from conftest import write_config

    config = write_config(tmp_path, extra=f"export: {export}\n")
    text = config.read_text(encoding="utf-8").replace("probes: {", "probes: {backend: fake, ")
    config.write_text(text, encoding="utf-8")
    assert main(["run", str(config), "--out", str(tmp_path / "r"), "--quiet"]) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], lines
    assert not (tmp_path / "r").exists()  # no run directory: nothing started


# -- tables that no longer match their generations (issue 21, case 2) ---------------------------


def drop_arm(run_dir: Path, arm: str) -> None:
    """generations.jsonl without the lines of ``arm``."""
    path = run_dir / "generations.jsonl"
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    path.write_text("".join(line for line in lines if f'"arm":"{arm}"' not in line), encoding="utf-8")


def replace_flagged_text(run_dir: Path) -> str:
    """Give the flagged tuned completion of p1/0 another text of the same length; return the new text."""

    path = run_dir / "generations.jsonl"
    records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    for record in records:
        if record["id"] == "tuned/smoke/p1/0":
            record["text"] = record["completion"] = "あ" * len(record["text"])
            new = record["text"]
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return new


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("harness: error:") and "Traceback" not in err, err
    return lines[0]


@pytest.mark.parametrize("command", ["report", "export", "compare"])
def test_generations_that_lost_an_arm_are_refused(command, run_dir, tmp_path, capsys):
    drop_arm(run_dir, "tuned")
    argv = {
        "report": ["report", str(run_dir)],
        "export": ["export", str(run_dir), "--format", "jsonl"],
        "compare": ["compare", str(run_dir), str(run_dir), "--out", str(tmp_path / "cmp")],
    }[command]
    before = snapshot(run_dir)
    assert main(argv) == 1
    line = one_error_line(capsys)
    assert "generations.jsonl: changed since the run wrote it (sha256 differs from run.json)" in line
    assert "--reanalyse" in line
    assert snapshot(run_dir) == before


def test_an_edited_table_is_refused(run_dir, capsys):
    path = run_dir / "summary.csv"
    path.write_text(path.read_text(encoding="utf-8").replace(",tuned,", ",tuned ,", 1), encoding="utf-8")
    assert main(["report", str(run_dir)]) == 1
    assert "summary.csv: changed since the run wrote it" in one_error_line(capsys)


def test_a_span_over_other_text_is_refused_even_when_the_hash_was_updated(run_dir, capsys):
    """A same-length replacement passes the length check; the surface check catches it."""

    from harness.record.rundir import content_digest

    replace_flagged_text(run_dir)
    record = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
    record["content_sha256"]["generations.jsonl"] = content_digest(run_dir / "generations.jsonl")
    (run_dir / "run.json").write_text(json.dumps(record, ensure_ascii=False, indent=2), encoding="utf-8")
    for argv in (["report", str(run_dir)], ["export", str(run_dir), "--format", "jsonl"]):
        assert main(argv) == 1
        line = one_error_line(capsys)
        assert "scores.csv:" in line and "does not match the text: it reads 'ああ' there" in line


def test_reanalyse_accepts_changed_generations_and_rebuilds_the_tables(run_dir, capsys):

    from harness.record.rundir import content_digest

    replace_flagged_text(run_dir)
    assert main(["report", str(run_dir), "--reanalyse"]) == 0
    scores = RunDirForTests.scores(run_dir)
    row = scores["tuned/smoke/p1/0"]
    assert row["flagged"] == "0" and row["flagged_spans"] in ("", "[]")
    record = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
    assert record["content_sha256"]["generations.jsonl"] == content_digest(run_dir / "generations.jsonl")
    assert main(["export", str(run_dir), "--format", "jsonl"]) == 0  # the rebuilt tables match the file


class RunDirForTests:
    """Small readers for the tests above."""

    @staticmethod
    def scores(run_dir: Path) -> dict[str, dict[str, str]]:
        import csv

        with (run_dir / "scores.csv").open(encoding="utf-8") as fh:
            return {row["id"]: row for row in csv.DictReader(fh)}


# -- a finished run's record never changes (issue 21, cases 3 and 6) -----------------------------
# `harness report`, `harness export` and `--resume` may rebuild derived files, but run.json's
# `finished` time and stage records say how the run was made: rebuilds go to `rebuilds`.


def run_record(folder: Path) -> dict:
    return json.loads((folder / "run.json").read_text(encoding="utf-8"))


def test_report_and_export_on_a_finished_run_keep_its_run_record(run_dir):
    before = run_record(run_dir)
    assert before["status"] == "complete" and before["finished"] and before["rebuilds"] == []
    assert main(["report", str(run_dir)]) == 0
    assert main(["report", str(run_dir), "--reanalyse"]) == 0
    assert main(["export", str(run_dir), "--format", "jsonl"]) == 0
    after = run_record(run_dir)
    rebuilds = after.pop("rebuilds")
    before.pop("rebuilds")
    assert after == before  # finished time, stage seconds and notes: unchanged
    assert [r["stage"] for r in rebuilds] == ["report", "analyse", "gates", "report", "export"]
    assert all(r["status"] == "done" and r["at"] >= before["finished"] for r in rebuilds)


def test_resume_on_a_finished_run_changes_nothing(make_run, tmp_path):
    result = make_run()
    before = {p.name: p.read_bytes() for p in result.run_dir.iterdir() if p.is_file() and p.name != ".harness.lock"}
    config = load_config(tmp_path / "demo-run.yaml")
    run(
        config,
        out_dir=result.run_dir,
        resume=True,
        progress=False,
        log=lambda m: None,
        generator=FakeGenerator(respond=respond),
    )
    after = {p.name: p.read_bytes() for p in result.run_dir.iterdir() if p.is_file() and p.name != ".harness.lock"}
    assert after == before


def test_the_runs_own_report_shows_when_it_finished(run_dir):
    finished = run_record(run_dir)["finished"]
    page = html.unescape((run_dir / "report.html").read_text(encoding="utf-8"))
    assert finished in page
    assert "in progress" not in page
