"""Posts of the open2ch ranking corpus, addressed by (line, post); text read at run time only.

``dev.tsv`` holds one ranking item per line: column 0 is the ranking label,
columns 1.. are posts (the thread context, then one candidate reply), with
``" __BR__ "`` for a line break.  A key ``(line, post)`` is the 1-based line
number and the column index of the post (1 = first post after the label
column), the convention of ``tests/data/dev_labels.csv``.  The third-party
text is never copied into this repository: only keys are stored.

The same context post repeats on up to ten lines (one per candidate reply);
``distinct_posts`` keeps each distinct text once, under its first key, so a
post is labelled once and weights refer to distinct posts.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

from harness.errors import InputError
from harness.io import require_file

REPO = Path(__file__).resolve().parents[2]
DEFAULT_CORPUS = REPO.parent / "shared" / "corpora" / "open2ch-ranking-dev" / "dev.tsv"
BREAK = " __BR__ "


class Key(NamedTuple):
    """A post's address in ``dev.tsv``: 1-based line, column index of the post (≥ 1)."""

    line: int
    post: int


def read_corpus(path: str | Path = DEFAULT_CORPUS) -> list[list[str]]:
    """The columns of every line of ``path`` (index 0 = line 1); one clear error when it is absent."""
    path = require_file(path, "corpus (../shared/corpora/open2ch-ranking-dev/dev.tsv; pass --corpus)")
    text = path.read_text(encoding="utf-8")
    return [line.split("\t") for line in text.split("\n")]


def raw_post(lines: list[list[str]], key: Key, source: str | Path = "corpus") -> str:
    """The stored text of ``key`` (with ``__BR__`` markers); ``InputError`` when the key points nowhere."""
    if not 1 <= key.line <= len(lines) or not 1 <= key.post < len(lines[key.line - 1]):
        raise InputError(f"key line {key.line}, post {key.post} is not a post of the corpus", source)
    return lines[key.line - 1][key.post]


def post_text(lines: list[list[str]], key: Key, source: str | Path = "corpus") -> str:
    """The text of ``key`` as a detector sees it: ``__BR__`` turned back into line breaks."""
    return raw_post(lines, key, source).replace(BREAK, "\n").replace("__BR__", "\n")


def distinct_posts(lines: list[list[str]]) -> dict[Key, str]:
    """Each distinct non-blank post text once, under its first key, in file order."""
    first: dict[str, Key] = {}
    for number, cols in enumerate(lines, start=1):
        for column, text in enumerate(cols[1:], start=1):
            if text.strip() and text not in first:
                first[text] = Key(number, column)
    return {key: text for text, key in first.items()}
