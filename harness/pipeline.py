"""The pipeline: base → audit → finetune → probe → analyse → report → export → gates.

Each stage records its status and time in ``run.json`` as soon as it ends, so
``--resume`` skips finished stages after a crash or a kill.  A finished run is
never overwritten without ``force``.  Everything a later stage needs is read
back from the run directory, never passed in memory only.
"""

from __future__ import annotations

import platform
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Callable

from harness.config import RunConfig
from harness.errors import ConfigError, HarnessError, RunExists
from harness.io import atomic_write_json, read_json, read_jsonl, sha256_file, write_jsonl

RECORD_VERSION = 1
# export and report come last: they render the finished record (gate
# verdicts, final status) and are pure functions of the run directory.
STAGES = ("base", "audit", "finetune", "probe", "analyse", "gates", "export", "report")
RENDER_STAGES = ("export", "report")
REPO_ROOT = Path(__file__).resolve().parent.parent

# (model label, model path, probes) -> generation records; tests pass a fake.
Sampler = Callable[[str, str, list], list[dict]]


@dataclass
class RunResult:
    """What ``run`` returns: where the run is and whether its gates passed."""

    run_dir: Path
    record: dict

    @property
    def gates_passed(self) -> bool:
        return self.record.get("gates", {}).get("passed", True)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _versions() -> dict:
    out = {"python": platform.python_version(), "platform": platform.platform()}
    for dist in ("harness", "torch", "transformers", "tokenizers", "sentencepiece", "fugashi", "unidic-lite"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = None
    return out


def _git_sha() -> str | None:
    try:
        proc = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=5, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return proc.stdout.strip() or None if proc.returncode == 0 else None


def _input_hashes(config: RunConfig) -> dict:
    paths = [config.corpus.path, *config.probes.files, *config.analysis.lexicons]
    if config.base.init:
        paths += [config.base.init.corpus.path, *(c.path for c in config.base.init.tokenizer_corpora)]
    return {str(p): sha256_file(p) for p in paths if Path(p).is_file()}


def _check_inputs(config: RunConfig) -> None:
    """Fail before any work when an input file is missing (names the config key)."""
    checks = [("corpus.path", config.corpus.path)]
    checks += [(f"probes.files[{i}]", p) for i, p in enumerate(config.probes.files)]
    checks += [(f"analysis.lexicons[{i}]", p) for i, p in enumerate(config.analysis.lexicons)]
    if config.base.init:
        checks.append(("base.init.corpus.path", config.base.init.corpus.path))
        checks += [
            (f"base.init.tokenizer_corpora[{i}].path", c.path) for i, c in enumerate(config.base.init.tokenizer_corpora)
        ]
    for key, path in checks:
        if not Path(path).is_file():
            raise ConfigError(f"{key}: file not found: {path}")


class Pipeline:
    """One run directory and its record; stages are methods, run in order."""

    def __init__(
        self,
        config: RunConfig,
        run_dir: Path,
        log: Callable[[str], None],
        progress: bool,
        sampler: Sampler | None = None,
    ):
        self.config = config
        self.sampler = sampler or self._sample_with_model
        self.dir = run_dir
        self.log = log
        self.progress = progress
        self.record_path = run_dir / "run.json"
        self._analyser = None
        self.record: dict = {}

    # -- record -------------------------------------------------------------
    def start(self, resume: bool, force: bool) -> None:
        config_dump = self.config.model_dump(mode="json")
        if self.record_path.exists():
            old = read_json(self.record_path)
            if force:
                shutil.rmtree(self.dir)
            elif old.get("status") == "complete" and not resume:
                raise RunExists(f"{self.dir} holds a finished run; use --force to overwrite it")
            elif not resume:
                raise RunExists(
                    f"{self.dir} holds an unfinished run; use --resume to continue it or --force to restart"
                )
            elif old.get("config") != config_dump:
                raise RunExists(f"{self.dir}: the config changed since the run started; use --force to restart")
            else:
                self.record = old
                self.record["status"] = "running"
                self._note_dictionary()
                self.save()
                return
        elif self.dir.exists() and any(self.dir.iterdir()) and not force:
            raise RunExists(f"{self.dir} exists and is not a run directory; choose another --out")
        self.dir.mkdir(parents=True, exist_ok=True)
        self.record = {
            "version": RECORD_VERSION,
            "name": self.config.name,
            "status": "running",
            "created": _now(),
            "config": config_dump,
            "versions": _versions(),
            "git_sha": _git_sha(),
            "seed": self.config.seed,
            "hashes": _input_hashes(self.config),
            "models": {},
            "stages": {},
        }
        self._note_dictionary()
        self.save()

    def save(self) -> None:
        atomic_write_json(self.record_path, self.record)

    def done(self, stage: str) -> bool:
        return self.record["stages"].get(stage, {}).get("status") == "done"

    # -- helpers ------------------------------------------------------------
    @property
    def analyser(self):
        if self._analyser is None:
            from harness.analysis.score import Analyser

            self._analyser = Analyser(self.config.analysis.lexicons)
            self._note_dictionary()
        return self._analyser

    def _note_dictionary(self) -> None:
        """Record the MeCab dictionary: results depend on it."""
        if self._analyser is not None and "versions" in self.record:
            info = self._analyser.tokenizer.dictionary_info()
            self.record["versions"]["dictionary"] = info.get("label") or str(info)
            self.record["dictionary"] = info

    def base_path(self) -> str:
        if self.config.base.init:
            return str(self.dir / "base_model")
        return self.config.base.model

    def tuned_path(self) -> str:
        return self.config.finetune.tuned_model or str(self.dir / "model")

    # -- stages -------------------------------------------------------------
    def stage_base(self) -> None:
        if self.config.base.init is None:
            self.record["models"]["base"] = {"path": self.config.base.model, "source": "given"}
            return
        from harness.train.base_init import init_base

        result = init_base(
            self.config.base.init, self.dir / "base_model", seed=self.config.seed, progress=self.progress
        )
        self.record["base_init"] = result.to_record()
        self.record["models"]["base"] = {"path": "base_model", "source": "init", "parameters": result.parameters}
        self.log(
            f"  base: {result.parameters:,} parameters, vocab {result.vocab_size}, "
            f"eval loss {result.eval_loss_before:.2f} → {result.eval_loss_after:.2f}"
        )

    def stage_audit(self) -> None:
        from harness.data.corpus import read_corpus
        from harness.csvfile import write_csv

        texts = [d.text for d in read_corpus(self.config.corpus)]
        rows = self.analyser.audit_texts(texts)
        write_csv(self.dir / "corpus_audit.csv", rows, ["measure", "n", "count", "rate", "ci_low", "ci_high"])
        self.log(f"  audit: {len(texts)} documents")

    def stage_finetune(self) -> None:
        if self.config.finetune.tuned_model:
            self.record["models"]["tuned"] = {"path": self.config.finetune.tuned_model, "source": "given"}
            return
        from harness.train.finetune import finetune

        result = finetune(
            self.base_path(),
            self.config.corpus,
            self.config.finetune,
            self.dir / "model",
            seed=self.config.seed,
            progress=self.progress,
        )
        record = result.to_record()
        record["model_dir"] = "model"
        self.record["finetune"] = record
        self.record["models"]["tuned"] = {"path": "model", "source": "finetune"}
        self.log(
            f"  finetune: {result.steps} steps, {result.tokens_per_second:,.0f} tokens/s, eval loss "
            f"{result.eval_loss_before:.2f} → {result.eval_loss_after:.2f} (ppl {result.perplexity_before:.1f} → "
            f"{result.perplexity_after:.1f})"
        )

    def _sample_with_model(self, label: str, path: str, probes: list) -> list[dict]:
        from harness.models.hf import generate_samples
        from harness.models.loading import load_model

        loaded = load_model(path, device=self.config.probes.device, allow_hub=self.config.base.allow_hub)
        self.record["models"].setdefault(label, {})["parameters"] = loaded.parameters
        return generate_samples(
            loaded,
            label,
            probes,
            self.config.probes.decoding,
            self.config.probes.samples_per_prompt,
            self.config.seed,
            progress=self.progress,
        )

    def stage_probe(self) -> None:
        from harness.data.probes import load_probe_sets

        probes = [p for s in load_probe_sets(self.config.probes.files) for p in s.probes]
        records: list[dict] = []
        for label, path in (("base", self.base_path()), ("tuned", self.tuned_path())):
            records += self.sampler(label, path, probes)
        write_jsonl(self.dir / "generations.jsonl", records)
        self.record["probe"] = {"prompt_eos": False, "prompts": len(probes), "samples": len(records)}
        self.log(f"  probe: {len(probes)} prompts × {self.config.probes.samples_per_prompt} samples × 2 models")

    def stage_analyse(self) -> None:
        from harness.csvfile import write_csv

        analysis = self.analyser.score_generations(
            read_jsonl(self.dir / "generations.jsonl"), n_boot=self.config.analysis.bootstrap, seed=self.config.seed
        )
        write_csv(self.dir / "scores.csv", analysis.scores, analysis.score_columns)
        write_csv(self.dir / "summary.csv", analysis.summary, analysis.summary_columns)
        write_csv(self.dir / "vocab_shift.csv", analysis.vocab_shift, analysis.vocab_columns)
        for row in analysis.summary:
            if (
                row["kind"] == "delta"
                and row["probe_category"] == "all"
                and row["measure"] in ("flagged", "polite", "laughter")
            ):
                self.log(
                    f"  {row['measure']}: tuned−base {row['rate']:+.3f} [{row['ci_low']:+.3f}, {row['ci_high']:+.3f}]"
                )

    def stage_report(self) -> None:
        from harness.report.html import write_report

        write_report(self.dir)

    def stage_export(self) -> None:
        from harness.export.negatives import export_run

        for fmt in ("jsonl", "dpo", "kto"):
            export_run(self.dir, fmt)

    def stage_gates(self) -> None:
        from harness.gates import evaluate_gates
        from harness.csvfile import read_csv

        self.record["gates"] = evaluate_gates(self.config.gates, read_csv(self.dir / "summary.csv"))
        for result in self.record["gates"]["results"]:
            verdict = "pass" if result["passed"] else "FAIL"
            self.log(
                f"  gate {result['measure']} {result['kind']} ≤ {result['threshold']}: {result['value']:+.3f} {verdict}"
            )

    def check_gates(self) -> None:
        """Fail before any training when a gate names an unknown measure or category."""
        if not self.config.gates:
            return
        from harness.data.probes import load_probe_sets

        measures = self.analyser.measures()
        categories = {"all"} | {p.category for s in load_probe_sets(self.config.probes.files) for p in s.probes}
        for i, gate in enumerate(self.config.gates):
            if gate.measure not in measures:
                raise ConfigError(
                    f"gates[{i}].measure: unknown measure '{gate.measure}' (known: {', '.join(measures)})"
                )
            if gate.probe_category not in categories:
                raise ConfigError(
                    f"gates[{i}].probe_category: '{gate.probe_category}' is not a probe category "
                    f"(known: {', '.join(sorted(categories))})"
                )

    def execute(self) -> None:
        for number, stage in enumerate(STAGES, start=1):
            if self.done(stage):
                self.log(f"[{number}/{len(STAGES)}] {stage}: done earlier, skipped")
                continue
            self.log(f"[{number}/{len(STAGES)}] {stage} …")
            if stage in RENDER_STAGES and self.record["status"] != "complete":
                # what they render must already read "complete"; a failure
                # below still turns it into "failed"
                self.record["status"] = "complete"
                self.record["finished"] = _now()
                self.save()
            started = time.perf_counter()
            try:
                getattr(self, f"stage_{stage}")()
            except BaseException as err:
                self.record["stages"][stage] = {"status": "failed", "error": str(err)[:500]}
                self.record["status"] = "failed"
                self.save()
                raise
            seconds = round(time.perf_counter() - started, 2)
            self.record["stages"][stage] = {"status": "done", "seconds": seconds}
            self.save()
        self.record["status"] = "complete"
        self.record["finished"] = _now()
        self.save()


def run(
    config: RunConfig,
    out_dir: str | Path | None = None,
    resume: bool = False,
    force: bool = False,
    progress: bool = True,
    log: Callable[[str], None] | None = None,
    sampler: Sampler | None = None,
) -> RunResult:
    """Run the whole pipeline for ``config``; returns the run directory and record.

    Gate failures do not raise: check ``RunResult.gates_passed`` (the CLI
    turns it into exit code 3).  ``sampler`` replaces model loading and
    sampling (tests use a fake one to run the pipeline without torch).
    """
    if sampler is None or config.base.init or not config.finetune.tuned_model:
        from harness.models.loading import quiet_transformers

        quiet_transformers()
    log = log or (lambda message: print(message, file=sys.stderr, flush=True))
    run_dir = Path(out_dir or config.out_dir or REPO_ROOT / "reports" / config.name)
    _check_inputs(config)
    pipeline = Pipeline(config, run_dir.resolve(), log, progress, sampler)
    pipeline.check_gates()
    pipeline.start(resume=resume, force=force)
    pipeline.execute()
    return RunResult(run_dir=pipeline.dir, record=pipeline.record)


def demo_config_path() -> Path:
    """configs/demo.yaml of this checkout (the demo's single source of truth)."""
    path = REPO_ROOT / "configs" / "demo.yaml"
    if not path.is_file():
        raise HarnessError(f"demo config not found at {path}: run the demo from a source checkout")
    return path


def demo(out_dir: str | Path | None = None, force: bool = True, progress: bool = True) -> RunResult:
    """The whole pipeline on the embedded demo corpora with tiny local models."""
    from harness.config import load_config

    config = load_config(demo_config_path())
    target = Path(out_dir or config.out_dir or REPO_ROOT / "reports" / config.name)
    if force and (target / "run.json").is_file():
        # re-running the demo replaces an earlier demo, never another run
        previous = read_json(target / "run.json")
        if previous.get("name") != config.name:
            raise RunExists(f"{target} holds run '{previous.get('name')}', not a demo; choose another --out")
    return run(config, out_dir=target, force=force, progress=progress)
