"""Japanese tokenization: NFKC normalisation and fugashi (MeCab) + unidic-lite.

Every measure in the harness is computed on the NFKC-normalised text, and every
character offset (flag spans, laughter context) points into that normalised
text.  One ``JapaneseTokenizer`` holds one MeCab tagger: start-up costs ~0.2 s,
so build it once per analysis and pass it around.

fugashi and unidic-lite are imported lazily so that importing this module (and
everything above it) works without them; constructing the tokenizer raises
``MissingDependency`` naming the pip command instead.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from importlib import metadata
from typing import Any

from harness.errors import HarnessError, MissingDependency
from harness.text import normalize

__all__ = ["DICTIONARY_NAME", "JapaneseTokenizer", "Token", "normalize"]

DICTIONARY_NAME = "unidic-lite"

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
    """fugashi + unidic-lite tokenizer returning ``Token`` lists with offsets."""

    def __init__(self) -> None:
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

    def tokenize(self, text: str) -> list[Token]:
        """Normalise ``text`` (NFKC) and return its tokens with character offsets."""
        text = normalize(text)
        # MeCab reads a C string: a NUL would silently end the text.  Replacing
        # it by a space keeps every offset valid (same length, never a surface).
        # Lone surrogates cannot be encoded to UTF-8 at all; 'replace' swaps
        # each for one '?', again keeping the length.
        tagged = text.replace("\x00", " ").encode("utf-8", "replace").decode("utf-8")
        tokens: list[Token] = []
        pos = 0
        for node in self._tagger(tagged):
            surface = node.surface
            if not surface:
                continue
            # white_space is the whitespace MeCab skipped before this node.
            pos += len(node.white_space)
            if not tagged.startswith(surface, pos):
                # Should not happen; fall back to searching rather than
                # emitting wrong offsets.
                found = tagged.find(surface, pos)
                if found < 0:
                    raise HarnessError(f"tokenizer offsets lost at {pos} in {text[:40]!r}")
                pos = found
            end = pos + len(surface)
            feature = node.feature
            lemma = feature.lemma
            orth_base = feature.orthBase
            l_form = feature.lForm
            tokens.append(
                Token(
                    surface=text[pos:end],
                    lemma=surface if lemma in _EMPTY else lemma,
                    orth_base=surface if orth_base in _EMPTY else orth_base,
                    pos1=feature.pos1 or "*",
                    pos2=feature.pos2 or "*",
                    c_form=feature.cForm or "*",
                    start=pos,
                    end=end,
                    l_form="" if l_form in _EMPTY else l_form,
                )
            )
            pos = end
        return tokens

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


def _package_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None
