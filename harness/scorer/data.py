"""The training set: labelled keys of ``../shared`` posts, train split only, the blind split kept out.

Two label file layouts are read (told apart by their header):

* the merged file of ``harness.labels`` (``labels/open2ch-dev.csv``:
  line, post, split, stratum, weight, label, …): ``toxic`` is positive,
  ``profanity`` and ``clean`` negative, ``unreadable`` dropped; the row's
  ``weight`` (inverse selection probability of its stratum) is kept;
* the older ``tests/data/dev_labels.csv`` (line, post, split, label 0/1):
  weight 1;
* the written set ``labels/ood-written.csv`` (``harness.labels.ood``: id,
  text, …), whose text is in the file: weight 1, and each item's batch (its
  id's letter) is its cross-validation group, so that a fold's held-out
  items come from batches the fold's model never saw (a writer's phrasing
  does not leak across folds); its held-out batches
  (``harness.labels.ood.HELD_OUT_BATCHES``) count as blind, both halves.

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
from harness.labels.ood import HELD_OUT, OOD_COLUMNS, batch_of, read_ood
from harness.labels.posts import Key, post_text, read_corpus

LEGACY_COLUMNS = ["line", "post", "split", "label"]
TRAIN_SPLIT, BLIND_SPLIT = "dev", "test"
POSITIVE = "toxic"
NEGATIVE = ("profanity", "clean")


class Example(NamedTuple):
    """One training text: where it is (``ref``), its NFKC text, 1 = toxic, its weight, its label file, its
    cross-validation group (``""``: none, folds stratify by label) and its kind of text (``domain``: the corpus
    file's name for posts read from it, the label file's name for texts held in the label file)."""

    ref: str
    text: str
    label: int
    weight: float
    source: str
    group: str = ""
    domain: str = ""


class LabelRow(NamedTuple):
    """A row of any label layout: the corpus post (``key``) or the text itself, split, 0/1 label (None: not
    usable), weight and cross-validation group."""

    ref: str
    key: Key | None
    text: str | None
    split: str
    label: int | None
    weight: float
    group: str = ""


def _binary(label: str) -> int | None:
    return 1 if label == POSITIVE else 0 if label in NEGATIVE else None


def _keyed(key: Key, split: str, label: int | None, weight: float) -> LabelRow:
    return LabelRow(f"{key.line},{key.post}", key, None, split, label, weight)


def read_label_rows(path: Path) -> list[LabelRow]:
    """Every row of a label file of any layout (``InputError`` for another header)."""
    header = _header(path)
    if set(header) == set(MERGED_COLUMNS):
        return [_keyed(r.key, r.split, _binary(r.label), r.weight) for r in read_merged(path)]
    if set(header) == set(OOD_COLUMNS):
        return [
            LabelRow(it.id, None, it.text, BLIND_SPLIT if it.part == HELD_OUT else it.split, _binary(it.label), 1.0,
                     batch_of(it.id))
            for it in read_ood(path)
        ]
    rows = read_table(path, LEGACY_COLUMNS)
    out = []
    for row in rows:
        if row.cells["label"] not in ("0", "1"):
            raise InputError(f"label must be 0 or 1, got {row.cells['label']!r}", path, row.lineno)
        out.append(_keyed(parse_key(row, path), row.cells["split"], int(row.cells["label"]), 1.0))
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

    A key labelled in two files trains once (the first file wins).  The corpus is read only when a label
    file points into it.
    """
    labelled = [(Path(p), read_label_rows(Path(p))) for p in label_files]
    lines = read_corpus(corpus) if any(r.key for _, rows in labelled for r in rows) else []

    def text_of(row: LabelRow) -> str:
        return normalize(row.text if row.key is None else post_text(lines, row.key, corpus))

    blind_keys = {r.key for _, rows in labelled for r in rows if r.split == BLIND_SPLIT and r.key}
    blind_texts = {text_of(r) for _, rows in labelled for r in rows if r.split == BLIND_SPLIT}
    examples: list[Example] = []
    seen: set[Key] = set()
    texts: set[str] = set()
    dropped = 0
    for path, rows in labelled:
        for row in rows:
            if row.split != TRAIN_SPLIT or row.label is None or (row.key and row.key in seen):
                continue
            text = text_of(row)
            if (row.key and row.key in blind_keys) or text in blind_texts:
                dropped += 1
                continue
            if text in texts:  # the same text under two keys: once
                continue
            if row.key:
                seen.add(row.key)
            texts.add(text)
            domain = Path(corpus).name if row.key else path.name
            examples.append(Example(row.ref, text, row.label, row.weight, path.name, row.group, domain))
    return examples, dropped


def texts_sha256(examples: Sequence[Example]) -> str:
    """sha256 of the training texts in training order (each UTF-8, NUL-terminated)."""
    digest = hashlib.sha256()
    for ex in examples:
        digest.update(ex.text.encode("utf-8") + b"\0")
    return digest.hexdigest()
