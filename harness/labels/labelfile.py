"""The label file contract: columns, allowed labels and categories, reading and checking.

Three kinds of CSV file live under ``labels/`` (``#`` lines are comments):

* the selection, ``labels/open2ch-dev/selection.csv``: which posts are
  labelled, fixed before any labelling (``SELECTION_COLUMNS``);
* the files an annotator fills, ``chunk-N.csv`` and ``second-pass.csv``
  (``LABEL_COLUMNS``): keys and labels only, so the annotator sees neither the
  stratum nor the split, and the second pass never sees the first labels;
* the merged file ``labels/open2ch-dev.csv`` (``MERGED_COLUMNS``), built by
  ``python -m harness.labels merge`` from the selection and the chunks.

None of them may hold the post text: extra columns are an error.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from typing import NamedTuple

from harness.errors import InputError
from harness.io import require_file
from harness.labels.posts import REPO, Key

LABELS = ("toxic", "profanity", "clean", "unreadable")
# categories of a toxic post, most severe first: a post that fits several takes the first
CATEGORIES = ("threat", "self_harm", "doxxing", "sexual", "discrimination", "insult", "harassment")
LABEL_COLUMNS = ["line", "post", "label", "category", "annotator", "guideline"]
SELECTION_COLUMNS = ["line", "post", "split", "stratum", "weight", "chunk", "second_pass"]
MERGED_COLUMNS = ["line", "post", "split", "stratum", "weight", "label", "category", "annotator", "guideline"]
SPLITS = ("dev", "test")

LABEL_DIR = REPO / "labels" / "open2ch-dev"
SELECTION = LABEL_DIR / "selection.csv"
DESIGN = LABEL_DIR / "selection.json"
SECOND_PASS = "second-pass"
MERGED = REPO / "labels" / "open2ch-dev.csv"
GUIDELINE = REPO / "docs" / "labelling.md"


def guideline_version(path: Path = GUIDELINE) -> int:
    """The ``guideline: N`` version stated at the top of ``docs/labelling.md``."""
    found = re.search(r"^guideline: (\d+)\s*$", require_file(path, "guideline").read_text("utf-8"), re.M)
    if not found:
        raise InputError("no 'guideline: N' line", path)
    return int(found.group(1))


class Row(NamedTuple):
    """One data row of a label CSV: its physical line number in the file and its cells."""

    lineno: int
    cells: dict[str, str]


def read_table(path: str | Path, columns: list[str]) -> list[Row]:
    """The rows of ``path``, whose header must name exactly ``columns`` (any order); comments skipped."""
    path = require_file(path, "label file")
    text = path.read_text(encoding="utf-8-sig")
    # comment lines become blank lines, which csv skips, so line_num stays the physical line
    cleaned = "\n".join("" if line.lstrip().startswith("#") else line for line in text.split("\n"))
    reader = csv.reader(io.StringIO(cleaned))
    header = next((r for r in reader if r), None)
    if header is None:
        raise InputError("no header row", path)
    header = [h.strip() for h in header]
    extra = [h for h in header if h not in columns]
    if extra:
        why = " (label files hold keys and labels only, never the text)" if "text" in extra else ""
        raise InputError(f"column {extra[0]!r} is not allowed{why}; columns: {','.join(columns)}", path, 1)
    missing = [c for c in columns if c not in header]
    if missing or len(set(header)) != len(header):
        raise InputError(f"header must name each of {','.join(columns)} once; missing {missing}", path, 1)
    rows = []
    for cells in reader:
        if not cells:
            continue
        if len(cells) != len(header):
            raise InputError(f"{len(cells)} cells, the header has {len(header)}", path, reader.line_num)
        rows.append(Row(reader.line_num, {h: c.strip() for h, c in zip(header, cells)}))
    return rows


def parse_key(row: Row, path: str | Path) -> Key:
    """The (line, post) key of ``row``; ``InputError`` naming the file line when it is not two positive integers."""
    try:
        key = Key(int(row.cells["line"]), int(row.cells["post"]))
    except ValueError:
        key = Key(0, 0)
    if key.line < 1 or key.post < 1:
        raise InputError(
            f"line/post must be positive integers, got {row.cells['line']!r},{row.cells['post']!r}", path, row.lineno
        )
    return key


def label_problem(cells: dict[str, str], partial: bool, newest: int) -> str | None:
    """What is wrong with the label cells of one row (None when fine); a blank label is fine when ``partial``."""
    label, category = cells["label"], cells["category"]
    if not label:
        if partial and not category:
            return None
        return "label is empty" if not partial else "category given without a label"
    if label not in LABELS:
        return f"label {label!r} is not one of {', '.join(LABELS)}"
    if label == "toxic" and category not in CATEGORIES:
        return f"a toxic post needs a category, one of {', '.join(CATEGORIES)} (got {category!r})"
    if label != "toxic" and category:
        return f"category {category!r} is only for toxic posts (label is {label!r})"
    if not cells["annotator"]:
        return "annotator is empty"
    if not cells["guideline"].isdigit() or not 1 <= int(cells["guideline"]) <= newest:
        return f"guideline must be a version from 1 to {newest} (got {cells['guideline']!r})"
    return None
