"""Japanese tokenization: NFKC normalisation and fugashi (MeCab) + unidic-lite.

Every measure in the harness is computed on the NFKC-normalised text, and every
character offset (flag spans, laughter context) points into that normalised
text.  One ``JapaneseTokenizer`` holds one MeCab tagger: start-up costs ~0.2 s,
so build it once per analysis and pass it around.  ``tokenize_many`` gives the
tokens of many texts as one ``TokenBatch`` (one MeCab call per text, the
Python work after it done once for the batch); ``tokenize`` is a batch of one.

fugashi and unidic-lite are imported lazily so that importing this module (and
everything above it) works without them; constructing the tokenizer raises
``MissingDependency`` naming the pip command instead.

Long texts: MeCab builds a lattice over its whole input (~2 KB per character:
200,000 characters cost ~430 MB, a 3 MB line crashed the process), so texts
longer than ``CHUNK_CHARS`` are tokenized in chunks cut at sentence
boundaries, and texts longer than ``MAX_CHARS`` are cut to that length first
(``clip``; the corpus audit counts how many).
"""

from __future__ import annotations

import csv
import os
import re
import sys
from importlib import metadata
from itertools import accumulate, chain, repeat
from operator import add, getitem, itemgetter, sub
from typing import Any, Iterable, Iterator, NamedTuple, Sequence

from harness.errors import HarnessError, MissingDependency
from harness.text import normalize

__all__ = [
    "BATCH",
    "CHUNK_CHARS",
    "DICTIONARY_NAME",
    "MAX_CHARS",
    "JapaneseTokenizer",
    "Token",
    "TokenBatch",
    "TokenColumns",
    "Tokens",
    "normalize",
    "split_points",
    "token_columns",
]

DICTIONARY_NAME = "unidic-lite"

# MeCab's lattice for a 20,000-character chunk is ~40 MB and a chunk takes
# ~0.1 s; forum posts (~22 characters) never reach it, so their tokens are
# exactly what one MeCab call gives.
CHUNK_CHARS = 20_000
# Beyond this a text is cut before analysis: its tokens alone (~0.6 per
# character, ~200 bytes each with their strings) would cost ~120 MB per
# million characters, and no generation or forum post comes near it.
MAX_CHARS = 1_000_000
# Where a chunk may end: after a sentence end (with its closing brackets),
# else after whitespace.  Not '.': it sits inside URLs and numbers.
_SENTENCE_ENDS = re.compile(r"[。!?！？\n]+[」』)）]*")
_SPACES = re.compile(r"\s")

# unidic writes '*' for "no value"; unknown words get no lemma/orthBase at all.
_EMPTY = ("", "*", None)
_KANA = 17  # unidic's kana field
# Texts per ``TokenBatch`` where the harness scores many (the suite, the audit,
# each worker task): enough to amortise the per-call work and the pipe, few
# enough to keep cores busy and a batch's columns small.
BATCH = 256
# Parsed MeCab lines kept per tokenizer (~300 bytes each): a large corpus's
# common words; rarer ones are parsed again each time they occur.
LINE_CACHE = 100_000


class Token(NamedTuple):
    """One MeCab token of a normalised text.

    ``start``/``end`` are character offsets into the normalised text, so
    ``text[start:end] == surface``.  ``lemma`` and ``orth_base`` fall back to
    the surface for unknown words (unidic gives them none).  ``l_form`` is
    unidic's lemma reading (語彙素読み, '' for unknown words): together with
    ``lemma`` it identifies a lexeme.  まとも (decent) and 正面 (front) share
    the lemma 正面 but not the reading (マトモ vs ショウメン).

    A named tuple, so that a text's tokens are built and taken apart
    (``zip(*tokens)``, see ``token_columns``) by C loops, not per-token Python.
    """

    surface: str
    lemma: str
    orth_base: str
    pos1: str
    pos2: str
    c_form: str
    start: int
    end: int
    l_form: str = ""

    @property
    def lemma_key(self) -> tuple[str, str]:
        """``(lemma, l_form)``: the key lexicon lemma matching compares."""
        return (self.lemma, self.l_form)


class TokenColumns(NamedTuple):
    """A text's tokens field by field (``token_columns``): what the analysers scan."""

    surface: tuple[str, ...]
    lemma: tuple[str, ...]
    orth_base: tuple[str, ...]
    pos1: tuple[str, ...]
    pos2: tuple[str, ...]
    c_form: tuple[str, ...]
    start: tuple[int, ...]
    end: tuple[int, ...]
    l_form: tuple[str, ...]


