"""Tone features on hand-made sentences, tokenized by the real fugashi + unidic-lite."""

from __future__ import annotations

import pytest

from harness.analysis.tokenize import JapaneseTokenizer, normalize
from harness.analysis.tone import TONE_MEASURES, tone_columns, tone_features


@pytest.fixture(scope="module")
def tok() -> JapaneseTokenizer:
    return JapaneseTokenizer()


def on(*names: str) -> dict[str, int]:
    """Expected features: the named ones 1, every other 0."""
    return {m: int(m in names) for m in TONE_MEASURES}


@pytest.mark.parametrize(
    "text, expected",
    [
        ("お前バカだろwww", on("laughter", "rough_second_person")),
        ("本日は晴れです。", on("polite")),
        ("行きましょう。", on("polite")),
        ("今日はいい天気ですね。", on("polite", "sentence_final_particle")),
        # laughter
        ("それはないw", on("laughter")),
        ("ｗｗｗ", on("laughter")),  # full-width w after NFKC
        ("WWW", on()),  # upper case: World Wide Web
        ("wow", on()),  # a word that merely contains w
        ("www.example.comを見て", on()),  # host name
        ("詳しくはexample.wwwで", on()),
        ("草生える", on("laughter")),
        ("草原と草木", on()),  # 草 inside other words
        ("（笑）", on("laughter")),
        ("マジかよw", on("laughter", "sentence_final_particle")),
        # rough second person
        ("てめえ", on("rough_second_person")),
        ("テメー、貴様、おめえ", on("rough_second_person")),
        ("御前会議", on()),  # lemma 御前 is not enough
        # imperative
        ("静かにしろ", on("imperative")),
        ("早く来い", on("imperative")),
        ("見てください", on("imperative")),  # unidic: ください is 命令形
        # question
        ("これは何？", on("question")),
        ("本当か。", on("question", "sentence_final_particle")),
        ("行くの?w", on("question", "laughter", "sentence_final_particle")),
        ("行くの 明日", on("question", "sentence_final_particle")),  # a space ends the sentence
        ("行くのかな", on("sentence_final_particle")),  # か is not the last particle
        ("「行くか」と言った", on("sentence_final_particle")),  # か inside a quote
        ("誰か来た", on()),  # か 副助詞
        # sentence-final particles
        ("そうだね", on("sentence_final_particle")),
        ("", on()),
    ],
)
def test_tone_features(tok, text, expected):
    assert tone_features(tok.tokenize(text), normalize(text)) == expected


def test_raw_text_is_normalised_for_offsets(tok):
    # ｗ is NFKC-normalised by the tokenizer; passing the raw text still works
    text = "ａｂｃ．ｗｗｗ"  # → abc.www: a host-name-like run, not laughter
    assert tone_features(tok.tokenize(text), text)["laughter"] == 0


def test_a_batch_with_empty_texts_has_each_text_own_markers(tok):
    """``tone_columns`` ORs each text's token markers in one pass over the batch: texts without
    tokens (empty, whitespace only) between and after others keep 0 and leave their neighbours' markers alone."""
    texts = ["", "お前ですね?", " ", "草", "しろよ", "", "ですか", "", "  "]
    columns = tone_columns(tok.tokenize_many(texts))
    for i, text in enumerate(texts):
        alone = tone_features(tok.tokenize(text), normalize(text))
        assert {name: columns[name][i] for name in TONE_MEASURES} == alone, text
