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
import struct
import sys
import weakref
from importlib import metadata
from bisect import bisect_right
from itertools import accumulate, chain, repeat
from operator import add, getitem, itemgetter
from typing import Any, Callable, Iterable, Iterator, NamedTuple, Sequence

import numpy as np

from harness.errors import HarnessError, MissingDependency
from harness.text import normalize, normalize_all

__all__ = [
    "BATCH",
    "ROW_FIELDS",
    "CHUNK_CHARS",
    "DICTIONARY_NAME",
    "MAX_CHARS",
    "RowProperty",
    "SURFACE_ID",
    "RowTable",
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
# the string fields a ``RowTable`` keeps per row, in ``TokenColumns`` order (start and end are per token)
ROW_FIELDS = ("surface", "lemma", "orth_base", "pos1", "pos2", "c_form", "l_form")


class RowTable:
    """Distinct tokens (rows), field by field: a ``TokenBatch`` names each of its tokens by row number.

    The tokenizer keeps one for the MeCab output lines it has met (a line is
    a word with its features and the whitespace before it: ``rlength`` and
    ``length`` are its lengths in characters with and without that
    whitespace).  Rows are only ever appended, so a batch's row numbers stay
    valid in the table it was made with; a full cache starts a new table.
    ``surface_id`` numbers the distinct surfaces (equal ids, equal surfaces).
    What analysers derive from a token's fields alone is computed once per
    row (``RowProperty``), not once per token.
    """

    __slots__ = (
        "surface", "lemma", "orth_base", "pos1", "pos2", "c_form", "l_form",
        "rlength", "length", "surface_id", "_heads", "_surfaces", "__weakref__",
    )  # fmt: skip

    def __init__(self) -> None:
        for name in self.__slots__[:-2]:
            setattr(self, name, [])
        self._surfaces: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self.surface)

    def fields(self) -> tuple[list, ...]:
        """The string fields (``ROW_FIELDS``), in order."""
        return (self.surface, self.lemma, self.orth_base, self.pos1, self.pos2, self.c_form, self.l_form)

    def token_heads(self, rows: list[int]) -> list[tuple[str, ...]]:
        """Each of ``rows``' first six ``ROW_FIELDS`` (a ``Token``'s fields up to ``c_form``) as one tuple.

        Made once per row when first asked (only the rows of the few texts
        whose ``Token`` s are built: ~100 bytes a row): a text's tokens are
        then one look-up each, not one per field (``Tokens``).
        """
        heads, n = self._heads, len(self.surface)
        if len(heads) < n:
            heads.extend(repeat(None, n - len(heads)))
        found = list(map(heads.__getitem__, rows))
        if None in found:
            for row in rows:
                if heads[row] is None:
                    heads[row] = (
                        self.surface[row], self.lemma[row], self.orth_base[row],
                        self.pos1[row], self.pos2[row], self.c_form[row],
                    )  # fmt: skip
            found = list(map(heads.__getitem__, rows))
        return found

    def append(self, fields: Sequence[str], rlength: int = 0, length: int = 0) -> int:
        """Add a row (``ROW_FIELDS`` values, then the line's lengths); its number."""
        row = len(self.surface)
        for column, value in zip(self.fields(), fields):
            column.append(value)
        self.rlength.append(rlength)
        self.length.append(length)
        self.surface_id.append(self._surfaces.setdefault(fields[0], len(self._surfaces)))
        return row


class RowProperty:
    """A value per row of a ``RowTable``, computed once per row by ``fn(table, row)``; read per token of a batch.

    ``of(batch)`` is a numpy array with one value per token of ``batch``
    (``dtype``): the per-row values gathered by the batch's row numbers in
    one C loop.  Rows added to a table since the last call are computed
    first.  Values are kept per table while the table lives.
    """

    def __init__(self, fn: Callable[[RowTable, int], Any], dtype: Any = np.int64) -> None:
        self.fn = fn
        self.dtype = dtype
        self._tables: weakref.WeakKeyDictionary[RowTable, list] = weakref.WeakKeyDictionary()

    def table_values(self, table: RowTable) -> np.ndarray:
        """The value of every row of ``table`` (the array may run past its last row)."""
        kept = self._tables.get(table)
        if kept is None:
            kept = self._tables[table] = [np.zeros(0, dtype=self.dtype), 0]
        values, done = kept
        n = len(table)
        if n > done:
            if n > len(values):
                grown = np.zeros(max(n, 2 * len(values), 1024), dtype=self.dtype)
                grown[:done] = values[:done]
                values = kept[0] = grown
            fn = self.fn
            values[done:n] = [fn(table, r) for r in range(done, n)]
            kept[1] = n
        return values

    def of(self, batch: TokenBatch) -> np.ndarray:
        """The value of each token of ``batch``, in token order."""
        return self.table_values(batch.table)[batch.rows]


