"""The out-of-domain development set written for this project: ``labels/ood-written.csv``.

About 400 short Japanese sentences in the style of general web comments
(news comments, SNS replies, reviews), written for this project, not forum
posts of ``../shared`` (docs/labelling.md, section 9).  Unlike the open2ch
labels, the text is the project's own and lives in the file.  Columns
(``OOD_COLUMNS``): ``id``, ``text``, ``intended`` (the kind the writer meant
the item to be, fixed when it was written), ``label`` and ``category`` (by
the guideline, section 1–3) and ``split``.

The split is a salted hash of the id alone (``ood_split``), fixed before any
item was labelled or measured: ``test`` (half) is measured once, at the end,
never while rules change.  Whole batches of ``HELD_OUT_BATCHES`` train no
detector in either split (``OodItem.part``): they measure how a detector
does on writers it has never seen.

    python -m harness.labels.ood split [FILE]   # fill the split column (step b)
    python -m harness.labels.ood check [FILE]   # one line: ok with counts, or the first problem
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
from pathlib import Path
from typing import NamedTuple, Sequence

from harness.errors import InputError
from harness.io import atomic_write_text
from harness.labels.labelfile import CATEGORIES, LABELS, SPLITS, read_table
from harness.labels.posts import REPO

OOD_FILE = REPO / "labels" / "ood-written.csv"
OOD_COLUMNS = ["id", "text", "intended", "label", "category", "split"]
OOD_SALT = "issue-16/ood-written/split-1"
TEST_FRACTION = 0.5
# Batches no detector trains on, whatever their split: writers no model has seen, measured whole
# (docs/labelling.md, section 9).  Batches 10, 11 and 13 (ids q…, p…, n…).
HELD_OUT_BATCHES = frozenset({"q", "p", "n"})
HELD_OUT = "held-out"  # the part of the file they make (``OodItem.part``)


class OodItem(NamedTuple):
    """One labelled item of the written set."""

    id: str
    text: str
    intended: str
    label: str
    category: str
    split: str

    @property
    def toxic(self) -> bool:
        """Gold toxic: ``label == toxic`` (profanity and clean are not)."""
        return self.label == "toxic"

    @property
    def part(self) -> str:
        """``held-out`` for an item of ``HELD_OUT_BATCHES``, else its split (``dev`` or ``test``)."""
        return HELD_OUT if batch_of(self.id) in HELD_OUT_BATCHES else self.split


def ood_split(item_id: str, salt: str = OOD_SALT) -> str:
    """``test`` or ``dev`` for an item id, by a salted hash of the id alone."""
    digest = hashlib.sha256(f"{salt}|{item_id}".encode()).digest()
    return "test" if int.from_bytes(digest[:8], "big") / 2**64 < TEST_FRACTION else "dev"


def batch_of(item_id: str) -> str:
    """The batch an item was written in: its id's letters (``w`` for ``w001``; one writer, one sitting)."""
    return item_id.rstrip("0123456789")


def _problem(cells: dict[str, str], partial: bool) -> str | None:
    """What is wrong with one row's cells, or None."""
    if not cells["id"] or not cells["text"] or not cells["intended"]:
        return "id, text and intended must be filled"
    if cells["split"] and cells["split"] != ood_split(cells["id"]):
        return f"split {cells['split']!r} is not the hash split of id {cells['id']!r} ({ood_split(cells['id'])})"
    if partial and not cells["label"] and not cells["category"]:
        return None
    if not cells["split"]:
        return "split is empty (run: python -m harness.labels.ood split)"
    if cells["label"] not in LABELS:
        return f"label {cells['label']!r} is not one of {', '.join(LABELS)}"
    if cells["label"] == "toxic" and cells["category"] not in CATEGORIES:
        return f"a toxic item needs a category, one of {', '.join(CATEGORIES)} (got {cells['category']!r})"
    if cells["label"] != "toxic" and cells["category"]:
        return f"category {cells['category']!r} is only for toxic items"
    return None


def read_ood(path: str | Path = OOD_FILE, partial: bool = False) -> list[OodItem]:
    """The items of ``path``; ``InputError`` naming the file and line of the first bad row or repeated id."""
    seen: set[str] = set()
    items = []
    for row in read_table(path, OOD_COLUMNS):
        problem = _problem(row.cells, partial)
        if problem is None and row.cells["id"] in seen:
            problem = f"id {row.cells['id']!r} repeats"
        if problem:
            raise InputError(problem, path, row.lineno)
        seen.add(row.cells["id"])
        items.append(OodItem(*(row.cells[c] for c in OOD_COLUMNS)))
    if not items:
        raise InputError("no items", path)
    return items


def write_ood(items: Sequence[OodItem], path: str | Path, header: str) -> None:
    """Write ``items`` under the ``#`` comment ``header`` (kept as it was)."""
    out = io.StringIO()
    out.write(header)
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(OOD_COLUMNS)
    writer.writerows(items)
    atomic_write_text(Path(path), out.getvalue())


def comment_header(path: str | Path) -> str:
    """The leading ``#`` lines of ``path``."""
    lines = Path(path).read_text(encoding="utf-8").splitlines(keepends=True)
    return "".join(line for line in lines[: next(i for i, x in enumerate(lines) if not x.startswith("#"))])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.labels.ood", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["split", "check"])
    parser.add_argument("file", nargs="?", type=Path, default=OOD_FILE)
    args = parser.parse_args(argv)
    try:
        items = read_ood(args.file, partial=True)
        if args.command == "split":
            items = [it._replace(split=ood_split(it.id)) for it in items]
            write_ood(items, args.file, comment_header(args.file))
        else:
            items = read_ood(args.file)
    except InputError as err:
        print(f"error: {err}")
        return 1
    counts = {s: sum(it.split == s for it in items) for s in SPLITS}
    labels = {lab: sum(it.label == lab for it in items) for lab in LABELS if any(it.label == lab for it in items)}
    print(f"ok: {len(items)} items, splits {counts}, labels {labels}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
