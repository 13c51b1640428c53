"""Length and repetition measures: distinct-2, repeated units, the looping flag."""

from __future__ import annotations

import pytest

from harness.analysis.length import (
    MAX_PERIOD,
    MIN_DISTINCT_2,
    MIN_REPEATS,
    MIN_TOKENS,
    LengthAnalyser,
    distinct_2,
    is_degenerate,
    longest_repeat,
)
from harness.analysis.tokenize import JapaneseTokenizer, Token, normalize
from harness.config import AnalysisConfig


@pytest.fixture(scope="module")
def tok() -> JapaneseTokenizer:
    return JapaneseTokenizer()


@pytest.fixture(scope="module")
def analyser(tok) -> LengthAnalyser:
    return LengthAnalyser(AnalysisConfig(lexicons=[]), tok)


def score(analyser: LengthAnalyser, tok: JapaneseTokenizer, text: str) -> dict:
    text = normalize(text)
    result = analyser.score(text, tok.tokenize(text))
    assert result.details == {}
    return result.values


def test_the_thresholds_are_the_documented_ones():
    assert (MIN_TOKENS, MIN_DISTINCT_2, MAX_PERIOD, MIN_REPEATS) == (8, 0.5, 4, 4)


@pytest.mark.parametrize(
    ("surfaces", "expected"),
    [
        ([], 1.0),  # no bigram: nothing can repeat
        (["a"], 1.0),
        (["a", "a"], 1.0),  # one bigram, distinct
        (["a", "a", "a"], 0.5),  # (a,a) twice
        (["死ね"] * 4, 1 / 3),
        (list("abcabc"), 3 / 5),  # ab bc ca ab bc
        (list("abcde"), 1.0),
        (list("abba"), 1.0),  # ab bb ba: order matters
        (list("abcabcabc"), 3 / 8),
    ],
)
def test_distinct_2(surfaces, expected):
    assert distinct_2(surfaces) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("surfaces", "expected"),
    [
        ([], 1),
        (["a"], 1),
        (list("abc"), 1),
        (list("aa"), 2),
        (["死ね"] * 4, 4),
        (list("aabaaa"), 3),  # the run restarts after b
        (list("ababab"), 3),  # unit of 2 tokens
        (list("xababa"), 2),  # offset 1: ba ba, then an incomplete unit
        (list("abcdabcdabcdabcd"), 4),  # unit of MAX_PERIOD tokens
        (["x", *"abcd" * 4], 4),  # the same, starting at offset 1
        (list("abcde" * 3), 1),  # unit of 5 tokens: longer than MAX_PERIOD
        (list("abcabcab"), 2),
    ],
)
def test_longest_repeat(surfaces, expected):
    assert longest_repeat(surfaces) == expected


def test_longest_repeat_period_is_a_parameter():
    assert longest_repeat(list("abcde" * 3), max_period=5) == 3
    assert longest_repeat(list("ababab"), max_period=1) == 1


@pytest.mark.parametrize(
    ("surfaces", "expected"),
    [
        ([], False),
        (["死ね"], False),
        (["死ね"] * 3, False),  # 3 repeats: below MIN_REPEATS
        (["死ね"] * 4, True),  # 4 repeats of one token, however short the text
        (list("abababab"), True),  # unit of 2 repeated 4 times
        (list("abababa"), False),  # 3 repeats and distinct-2 1/3, but only 7 tokens
        (list("abcabcab"), True),  # 8 tokens, distinct-2 3/7 < 0.5, no 4-fold repeat
        (list("abcabca"), False),  # 7 tokens, distinct-2 exactly 0.5
        (list("abcde" * 3), True),  # no short unit repeats, distinct-2 5/14
        (list("abcde" * 2), False),  # distinct-2 5/9
        (list("今日はいい天気ですね"), False),
    ],
)
def test_is_degenerate(surfaces, expected):
    assert is_degenerate(surfaces) is expected


def test_catalogue(analyser):
    specs = analyser.measures()
    assert [(m.name, m.kind, m.harmful, m.analyser) for m in specs] == [
        ("characters", "mean", False, "length"),
        ("tokens", "mean", False, "length"),
        ("distinct_2", "mean", False, "length"),
        ("degenerate_repetition", "binary", False, "length"),
    ]
    assert analyser.detail_columns() == [] and analyser.table_builder() is None


