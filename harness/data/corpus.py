"""Corpus readers: open2ch TSV, plain text, JSON Lines.

The open2ch files are streamed line by line and split on tabs: pandas fails on
their ragged rows and, with default quoting, silently strips quote characters
from posts (NOTES.md).  Newlines inside a post are written `` __BR__ ``.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from harness.config import CorpusConfig
from harness.errors import InputError
from harness.io import iter_jsonl_numbered

BR = "__BR__"


@dataclass(frozen=True)
class Document:
    """One training/audit unit and where it came from (1-based line)."""

    text: str
    line: int


def normalize_text(text: str) -> str:
    """NFKC plus whitespace tidy-up: the one normalisation every reader applies."""
    text = unicodedata.normalize("NFKC", text)
    return "\n".join(" ".join(part.split()) for part in text.split("\n")).strip()


def _split_post(post: str) -> str:
    return post.replace(f" {BR} ", "\n").replace(BR, "\n")


def detect_format(path: Path) -> str:
    """Guess a corpus format from the file name and its first lines."""
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson"):
        return "jsonl"
    if suffix != ".tsv":
        return "text"
    with path.open(encoding="utf-8", errors="replace") as fh:
        heads = [line.split("\t", 1)[0] for _, line in zip(range(200), fh) if line.strip()]
    # The ranking files start every row with a 0/1 label column.
    if heads and all(h in ("0", "1") for h in heads) and len(set(heads)) == 2:
        return "open2ch-ranking"
    return "open2ch"


def _iter_open2ch(path: Path, config: CorpusConfig, labelled: bool) -> Iterator[Document]:
    with path.open(encoding="utf-8") as fh:
        for lineno, raw in enumerate(fh, start=1):
            line = raw.rstrip("\n").rstrip("\r")
            if not line.strip():
                continue
            fields = line.split("\t")
            if labelled:
                if fields[0] not in ("0", "1"):
                    raise InputError(f"expected a 0/1 label column, got {fields[0][:20]!r}", path, lineno)
                if fields[0] == "0" and config.turns == "join":
                    # label 0: the last post is a random one, not a real reply,
                    # so the joined "dialogue" would be fake; keep real ones only.
                    continue
                fields = fields[1:]
            posts = [normalize_text(_split_post(f)) for f in fields]
            posts = [p for p in posts if p]
            if not posts:
                raise InputError("no post text on this line", path, lineno)
            if config.turns == "separate":
                for post in posts:
                    yield Document(post, lineno)
            else:
                # The reference notebook turned tabs and __BR__ into spaces.
                yield Document(" ".join(p.replace("\n", " ") for p in posts), lineno)


def _iter_text(path: Path) -> Iterator[Document]:
    with path.open(encoding="utf-8") as fh:
        for lineno, raw in enumerate(fh, start=1):
            text = normalize_text(raw)
            if text:
                yield Document(text, lineno)


def _iter_jsonl(path: Path, key: str) -> Iterator[Document]:
    for lineno, obj in iter_jsonl_numbered(path):
        if not isinstance(obj.get(key), str):
            raise InputError(f"expected an object with a string '{key}' field", path, lineno)
        text = normalize_text(obj[key])
        if text:
            yield Document(text, lineno)


def read_corpus(config: CorpusConfig) -> list[Document]:
    """Read, normalise and (optionally) de-duplicate a corpus.

    Raises ``InputError`` for a missing or empty file, bad encoding, or a
    malformed line (naming file and line).
    """
    path = Path(config.path)
    if not path.is_file():
        raise InputError("corpus file not found", path)
    fmt = detect_format(path) if config.format == "auto" else config.format
    if fmt in ("open2ch", "open2ch-ranking"):
        docs = _iter_open2ch(path, config, labelled=fmt == "open2ch-ranking")
    elif fmt == "jsonl":
        docs = _iter_jsonl(path, config.text_key)
    else:
        docs = _iter_text(path)
    out: list[Document] = []
    seen: set[str] = set()
    try:
        for doc in docs:
            if config.dedupe:
                if doc.text in seen:
                    continue
                seen.add(doc.text)
            out.append(doc)
            if config.max_docs and len(out) >= config.max_docs:
                break
    except UnicodeDecodeError as err:
        raise InputError(f"not UTF-8 text ({err.reason} at byte {err.start})", path) from None
    if not out:
        raise InputError(f"no documents found (format {fmt})", path)
    return out
