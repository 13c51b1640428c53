"""Thin command line over the library: parse, call one function, map errors.

Every ``HarnessError`` becomes one line on stderr and its exit code (1, or 3
for a failed gate); success prints where the outputs are.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

from harness.errors import ConfigError, GateFailed, HarnessError
from harness.labels.posts import DEFAULT_CORPUS as DEFAULT_POSTS

EXIT_OK, EXIT_ERROR, EXIT_GATE = 0, 1, 3


def _cmd_demo(args: argparse.Namespace) -> int:
    from harness.pipeline import demo

    result = demo(out_dir=args.out, progress=not args.quiet)
    # The demo corpus is rude on purpose, so its gates are meant to fail; the
    # demo reports that and still exits 0 (`harness run` would exit 3).
    return _finish(result, enforce_gates=False)


def _cmd_run(args: argparse.Namespace) -> int:
    from harness.matrix.spec import base_config, parse_sets, read_spec, set_dotted

    spec = read_spec(args.config, parse_sets(args.set))
    out = args.out.resolve() if args.out else None  # --out is relative to the working folder
    if args.plan:
        from harness.matrix.plan import describe_plan

        print(describe_plan(spec, out, args.backend, args.workers))
        return EXIT_OK
    if spec.is_matrix:
        return _run_matrix(args, spec, out)
    if args.backend != "local":
        raise ConfigError(f"--backend {args.backend}: {args.config} declares no matrix: (one run runs locally)")
    if out is not None:
        set_dotted(spec.doc.data, "out_dir", str(out))
    return _run_one(args, base_config(spec))


def _run_one(args: argparse.Namespace, config) -> int:
    from harness.pipeline import ExportFailed, TrackingFailed, run

    shard = None
    if args.shard:
        from harness.models.shard import parse_shard, use_local_gpu

        shard = parse_shard(args.shard)
        use_local_gpu()  # one GPU per process under torchrun/accelerate (LOCAL_RANK)
        if config.out_dir and "{shard}" in str(config.out_dir):  # one run directory per shard process
            config.out_dir = Path(str(config.out_dir).replace("{shard}", str(shard.index)))
    if shard is not None:
        result = run(config, resume=args.resume, force=args.force, progress=not args.quiet, shard=shard)
        print(f"{result.record.stages['probe'].note}; when every shard is done: harness run CONFIG --resume")
        return EXIT_OK
    try:
        result = run(config, resume=args.resume, force=args.force, progress=not args.quiet)
    except (ExportFailed, TrackingFailed) as failed:
        # the report was written: show the gate verdict, which decides the exit code (3 beats 1)
        print(f"harness: error: {failed}", file=sys.stderr)
        _finish(failed.result)
        return EXIT_ERROR
    return _finish(result)


def _run_matrix(args: argparse.Namespace, spec, out: Path | None) -> int:
    """A matrix config: every child run (finished ones skipped), then the parent's table and exit code."""
    from harness.matrix.runner import MatrixOptions, check_backend, child_gates, run_matrix

    if args.shard:
        raise ConfigError("--shard runs one shard of one run: it cannot be combined with a matrix: config")
    check_backend(args.backend, args.workers)
    options = MatrixOptions(
        backend=args.backend,
        workers=args.workers,
        ray_address=args.ray_address,
        force=args.force,
        progress=not args.quiet,
    )
    result = run_matrix(spec, out, options)
    gates = child_gates(result.parent, result.record)
    for child in result.record.children:
        verdict = {True: "gates passed", False: "gates FAILED", None: "no gates"}[gates.get(child.name)]
        state = verdict if child.status == "complete" else f"{child.status}: {child.error}"
        print(f"  {child.name:<40} {state}")
    print(f"matrix: {result.parent / 'matrix.json'} ({len(result.record.children)} children)")
    for name in ("matrix.csv", "matrix.html"):
        if (result.parent / name).is_file():
            print(f"{name.split('.')[1]}: {result.parent / name}")
    if result.failed:
        raise HarnessError(f"{len(result.failed)} child run(s) failed: {', '.join(c.name for c in result.failed)}")
    failed_gates = [name for name, passed in gates.items() if passed is False]
    if failed_gates:
        raise GateFailed(f"gate failed in {', '.join(failed_gates)} (see each child's run.json)")
    return EXIT_OK


