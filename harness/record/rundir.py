"""The one module that reads and writes a run directory.

Every stage, command and renderer goes through ``RunDir``: it validates
``run.json`` against the typed record, keeps one lock per run, writes every
file atomically (temporary file + rename), and applies the rules for
starting, resuming and overwriting a run:

* a folder that holds files but no ``run.json`` is never written into;
* a finished run is replaced only with ``force``, and ``force`` deletes only
  the entries a run writes (never files the harness did not create);
* an unfinished run continues only with ``resume`` and the same config;
* two processes never write one run: the second gets a clear error.

See docs/run-directory.md for the files and their columns.
"""

from __future__ import annotations

import codecs
import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any, Callable, Iterable, Literal, NamedTuple

from pydantic import ValidationError

from harness.csvfile import read_csv, write_csv
from harness.errors import InputError, RunExists
from harness.io import atomic_write_bytes, atomic_write_text, iter_jsonl_numbered, replace_folder
from harness.record.lock import LOCK, RunLock
from harness.record.provenance import now
from harness.record.schema import (
    RECORD_VERSION,
    SCORE_ID_COLUMNS,
    Generation,
    Rebuild,
    RunRecord,
    ScoreRow,
    StageStatus,
)

# -- the entries of a run directory ----------------------------------------------
# The ONE declaration of what a run directory may hold.  Every writer takes its
# name from here, ``RunDir`` refuses to write an undeclared entry, and ``--force``
# moves every entry that is not ``kept`` aside, so a new output cannot be
# forgotten by either (docs/run-directory.md describes each entry).


class Entry(NamedTuple):
    """A top-level entry of a run directory."""

    name: str
    kind: Literal["file", "folder"]
    kept: bool = False  # True: ``--force`` leaves it in place (caches, the lock, the replaced run)


def _declare(*entries: Entry) -> dict[str, Entry]:
    return {e.name: e for e in entries}


RUN_JSON = "run.json"
GENERATIONS = "generations.jsonl"
CORPUS_AUDIT = "corpus_audit.csv"
CORPUS_SCORES = "corpus_scores.csv"  # per-document scores of a full run (audit_scores)
CORPUS_STATS = "corpus_stats"  # what the tuning corpus contributes to the analysis (harness.analysis.corpus_stats)
CORPUS_DROPPED = "corpus_dropped.csv"  # the documents corpus.filter left out (harness.data.corpus_filter)
SCORES = "scores.csv"
SUMMARY = "summary.csv"
VOCAB_TABLE = "vocab_shift.csv"
DIVERGENCE_TABLE = "vocab_divergence.csv"
GROUPS_TABLE = "groups.csv"
MEMO_TABLE = "memorization.csv"
PII_TABLE = "pii.csv"
JUNIT = "gates.junit.xml"
REPORT = "report.html"
NEGATIVES = "negatives"
MODEL = "model"
BASE_MODEL = "base_model"
CHECKPOINTS = "checkpoints"
CACHE = "cache"
PREVIOUS = ".previous"  # where --force moves the run it replaces
TRAJECTORY = "trajectory.csv"  # per trajectory point: step, tokens seen, held-out and neutral perplexity
MITIGATION = "mitigation.csv"  # the mitigate stage: held-out effects and capability cost (harness.mitigate)
MITIGATED = "mitigated"  # the mitigate stage's model folders (mitigated/<from>+<method>)
TRAJECTORY_RUN = "trajectory"  # `harness trajectory RUN`: a trajectory computed after the fact, its own run

ENTRIES: dict[str, Entry] = _declare(
    Entry(RUN_JSON, "file"),
    Entry(GENERATIONS, "file"),
    Entry(CORPUS_AUDIT, "file"),
    Entry(CORPUS_SCORES, "file"),
    Entry(CORPUS_STATS, "folder"),
    Entry(CORPUS_DROPPED, "file"),
    Entry(SCORES, "file"),
    Entry(SUMMARY, "file"),
    Entry(VOCAB_TABLE, "file"),
    Entry(DIVERGENCE_TABLE, "file"),
    Entry(GROUPS_TABLE, "file"),
    Entry(MEMO_TABLE, "file"),
    Entry(PII_TABLE, "file"),
    Entry(JUNIT, "file"),
    Entry(TRAJECTORY, "file"),
    Entry(TRAJECTORY_RUN, "folder"),
    Entry(MITIGATION, "file"),
    Entry(MITIGATED, "folder"),
    Entry(REPORT, "file"),
    Entry(NEGATIVES, "folder"),
    Entry(MODEL, "folder"),
    Entry(BASE_MODEL, "folder"),
    Entry(CHECKPOINTS, "folder"),
    Entry(CACHE, "folder", kept=True),  # keyed by model fingerprint and decoding: never stale
    Entry(LOCK, "file", kept=True),
    Entry(PREVIOUS, "folder", kept=True),
)
# Everything a run may write that ``force`` replaces; it deletes these and nothing else.
OWNED = frozenset(name for name, entry in ENTRIES.items() if not entry.kept)