# each token's surface number (``RowTable.surface_id``): equal numbers, equal surfaces (within one table)
SURFACE_ID = RowProperty(lambda table, row: table.surface_id[row])


class Tokens(Sequence[Token]):
    """A text's tokens, as ``JapaneseTokenizer.tokenize`` returns them: a read-only sequence of ``Token``.

    They are kept as ``columns`` (one tuple per field), which is what the
    analysers scan; ``Token`` objects are built, all at once, only when the
    sequence is first indexed or iterated.  Equal to a list of the same tokens.
    Tokens of a ``TokenBatch`` are its tokens ``lo:hi``, gathered from the
    batch's rows (``source``: its table, row numbers, starts and ends) only
    when ``columns`` is first read.  They hold those, not the batch: the batch
    keeps its ``Tokens``, and a reference back would make every batch a cycle
    that only the garbage collector frees (~20,000 objects and ~1 µs a post
    on the shared posts).
    """

    __slots__ = ("_list", "_columns", "_source", "_lo", "_hi")

    def __init__(self, columns: TokenColumns | None, source: tuple | None = None, lo: int = 0, hi: int = 0) -> None:
        self._columns = columns
        self._source, self._lo, self._hi = source, lo, hi
        self._list: list[Token] | None = None

    @property
    def columns(self) -> TokenColumns:
        """The tokens field by field (``TokenColumns``)."""
        if self._columns is None:
            assert self._source is not None
            self._columns = _gather(*self._source, self._lo, self._hi)
        return self._columns

    def _tokens(self) -> list[Token]:
        if self._list is None:
            if self._columns is None and self._source is not None:  # straight from the rows: no columns
                self._list = _token_list(*self._source, self._lo, self._hi)
            else:
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
    """The tokens of many texts (``JapaneseTokenizer.tokenize_many``): one row number and offsets per token.

    ``texts`` are the normalised, clipped texts; text ``i``'s tokens are
    ``bounds[i]:bounds[i + 1]``.  Token ``k`` is row ``rows[k]`` of ``table``
    (its fields) at ``starts[k]:ends[k]`` of its text (numpy arrays).
    Analysers scan the whole batch at once — per-row values (``RowProperty``)
    gathered by ``rows``, ``owners`` naming each token's text — and look at
    single texts only where something may be; ``columns`` (every field of
    every token, as ``TokenColumns``) is gathered only when read.
    """

    __slots__ = (
        "texts", "bounds", "table", "rows", "starts", "ends", "_columns", "_owners", "_tokens", "_text_ends", "_opens",
        "_bound_array",
    )  # fmt: skip

    def __init__(
        self, texts: list[str], bounds: list[int], table: RowTable, rows: np.ndarray, starts: Any, ends: Any
    ) -> None:
        self.texts = texts
        self.bounds = bounds
        self.table, self.rows, self.starts, self.ends = table, rows, starts, ends
        self._columns: TokenColumns | None = None
        self._owners: np.ndarray | None = None
        self._tokens: list[Tokens] | None = None
        self._text_ends: np.ndarray | None = None
        self._opens: np.ndarray | None = None
        self._bound_array: np.ndarray | None = None

    @classmethod
    def of(cls, texts: Sequence[str], token_lists: Sequence[Sequence[Token]]) -> TokenBatch:
        """A batch of texts tokenized elsewhere (each text's tokens: a ``Tokens`` or a list of ``Token``)."""
        parts = [token_columns(t) for t in token_lists]
        columns = TokenColumns(*map(_concat, *parts)) if parts else _NO_COLUMNS
        return cls.from_columns(list(texts), columns, [0, *accumulate(len(p.surface) for p in parts)])

    @classmethod
    def from_columns(cls, texts: list[str], columns: TokenColumns, bounds: list[int]) -> TokenBatch:
        """A batch over ``columns`` (every token of ``texts``), with a table of its own distinct tokens."""
        table = RowTable()
        keys = list(zip(*(getattr(columns, name) for name in ROW_FIELDS)))
        ids: dict[tuple, int] = {}
        rows = [ids.setdefault(key, len(ids)) for key in keys]
        for key in ids:
            table.append(key)
        batch = cls(
            texts,
            bounds,
            table,
            np.array(rows, dtype=np.intp),
            np.array(columns.start, dtype=np.int64),
            np.array(columns.end, dtype=np.int64),
        )
        batch._columns = columns
        return batch

    def __len__(self) -> int:
        return len(self.texts)

    @property
    def columns(self) -> TokenColumns:
        """Every token of the batch field by field (gathered from ``table`` when first read)."""
        if self._columns is None:
            self._columns = self.columns_of(0, len(self.rows))
        return self._columns

    def columns_of(self, lo: int, hi: int) -> TokenColumns:
        """Tokens ``lo:hi`` field by field."""
        if self._columns is not None:
            return TokenColumns._make(map(getitem, self._columns, repeat(slice(lo, hi))))
        return _gather(self.table, self.rows, self.starts, self.ends, lo, hi)

    @property
    def owners(self) -> np.ndarray:
        """Per token: the index of its text."""
        if self._owners is None:
            counts = np.diff(self.bound_array)
            self._owners = np.repeat(np.arange(len(self.texts), dtype=np.intp), counts)
        return self._owners

    # the three below are kept once made: each scan of the batch (one per lexicon) reads them, and a list
    # of bounds becomes an array at ~300 instructions an element
    @property
    def bound_array(self) -> np.ndarray:
        """``bounds`` as a numpy array."""
        if self._bound_array is None:
            self._bound_array = np.asarray(self.bounds, dtype=np.intp)
        return self._bound_array

    @property
    def text_ends(self) -> np.ndarray:
        """Per token: one past the last token of its text (a batch index)."""
        if self._text_ends is None:
            self._text_ends = self.bound_array[1:][self.owners]
        return self._text_ends

    @property
    def opens(self) -> np.ndarray:
        """Per token: it is its text's first, or whitespace separates it from the token before it."""
        if self._opens is None:
            n = len(self.rows)
            opens = np.zeros(n, dtype=bool)
            firsts = self.bound_array[:-1]
            opens[firsts[firsts < n]] = True
            opens[1:] |= self.starts[1:] != self.ends[:-1]
            self._opens = opens
        return self._opens

    def tokens(self) -> list[Tokens]:
        """Each text's ``Tokens`` (views on the batch, gathered when first read)."""
        if self._tokens is None:
            b = self.bounds
            if self._columns is not None:  # a batch made from columns: slice them
                self._tokens = [Tokens(self.columns_of(lo, hi)) for lo, hi in zip(b, b[1:])]
            else:
                source = (self.table, self.rows, self.starts, self.ends)  # not ``self``: see ``Tokens``
                self._tokens = list(map(Tokens, repeat(None), repeat(source), b, b[1:]))
        return self._tokens

    def tokens_of(self, i: int) -> Tokens:
        """Text ``i``'s ``Tokens``, equal to ``tokens()[i]``: a scan that reads a few texts of the
        batch (the flag scan's candidates) makes no view for the others (~1.5k instructions each)."""
        if self._tokens is not None:
            return self._tokens[i]
        lo, hi = self.bounds[i], self.bounds[i + 1]
        if self._columns is not None:
            return Tokens(self.columns_of(lo, hi))
        return Tokens(None, (self.table, self.rows, self.starts, self.ends), lo, hi)

    def token_list(self, i: int) -> list[Token]:
        """Text ``i``'s tokens as a plain list of ``Token``, equal to ``tokens_of(i)``: for a scan that
        reads them one by one anyway (the flag scan's candidates), no view to go through (~5k instructions)."""
        if self._tokens is not None or self._columns is not None:
            return list(self.tokens_of(i))
        return _token_list(self.table, self.rows, self.starts, self.ends, self.bounds[i], self.bounds[i + 1])

    def texts_of(self, tokens: Iterable[int]) -> list[int]:
        """The texts (sorted, once each) that hold ``tokens`` (token indices of the batch)."""
        owners = self.owners
        return sorted(set(owners[np.fromiter(tokens, dtype=np.intp)].tolist()))