def _finish(result, enforce_gates: bool = True) -> int:
    print(f"report: {result.run_dir / 'report.html'}")
    print(f"tables: {', '.join(str(result.run_dir / t) for t in result.record.tables)}")
    print(f"negatives: {result.run_dir / 'negatives'}")
    if result.record.gates is not None:
        from harness.gate_output import gate_table
        from harness.record.rundir import JUNIT

        print(gate_table(result.record, result.record.gates))
        print(f"gates (JUnit): {result.run_dir / JUNIT}")
    if result.gates_passed:
        return EXIT_OK
    failed = ", ".join(f"{r.measure} [{r.arm}]" for r in result.record.gates.results if not r.passed)
    if not enforce_gates:
        print(f"gates: failed on {failed}, as intended for the demo (harness run would exit 3)")
        return EXIT_OK
    raise GateFailed(f"gate failed: {failed} (see {result.run_dir / 'run.json'})")


def audit_filter(args: argparse.Namespace) -> dict | None:
    """``corpus.filter`` from ``harness audit``'s --drop, --min-toxicity and --drop-pii (None: no filter)."""
    if not (args.drop or args.min_toxicity is not None or args.drop_pii):
        return None
    return {"drop": args.drop or [], "min_toxicity": args.min_toxicity, "drop_pii": args.drop_pii}


def _cmd_audit(args: argparse.Namespace) -> int:
    from harness.commands import audit_corpus

    path = audit_corpus(
        args.corpus,
        args.format,
        args.out,
        args.lexicon,
        args.turns,
        force=args.force,
        scores=args.scores,
        text_key=args.text_key,
        workers=args.workers,
        detectors=["lexicon", f"classifier:{args.classifier.resolve()}"] if args.classifier else None,
        corpus_filter=audit_filter(args),
        write_filtered=args.write_filtered,
    )
    print(f"audit: {path}")
    return EXIT_OK


def _cmd_base_init(args: argparse.Namespace) -> int:
    from harness.commands import base_init

    result = base_init(
        args.corpus, args.out, args.vocab_size, args.size, args.steps, args.tokenizer_corpus, args.seed, args.force
    )
    print(
        f"base model: {result.model_dir} ({result.parameters:,} parameters, vocab {result.vocab_size}, "
        f"eval loss {result.eval_loss_before:.2f} → {result.eval_loss_after:.2f})"
    )
    return EXIT_OK


def _cmd_finetune(args: argparse.Namespace) -> int:
    from harness.commands import finetune_only

    path = finetune_only(
        args.base, args.corpus, args.out, args.format, args.epochs, args.max_steps, args.seed, force=args.force
    )
    print(f"tuned model: {path}")
    return EXIT_OK


def _cmd_corpora_fetch(args: argparse.Namespace) -> int:
    from harness.data.fetch import main_fetch

    return main_fetch(args.name, args.out, args.url, args.size, args.sha256, args.quiet)


def _cmd_probe(args: argparse.Namespace) -> int:
    from harness.commands import probe_only

    path = probe_only(args.model, args.probes, args.out, args.samples, args.max_new_tokens, args.seed, force=args.force)
    print(f"generations: {path}")
    return EXIT_OK


def _cmd_report(args: argparse.Namespace) -> int:
    from harness.commands import report_run

    mask = False if args.no_mask else None
    excel = True if args.excel else None
    print(f"report: {report_run(args.run_dir, reanalyse=args.reanalyse, mask=mask, excel=excel)}")
    return EXIT_OK


def _cmd_trajectory(args: argparse.Namespace) -> int:
    from harness.record.rundir import REPORT, TRAJECTORY
    from harness.trajectory_run import crossing_lines, trajectory_run

    result = trajectory_run(args.run_dir, out=args.out, force=args.force, progress=not args.quiet)
    print(f"report: {result.run_dir / REPORT}")
    print(f"trajectory: {result.run_dir / TRAJECTORY}")
    for line in crossing_lines(result.run_dir):
        print(line)
    return EXIT_OK  # the gate verdict belongs to RUN; this run only shows when the model turned


def _cmd_export(args: argparse.Namespace) -> int:
    from harness.commands import export_run

    for path in export_run(Path(args.run_dir), args.format, mask=args.mask):
        print(f"wrote {path}")
    return EXIT_OK


def _cmd_track(args: argparse.Namespace) -> int:
    from harness.matrix.paths import is_matrix
    from harness.tracking import track_dir, track_matrix

    if not is_matrix(args.run_dir):
        track_dir(args.run_dir, args.mlflow_uri, args.experiment, args.run_name)
    elif args.run_name is not None:
        raise ConfigError("--run-name names one run; a matrix parent logs one MLflow run per child, named by it")
    else:
        track_matrix(args.run_dir, args.mlflow_uri, args.experiment)
    return EXIT_OK


