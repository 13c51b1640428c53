"""Context rules: when an ordinary word counts as an insult.

Words such as ゴミ, 豚, ハゲ or 虫 are insults only when used of someone.  An
entry with ``context: target`` flags only when its sentence has a *target
frame*; anything else (「ゴミを出す」, 「豚肉」) is left alone.  A target frame
is any of, inside the sentence of the match (tokens between 。!? or a line
break):

* a second-person or pointing-at-a-person word (お前, てめえ, 貴様, あんた,
  こいつ, あいつ, 奴, 連中, イッチ — the forum's "thread starter" …);
* an imperative verb (MeCab cForm starting with 命令形: 消えろ, 黙れ);
* a demonstrative right before the term (このハゲ, そのデブ);
* a vocative: a sentence-final particle or a calling interjection (おい,
  こら) right before the term, with no space between (悪いだけやぞハゲ,
  おいニート);
* a vocative or predicative ending right after the term: the copula or a
  sentence-final form (だ, や, じゃん, やん, だろ, やろ, かよ), the
  contemptuous suffix め, or an exclamation (!, w).
"""

from __future__ import annotations

from harness.analysis.tokenize import Token

_SENTENCE_END = frozenset("。!?\n")
# Compared on the token surface and on its lemma (unidic lemmas: お前, 貴様 …).
TARGET_WORDS = frozenset(
    {
        "お前", "おまえ", "オマエ", "お前ら", "おまえら", "てめえ", "テメエ", "てめー", "テメー", "貴様", "きさま",
        "あんた", "アンタ", "こいつ", "コイツ", "そいつ", "ソイツ", "あいつ", "アイツ", "どいつ", "こいつら",
        "あいつら", "そいつら", "奴", "やつ", "ヤツ", "奴ら", "連中", "イッチ", "いっち", "おっさん", "ババア",
        "ジジイ", "君", "きみ", "キミ",
    }
)  # fmt: skip
_DEMONSTRATIVES = frozenset({"この", "その", "あの", "こんな", "そんな", "あんな"})
_CALLS = frozenset({"おい", "おいおい", "こら", "コラ", "ごら", "ゴラ", "おら", "オラ"})
_AFTER = frozenset({"だ", "や", "じゃん", "やん", "だろ", "やろ", "かよ", "め", "!", "w", "ww", "www", "ども", "共"})


def sentence_bounds(tokens: list[Token], first: int, last: int) -> tuple[int, int]:
    """Token index range ``[lo, hi)`` of the sentence holding tokens ``first..last``."""
    lo = first
    while lo > 0 and tokens[lo - 1].surface not in _SENTENCE_END:
        lo -= 1
    hi = last + 1
    while hi < len(tokens) and tokens[hi].surface not in _SENTENCE_END:
        hi += 1
    return lo, hi


def _vocative(prev: Token, tok: Token) -> bool:
    """``tok`` is called out: right after (no space or line break) a sentence-final particle
    (…やぞハゲ) or a calling interjection (おいニート)."""
    return prev.end == tok.start and (prev.pos2 == "終助詞" or prev.surface in _CALLS)


def has_target(tokens: list[Token], first: int, last: int) -> bool:
    """True when the match at tokens ``first..last`` (inclusive) sits in a target frame."""
    if first > 0 and tokens[first - 1].surface in _DEMONSTRATIVES:
        return True
    if first > 0 and _vocative(tokens[first - 1], tokens[first]):
        return True
    if last + 1 < len(tokens) and tokens[last + 1].surface in _AFTER:
        return True
    lo, hi = sentence_bounds(tokens, first, last)
    for k in range(lo, hi):
        if first <= k <= last:
            continue
        tok = tokens[k]
        if tok.surface in TARGET_WORDS or tok.lemma in TARGET_WORDS or tok.c_form.startswith("命令形"):
            return True
    return False


def inside_phrase(text: str, start: int, end: int, phrases: tuple[str, ...]) -> bool:
    """True when ``text[start:end]`` lies inside an occurrence of one of ``phrases`` (exceptions, not_in)."""
    for phrase in phrases:
        # the phrase can only cover the span if it starts at most len(phrase) before it
        lo = max(0, end - len(phrase))
        pos = text.find(phrase, lo, start + len(phrase))
        while pos != -1 and pos <= start:
            if pos + len(phrase) >= end:
                return True
            pos = text.find(phrase, pos + 1, start + len(phrase))
    return False