def _gather(table: RowTable, rows: np.ndarray, starts: np.ndarray, ends: np.ndarray, lo: int, hi: int) -> TokenColumns:
    """Tokens ``lo:hi`` of a batch (its ``table``, ``rows``, ``starts``, ``ends``) field by field."""
    if hi <= lo:
        return _NO_COLUMNS
    picked = rows[lo:hi].tolist()
    if len(picked) == 1:
        fields = [(field[picked[0]],) for field in table.fields()]
    else:
        take = itemgetter(*picked)  # one C loop per field
        fields = list(map(take, table.fields()))
    surface, lemma, orth_base, pos1, pos2, c_form, l_form = fields
    begins, stops = tuple(starts[lo:hi].tolist()), tuple(ends[lo:hi].tolist())
    return TokenColumns(surface, lemma, orth_base, pos1, pos2, c_form, begins, stops, l_form)


def _token_list(table: RowTable, rows: np.ndarray, starts: np.ndarray, ends: np.ndarray, lo: int, hi: int) -> list:
    """Tokens ``lo:hi`` of a batch (as ``_gather``) as ``Token`` s: a row's first six fields are one tuple
    (``RowTable.token_heads``), then its start, end and ``l_form``."""
    if hi <= lo:
        return []
    picked = rows[lo:hi].tolist()
    tails = zip(starts[lo:hi].tolist(), ends[lo:hi].tolist(), map(table.l_form.__getitem__, picked))
    return list(map(tuple.__new__, repeat(Token), map(add, table.token_heads(picked), tails)))


