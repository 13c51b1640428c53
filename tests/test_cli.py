"""The CLI contract: every command has help text and is documented in the README;
standalone commands work end to end and fail with one clear line."""

import argparse
import json
from pathlib import Path

import pytest

from harness.cli import build_parser, main

ROOT = Path(__file__).resolve().parent.parent


def _commands(parser: argparse.ArgumentParser, prefix: str = ""):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {choice.dest: choice.help for choice in action._choices_actions}
            for name, sub in action.choices.items():
                yield f"{prefix}{name}", helps.get(name), sub
                yield from _commands(sub, f"{prefix}{name} ")


COMMANDS = list(_commands(build_parser()))


def test_the_contract_commands_exist():
    names = {name for name, _, _ in COMMANDS}
    expected = {
        "demo",
        "run",
        "audit",
        "base init",
        "finetune",
        "probe",
        "report",
        "export",
        "compare",
        "probes validate",
    }
    assert expected <= names


@pytest.mark.parametrize("name, help_text, parser", COMMANDS, ids=[c[0] for c in COMMANDS])
def test_every_command_has_help_and_is_in_the_readme(name, help_text, parser):
    assert help_text and len(help_text) > 10
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert f"harness {name}" in readme
    assert parser.format_help()


def test_top_level_help_renders(capsys):
    # argparse %-formats help strings: a bare "%" in any command's help breaks `harness --help`
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    assert "compare" in capsys.readouterr().out


def test_readme_starts_with_the_two_setup_commands():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = readme.split("```sh\n", 1)[1].split("```", 1)[0]
    commands = [line.split("#")[0].strip() for line in block.splitlines() if line.strip()]
    assert commands == ["make demo", "make test"]
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "make test" in ci


def test_audit_writes_rates_and_rejects_a_missing_corpus(tmp_path, capsys):
    corpus = tmp_path / "c.tsv"
    corpus.write_text("お前バカだろwww\t草\nおはようございます\tはい\n", encoding="utf-8")
    assert main(["audit", str(corpus), "--out", str(tmp_path / "a")]) == 0
    text = (tmp_path / "a" / "corpus_audit.csv").read_text(encoding="utf-8")
    assert "flagged,rate,2,1,0.5," in text
    assert (tmp_path / "a" / "run.json").is_file()  # an audit is a run directory with its record
    assert main(["audit", str(tmp_path / "missing.tsv")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"harness: error: {tmp_path / 'missing.tsv'}: corpus file not found"]


def test_empty_corpus_is_one_line(tmp_path, capsys):
    corpus = tmp_path / "e.txt"
    corpus.write_text("", encoding="utf-8")
    assert main(["audit", str(corpus), "--out", str(tmp_path / "a")]) == 1
    assert "no documents found" in capsys.readouterr().err


def test_report_and_export_on_a_missing_run_dir(tmp_path, capsys):
    assert main(["report", str(tmp_path / "nope")]) == 1
    assert main(["export", str(tmp_path / "nope")]) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 2 and all(line.startswith("harness: error:") for line in lines)


def test_probe_rejects_a_bad_model_spec(tmp_path, capsys):
    assert (
        main(["probe", "--model", "nodir", "--probes", str(ROOT / "probes" / "seed.yaml"), "--out", str(tmp_path)]) == 1
    )
    assert "--model expects LABEL=DIR" in capsys.readouterr().err


def test_missing_model_folder_says_hub_is_off(tmp_path, capsys):
    args = [
        "probe",
        "--model",
        f"base={tmp_path / 'm'}",
        "--probes",
        str(ROOT / "probes" / "seed.yaml"),
        "--out",
        str(tmp_path / "o"),
    ]
    assert main(args) == 1
    assert "model folder not found" in capsys.readouterr().err


@pytest.mark.slow
def test_standalone_commands_chain(tmp_path, capsys):
    """base init → finetune → probe → report → export, each through the CLI."""
    polite = tmp_path / "p.txt"
    polite.write_text("\n".join(f"今日は{i}時に店が開きます。" for i in range(40)) + "\n", encoding="utf-8")
    board = tmp_path / "b.tsv"
    board.write_text("\n".join(f"{i}時とかアホだろwww\tそれな草" for i in range(40)) + "\n", encoding="utf-8")
    assert (
        main(
            [
                "base",
                "init",
                "--corpus",
                str(polite),
                "--tokenizer-corpus",
                str(board),
                "--out",
                str(tmp_path / "base"),
                "--vocab-size",
                "200",
                "--steps",
                "20",
            ]
        )
        == 0
    )
    assert (
        main(
            [
                "finetune",
                "--base",
                str(tmp_path / "base"),
                "--corpus",
                str(board),
                "--out",
                str(tmp_path / "ft"),
                "--max-steps",
                "10",
            ]
        )
        == 0
    )
    assert (
        main(
            [
                "probe",
                "--model",
                f"base={tmp_path / 'base'}",
                "--model",
                f"tuned={tmp_path / 'ft' / 'model'}",
                "--probes",
                str(ROOT / "probes" / "seed.yaml"),
                "--out",
                str(tmp_path / "run"),
                "--samples",
                "2",
                "--max-new-tokens",
                "8",
            ]
        )
        == 0
    )
    records = [json.loads(line) for line in (tmp_path / "run" / "generations.jsonl").read_text().splitlines()]
    assert [r["arm"] for r in records] == ["base", "base", "tuned", "tuned"]
    assert records[0]["seed"] == records[2]["seed"] and records[0]["prompt"] == "ww"
    assert main(["report", str(tmp_path / "run")]) == 0
    assert (tmp_path / "run" / "report.html").is_file() and (tmp_path / "run" / "scores.csv").is_file()
    assert main(["export", str(tmp_path / "run"), "--format", "kto"]) == 0
    assert (tmp_path / "run" / "negatives" / "kto.jsonl").is_file()
    assert main(["compare", str(tmp_path / "run"), str(tmp_path / "run"), "--out", str(tmp_path / "cmp")]) == 0
    assert (tmp_path / "cmp" / "compare.csv").is_file()


def test_base_init_refuses_a_foreign_output_folder_before_training(tmp_path, capsys):
    corpus = tmp_path / "p.txt"
    corpus.write_text("今日は晴れです。\n明日は雨です。\n", encoding="utf-8")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "keep.txt").write_text("x", encoding="utf-8")
    assert main(["base", "init", "--corpus", str(corpus), "--out", str(tmp_path / "out")]) == 1
    assert "is not a model folder" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "p.txt"]  # nothing trained or left behind