def test_score_real_texts(analyser, tok):
    # 今日|は|いい|天気|です|ね|。 : 7 tokens, 11 characters, no bigram repeats
    assert score(analyser, tok, "今日はいい天気ですね。") == {
        "characters": 11,
        "tokens": 7,
        "distinct_2": 1.0,
        "degenerate_repetition": 0,
    }
    # 死ね × 4: one bigram (死ね, 死ね) three times
    assert score(analyser, tok, "死ね死ね死ね死ね") == {
        "characters": 8,
        "tokens": 4,
        "distinct_2": 0.3333,
        "degenerate_repetition": 1,
    }
    # MeCab reads 草×10 as 草草 × 5
    assert score(analyser, tok, "草草草草草草草草草草") == {
        "characters": 10,
        "tokens": 5,
        "distinct_2": 0.25,
        "degenerate_repetition": 1,
    }
    # ありがとう × 3 repeats only three times
    assert score(analyser, tok, "ありがとうありがとうありがとう") == {
        "characters": 15,
        "tokens": 3,
        "distinct_2": 0.5,
        "degenerate_repetition": 0,
    }


def test_score_short_and_empty_texts(analyser, tok):
    assert score(analyser, tok, "") == {"characters": 0, "tokens": 0, "distinct_2": 1.0, "degenerate_repetition": 0}
    assert score(analyser, tok, "死ね") == {"characters": 2, "tokens": 1, "distinct_2": 1.0, "degenerate_repetition": 0}


def test_characters_count_the_nfkc_text(analyser, tok):
    # ﾊﾞｶ (4 half-width code points) is バカ (2) once normalised
    assert score(analyser, tok, "ﾊﾞｶ")["characters"] == 2


def test_whitespace_is_counted_in_characters_but_is_no_token(analyser, tok):
    # "w w w w": MeCab skips the spaces, so the four w tokens repeat back to back
    assert score(analyser, tok, "w w w w") == {
        "characters": 7,
        "tokens": 4,
        "distinct_2": 0.3333,
        "degenerate_repetition": 1,
    }

    # tokens of whitespace (pos 空白, or a blank surface) are dropped before any measure
    def t(surface: str, pos1: str, start: int) -> Token:
        return Token(surface, surface, surface, pos1, "*", "*", start, start + len(surface))

    tokens = [t("a", "名詞", 0), t(" ", "空白", 1), t("a", "名詞", 2), t("\u3000", "補助記号", 3), t("a", "名詞", 4)]
    tokens += [t("\n", "空白", 5), t("a", "名詞", 6)]
    assert analyser.score("a a\u3000a\na", tokens).values == {
        "characters": 7,
        "tokens": 4,
        "distinct_2": 0.3333,
        "degenerate_repetition": 1,
    }
    # with the blanks kept, the four a would not be adjacent: no repeat at all
    assert longest_repeat([x.surface for x in tokens]) == 1
    assert not is_degenerate([x.surface for x in tokens])


def test_batch_counts_equal_the_per_text_rules(analyser):
    """``score_many``'s numpy counts (distinct bigrams, loops by run length) equal ``distinct_2`` and
    ``is_degenerate`` text by text, on 3,000 random texts of a small alphabet in batches of 1–60
    (so that units repeat, loops of every period occur, and texts of 0 or 1 token sit between them)."""
    import random

    from harness.analysis.tokenize import TokenBatch

    rng = random.Random(17)
    texts = []
    for _ in range(3000):
        size = rng.choice([0, 1, 2, rng.randint(0, 30)])
        unit = [rng.choice("abcde ") for _ in range(rng.randint(1, 5))]
        words = unit * rng.randint(1, 6) if rng.random() < 0.3 else [rng.choice("abcdefg ") for _ in range(size)]
        texts.append(words)
    at = 0
    while at < len(texts):
        part = texts[at : at + rng.randint(1, 60)]
        at += len(part)
        lists = [
            [Token(w, w, w, "空白" if w == " " else "名詞", "*", "*", i, i + 1) for i, w in enumerate(words)]
            for words in part
        ]
        got = analyser.score_many(TokenBatch.of(["".join(w) for w in part], lists)).values
        for k, words in enumerate(part):
            kept = [w for w in words if w != " "]
            assert got["tokens"][k] == len(kept)
            assert got["distinct_2"][k] == round(distinct_2(kept), 4)
            assert got["degenerate_repetition"][k] == int(is_degenerate(kept)), kept