def _cmd_compare(args: argparse.Namespace) -> int:
    from harness.compare import compare_many

    result = compare_many(args.runs, args.out)
    print(f"compare: {result.csv_path} ({result.rows} rows, {result.pairing})")
    print(f"report: {result.html_path}")
    return EXIT_OK


def _cmd_probes_validate(args: argparse.Namespace) -> int:
    from harness.data.probes import discover_group_files, discover_probe_files, validate_probe_files
    from harness.resources import probes_dir

    paths = [Path(p) for p in args.paths] or [probes_dir()]
    expanded: list[Path] = []
    groups: list[Path] = []  # group lists (probes/groups/*.yaml) in the folders given
    for path in paths:
        expanded += discover_probe_files(path) if path.is_dir() else [path]
        groups += discover_group_files(path) if path.is_dir() else []
    errors = validate_probe_files(expanded, groups)
    for line in errors:
        print(f"harness: error: {line}", file=sys.stderr)
    if errors:
        return EXIT_ERROR
    print(f"{len(expanded)} probe file(s) valid")
    return EXIT_OK


def _cmd_probes_merge(args: argparse.Namespace) -> int:
    from harness.models.shard import merge_parts

    copied = merge_parts(args.sources, args.into)
    print(f"{len(copied)} part file(s) copied into {args.into}")
    return EXIT_OK


def _cmd_analyse(args: argparse.Namespace) -> int:
    from harness.commands import analyse_generations

    keys = {
        "prompt_key": args.prompt_key,
        "output_key": args.output_key,
        "id_key": args.id_key,
        "sample_key": args.sample_key,
    }
    result = analyse_generations(
        args.generations, args.out, args.against, keys, args.name, args.against_name, args.format, force=args.force
    )
    from harness.external import pairing_lines

    for line in pairing_lines(result.record):
        print(f"pairing: {line}")
    print(f"report: {result.run_dir / 'report.html'}")
    print(f"tables: {', '.join(str(result.run_dir / t) for t in result.record.tables)}")
    return EXIT_OK


def _cmd_probes_convert(args: argparse.Namespace) -> int:
    from harness.data.probe_formats import ProbeSource, parse_columns
    from harness.data.probes import convert_probes

    try:
        source = ProbeSource(
            path=args.source,
            format=args.format,
            columns=parse_columns(args.columns),
            name=args.name,
            content_note=args.content_note,
            repeats="merge" if args.merge_repeats else "error",
        )
    except ValueError as err:  # pydantic's ValidationError
        from harness.record.rundir import describe_validation

        raise ConfigError(f"invalid argument: {describe_validation(err)}") from None
    probe_set = convert_probes(source, args.out, force=args.force)
    print(f"{args.out}: {len(probe_set.probes)} prompts of probe set '{probe_set.name}'")
    return EXIT_OK