def declared(name: str) -> str:
    """``name`` when its top-level entry is declared in ``ENTRIES``; else ``ValueError`` (a harness bug)."""
    top = Path(name).parts[0] if Path(name).parts else ""
    if top not in ENTRIES:
        raise ValueError(f"{name!r} is not a declared run-directory entry (harness.record.rundir.ENTRIES)")
    return name


class ChangedFile(InputError):
    """A file of the run no longer holds what the harness wrote (its sha256 differs from run.json)."""


def content_digest(path: Path) -> str:
    """sha256 of a file's bytes, a leading UTF-8 BOM aside (``--excel`` adds one to every table)."""
    data = path.read_bytes()
    return hashlib.sha256(data.removeprefix(codecs.BOM_UTF8)).hexdigest()


class RecordVersionError(InputError):
    """run.json was written by another record version."""


class RunDir:
    """A run directory and its validated record.  Use ``open`` or ``start``."""

    def __init__(self, path: Path, record: RunRecord):
        self.path = Path(path)
        self.record = record
        self.lock = RunLock(self.path)

    # -- opening ---------------------------------------------------------------
    @staticmethod
    def holds_run(path: str | Path) -> bool:
        """True when ``path`` is a folder with a run.json."""
        return (Path(path) / RUN_JSON).is_file()

    @classmethod
    def open(cls, path: str | Path, *, lock: bool = False) -> "RunDir":
        """Open an existing run; ``lock`` when the caller will write into it."""
        path = Path(path)
        if path.is_file():
            raise InputError("is a file, not a run directory", path)
        if not path.is_dir():
            raise InputError("not a run directory (no such folder)", path)
        if not (path / RUN_JSON).is_file():
            raise InputError(f"not a run directory (no {RUN_JSON})", path)
        run = cls(path, read_record(path / RUN_JSON))
        if lock:
            run.acquire_lock()
        return run

    @classmethod
    def start(cls, path: str | Path, record: RunRecord, *, resume: bool = False, force: bool = False) -> "RunDir":
        """Create (or resume) the run at ``path`` under the lock; see the module rules.

        On resume the stored record is kept (with status back to running);
        otherwise ``record`` is written as the new run.json.
        """
        path = Path(path)
        if path.exists() and not path.is_dir():
            raise InputError("--out is a file, not a folder", path)
        if path.is_dir() and any(path.iterdir()) and not cls.holds_run(path):
            raise RunExists(f"{path} exists and is not a run directory; choose another --out")
        run = cls(path, record)
        try:
            path.mkdir(parents=True, exist_ok=True)
            run.acquire_lock()
        except OSError as err:  # read-only, a file in the way, a full disk: before any work
            raise InputError(f"cannot write the run folder ({err.strerror or err})", path) from None
        try:
            if cls.holds_run(path):
                old = read_record(path / RUN_JSON) if not force else None
                if force:
                    run.move_owned_aside()
                elif not resume:
                    state = "a finished" if old.status == "complete" else "an unfinished"
                    hint = "--force to overwrite it" if old.status == "complete" else "--resume or --force"
                    raise RunExists(f"{path} holds {state} run '{old.name}'; use {hint}")
                elif old.config != record.config:
                    raise RunExists(f"{path}: the config changed since the run started; use --force to restart")
                elif old.status == "complete":
                    run.record = old  # nothing to resume: the record of how it was made stays as it is
                else:
                    old.status = "running"
                    old.finished = None
                    run.record = old
            run.save()
        except BaseException:
            run.release_lock()
            raise
        return run

    # -- lock ------------------------------------------------------------------
    def acquire_lock(self) -> None:
        """Take the run's lock or fail at once naming who holds it (see harness.record.lock)."""
        self.lock.acquire()

    def release_lock(self) -> None:
        """Release the run's lock."""
        self.lock.release()

    def __enter__(self) -> "RunDir":
        return self

    def __exit__(self, *exc: object) -> None:
        self.release_lock()

    def move_owned_aside(self) -> Path:
        """Move the entries a run writes (``OWNED``: every declared entry not ``kept``) into ``RUN/.previous/``.

        Nothing else in the folder is touched.  Only one replaced run is kept:
        an older ``.previous`` (itself harness output) is deleted first.
        Renames within one folder are cheap, even for model folders.
        """
        aside = self.path / PREVIOUS
        if aside.exists():
            shutil.rmtree(aside)
        aside.mkdir()
        for name in sorted(OWNED):
            target = self.path / name
            if target.exists() or target.is_symlink():
                os.replace(target, aside / name)
        return aside

    # -- record and stage bookkeeping -------------------------------------------
    def save(self) -> None:
        """Write run.json atomically."""
        atomic_write_text(self.path / RUN_JSON, self.record.model_dump_json(indent=2) + "\n")

    def stage(self, name: str) -> StageStatus:
        """The stored status of stage ``name`` (pending when never run)."""
        return self.record.stages.get(name, StageStatus())

    def set_stage(self, name: str, status: StageStatus) -> None:
        """Record a stage's status and save; a stage outside the plan joins it."""
        if name not in self.record.plan:
            self.record.plan.append(name)
        self.record.stages[name] = status
        if status.status == "failed":
            self.record.status = "failed"
            self.record.finished = None
        self.save()

    @property
    def finished(self) -> bool:
        """True when the run is complete: its stages and finish time are history, never rewritten."""
        return self.record.status == "complete"

    def add_rebuild(self, rebuild: Rebuild) -> None:
        """Record a stage run again on a finished run (``RunRecord.rebuilds``) and save."""
        self.record.rebuilds.append(rebuild)
        self.save()

    def stamp_finish(self) -> None:
        """Set the finish time now, unless it is set (the last stage calls this before it renders)."""
        if self.record.finished is None:
            self.record.finished = now()

    def finish(self) -> None:
        """Mark the run complete when every planned stage is done or skipped; keep a finish time already set."""
        if all(self.stage(n).status in ("done", "skipped") for n in self.record.plan):
            self.record.status = "complete"
            self.stamp_finish()
        self.save()

    # -- files -----------------------------------------------------------------
    def file(self, name: str) -> Path:
        """Path of an entry of the run directory (it may not exist yet)."""
        return self.path / name

    def has(self, name: str) -> bool:
        """Whether the entry exists."""
        return (self.path / name).exists()

    def output(self, name: str) -> Path:
        """Path of a declared entry that a writer outside ``RunDir`` fills (model/, checkpoints/, cache/)."""
        return self.path / declared(name)

    def write_text(self, name: str, text: str) -> Path:
        """Write a UTF-8 text file atomically (report.html, dataset card …)."""
        atomic_write_text(self.output(name), text)
        return self.path / name

    def write_bytes(self, name: str, data: bytes) -> Path:
        """Write a binary file atomically (parquet …)."""
        atomic_write_bytes(self.output(name), data)
        return self.path / name

    def write_folder(self, name: str, fill: Callable[[Path], None]) -> Path:
        """Build a folder with ``fill(tmp)`` and swap it in atomically (model folders, hf datasets)."""
        return replace_folder(self.output(name), fill)

    def record_content(self, name: str) -> None:
        """Store the sha256 of the file ``name`` just written in run.json (``content_sha256``)."""
        self.record.content_sha256[name] = content_digest(self.path / name)
        self.save()

    def check_content(self, name: str) -> None:
        """Raise ``ChangedFile`` when ``name`` differs from what the harness wrote (a file never hashed passes)."""
        expected = self.record.content_sha256.get(name)
        path = self.path / name
        if expected is None or not path.is_file() or content_digest(path) == expected:
            return
        if name == GENERATIONS:
            fix = f"`harness report {self.path} --reanalyse` analyses the file as it is now"
        else:
            fix = f"`harness report {self.path} --reanalyse` rebuilds the tables from generations.jsonl"
        raise ChangedFile(f"changed since the run wrote it (sha256 differs from run.json); {fix}", path)

    def write_generations(self, generations: Iterable[Generation]) -> int:
        """Write generations.jsonl atomically and record its sha256; return the number of lines."""
        lines = [g.model_dump_json() for g in generations]
        atomic_write_text(self.path / GENERATIONS, "".join(line + "\n" for line in lines))
        self.record_content(GENERATIONS)
        return len(lines)

    def read_generations(self, accept_changed: bool = False) -> list[Generation]:
        """All generations, validated; a bad line raises naming file and line.

        A file that differs from what the probe stage wrote raises ``ChangedFile``,
        unless ``accept_changed`` (``harness report --reanalyse``): then its
        sha256 is recorded anew, and the tables built from it will match it.
        """
        if accept_changed and self.has(GENERATIONS):
            self.record_content(GENERATIONS)
        self.check_content(GENERATIONS)
        path = self.path / GENERATIONS
        out: list[Generation] = []
        seen: dict[str, int] = {}
        for lineno, obj in iter_jsonl_numbered(path):
            try:
                gen = Generation.model_validate(obj)
            except ValidationError as err:
                raise InputError(describe_validation(err), path, lineno) from None
            if gen.id in seen:
                raise InputError(f"duplicate generation id {gen.id!r} (first on line {seen[gen.id]})", path, lineno)
            seen[gen.id] = lineno
            out.append(gen)
        return out

    def write_table(self, name: str, rows: list[dict[str, Any]], columns: list[str]) -> Path:
        """Write a CSV table atomically (formula cells neutralised; see harness.csvfile) and record its sha256."""
        write_csv(self.output(name), rows, columns)
        self.record_content(name)
        return self.path / name

    def read_table(self, name: str) -> list[dict[str, str]]:
        """Rows of a CSV table as text cells; a missing, malformed or changed file names itself."""
        self.check_content(name)
        return read_csv(self.path / name)

    def read_scores(self) -> list[ScoreRow]:
        """scores.csv as typed rows: catalogue measures become numbers, the rest details."""
        path = self.path / SCORES
        self.check_content(SCORES)
        measures = {m.name: m for m in self.record.measures if m.per_text}
        rows: list[ScoreRow] = []
        for line, cells in enumerate(read_csv(path), start=2):
            missing = [c for c in (*SCORE_ID_COLUMNS, *measures) if c not in cells]
            if missing:
                raise InputError(f"missing column(s) {', '.join(missing)}", path, line)
            values: dict[str, float] = {}
            for name, spec in measures.items():
                values[name] = parse_measure(cells[name], spec.kind, name, path, line)
            details = {k: v for k, v in cells.items() if k not in measures and k not in SCORE_ID_COLUMNS}
            try:
                rows.append(
                    ScoreRow(
                        **{k: cells[k] for k in SCORE_ID_COLUMNS if k != "group"},
                        group=cells["group"] or None,
                        values=values,
                        details=details,
                    )
                )
            except ValidationError as err:
                raise InputError(describe_validation(err), path, line) from None
        return rows


