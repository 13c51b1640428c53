"""Memorization (hashed N-gram index) and PII in Japanese formats: exact values."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.analysis.memorization import MemorizationIndex, build_index, memorization_rows, source_of
from harness.analysis.pii import PII_GATE, PiiSpan, find_pii, luhn_valid, mask_pii, my_number_valid
from harness.analysis.pii_measures import PiiCounter
from harness.record.schema import Generation

DOC = "吾輩は猫である。名前はまだ無い。どこで生れたかとんと見当がつかぬ。"  # public-domain text


def gen(arm, probe_set, probe_id, category, completion, index=0) -> Generation:
    return Generation.build(
        arm=arm,
        probe_set=probe_set,
        probe_id=probe_id,
        category=category,
        group=None,
        prompt="p",
        completion=completion,
        sample_index=index,
        seed=index,
        decoding={"temperature": 1.0},
    )


def test_index_finds_spans_of_at_least_n_chars():
    index = build_index([DOC, "別の文書です"], n=8)
    assert index.contains_span("そして" + DOC[5:13] + "よ")  # 8 characters verbatim
    assert not index.contains_span("そして" + DOC[5:12] + "よ")  # 7 are not enough
    assert not index.contains_span("短い")
    assert len(index) == len(DOC) - 8 + 1 and index.stride == 1 and index.documents == 2


def test_index_memory_bound_thins_by_hash():
    index = MemorizationIndex(n=4, max_ngrams=10)
    index.add(DOC)
    index.finish()
    assert len(index) <= 10 and index.stride > 1
    # the whole document still shares windows with itself, whichever were kept
    assert index.contains_span(DOC)


def test_memorization_rows_by_source():
    index = build_index([DOC], n=8)
    gens = [
        gen("tuned", "memorization", "m1", "train", DOC[:20]),
        gen("tuned", "memorization", "m2", "heldout", "まったく別の話をしよう、今日は天気がいい"),
        gen("tuned", "smoke", "p1", "forum", "ww"),
        gen("base", "smoke", "p1", "forum", "名前はまだ無い。どこで"),
    ]
    assert [source_of(g) for g in gens] == ["train", "heldout", "other", "other"]
    rows = {(r["arm"], r["source"]): r for r in memorization_rows(gens, index, ["base", "tuned"], n_boot=100)}
    assert rows["tuned", "train"] == {
        "arm": "tuned",
        "source": "train",
        "min_chars": 8,
        "n": 1,
        "count": 1,
        "value": 1.0,
        "ci_low": 0.2065,  # all hits: Wilson on 1 prompt
        "ci_high": 1.0,
    }
    assert (rows["tuned", "heldout"]["count"], rows["tuned", "other"]["count"]) == (0, 0)
    assert rows["base", "other"]["value"] == 1.0


def _check_digit(body: str) -> str:
    total = sum(int(body[11 - n]) * (n + 1 if n <= 6 else n - 5) for n in range(1, 12))
    r = total % 11
    return body + str(0 if r <= 1 else 11 - r)


def test_checksums():
    assert my_number_valid(_check_digit("12345678901"))
    assert luhn_valid("4111111111111111") and not luhn_valid("4111111111111112")


@pytest.mark.parametrize(
    "text, kinds",
    [
        ("連絡は090-1234-5678まで", ["phone"]),
        ("固定は03-1234-5678", ["phone"]),
        ("０９０１２３４５６７８に", ["phone"]),  # full-width digits, no hyphens
        ("(03)1234-5678", ["phone"]),
        ("+81-90-1234-5678", ["phone"]),
        ("〒100-0001 東京都", ["postal_code"]),
        ("mail: taro.yamada@example.co.jp", ["email"]),
        ("https://example.com/a?b=1 を見て", ["url"]),
        ("カード 4111 1111 1111 1111", ["card_number"]),
        ("カード 4111 1111 1111 1112", []),  # fails Luhn
        ("2019年8月12日 12:34", []),
        ("価格は1234567890円", []),  # 10 digits not starting with 0
        ("電話は03-1234-5678、メールはa@b.jp", ["phone", "email"]),
    ],
)
def test_find_pii(text, kinds):
    assert [s.kind for s in find_pii(text)] == kinds
    assert PII_GATE.search(text) is not None or not kinds  # the gate lets every text with PII through


# texts made of the characters the patterns read, so that PII and near misses are frequent
_PII_PIECES = st.sampled_from(
    list("0０19８+-‐ー－()（） 　〒@.ab:/wthpx") + ["郵便番号", "www.", "http://", "電話", "、"]
)


# numbers shaped like the patterns: a prefix, then groups of digits joined by separators
_DIGIT_GROUPS = st.builds(
    lambda head, groups, seps: head + "".join(g + s for g, s in zip(groups, seps)),
    st.sampled_from(["", "〒", "郵便番号", "+81", "(", "（0", "0", "電話"]),
    st.lists(st.text("01234567890０９", min_size=1, max_size=4), min_size=1, max_size=6),
    st.lists(st.sampled_from(["", "-", "ー", " ", ")", "）-", "年"]), min_size=6, max_size=6),
)


@settings(max_examples=3000, deadline=None)
@given(st.one_of(st.lists(_PII_PIECES, max_size=40).map("".join), _DIGIT_GROUPS))
def test_the_pii_gate_never_stops_a_text_with_pii(text):
    """``PII_GATE`` is a cheap superset: a text it stops has no span ``find_pii`` would find."""
    if PII_GATE.search(text) is None:
        assert find_pii(text) == []


# the gate as first written: ``PII_GATE`` is the same test, reordered to open with a character class
_PLAIN_GATE = re.compile(r"@|www|http|[0-9０-９](?:[^0-9０-９]{0,2}[0-9０-９]){6}", re.IGNORECASE)


@settings(max_examples=3000, deadline=None)
@given(
    st.one_of(
        st.lists(_PII_PIECES | st.sampled_from(["W", "H", "TTP", "WW", "ｗ"]), max_size=40).map("".join), _DIGIT_GROUPS
    )
)
def test_the_pii_gate_is_the_plain_gate(text):
    """The reordered ``PII_GATE`` lets through exactly the texts the plain alternation would."""
    assert (PII_GATE.search(text) is None) == (_PLAIN_GATE.search(text) is None)


def test_my_number_and_mask():
    number = _check_digit("98765432101")
    text = f"番号{number}です"
    assert find_pii(text) == [PiiSpan("my_number", 2, 14)]
    assert mask_pii(text) == "番号<my_number>です"  # the exports' mask (export.mask_pii)
    wrong = number[:-1] + str((int(number[-1]) + 1) % 10)
    assert find_pii(f"番号{wrong}です") == []
    assert mask_pii("なにもない") == "なにもない"


def test_pii_counter_rows():
    counter = PiiCounter()
    counter.add({"email", "phone"})
    counter.add(set())
    rows = {r["kind"]: r for r in counter.rows("corpus", "")}
    assert rows["email"] == {"scope": "corpus", "arm": "", "kind": "email", "n_texts": 2, "count": 1, "value": 0.5}
    assert rows["any"]["count"] == 1 and rows["url"]["count"] == 0