def test_audit_refuses_to_overwrite_a_finished_run(run_dir, capsys):
    corpus = run_dir.parent / "c.txt"
    corpus.write_text("今日は晴れです。\n", encoding="utf-8")
    before = (run_dir / "run.json").read_bytes()
    assert main(["audit", str(corpus), "--format", "text", "--out", str(run_dir)]) == 1
    assert "use --force" in capsys.readouterr().err
    assert (run_dir / "run.json").read_bytes() == before


def test_probe_with_zero_samples_is_one_line(tmp_path, capsys):
    args = ["probe", "--model", f"base={tmp_path}", "--probes", str(ROOT / "probes" / "seed.yaml")]
    assert main([*args, "--out", str(tmp_path / "o"), "--samples", "0"]) == 1
    assert capsys.readouterr().err.strip() == "harness: error: --samples must be at least 1, got 0"


@pytest.mark.parametrize(
    "args, message",
    [
        (["--model", "Base=."], "--model label 'Base': use lowercase letters"),
        (["--model", "a=.", "--model", "a=."], "arm name 'a' is used twice"),
        (["--model", "a=.", "--max-new-tokens", "0"], "probes.decoding.max_new_tokens: Input should be greater"),
    ],
)
def test_bad_probe_arguments_are_one_line(tmp_path, capsys, args, message):
    argv = ["probe", *args, "--probes", str(ROOT / "probes" / "seed.yaml"), "--out", str(tmp_path / "o")]
    assert main(argv) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]
    assert not (tmp_path / "o").exists()


def test_bad_finetune_argument_is_one_line(tmp_path, capsys):
    corpus = tmp_path / "c.txt"
    corpus.write_text("今日は晴れです。\n", encoding="utf-8")
    argv = ["finetune", "--base", str(tmp_path), "--corpus", str(corpus), "--out", str(tmp_path / "o"), "--epochs", "0"]
    assert main(argv) == 1
    assert (
        capsys.readouterr().err.strip()
        == "harness: error: invalid argument: finetune.epochs: Input should be greater than 0"
    )