_NO_COLUMNS = TokenColumns((), (), (), (), (), (), (), (), ())


class Tokens(Sequence[Token]):
    """A text's tokens, as ``JapaneseTokenizer.tokenize`` returns them: a read-only sequence of ``Token``.

    They are kept as ``columns`` (one tuple per field), which is what the
    analysers scan; ``Token`` objects are built, all at once, only when the
    sequence is first indexed or iterated.  Equal to a list of the same tokens.
    Tokens of a ``TokenBatch`` are rows ``lo:hi`` of the batch's columns, sliced
    out only when ``columns`` is first read.
    """

    __slots__ = ("_list", "_columns", "_rows", "_lo", "_hi")

    def __init__(
        self, columns: TokenColumns | None, rows: TokenColumns | None = None, lo: int = 0, hi: int = 0
    ) -> None:
        self._columns = columns
        self._rows, self._lo, self._hi = rows, lo, hi
        self._list: list[Token] | None = None

    @property
    def columns(self) -> TokenColumns:
        """The tokens field by field (``TokenColumns``)."""
        if self._columns is None:
            self._columns = TokenColumns._make(map(getitem, self._rows, repeat(slice(self._lo, self._hi))))
        return self._columns

    def _tokens(self) -> list[Token]:
        if self._list is None:
            self._list = list(map(tuple.__new__, repeat(Token), zip(*self.columns)))
        return self._list

    def __len__(self) -> int:
        return self._hi - self._lo if self._columns is None else len(self._columns.surface)

    def __getitem__(self, index):  # type: ignore[override]
        return self._tokens()[index]

    def __iter__(self) -> Iterator[Token]:
        return iter(self._tokens())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Tokens):
            return self.columns == other.columns
        if isinstance(other, (list, tuple)):
            return self._tokens() == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Tokens({self._tokens()!r})"


class TokenBatch:
    """The tokens of many texts as one set of columns (``JapaneseTokenizer.tokenize_many``).

    ``texts`` are the normalised, clipped texts; text ``i``'s tokens are rows
    ``bounds[i]:bounds[i + 1]`` of ``columns`` (offsets into that text).
    Analysers scan the columns of the whole batch at once (``owners`` names
    each row's text) and look at single texts only where something may be.
    """

    __slots__ = ("texts", "columns", "bounds", "_owners", "_tokens")

    def __init__(self, texts: list[str], columns: TokenColumns, bounds: list[int]) -> None:
        self.texts = texts
        self.columns = columns
        self.bounds = bounds
        self._owners: list[int] | None = None
        self._tokens: list[Tokens] | None = None

    @classmethod
    def of(cls, texts: Sequence[str], token_lists: Sequence[Sequence[Token]]) -> TokenBatch:
        """A batch of texts tokenized elsewhere (each text's tokens: a ``Tokens`` or a list of ``Token``)."""
        parts = [token_columns(t) for t in token_lists]
        columns = TokenColumns(*map(_concat, *parts)) if parts else _NO_COLUMNS
        return cls(list(texts), columns, [0, *accumulate(len(p.surface) for p in parts)])

    def __len__(self) -> int:
        return len(self.texts)

    @property
    def owners(self) -> list[int]:
        """Per row of ``columns``: the index of its text."""
        if self._owners is None:
            counts = map(sub, self.bounds[1:], self.bounds)
            self._owners = list(chain.from_iterable(map(repeat, range(len(self.texts)), counts)))
        return self._owners

    def tokens(self) -> list[Tokens]:
        """Each text's ``Tokens`` (views on the batch, sliced when first read)."""
        if self._tokens is None:
            b, rows = self.bounds, self.columns
            self._tokens = list(map(Tokens, repeat(None), repeat(rows), b, b[1:]))
        return self._tokens

    def texts_of(self, rows: Iterable[int]) -> list[int]:
        """The texts (sorted, once each) that hold ``rows``."""
        owners = self.owners
        return sorted(set(map(owners.__getitem__, rows)))


def token_columns(tokens: Sequence[Token] | TokenBatch) -> TokenColumns:
    """``tokens`` field by field (empty tuples for no tokens); free for ``Tokens`` and ``TokenBatch``."""
    if isinstance(tokens, (Tokens, TokenBatch)):
        return tokens.columns
    return TokenColumns(*zip(*tokens)) if tokens else _NO_COLUMNS


