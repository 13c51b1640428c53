"""Writing a filtered corpus in its input's own format (``harness audit CORPUS --write-filtered OUT``).

``OUT`` is a folder: ``OUT/<the input's file name>`` holds what the filter
kept and ``OUT/dropped.csv`` what it removed (``DROPPED_COLUMNS``: line,
doc_id, reasons, categories; never the text).  The same file name keeps the
format detectable, so the harness reads the written corpus back as it read
the input.

The written unit is a line of the input, copied byte for byte (text, JSON
Lines and open2ch TSV hold one record a line); a CSV record that spans lines
(a quoted cell with newlines) is copied whole, all its lines.  A unit is left
out when the audit dropped a document of it:

* ``turns: join`` (and every other format): one document is one line, so
  filtering and writing share the unit;
* ``turns: separate``: a line holds several documents (one per post); the
  line is left out when any of its posts was dropped, since removing single
  posts would splice a dialogue the forum never had.  The run's fine-tune
  drops single posts instead; the written corpus may so keep fewer posts.
* ``dedupe`` (the default): a later exact duplicate of a dropped document
  was never a document of the audit, but it would be one once its first copy
  is gone; it is left out too (reason ``duplicate``).
* ``max_docs``: lines after the last document the audit read are not written.

Everything else (blank lines, a ranking file's label-0 rows under ``turns:
join``, the CSV header) is copied as it is: the reader skips it as before.
So every document of the written corpus is a document the audit kept, and
auditing it again with the same settings finds none the filter drops.
"""

from __future__ import annotations

import csv
import hashlib
import os
from pathlib import Path
from typing import Any, Iterator, NamedTuple

from harness.config import CorpusConfig
from harness.csvfile import write_csv
from harness.data.corpus import DigestSet, detect_format, iter_corpus
from harness.data.corpus_filter import DROPPED_COLUMNS, DocIds
from harness.errors import InputError

DROPPED_FILE = "dropped.csv"
DUPLICATE = "duplicate"  # the reason of a later copy of a dropped document


class Removal(NamedTuple):
    """Which input lines to leave out, the dropped.csv rows, and the last line the audit read."""

    lines: set[int]
    rows: list[dict[str, Any]]
    last_line: int | None  # None: the audit read the whole file


class Written(NamedTuple):
    """What ``write_filtered`` wrote."""

    corpus: Path
    dropped: Path
    units_kept: int  # lines (CSV: records) copied
    units_removed: int
    units_unread: int  # after the last document the audit read (corpus.max_docs)


def _digest(text: str) -> bytes:
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8).digest()


def removal(config: CorpusConfig, dropped: dict[str, dict[str, Any]]) -> Removal:
    """The lines to leave out for the audit's dropped documents (``dropped``: corpus_dropped.csv rows by doc_id).

    The corpus is read again without de-duplication or ``max_docs``, and both
    are redone here, so that doc_ids line up with the audit's and a later
    copy of a dropped document is seen.
    """
    every = config.model_copy(update={"dedupe": False, "max_docs": None, "filter": None})
    seen = DigestSet() if config.dedupe else None
    gone: set[bytes] = set()  # digests of dropped documents
    ids, count = DocIds(), 0
    lines: set[int] = set()
    rows: list[dict[str, Any]] = []
    last_audited = None
    for doc in iter_corpus(every):
        if config.max_docs and count >= config.max_docs:
            # the audit stopped before this document: a line it read only in part is not written either
            last = last_audited - 1 if doc.line == last_audited else last_audited
            return Removal(lines, rows, last)
        if seen is not None and not seen.add(doc.text):
            if _digest(doc.text) in gone and doc.line not in lines:
                lines.add(doc.line)
                rows.append({"line": doc.line, "doc_id": "", "reasons": DUPLICATE, "categories": ""})
            continue
        count += 1
        last_audited = doc.line
        row = dropped.get(ids(doc))
        if row is not None:
            lines.add(doc.line)
            rows.append({k: row[k] for k in DROPPED_COLUMNS})
            gone.add(_digest(doc.text))
    return Removal(lines, rows, None)


def _line_units(path: Path, universal: bool) -> Iterator[tuple[int, list[bytes]]]:
    """(line number, [its bytes]) for each line, split where the format's reader splits:
    at ``\\n`` (text, open2ch), or at any of ``\\n``, ``\\r\\n``, ``\\r`` (``universal``: JSON Lines)."""
    if not universal:
        with path.open("rb") as fh:
            yield from enumerate(([raw] for raw in fh), start=1)
        return
    with path.open(encoding="utf-8", newline="") as fh:  # untranslated: the bytes written are the bytes read
        yield from enumerate(([line.encode("utf-8")] for line in fh), start=1)


def _csv_units(path: Path) -> Iterator[tuple[int, list[bytes]]]:
    """(first line, [the record's lines]) for each CSV record, header included, lines as the reader counts them."""
    taken: list[str] = []

    def lines(fh) -> Iterator[str]:
        for line in fh:
            taken.append(line)
            yield line

    csv.field_size_limit(max(csv.field_size_limit(), 1 << 30))  # as the reader: a cell may hold a document
    # newline="": line endings untranslated, as harness.data.corpus reads CSV; the BOM stays in the bytes
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.reader(lines(fh))
        start = 1
        while True:
            try:
                next(reader)
            except StopIteration:
                break
            except csv.Error as err:
                raise InputError(f"malformed CSV ({err})", path, start) from None
            yield start, [line.encode("utf-8") for line in taken]
            taken.clear()
            start = reader.line_num + 1
        if taken:  # blank lines after the last record
            yield start, [line.encode("utf-8") for line in taken]


def write_filtered(config: CorpusConfig, dropped_rows: list[dict[str, str]], out: Path) -> Written:
    """Write the input's kept units to ``out/<file name>`` and the removed ones to ``out/dropped.csv``."""
    source = Path(config.path).resolve()
    target = Path(out) / source.name
    if target.resolve() == source:
        raise InputError("--write-filtered would overwrite the corpus itself: choose another folder", out)
    fmt = detect_format(source) if config.format == "auto" else config.format
    plan = removal(config, {row["doc_id"]: row for row in dropped_rows})
    units = _csv_units(source) if fmt == "csv" else _line_units(source, universal=fmt == "jsonl")
    Path(out).mkdir(parents=True, exist_ok=True)
    kept = removed = unread = 0
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    try:
        with tmp.open("wb") as fh:
            for start, lines in units:
                if plan.last_line is not None and start > plan.last_line:
                    unread += 1
                elif start in plan.lines:
                    removed += 1
                else:
                    kept += 1
                    fh.writelines(lines)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    rows = sorted(plan.rows, key=lambda row: int(row["line"]))
    write_csv(Path(out) / DROPPED_FILE, rows, DROPPED_COLUMNS)
    return Written(target, Path(out) / DROPPED_FILE, kept, removed, unread)
