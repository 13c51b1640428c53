"""Corpus readers: open2ch TSV, plain text, JSON Lines, CSV (a named text column), chat JSON Lines.

The open2ch files are streamed line by line and split on tabs: pandas fails on
their ragged rows and, with default quoting, silently strips quote characters
from posts (NOTES.md).  Newlines inside a post are written `` __BR__ ``.

``iter_corpus`` streams documents: memory does not grow with the corpus
except for the de-duplication digests (8 bytes a document).  ``read_corpus``
is the list of the same documents, for callers that need them all (training).
``check_corpus`` decode-checks a whole file cheaply before any work.

A ``chat-jsonl`` corpus holds one conversation a line (``{"messages": [{role,
content}, ...]}``).  Its ``Document`` keeps the messages for fine-tuning
(rendered through the tokenizer's chat template, harness.train.chat) and its
``text`` is the assistant turns joined by newlines: what the model is tuned to
say, so that is what the corpus audit, the corpus statistics, the held-out
split and the memorization probes read.  De-duplication compares whole
conversations.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import json
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from harness.config import CorpusConfig
from harness.errors import InputError
from harness.io import iter_jsonl_numbered, remember_sha256, require_file

BR = "__BR__"
CHAT_ROLES = ("system", "user", "assistant")
# check_corpus reads at most this many bytes of a line at a time, so a file
# with one enormous line is still checked in bounded memory.
CHECK_PIECE_BYTES = 1 << 20


@dataclass(frozen=True)
class Document:
    """One training/audit unit and where it came from (1-based line)."""

    text: str
    line: int
    # open2ch dialogues read with turns="join": the posts, for a turn separator (FinetuneConfig.turn_separator)
    turns: tuple[str, ...] | None = None
    # chat-jsonl: the conversation as (role, content) pairs; ``text`` is then its assistant turns
    messages: tuple[tuple[str, str], ...] | None = None

    @property
    def key(self) -> str:
        """What de-duplication compares: the text, or for a conversation every message (roles included)."""
        if self.messages is None:
            return self.text
        return json.dumps(self.messages, ensure_ascii=False)


class NulCounter:
    """Strips NUL characters from raw corpus text and counts them (the audit's note reports the count).

    A NUL is never text: editors and MeCab treat it as an end of string, so
    it is dropped before normalisation instead of being counted as a character.
    """

    def __init__(self) -> None:
        self.count = 0

    def clean(self, raw: str) -> str:
        """``raw`` without NULs, normalised (``normalize_text``)."""
        nuls = raw.count("\x00")
        if nuls:
            self.count += nuls
            raw = raw.replace("\x00", "")
        return normalize_text(raw)


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
        return "chat-jsonl" if _first_object_has_messages(path) else "jsonl"
    if suffix == ".csv":
        return "csv"
    if suffix != ".tsv":
        return "text"
    with path.open(encoding="utf-8-sig", errors="replace") as fh:
        heads = [line.split("\t", 1)[0] for _, line in zip(range(200), fh) if line.strip()]
    # The ranking files start every row with a 0/1 label column.
    if heads and all(h in ("0", "1") for h in heads) and len(set(heads)) == 2:
        return "open2ch-ranking"
    return "open2ch"


def _first_object_has_messages(path: Path) -> bool:
    """True when the first non-blank line is a JSON object with a ``messages`` list (a chat corpus)."""
    with path.open(encoding="utf-8-sig", errors="replace") as fh:
        for line in fh:
            if line.strip():
                try:
                    obj = json.loads(line)
                except ValueError:
                    return False  # reading it as jsonl names the bad line
                return isinstance(obj, dict) and isinstance(obj.get("messages"), list)
    return False


def corpus_format(config: CorpusConfig) -> str:
    """The format the corpus is read as: ``config.format``, or the detected one for ``auto``."""
    return detect_format(corpus_file(config)) if config.format == "auto" else config.format


def _open_text(path: Path):
    # newline="\n": lines end at \n only (a stray \r is whitespace inside a
    # line), so line numbers agree with check_corpus, sed -n and wc -l.
    # utf-8-sig: a byte-order mark (Windows editors write one) is not a character of the first document.
    return path.open(encoding="utf-8-sig", newline="\n")


def _iter_open2ch(path: Path, config: CorpusConfig, labelled: bool, nul: NulCounter) -> Iterator[Document]:
    with _open_text(path) as fh:
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
            posts = [nul.clean(_split_post(f)) for f in fields]
            posts = [p for p in posts if p]
            if not posts:
                raise InputError("no post text on this line", path, lineno)
            if config.turns == "separate":
                for post in posts:
                    yield Document(post, lineno)
            else:
                # The reference notebook turned tabs and __BR__ into spaces.
                flat = tuple(p.replace("\n", " ") for p in posts)
                yield Document(" ".join(flat), lineno, turns=flat)


def _iter_text(path: Path, nul: NulCounter) -> Iterator[Document]:
    with _open_text(path) as fh:
        for lineno, raw in enumerate(fh, start=1):
            text = nul.clean(raw)
            if text:
                yield Document(text, lineno)


def _iter_jsonl(path: Path, key: str, nul: NulCounter) -> Iterator[Document]:
    for lineno, obj in iter_jsonl_numbered(path):
        if not isinstance(obj.get(key), str):
            raise InputError(f"expected an object with a string '{key}' field", path, lineno)
        text = nul.clean(obj[key])
        if text:
            yield Document(text, lineno)


def _iter_chat_jsonl(path: Path, nul: NulCounter) -> Iterator[Document]:
    for lineno, obj in iter_jsonl_numbered(path):
        yield chat_document(obj, path, lineno, nul)


def chat_document(obj: dict, path: Path, lineno: int, nul: NulCounter) -> Document:
    """One conversation line → a ``Document`` (text = the assistant turns); bad input names file and line.

    Refused: no ``messages`` list, an empty one, a message that is not
    ``{role, content}`` with string content, a role other than system, user or
    assistant, empty content, and a conversation without an assistant turn
    (nothing to tune on, nothing to audit).
    """
    messages = obj.get("messages")
    if not isinstance(messages, list):
        raise InputError("expected an object with a 'messages' list (corpus.format chat-jsonl)", path, lineno)
    if not messages:
        raise InputError("empty 'messages' list", path, lineno)
    turns = []
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or not isinstance(message.get("content"), str) or "role" not in message:
            raise InputError(f"messages[{i}]: expected an object with 'role' and a string 'content'", path, lineno)
        role = message["role"]
        if role not in CHAT_ROLES:
            raise InputError(f"messages[{i}]: unknown role {role!r} (expected {', '.join(CHAT_ROLES)})", path, lineno)
        content = nul.clean(message["content"])
        if not content:
            raise InputError(f"messages[{i}]: empty content", path, lineno)
        turns.append((role, content))
    replies = [content for role, content in turns if role == "assistant"]
    if not replies:
        raise InputError("no assistant turn in this conversation", path, lineno)
    return Document("\n".join(replies), lineno, messages=tuple(turns))


def _iter_csv(path: Path, key: str, nul: NulCounter) -> Iterator[Document]:
    """Rows of a CSV file with a header; ``key`` names the text column (``text_key``).

    ``line`` is the file line where the row starts (a quoted cell may span lines).
    """
    # a cell may hold a whole document: lift the csv module's 128 KB cell limit
    csv.field_size_limit(max(csv.field_size_limit(), 1 << 30))
    with path.open(encoding="utf-8-sig", newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader, None)
        if header is None:
            return
        if key not in header:
            raise InputError(
                f"no column '{key}' in the CSV header (columns: {', '.join(header)}); set text_key", path, 1
            )
        column = header.index(key)
        start = reader.line_num + 1
        while True:
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as err:
                raise InputError(f"malformed CSV ({err})", path, start) from None
            if len(row) <= column:
                if row:
                    raise InputError(f"row has {len(row)} cells, no '{key}' cell", path, start)
                start = reader.line_num + 1
                continue
            text = nul.clean(row[column])
            if text:
                yield Document(text, start)
            start = reader.line_num + 1


class DigestSet:
    """The texts seen so far, kept as 8-byte blake2b digests: ``add`` says whether a text is new.

    Two texts share a digest with probability ~n²/2^65 over n texts (the
    birthday bound): ~1e-7 for 2.1M forum posts, ~3e-2 for a billion
    documents; a collision drops one document from the corpus, nothing worse.

    A Python set of the digests as ints would cost ~70 bytes a document (a
    32-byte int object plus its hash-table slot: ~150 MB for 2.1M posts), so
    the digests live in a sorted numpy uint64 array (8 bytes each) looked up
    by binary search; new ones wait in a small set and are merged into the
    array every ``FLUSH`` additions (a linear merge: the array is copied once
    per merge, 32 merges for 2.1M documents).
    """

    FLUSH = 65_536

    def __init__(self) -> None:
        self._sorted = np.empty(0, dtype=np.uint64)
        self._recent: set[int] = set()

    def __len__(self) -> int:
        return self._sorted.size + len(self._recent)

    def add(self, text: str) -> bool:
        """Record ``text``; True when it was not seen before."""
        key = int.from_bytes(hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8).digest(), "little")
        if key in self._recent:
            return False
        if self._sorted.size:
            digest = np.uint64(key)
            i = int(self._sorted.searchsorted(digest))
            if i < self._sorted.size and self._sorted[i] == digest:
                return False
        self._recent.add(key)
        if len(self._recent) >= self.FLUSH:
            self._merge()
        return True

    def _merge(self) -> None:
        recent = np.fromiter(self._recent, dtype=np.uint64, count=len(self._recent))
        recent.sort()
        self._sorted = np.insert(self._sorted, self._sorted.searchsorted(recent), recent)
        self._recent = set()


def corpus_file(config: CorpusConfig) -> Path:
    """The corpus's path; a folder or a missing file raises ``InputError``."""
    return require_file(config.path, "corpus file")


def check_corpus(config: CorpusConfig) -> None:
    """Fail fast, before any training: the corpus must be a file of UTF-8 text.

    Streams the whole file in pieces of at most ``CHECK_PIECE_BYTES`` (bounded
    memory whatever its line lengths) and raises the one-line ``InputError``
    that reading it would raise, naming file, line and column.  Only the
    encoding is checked: a malformed line is reported when the corpus is read.
    """
    path = corpus_file(config)
    decoder = codecs.getincrementaldecoder("utf-8")()
    digest = hashlib.sha256()  # the run record and the token cache key reuse it (harness.io.sha256_file)
    line, column = 1, 0  # column: characters of the current line before this piece
    with path.open("rb") as fh:
        while piece := fh.readline(CHECK_PIECE_BYTES):
            digest.update(piece)
            ends_line = piece.endswith(b"\n")
            try:
                text = decoder.decode(piece, final=ends_line)
            except UnicodeDecodeError as err:
                raise _decode_error(err, path, line, column) from None
            line, column = (line + 1, 0) if ends_line else (line, column + len(text))
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError as err:  # the file ends inside a character
            raise _decode_error(err, path, line, column) from None
    remember_sha256(path, digest.hexdigest())


def _decode_error(err: UnicodeDecodeError, path: Path, line: int, column: int) -> InputError:
    # err.object holds the bytes the decoder was given (with any bytes it kept
    # from the previous piece); all before err.start decoded cleanly.
    before = len(err.object[: err.start].decode("utf-8"))
    bad = " ".join(f"0x{b:02x}" for b in err.object[err.start : err.end])
    return InputError(f"not UTF-8 text ({err.reason} {bad} at column {column + before + 1})", path, line)


class CorpusStream:
    """An iterator over a corpus's documents that also counts what reading it removed.

    ``nul_chars``: NUL characters stripped so far (complete once the stream is exhausted).
    """

    def __init__(self, path: Path, config: CorpusConfig, fmt: str) -> None:
        self.nul = NulCounter()
        self._docs = _stream(path, config, fmt, self.nul)

    @property
    def nul_chars(self) -> int:
        """NUL characters stripped from the documents read so far."""
        return self.nul.count

    def __iter__(self) -> "CorpusStream":
        return self

    def __next__(self) -> Document:
        return next(self._docs)


def iter_corpus(config: CorpusConfig) -> CorpusStream:
    """Stream the corpus's documents: read, normalised and (optionally) de-duplicated.

    The path and format are checked now; the documents come one at a time.
    A leading byte-order mark is dropped and NUL characters are stripped
    (counted in ``CorpusStream.nul_chars``).  ``InputError`` for a folder, a
    FIFO or device, a missing or empty file, bad encoding (naming file, line
    and column) or a malformed line (naming file and line).
    """
    path = corpus_file(config)
    return CorpusStream(path, config, corpus_format(config))


def _stream(path: Path, config: CorpusConfig, fmt: str, nul: NulCounter) -> Iterator[Document]:
    if fmt in ("open2ch", "open2ch-ranking"):
        docs = _iter_open2ch(path, config, fmt == "open2ch-ranking", nul)
    elif fmt == "jsonl":
        docs = _iter_jsonl(path, config.text_key, nul)
    elif fmt == "chat-jsonl":
        docs = _iter_chat_jsonl(path, nul)
    elif fmt == "csv":
        docs = _iter_csv(path, config.text_key, nul)
    else:
        docs = _iter_text(path, nul)
    seen = DigestSet() if config.dedupe else None
    count = 0
    try:
        for doc in docs:
            if seen is not None and not seen.add(doc.key):
                continue
            yield doc
            count += 1
            if config.max_docs and count >= config.max_docs:
                return
    except UnicodeDecodeError:
        # The text decoder reads ahead in blocks, so its error knows neither
        # line nor column: the streaming check finds both.
        check_corpus(config)
        raise InputError("not UTF-8 text", path) from None
    if not count:
        raise InputError(f"no documents found (format {fmt})", path)


def read_corpus(config: CorpusConfig) -> list[Document]:
    """Every document of ``iter_corpus`` in a list (training needs them all at once)."""
    return list(iter_corpus(config))