# What MeCab prints per token: surface, its length in bytes, its length with
# the whitespace skipped before it (so the difference is that whitespace:
# MeCab skips only \t \n \v and space, one byte each), and the raw feature.
# Emitting chosen fields (%f[7] …) would cost MeCab a CSV split per token,
# more than the whole token walk; a line is instead looked up in a cache of
# parsed lines (``_LineCache``), which misses on a text's new words only.
_NODE_FORMAT = r"%m\t%pl\t%pL\t%H\n"
_MECAB_SPACE = " \t\n\v"  # what MeCab skips between tokens


class _LineCache:
    """MeCab output line → the token's fields; bounded (``limit`` lines), first come first kept.

    A known line is a number, its row in ``table`` (one list per field):
    a batch's lines become numbers in one C loop, and each field column is
    then gathered by number (9 C loops), not transposed from per-token tuples.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.lines: dict[str, int] = {}
        # (surface, lemma, orth_base, pos1, pos2, c_form, l_form, rlength, length) per row
        self.table: tuple[list, ...] = tuple([] for _ in range(9))

    def columns(self, lines: list[str]) -> list[tuple]:
        """Per field, its column over ``lines``.

        Fields: ``(surface, lemma, orth_base, pos1, pos2, c_form, l_form, rlength, length)``.

        ``length`` is the surface's length in characters, ``rlength`` that
        plus the whitespace before it.
        """
        known = self.lines
        rows = list(map(known.get, lines))
        if None in rows:
            rows = [self._parse(line) if r is None else r for r, line in zip(rows, lines)]
        try:
            if len(rows) == 1:
                return [(field[rows[0]],) for field in self.table]
            take = itemgetter(*rows)  # one C loop per field
            return list(map(take, self.table))
        finally:
            if len(self.table[0]) > len(known):  # rows of lines past the bound serve this batch only
                for field in self.table:
                    del field[len(known) :]

    def _parse(self, line: str) -> int:
        row = self.lines.get(line)
        if row is not None:  # met earlier in this batch
            return row
        surface, length, rlength, raw = line.split("\t", 3)
        # as fugashi reads a feature: CSV only when a field is quoted; unknown words have 6 fields
        feature = next(csv.reader([raw])) if '"' in raw else raw.split(",")
        feature += [None] * (11 - len(feature))
        lemma, orth_base, l_form = feature[7], feature[10], feature[6]
        fields = [
            sys.intern(f)
            for f in (
                surface,
                surface if lemma in _EMPTY else lemma,
                surface if orth_base in _EMPTY else orth_base,
                feature[0] or "*",
                feature[1] or "*",
                feature[5] or "*",
                "" if l_form in _EMPTY else l_form,
            )
        ]
        # the whitespace MeCab skipped before the token is rlength − length bytes, one character each
        row = len(self.table[0])
        for field, value in zip(self.table, (*fields, len(surface) + int(rlength) - int(length), len(surface))):
            field.append(value)
        if len(self.lines) < self.limit:
            self.lines[line] = row
        return row


class JapaneseTokenizer:
    """fugashi + unidic-lite tokenizer returning ``Token`` lists with offsets.

    ``chunk_chars``: texts longer than this are tokenized chunk by chunk (see
    ``split_points``); ``max_chars``: texts longer than this are cut to it
    (``clip``) before tokenization.  None takes the module's ``CHUNK_CHARS``
    and ``MAX_CHARS`` as they are when the tokenizer is built.
    """

    def __init__(self, chunk_chars: int | None = None, max_chars: int | None = None) -> None:
        self.chunk_chars = CHUNK_CHARS if chunk_chars is None else chunk_chars
        self.max_chars = MAX_CHARS if max_chars is None else max_chars
        if self.chunk_chars < 2 or self.max_chars < 1:
            raise ValueError(f"chunk_chars must be >= 2 and max_chars >= 1, got {self.chunk_chars}, {self.max_chars}")
        try:
            import fugashi
            import unidic_lite
        except ImportError:
            raise MissingDependency("fugashi unidic-lite", "Japanese tokenization") from None
        dicdir = unidic_lite.DICDIR
        rcfile = os.path.join(dicdir, "mecabrc")
        # Name the dictionary explicitly: a bare Tagger() prefers the full
        # 'unidic' package when it is installed, and results depend on it.
        # -O '' drops unidic's own output format so that ours applies.
        formats = " ".join(f"--{kind}-format='{_NODE_FORMAT}'" for kind in ("node", "unk"))
        try:
            self._tagger = fugashi.GenericTagger(
                f'-d "{dicdir}" -r "{rcfile}" -O "" {formats} --bos-format= --eos-format='
            )
        except RuntimeError as err:
            raise HarnessError(f"cannot start MeCab with unidic-lite at {dicdir}: {err}") from None
        self._lines = _LineCache(LINE_CACHE)

    def clip(self, text: str) -> str:
        """``text`` cut to ``max_chars`` characters (unchanged when shorter)."""
        return text if len(text) <= self.max_chars else text[: self.max_chars]

    def tokenize(self, text: str) -> Tokens:
        """Normalise ``text`` (NFKC), clip it to ``max_chars``; its tokens with character offsets.

        Offsets index the normalised, clipped text however many chunks it took.
        """
        return self.tokenize_many([text]).tokens()[0]

    def tokenize_many(self, texts: Iterable[str]) -> TokenBatch:
        """``tokenize`` for many texts at once: each text's tokens exactly as ``tokenize`` gives them.

        One MeCab call per text (per chunk of a long one), as always: MeCab's
        best path depends on the whole input, so texts are never joined into
        one call.  What is batched is the Python work after it: the output
        of every call is split, looked up and turned into columns by C loops
        over the whole batch, and the offsets are proven for all at once.
        """
        texts = [self.clip(t) for t in map(normalize, texts)]
        pieces, starts, firsts, fix = self._pieces(texts)
        outs = list(map(self._tagger.parse, pieces))  # fugashi drops each output's last newline
        counts = [out.count("\n") + 1 if out else 0 for out in outs]
        if not any(counts):
            return TokenBatch(texts, _NO_COLUMNS, [0] * (len(texts) + 1))
        lines = "\n".join(filter(None, outs)).split("\n")
        surface, lemma, orth_base, pos1, pos2, c_form, l_form, rlength, length = self._lines.columns(lines)
        edges = [0, *accumulate(counts)]  # piece p's rows: edges[p]:edges[p + 1]
        reach = [0, *accumulate(rlength)]  # characters before each row, over the whole batch
        before = list(map(reach.__getitem__, edges))
        _check_offsets(pieces, counts, list(map(sub, before[1:], before)))
        # a row's end: characters up to it in the batch, less those before its piece, plus the piece's start
        shift = chain.from_iterable(map(repeat, map(sub, starts, before), counts))
        ends = tuple(map(add, reach[1:], shift))
        begins = tuple(map(sub, ends, length))
        bounds = edges if fix is None else list(map(edges.__getitem__, firsts))
        if fix:
            # a '?' that stands for a lone surrogate: the surface is the text's own character
            surface = list(surface)
            for i in fix:
                lo, hi = bounds[i], bounds[i + 1]
                surface[lo:hi] = map(texts[i].__getitem__, map(slice, begins[lo:hi], ends[lo:hi]))
            surface = tuple(surface)
        columns = TokenColumns(surface, lemma, orth_base, pos1, pos2, c_form, begins, ends, l_form)
        return TokenBatch(texts, columns, bounds)

    def _pieces(self, texts: list[str]) -> tuple[list[str], list[int], list[int], list[int] | None]:
        """What MeCab reads: ``(pieces, each one's start in its text, each text's first piece, texts to fix)``.

        A piece is a text, or a chunk of a text longer than ``chunk_chars``
        (``split_points``).  MeCab reads a C string: a NUL would silently end
        the text, so it becomes a space (same length, never a surface).  Lone
        surrogates cannot be encoded to UTF-8 at all; 'replace' swaps each for
        one '?', again keeping the length, and the text is listed to have its
        surfaces taken from the text itself.  The usual batch (short texts,
        neither) is its texts as they are: ``firsts`` and ``fix`` are then None.
        """
        joined = "".join(texts)
        try:
            joined.encode("utf-8")
            encodable = True
        except UnicodeEncodeError:
            encodable = False
        if encodable and "\x00" not in joined and max(map(len, texts), default=0) <= self.chunk_chars:
            return texts, [0] * len(texts), [], None
        pieces: list[str] = []
        starts: list[int] = []
        firsts = [0]
        fix: list[int] = []
        for i, text in enumerate(texts):
            tagged = text.replace("\x00", " ")
            try:
                tagged.encode("utf-8")
            except UnicodeEncodeError:
                tagged = tagged.encode("utf-8", "replace").decode("utf-8")
                fix.append(i)
            ends = split_points(tagged, self.chunk_chars) if len(tagged) > self.chunk_chars else [len(tagged)]
            for start, stop in zip([0, *ends], ends):
                pieces.append(tagged if stop - start == len(tagged) else tagged[start:stop])
                starts.append(start)
            firsts.append(len(pieces))
        return pieces, starts, firsts, fix

    def reading(self, text: str) -> str | None:
        """The katakana reading of a short text (unidic ``kana`` per token), None if a token has none.

        Used at lexicon load time only (variant generation), never on the hot path.
        """
        parts = []
        for node in self._tagger(normalize(text)):
            feature = node.feature  # a plain tuple (GenericTagger); unknown words have 6 fields
            kana = feature[_KANA] if len(feature) > _KANA else None
            if kana in _EMPTY:
                return None
            parts.append(kana)
        return "".join(parts) or None

    def dictionary_info(self) -> dict[str, Any]:
        """Name and versions of the dictionary in use, for the run record.

        Keys: ``name``, ``version`` (unidic-lite package), ``dictionary_version``
        (MeCab's sys.dic version), ``charset``, ``fugashi`` and ``label``, a
        one-line summary such as ``"unidic-lite 1.0.8 (sys.dic 102, fugashi 1.5.2)"``.
        """
        info = self._tagger.dictionary_info[0] if self._tagger.dictionary_info else {}
        version = _package_version("unidic-lite")
        fugashi_version = _package_version("fugashi")
        dic_version = info.get("version")
        return {
            "name": DICTIONARY_NAME,
            "version": version,
            "dictionary_version": dic_version,
            "charset": info.get("charset"),
            "fugashi": fugashi_version,
            "label": f"{DICTIONARY_NAME} {version} (sys.dic {dic_version}, fugashi {fugashi_version})",
        }


def _concat(*parts: tuple) -> tuple:
    return tuple(chain.from_iterable(parts))


def _check_offsets(pieces: list[str], counts: list[int], covered: list[int]) -> None:
    """Raise unless every piece's rows span exactly the piece less its trailing whitespace.

    Offsets come from lengths alone: a surface's length in characters, and
    the whitespace MeCab skipped before it counted in bytes, one character
    each.  A byte count is never below the character count, so the rows of
    a piece can span its text exactly only when every gap was counted right:
    this proves every offset at once (a multi-byte space counted as bytes, or
    a wrong length from MeCab, makes the span too long).  Pieces without
    tokens (whitespace only) are not checked.
    """
    if all(counts):
        expected = list(map(len, map(str.rstrip, pieces, repeat(_MECAB_SPACE))))
        spans = covered
    else:
        expected = [len(p.rstrip(_MECAB_SPACE)) for p, n in zip(pieces, counts) if n]
        spans = [c for c, n in zip(covered, counts) if n]
    if expected != spans:
        tagged = [p for p, n in zip(pieces, counts) if n]
        bad = next(p for p, e, c in zip(tagged, expected, spans) if e != c)
        raise HarnessError(f"tokenizer offsets lost in {bad[:40]!r}: MeCab's tokens do not spell the text")


def split_points(text: str, limit: int) -> list[int]:
    """Chunk ends for ``text``: every chunk is at most ``limit`` characters; the last end is ``len(text)``.

    A chunk ends after the last sentence end (。!? or a newline, with any
    closing bracket) in the second half of its window, else after the last
    whitespace there, else at the hard limit (which may cut a word: only the
    tokens at that seam can differ from a single MeCab call).  Searching the
    second half only keeps every chunk at least ``limit // 2`` long.
    """
    ends: list[int] = []
    start = 0
    while len(text) - start > limit:
        stop = start + limit
        low = start + limit // 2
        cut = _last_match_end(_SENTENCE_ENDS, text, low, stop) or _last_match_end(_SPACES, text, low, stop)
        start = cut or stop
        ends.append(start)
    ends.append(len(text))
    return ends


def _last_match_end(pattern: re.Pattern[str], text: str, low: int, stop: int) -> int | None:
    """End of the last match of ``pattern`` inside ``text[low:stop]``, or None."""
    last = None
    for match in pattern.finditer(text, low, stop):
        last = match.end()
    return last


def _package_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None