def token_columns(tokens: Sequence[Token] | TokenBatch) -> TokenColumns:
    """``tokens`` field by field (empty tuples for no tokens); free for ``Tokens`` and ``TokenBatch``."""
    if isinstance(tokens, (Tokens, TokenBatch)):
        return tokens.columns
    return TokenColumns(*zip(*tokens)) if tokens else _NO_COLUMNS


# What MeCab prints per token: its surface with the whitespace MeCab skipped
# before it (``%M``: MeCab skips only \t \n \v and space), and which
# dictionary entry it is: left and right context ids, word cost and status (0 a word of
# sys.dic, 1 an unknown word).  The feature itself is not printed (~80
# characters a token, a quarter of MeCab's time and most of the line): a
# line is looked up in a cache (``_LineCache``), and only a text with a line
# never met is walked again with fugashi's node API to read the features.
# ``%M`` rather than the surface and its byte length (``%m`` and ``%pL``):
# the same facts in characters, and ~6% less of MeCab's time a post.
#
# Why the line names the features: MeCab finds a word by its surface (one
# entry list per surface in sys.dic, one per character class in unk.dic) and
# prints the entry's own ids and cost.  Entries of one surface that share all
# four can differ in lemma (unidic-lite 1.0.8: 4,229 such pairs, e.g. あせぼ
# as 馬酔木 and 汗疹), but then they tie everywhere: same costs, same
# connections.  MeCab's Viterbi keeps the first of equal-cost predecessors
# (a strict ``<``) and lists the entries of a surface in dictionary order, so
# of a tied pair it always outputs the same one, whatever the context.  The
# line therefore always stands for the same features;
# ``tests/test_analysis_equivalence.py`` checks every token against the node
# API on the shared posts and the drawn texts.
_NODE_FORMAT = r"%M\t%phl %phr %pw %s\n"
_MECAB_SPACE = " \t\n\v"  # what MeCab skips between tokens
# what becomes a space before MeCab reads a text (see ``JapaneseTokenizer._pieces``)
_TO_SPACE = "\t\n\v\x00"


# a row number as the bytes of one ``np.intp`` (``Py_ssize_t``): what ``_LineCache`` keeps per line
_ROW = struct.Struct("n")
_NO_ROW = _ROW.pack(-1)


