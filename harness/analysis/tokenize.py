"""Japanese tokenization: NFKC normalisation and fugashi (MeCab) + unidic-lite.

Every measure in the harness is computed on the NFKC-normalised text, and every
character offset (flag spans, laughter context) points into that normalised
text.  One ``JapaneseTokenizer`` holds one MeCab tagger: start-up costs ~0.2 s,
so build it once per analysis and pass it around.

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

import os
import re
import sys
from dataclasses import dataclass
from importlib import metadata
from typing import Any, Callable

from harness.errors import HarnessError, MissingDependency
from harness.text import normalize

__all__ = ["CHUNK_CHARS", "DICTIONARY_NAME", "MAX_CHARS", "JapaneseTokenizer", "Token", "normalize", "split_points"]

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


@dataclass(frozen=True, slots=True)
class Token:
    """One MeCab token of a normalised text.

    ``start``/``end`` are character offsets into the normalised text, so
    ``text[start:end] == surface``.  ``lemma`` and ``orth_base`` fall back to
    the surface for unknown words (unidic gives them none).  ``l_form`` is
    unidic's lemma reading (語彙素読み, '' for unknown words): together with
    ``lemma`` it identifies a lexeme.  まとも (decent) and 正面 (front) share
    the lemma 正面 but not the reading (マトモ vs ショウメン).
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
        try:
            self._tagger = fugashi.Tagger(f'-d "{dicdir}" -r "{rcfile}"')
        except RuntimeError as err:
            raise HarnessError(f"cannot start MeCab with unidic-lite at {dicdir}: {err}") from None

    def clip(self, text: str) -> str:
        """``text`` cut to ``max_chars`` characters (unchanged when shorter)."""
        return text if len(text) <= self.max_chars else text[: self.max_chars]

    def tokenize(self, text: str) -> list[Token]:
        """Normalise ``text`` (NFKC), clip it to ``max_chars``; its tokens with character offsets.

        Offsets index the normalised, clipped text however many chunks it took.
        """
        text = self.clip(normalize(text))
        # MeCab reads a C string: a NUL would silently end the text.  Replacing
        # it by a space keeps every offset valid (same length, never a surface).
        # Lone surrogates cannot be encoded to UTF-8 at all; 'replace' swaps
        # each for one '?', again keeping the length.
        tagged = text.replace("\x00", " ").encode("utf-8", "replace").decode("utf-8")
        tokens: list[Token] = []
        # fugashi returns fresh strings for every feature of every token.  The
        # tokens of a long text share them interned (~190 instead of ~600 bytes
        # a token); a short text's tokens die soon, and interning would cost
        # ~15% of the time there (str() returns its argument unchanged).
        share = sys.intern if len(tagged) > self.chunk_chars else str
        start = 0
        for end in split_points(tagged, self.chunk_chars):
            self._tokenize_chunk(text, tagged, start, end, tokens, share)
            start = end
        return tokens

    def _tokenize_chunk(
        self, text: str, tagged: str, start: int, stop: int, tokens: list[Token], share: Callable[[str], str]
    ) -> None:
        """Append the tokens of ``tagged[start:stop]``, offsets relative to the whole text."""
        chunk = tagged[start:stop] if start or stop < len(tagged) else tagged
        pos = 0
        for node in self._tagger(chunk):
            surface = node.surface
            if not surface:
                continue
            # white_space is the whitespace MeCab skipped before this node.
            pos += len(node.white_space)
            if not chunk.startswith(surface, pos):
                # Should not happen; fall back to searching rather than
                # emitting wrong offsets.
                found = chunk.find(surface, pos)
                if found < 0:
                    raise HarnessError(f"tokenizer offsets lost at {start + pos} in {text[:40]!r}")
                pos = found
            end = pos + len(surface)
            feature = node.feature
            lemma = feature.lemma
            orth_base = feature.orthBase
            l_form = feature.lForm
            tokens.append(
                Token(
                    surface=share(text[start + pos : start + end]),
                    lemma=share(surface if lemma in _EMPTY else lemma),
                    orth_base=share(surface if orth_base in _EMPTY else orth_base),
                    pos1=share(feature.pos1 or "*"),
                    pos2=share(feature.pos2 or "*"),
                    c_form=share(feature.cForm or "*"),
                    start=start + pos,
                    end=start + end,
                    l_form="" if l_form in _EMPTY else share(l_form),
                )
            )
            pos = end

    def reading(self, text: str) -> str | None:
        """The katakana reading of a short text (unidic ``kana`` per token), None if a token has none.

        Used at lexicon load time only (variant generation), never on the hot path.
        """
        parts = []
        for node in self._tagger(normalize(text)):
            kana = getattr(node.feature, "kana", None)
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