def parse_measure(cell: str, kind: str, name: str, path: Path, line: int) -> float:
    """One measure cell as a number; a binary measure must be 0 or 1."""
    try:
        value = float(cell)
    except ValueError:
        raise InputError(f"column {name!r}: {cell!r} is not a number", path, line) from None
    if kind == "binary" and value not in (0.0, 1.0):
        raise InputError(f"column {name!r}: {cell!r} is not 0/1", path, line)
    return int(value) if kind == "binary" else value


def read_record(path: Path) -> RunRecord:
    """Read and validate run.json; other record versions are refused with a clear message."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise InputError(f"invalid JSON ({err.msg})", path, err.lineno) from None
    except UnicodeDecodeError:
        raise InputError("not valid UTF-8", path) from None
    if not isinstance(data, dict):
        raise InputError("expected a JSON object (the run record)", path)
    version = data.get("version")
    if version != RECORD_VERSION:
        if isinstance(version, int) and version < RECORD_VERSION:
            raise RecordVersionError(
                f"record version {version} was written by an older harness; this one reads version "
                f"{RECORD_VERSION}: re-run it with `harness run CONFIG --force` (generations.jsonl changed shape)",
                path,
            )
        raise RecordVersionError(
            f"record version {version!r} is not one this harness reads ({RECORD_VERSION}); upgrade the harness",
            path,
        )
    try:
        return RunRecord.model_validate(data)
    except ValidationError as err:
        raise InputError(describe_validation(err), path) from None


def describe_validation(err: ValidationError) -> str:
    """The first pydantic error as ``key.path: message`` (one line)."""
    first = err.errors()[0]
    message = first["msg"].removeprefix("Value error, ")
    where = ".".join(str(p) for p in first["loc"])
    return f"{where}: {message}" if where else message


def tables_missing(run: RunDir) -> list[str]:
    """Analysis tables the record lists (or the core two) that are not on disk."""
    names = run.record.tables or [SCORES, SUMMARY]
    return [n for n in names if not run.has(n)]