def _cmd_scorer_train(args: argparse.Namespace) -> int:
    from harness.scorer.train import train

    result = train(args.labels, args.text_from, args.out)
    m = result["metrics"]["weighted"]
    print(
        f"scorer: {args.out} ({result['training']['posts']} posts, threshold {result['threshold']}; "
        f"cross-validated weighted F1 classifier {m['classifier']['f1']:.3f}, lexicon {m['lexicon']['f1']:.3f}, "
        f"combined {m['combined']['f1']:.3f})"
    )
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    """The argparse tree; every command has help text (tests check it)."""
    from harness.export import FORMATS

    parser = argparse.ArgumentParser(prog="harness", description="Safety harness for fine-tuned Japanese LMs.")
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("demo", help="whole pipeline offline on the embedded demo corpora (CPU, minutes)")
    p.add_argument("--out", type=Path, help="run directory (default reports/demo)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=_cmd_demo)

    p = sub.add_parser("run", help="batch evaluation run from a YAML config (exit 0 pass, 1 error, 3 gate failed)")
    p.add_argument("config", type=Path, help="run config YAML (see configs/)")
    p.add_argument("--out", type=Path, help="run directory (default out_dir or reports/<name>)")
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue an unfinished run, skipping finished stages (a matrix always skips its finished children)",
    )
    p.add_argument("--force", action="store_true", help="overwrite an existing run directory")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a setting by its dotted key, the value read as YAML (e.g. --set finetune.lr=3e-4); repeatable",
    )
    p.add_argument("--plan", action="store_true", help="do no work: print the runs, their work and an estimated time")
    p.add_argument(
        "--backend",
        default="local",
        choices=["local", "processes", "ray"],
        help="where a matrix's child runs run: local (one after the other, default), processes, ray",
    )
    p.add_argument("--workers", type=int, default=2, help="--backend processes: child runs side by side (default 2)")
    p.add_argument(
        "--ray-address", metavar="auto|HOST:PORT", help="--backend ray: the cluster to join (default: start Ray here)"
    )
    p.add_argument(
        "--shard",
        metavar="I/N",
        help="draw only shard I of N of the probe batches, then stop; 'env': from torchrun's RANK/WORLD_SIZE; "
        "{shard} in --out becomes I (see README)",
    )
    p.set_defaults(func=_cmd_run)

    p = sub.add_parser("audit", help="analyse a corpus file (no model needed)")
    p.add_argument(
        "corpus", type=Path, help="corpus file (open2ch TSV, text, JSONL, CSV, chat JSONL: its assistant turns)"
    )
    p.add_argument(
        "--format", default="auto", choices=["auto", "open2ch", "open2ch-ranking", "text", "jsonl", "csv", "chat-jsonl"]
    )
    p.add_argument(
        "--turns", default="join", choices=["join", "separate"], help="open2ch: one document per dialogue or per post"
    )
    p.add_argument("--lexicon", type=Path, action="append", help="lexicon YAML (default probes/lexicons/flagged.yaml)")
    p.add_argument(
        "--classifier", type=Path, help="also flag with this classifier model folder (harness scorer train)"
    )
    p.add_argument("--out", type=Path, default=Path("reports/audit"), help="run directory to write")
    p.add_argument("--force", action="store_true", help="replace a finished audit run in --out")
    p.add_argument(
        "--scores", action="store_true", help="also write scores.csv: one row per input document, in input order"
    )
    p.add_argument("--text-key", default="text", help="JSONL field or CSV column holding the text (default text)")
    p.add_argument("--workers", type=int, default=1, help="processes for scoring (default 1)")
    p.add_argument(
        "--write-filtered",
        type=Path,
        metavar="OUT",
        help="write the documents the filter keeps to OUT/<corpus file name>, in the input's format, and "
        "OUT/dropped.csv (line, reasons, categories; no text); default filter --drop flagged",
    )
    p.add_argument(
        "--drop",
        action="append",
        metavar="NAME",
        help="drop documents that are 'flagged' or match this lexicon category (repeatable; corpus.filter.drop)",
    )
    p.add_argument("--min-toxicity", type=float, metavar="X", help="drop documents with toxicity ≥ X")
    p.add_argument("--drop-pii", action="store_true", help="drop documents with personal data (pii)")
    p.set_defaults(func=_cmd_audit)

    p = sub.add_parser("base", help="build a tiny from-scratch base model")
    base_sub = p.add_subparsers(dest="base_command", required=True, metavar="SUBCOMMAND")
    q = base_sub.add_parser("init", help="train a SentencePiece tokenizer and pretrain a small GPT-2 on a corpus")
    q.add_argument("--corpus", type=Path, required=True, help="pretraining corpus")
    q.add_argument("--out", type=Path, required=True, help="model folder to write")
    q.add_argument("--vocab-size", type=int, default=4000, help="SentencePiece vocabulary (default 4000)")
    q.add_argument("--size", default="tiny", choices=["tiny", "small"], help="model shape")
    q.add_argument("--steps", type=int, default=300, help="pretraining steps")
    q.add_argument(
        "--tokenizer-corpus", type=Path, action="append", default=[], help="extra text for the vocabulary only"
    )
    q.add_argument("--seed", type=int, default=1234)
    q.add_argument("--force", action="store_true", help="replace a model already in --out")
    q.set_defaults(func=_cmd_base_init)

    p = sub.add_parser("finetune", help="fine-tune a causal-LM folder on a corpus (safetensors out)")
    p.add_argument("--base", required=True, help="base model folder")
    p.add_argument("--corpus", type=Path, required=True, help="tuning corpus")
    p.add_argument("--out", type=Path, required=True, help="run directory to write (the model lands in OUT/model)")
    p.add_argument("--format", default="auto", choices=["auto", "open2ch", "open2ch-ranking", "text", "jsonl"])
    p.add_argument("--epochs", type=float, default=2.0)
    p.add_argument("--max-steps", type=int)
    p.add_argument("--seed", type=int, default=1234)
    p.add_argument("--force", action="store_true", help="replace a finished run in --out")
    p.set_defaults(func=_cmd_finetune)

    p = sub.add_parser("probe", help="sample completions from models × probe sets into generations.jsonl")
    p.add_argument(
        "--model", action="append", required=True, metavar="LABEL=DIR", help="an arm; the first is the reference"
    )
    p.add_argument("--probes", type=Path, action="append", required=True, help="probe YAML file(s)")
    p.add_argument("--out", type=Path, required=True, help="run directory to write")
    p.add_argument("--samples", type=int, default=8, help="samples per prompt")
    p.add_argument("--max-new-tokens", type=int, default=48)
    p.add_argument("--seed", type=int, default=1234)
    p.add_argument("--force", action="store_true", help="replace a finished run in --out")
    p.set_defaults(func=_cmd_probe)

    p = sub.add_parser("report", help="rebuild report.html (and missing tables) from a run directory")
    p.add_argument("run_dir", type=Path)
    p.add_argument("--reanalyse", action="store_true", help="recompute the tables even when they exist")
    p.add_argument("--no-mask", action="store_true", help="show flagged terms unmasked from the start (default: ●●)")
    p.add_argument("--excel", action="store_true", help="write the CSV tables as UTF-8 with BOM (Excel on Windows)")
    p.set_defaults(func=_cmd_report)

    p = sub.add_parser("trajectory", help="probe a finished run's checkpoints: safety over training steps")
    p.add_argument("run_dir", type=Path, help="a finished run directory with checkpoints/ (it is not changed)")
    p.add_argument("--out", type=Path, help="the trajectory's own run directory (default RUN/trajectory)")
    p.add_argument("--force", action="store_true", help="replace an earlier trajectory run")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=_cmd_trajectory)

    p = sub.add_parser("export", help="write negatives / preference pairs from a run directory")
    p.add_argument("run_dir", type=Path)
    p.add_argument("--format", default="jsonl", choices=list(FORMATS))
    p.add_argument("--mask", action="store_true", help="mask flagged terms (●●) in exported text")
    p.set_defaults(func=_cmd_export)

    p = sub.add_parser(
        "track",
        help="log a finished run (or each complete child of a matrix parent) to MLflow: config, every estimate "
        "and CI, gates, report",
    )
    p.add_argument("run_dir", type=Path)
    p.add_argument("--mlflow-uri", help="tracking URI (default: the config's tracking.mlflow, else ./mlruns)")
    p.add_argument("--experiment", help="MLflow experiment (default: the config's tracking.mlflow.experiment)")
    p.add_argument("--run-name", help="MLflow run name (default: the run's name)")
    p.set_defaults(func=_cmd_track)

    p = sub.add_parser(
        "compare", help="compare runs (or a matrix parent's children) measure by measure and arm by arm, with 95%% CIs"
    )
    p.add_argument(
        "runs",
        type=Path,
        nargs="+",
        metavar="RUN",
        help="run directories or a matrix parent; the first run is the reference A, differences are B − A",
    )
    p.add_argument("--out", type=Path, help="output folder (default reports/compare-A-vs-B)")
    p.set_defaults(func=_cmd_compare)

    p = sub.add_parser(
        "analyse", help="analyse generations made elsewhere (JSONL/CSV) into a full run directory, paired deltas"
    )
    p.add_argument("--generations", type=Path, required=True, metavar="FILE", help="the arm's generations file")
    p.add_argument(
        "--against", type=Path, metavar="FILE", help="the reference arm's generations file (deltas are FILE − this)"
    )
    p.add_argument("--prompt-key", help="field / column holding the prompt (default prompt)")
    p.add_argument("--output-key", help="field / column holding the generated text (default output)")
    p.add_argument("--id-key", help="pair prompts by this id field instead of by prompt text")
    p.add_argument("--sample-key", help="match samples by this field (an integer) instead of their order per prompt")
    p.add_argument("--format", choices=["jsonl", "csv"], help="both files' format (default: from the suffix)")
    p.add_argument("--name", help="the arm name of FILE (default: its file name)")
    p.add_argument("--against-name", help="the arm name of the --against file (default: its file name)")
    p.add_argument("--out", type=Path, required=True, help="run directory to write")
    p.add_argument("--force", action="store_true", help="replace a finished run in --out")
    p.set_defaults(func=_cmd_analyse)

    p = sub.add_parser("corpora", help="corpus tools")
    corpora_sub = p.add_subparsers(dest="corpora_command", required=True, metavar="SUBCOMMAND")
    q = corpora_sub.add_parser("fetch", help="download a public corpus archive, check size/sha256, extract it")
    q.add_argument("name", choices=["open2ch"], help="open2ch: the おーぷん2ちゃんねる対話コーパス (534 MB zip)")
    q.add_argument("--out", type=Path, required=True, help="folder for the archive and its files")
    q.add_argument("--url", help="another URL for the same archive (a mirror)")
    q.add_argument("--size", type=int, help="expected size in bytes")
    q.add_argument("--sha256", help="expected sha256 of the archive")
    q.add_argument("--quiet", action="store_true", help="no progress bars")
    q.set_defaults(func=_cmd_corpora_fetch)

    p = sub.add_parser("probes", help="probe-set tools")
    probes_sub = p.add_subparsers(dest="probes_command", required=True, metavar="SUBCOMMAND")
    q = probes_sub.add_parser("validate", help="check probe files; errors name file and line")
    q.add_argument("paths", nargs="*", help="files or folders (default: probes/)")
    q.set_defaults(func=_cmd_probes_validate)
    q = probes_sub.add_parser("convert", help="write the harness probe YAML from a CSV, JSONL or dataset folder")
    q.add_argument("source", type=Path, help="a CSV or JSONL file, a datasets folder, or a probe YAML")
    q.add_argument("--format", default="auto", choices=["auto", "yaml", "csv", "jsonl", "hf"])
    q.add_argument(
        "--columns", metavar="ROLE=COLUMN,...", help="e.g. text=prompt,id=qid,category=topic,group= (empty: none)"
    )
    q.add_argument("--name", help="the probe set's name (default: the source's file name)")
    q.add_argument("--content-note", help="where the prompts come from and what they contain (the YAML's header)")
    q.add_argument("--merge-repeats", action="store_true", help="a repeated prompt (same id, or text) is one probe")
    q.add_argument("--out", type=Path, required=True, help="the YAML file to write")
    q.add_argument("--force", action="store_true", help="replace an existing --out")
    q.set_defaults(func=_cmd_probes_convert)
    q = probes_sub.add_parser("merge", help="copy shards' generation-cache part files into one cache folder")
    q.add_argument("sources", nargs="+", type=Path, help="the shards' cache folders (RUN/cache/generations)")
    q.add_argument("--into", type=Path, required=True, help="the cache folder of the run that assembles them")
    q.set_defaults(func=_cmd_probes_merge)

    p = sub.add_parser("scorer", help="the learned detector (analysis.detectors: classifier:PATH)")
    scorer_sub = p.add_subparsers(dest="scorer_command", required=True, metavar="SUBCOMMAND")
    q = scorer_sub.add_parser("train", help="train a classifier model folder on the train split (needs scikit-learn)")
    q.add_argument(
        "--labels", type=Path, action="append", required=True, help="label file (repeatable; split 'dev' trains)"
    )
    q.add_argument("--text-from", type=Path, default=DEFAULT_POSTS, help=f"the posts' corpus (default {DEFAULT_POSTS})")
    q.add_argument("--out", type=Path, required=True, help="the model folder to write")
    q.set_defaults(func=_cmd_scorer_train)
    return parser


def describe_os_error(err: OSError) -> str:
    """An OS error (read-only folder, full disk, missing file) as one line naming the path."""
    where = f": {err.filename}" if err.filename else ""
    return f"{err.strerror or err}{where}"


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``harness`` console script.

    Every failure is one line on stderr and a non-zero exit; ``--debug``
    re-raises so the traceback shows (for bug reports).
    """
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except HarnessError as err:
        if args.debug:
            raise
        print(f"harness: error: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print("harness: interrupted (resume with --resume)", file=sys.stderr)
        return 130
    except OSError as err:
        if args.debug:
            raise
        print(f"harness: error: {describe_os_error(err)}", file=sys.stderr)
        return EXIT_ERROR
    except MemoryError:
        print("harness: error: out of memory", file=sys.stderr)
        return EXIT_ERROR
    except Exception as err:  # a bug: still one line, the traceback on request
        if args.debug:
            raise
        print(
            f"harness: error: internal error ({type(err).__name__}: {err}); rerun with --debug for the traceback",
            file=sys.stderr,
        )
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
