"""The training set: labelled keys of ``../shared`` posts, train split only, the blind split kept out.

Two label file layouts are read (told apart by their header):

* the merged file of ``harness.labels`` (``labels/open2ch-dev.csv``:
  line, post, split, stratum, weight, label, …): ``toxic`` is positive,
  ``profanity`` and ``clean`` negative, ``unreadable`` dropped; the row's
  ``weight`` (inverse selection probability of its stratum) is kept;
* the older ``tests/data/dev_labels.csv`` (line, post, split, label 0/1):
  weight 1.

Only rows of split ``dev`` train.  Rows of split ``test`` of every file are
the blind split: their keys AND their texts are kept out, so a training row
whose text equals a blind post's (the same post quoted on another line) is
dropped as well.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import NamedTuple, Sequence

from harness.analysis.tokenize import normalize
from harness.errors import InputError
from harness.labels.labelfile import MERGED_COLUMNS, parse_key, read_table
from harness.labels.merge import read_merged
from harness.labels.posts import Key, post_text, read_corpus

LEGACY_COLUMNS = ["line", "post", "split", "label"]
TRAIN_SPLIT, BLIND_SPLIT = "dev", "test"
POSITIVE = "toxic"
NEGATIVE = ("profanity", "clean")


class Example(NamedTuple):
    """One training post: where it is, its NFKC text, 1 = toxic, its weight, and its label file."""

    key: Key
    text: str
    label: int
    weight: float
    source: str


class LabelRow(NamedTuple):
    """A row of either label layout: key, split, 0/1 label (None: not usable), weight."""

    key: Key
    split: str
    label: int | None
    weight: float


def read_label_rows(path: Path) -> list[LabelRow]:
    """Every row of a label file of either layout (``InputError`` for another header)."""
    header = _header(path)
    if set(header) == set(MERGED_COLUMNS):
        return [
            LabelRow(r.key, r.split, 1 if r.label == POSITIVE else 0 if r.label in NEGATIVE else None, r.weight)
            for r in read_merged(path)
        ]
    rows = read_table(path, LEGACY_COLUMNS)
    out = []
    for row in rows:
        if row.cells["label"] not in ("0", "1"):
            raise InputError(f"label must be 0 or 1, got {row.cells['label']!r}", path, row.lineno)
        out.append(LabelRow(parse_key(row, path), row.cells["split"], int(row.cells["label"]), 1.0))
    return out


def _header(path: Path) -> list[str]:
    if not Path(path).is_file():
        raise InputError("label file not found", path)
    for line in Path(path).read_text(encoding="utf-8-sig").split("\n"):
        if line.strip() and not line.lstrip().startswith("#"):
            return [c.strip() for c in line.split(",")]
    raise InputError("no header row", path)


def training_set(label_files: Sequence[Path], corpus: Path) -> tuple[list[Example], int]:
    """The training examples of ``label_files`` (texts from ``corpus``) and how many rows the blind rule dropped.

    A key labelled in two files trains once (the first file wins).
    """
    lines = read_corpus(corpus)
    labelled = [(Path(p), read_label_rows(Path(p))) for p in label_files]
    blind_keys = {r.key for _, rows in labelled for r in rows if r.split == BLIND_SPLIT}
    blind_texts = {normalize(post_text(lines, k, corpus)) for k in blind_keys}
    examples: list[Example] = []
    seen: set[Key] = set()
    texts: set[str] = set()
    dropped = 0
    for path, rows in labelled:
        for row in rows:
            if row.split != TRAIN_SPLIT or row.label is None or row.key in seen:
                continue
            text = normalize(post_text(lines, row.key, corpus))
            if row.key in blind_keys or text in blind_texts:
                dropped += 1
                continue
            if text in texts:  # the same post under two keys: once
                continue
            seen.add(row.key)
            texts.add(text)
            examples.append(Example(row.key, text, row.label, row.weight, path.name))
    return examples, dropped


def texts_sha256(examples: Sequence[Example]) -> str:
    """sha256 of the training texts in training order (each UTF-8, NUL-terminated)."""
    digest = hashlib.sha256()
    for ex in examples:
        digest.update(ex.text.encode("utf-8") + b"\0")
    return digest.hexdigest()