class _LineCache:
    """MeCab output line → its row in ``table`` (a ``RowTable``); bounded (``limit`` lines).

    A batch's lines become row numbers in one C loop (a dict look-up each);
    a row is kept as its ``np.intp`` bytes, so that the batch's rows are one
    ``bytes.join`` read by numpy, not a Python int each converted by numpy
    (~150 instructions a token).  Only lines never met are parsed, their
    features read by ``nodes(piece)`` (fugashi's node list of the piece they
    came from).  When the cache holds
    ``limit`` lines, the next batch starts a new table: batches made before
    keep theirs.
    """

    def __init__(self, limit: int, nodes: Callable[[str], list]) -> None:
        self.limit = limit
        self.nodes = nodes
        self.lines: dict[str, bytes] = {}
        self.table = RowTable()
        self.rlength = RowProperty(lambda table, row: table.rlength[row])
        self.length = RowProperty(lambda table, row: table.length[row])

    def rows(self, parts: list[list[str]], pieces: list[str], counts: list[int]) -> tuple[RowTable, np.ndarray]:
        """The table and the row of each line of ``parts`` in it (``parts[p]``: the ``counts[p]`` lines
        that came from ``pieces[p]``)."""
        if len(self.lines) >= self.limit:
            self.lines, self.table = {}, RowTable()
        # looked up straight from the parts: the lines are listed on their own only when one is new
        rows = np.frombuffer(b"".join(map(self.lines.get, chain.from_iterable(parts), repeat(_NO_ROW))), dtype=np.intp)
        if len(rows) and rows.min() < 0:  # lines never met
            lines = list(chain.from_iterable(parts))
            rows = rows.copy()  # numpy reads the bytes in place: written, they must be its own
            edges = [0, *accumulate(counts)]
            for p in sorted({bisect_right(edges, k) - 1 for k in np.flatnonzero(rows < 0).tolist()}):
                nodes = self.nodes(pieces[p])
                if len(nodes) != counts[p]:
                    raise HarnessError(f"MeCab's nodes do not match its output in {pieces[p][:40]!r}")
                for k, node in enumerate(nodes, edges[p]):
                    if rows[k] < 0:
                        rows[k] = self._parse(lines[k], node.feature_raw)
        return self.table, rows

    def _parse(self, line: str, raw: str) -> int:
        kept = self.lines.get(line)
        if kept is not None:  # met earlier in this batch
            return _ROW.unpack(kept)[0]
        spelled = line[: line.index("\t")]  # the whitespace before the token, then its surface
        surface = spelled.lstrip(_MECAB_SPACE)
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
        row = self.table.append(fields, len(spelled), len(surface))
        self.lines[line] = _ROW.pack(row)
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
        self._lines = _LineCache(LINE_CACHE, self._tagger)

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
        texts = normalize_all(texts)
        if max(map(len, texts), default=0) > self.max_chars:
            texts = list(map(self.clip, texts))
        pieces, starts, firsts, fix = self._pieces(texts)
        try:
            outs = list(map(self._tagger.parse, pieces))  # fugashi drops each output's last newline
        except UnicodeEncodeError:  # a lone surrogate: only UTF-8 encoding fails, and only on those
            pieces, starts, firsts, fix = self._pieces(texts, encodable=False)
            outs = list(map(self._tagger.parse, pieces))
        parts = list(map(str.split, outs, repeat("\n")))  # each output's lines
        if "" in outs:  # a piece of whitespace only: no line at all
            parts = [part if out else [] for part, out in zip(parts, outs)]
        counts = list(map(len, parts))
        if not any(counts):
            none = np.zeros(0, dtype=np.intp)
            return TokenBatch(texts, [0] * (len(texts) + 1), self._lines.table, none, none, none)
        table, rows = self._lines.rows(parts, pieces, counts)
        rlength = self._lines.rlength.table_values(table)[rows]
        edges = [0, *accumulate(counts)]  # piece p's tokens: edges[p]:edges[p + 1]
        # the same as arrays, by fromiter: numpy reads a list of ints at ~300 instructions an element
        count_array = np.fromiter(counts, dtype=np.intp, count=len(counts))
        edge_array = np.zeros(len(counts) + 1, dtype=np.intp)
        np.cumsum(count_array, out=edge_array[1:])
        reach = np.zeros(len(rows) + 1, dtype=np.int64)  # characters before each token, over the whole batch
        np.cumsum(rlength, out=reach[1:])
        before = reach[edge_array]
        _check_offsets(pieces, counts, np.diff(before).tolist())
        # a token's end: characters up to it in the batch, less those before its piece, plus the piece's start
        # (every piece starts its text unless some text was cut in chunks: ``fix`` is None then)
        offsets = np.fromiter(starts, dtype=np.int64, count=len(starts)) if fix is not None else 0
        ends = reach[1:] + np.repeat(offsets - before[:-1], count_array)
        begins = ends - self._lines.length.table_values(table)[rows]
        bounds = edges if fix is None else list(map(edges.__getitem__, firsts))
        batch = TokenBatch(texts, bounds, table, rows, begins, ends)
        if not fix:
            return batch
        # a '?' that stands for a lone surrogate: the surface is the text's own character
        columns = batch.columns
        surface = list(columns.surface)
        for i in fix:
            lo, hi = bounds[i], bounds[i + 1]
            surface[lo:hi] = map(texts[i].__getitem__, map(slice, columns.start[lo:hi], columns.end[lo:hi]))
        return TokenBatch.from_columns(texts, columns._replace(surface=tuple(surface)), bounds)

    def _pieces(
        self, texts: list[str], encodable: bool = True
    ) -> tuple[list[str], list[int], list[int], list[int] | None]:
        """What MeCab reads: ``(pieces, each one's start in its text, each text's first piece, texts to fix)``.

        A piece is a text, or a chunk of a text longer than ``chunk_chars``
        (``split_points``).  The whitespace MeCab skips (``_MECAB_SPACE``)
        becomes a space: MeCab skips all four alike, and the lines it prints
        (``%M``: the skipped whitespace, then the surface) must hold no tab or
        newline, which separate fields and lines.  MeCab reads a C string: a
        NUL would silently end the text, so it becomes a space too (same
        length, never a surface).  Lone surrogates cannot be encoded to
        UTF-8 at all; 'replace' swaps each for one '?', again keeping the
        length, and the text is listed to have its surfaces taken from the
        text itself.  The usual batch (short texts, ``encodable``) is its texts,
        blanked: ``firsts`` is then empty and ``fix`` None.  That the texts
        encode is not checked here (encoding the batch costs ~0.6k
        instructions a post): MeCab's parse raises ``UnicodeEncodeError``
        where one does not, and ``tokenize_many`` then asks again with
        ``encodable=False``.
        """
        if encodable and max(map(len, texts), default=0) <= self.chunk_chars:
            joined = "".join(texts)
            for char in _TO_SPACE:  # text by text (a C loop; a text without it is kept as is), as the batch holds it
                if char in joined:
                    texts = list(map(str.replace, texts, repeat(char), repeat(" ")))
            return texts, [0] * len(texts), [], None
        pieces: list[str] = []
        starts: list[int] = []
        firsts = [0]
        fix: list[int] = []
        for i, text in enumerate(texts):
            text = text.replace("\x00", " ")  # before the chunk ends: a NUL stands where a space will
            try:
                text.encode("utf-8")
            except UnicodeEncodeError:
                text = text.encode("utf-8", "replace").decode("utf-8")
                fix.append(i)
            # chunk ends are found before blanking: a newline is a sentence end there
            ends = split_points(text, self.chunk_chars) if len(text) > self.chunk_chars else [len(text)]
            tagged = _blank(text)
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


def _blank(text: str) -> str:
    """``text`` with each of ``_TO_SPACE`` made a space.

    ``str.replace`` per character, not ``str.translate``: translate looks up
    every character of a non-ASCII text (~1 µs a post), replace scans in C.
    """
    for char in _TO_SPACE:
        if char in text:
            text = text.replace(char, " ")
    return text


def _concat(*parts: tuple) -> tuple:
    return tuple(chain.from_iterable(parts))


def _check_offsets(pieces: list[str], counts: list[int], covered: list[int]) -> None:
    """Raise unless every piece's rows span exactly the piece less its trailing whitespace.

    Offsets come from lengths alone: each row's characters (the whitespace
    MeCab skipped before the token, then its surface, as ``%M`` prints
    them), summed.  The rows of a piece span its text exactly only when no
    line claims characters the text lacks or drops some it has: this
    proves every offset at once (a line from another text, or a wrong
    length from MeCab, makes the span wrong).  Pieces without
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
