"""CSV tables of a run directory: safe writing, strict reading, span cells.

Generated text is untrusted: a cell that a spreadsheet would evaluate as a
formula (``=HYPERLINK(...)``, ``+cmd|...``) is neutralised with a leading
apostrophe when written, and the reader takes that apostrophe off again, so
the file round-trips exactly while staying safe to open in Excel/LibreOffice.
"""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path
from typing import Any, Iterator

from harness.errors import InputError
from harness.io import atomic_write_bytes, atomic_write_text, require_file

# Excel on Japanese Windows opens a BOM-less UTF-8 CSV as CP932 (mojibake);
# with this byte-order mark it reads UTF-8.  Every reader here accepts both.
BOM = "\ufeff".encode("utf-8")

# Characters that make a spreadsheet treat a cell as a formula (OWASP list).
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")

# A plain decimal number ("-0.25", "+1e-3") is data, not a formula: it keeps its
# sign so that the CSV stays numeric.  Deliberately stricter than float():
# "-inf", "1_000" or " -1" are not plain numbers and get neutralised.
_PLAIN_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")

# Leading apostrophes followed by a trigger: what ``safe_cell`` prefixes and
# ``unescape_cell`` strips.  Counting existing apostrophes keeps the mapping
# reversible ("'=x" is written "''=x" and read back as "'=x").
_NEUTRALISED = re.compile(r"'*[=+\-@\t\r]")


def safe_cell(value: Any) -> str:
    """The text of one CSV cell, neutralised against formula injection.

    ``None`` becomes ``""``; booleans ``"1"``/``"0"`` (binary measures); lists
    and dicts compact JSON (e.g. ``flagged_spans``); anything else ``str()``.
    Text starting with ``= + - @``, tab or CR (after any apostrophes) gets a
    leading ``'`` unless it is a plain number, so ``"-0.25"`` stays numeric.
    """
    if value is None:
        return ""
    if isinstance(value, bool):
        text = "1" if value else "0"
    elif isinstance(value, (list, dict, tuple)):
        text = json.dumps(value, ensure_ascii=False)
    else:
        text = str(value)
    if _NEUTRALISED.match(text) and not _PLAIN_NUMBER.fullmatch(text):
        return "'" + text
    return text


def unescape_cell(text: str) -> str:
    """Undo ``safe_cell``'s apostrophe: the value as it was before writing."""
    if text.startswith("'") and _NEUTRALISED.match(text):
        return text[1:]
    return text


def _quote(text: str) -> str:
    # Hand-rolled minimal quoting: with lineterminator "\n" the csv module
    # leaves a bare "\r" unquoted, and reading the file back then splits the
    # record in two.  RFC 4180: quote when the cell holds , " CR or LF.
    if any(ch in text for ch in ',"\r\n'):
        return '"' + text.replace('"', '""') + '"'
    return text


def format_csv(rows: list[dict[str, Any]], columns: list[str]) -> str:
    """CSV text (header + rows, ``\\n`` line ends) with every cell ``safe_cell``-ed.

    A row key that is not in ``columns`` raises ``ValueError``: it means the
    caller built the row wrong, and silently dropping data would hide that.
    Missing keys become empty cells.
    """
    known = set(columns)
    out = io.StringIO()
    out.write(",".join(_quote(safe_cell(c)) for c in columns) + "\n")
    for index, row in enumerate(rows):
        unknown = [k for k in row if k not in known]
        if unknown:
            raise ValueError(f"row {index} has keys not in the column list: {unknown}")
        line = ",".join(_quote(safe_cell(row.get(c))) for c in columns)
        # a one-column row with an empty cell would be a blank line, which readers skip
        out.write((line or '""') + "\n")
    return out.getvalue()


def write_csv(path: str | Path, rows: list[dict[str, Any]], columns: list[str]) -> None:
    """Write ``rows`` to ``path`` as UTF-8 CSV, atomically (see ``format_csv``)."""
    atomic_write_text(path, format_csv(rows, columns))


def iter_csv_rows(path: str | Path) -> Iterator[tuple[int, list[str], dict[str, str]]]:
    """(physical line, header, ``{column: text}``) per data row of a CSV file with a header, cells as written.

    A missing file, an empty file, invalid UTF-8, or a row whose field count
    differs from the header raises ``InputError`` naming the file (and line).
    Blank lines are skipped.
    """
    path = require_file(path)
    # utf-8-sig: a file re-saved by a spreadsheet may carry a byte-order mark.
    with path.open(encoding="utf-8-sig", newline="") as fh:
        reader = csv.reader(fh)
        start = 1
        try:
            header = next(reader, None)
            if header is None:
                raise InputError("empty file (no header row)", path)
            start = reader.line_num + 1
            for fields in reader:
                line, start = start, reader.line_num + 1
                if not fields:
                    continue
                if len(fields) != len(header):
                    raise InputError(f"expected {len(header)} fields, found {len(fields)}", path, line)
                yield line, header, dict(zip(header, fields))
        except UnicodeDecodeError:
            raise InputError("not valid UTF-8", path) from None
        except csv.Error as err:
            raise InputError(f"malformed CSV ({err})", path, start) from None


def read_csv(path: str | Path, *, raw: bool = False) -> list[dict[str, str]]:
    """Rows of a CSV file with a header, as ``{column: text}`` (errors: ``iter_csv_rows``).

    The apostrophe added by ``safe_cell`` is removed unless ``raw`` is true.
    """
    rows = (row for _, _, row in iter_csv_rows(path))
    return list(rows) if raw else [{k: unescape_cell(v) for k, v in row.items()} for row in rows]


def add_bom(path: str | Path) -> bool:
    """Prefix a UTF-8 CSV file with a byte-order mark (atomically) so Excel reads it as UTF-8.

    Returns True when the file changed, False when it already had one.  The
    cells (formula neutralising included) are untouched; ``read_csv`` reads
    the file as before.
    """
    path = require_file(path)
    data = path.read_bytes()
    if data.startswith(BOM):
        return False
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError("not valid UTF-8", path) from None
    atomic_write_bytes(path, BOM + data)
    return True
