"""Tokenizer: NFKC, offsets into the normalised text, unknown-word fallbacks."""

from __future__ import annotations

import builtins
import gc
from pathlib import Path

import pytest

from harness.analysis.tokenize import JapaneseTokenizer, Token, TokenBatch, Tokens, normalize, token_columns
from harness.errors import HarnessError, MissingDependency

DEV_TSV = Path(__file__).resolve().parents[2] / "shared" / "corpora" / "open2ch-ranking-dev" / "dev.tsv"


@pytest.fixture(scope="module")
def tok() -> JapaneseTokenizer:
    return JapaneseTokenizer()


def _assert_offsets(text: str, tokens: list[Token]) -> None:
    norm = normalize(text)
    prev = 0
    for t in tokens:
        assert norm[t.start : t.end] == t.surface
        assert t.start >= prev and t.end > t.start
        # only whitespace (and a NUL, read as a space) lies between tokens
        assert norm[prev : t.start].replace("\x00", "").strip() == ""
        prev = t.end
    assert norm[prev:].strip() == ""


def test_normalize_is_nfkc():
    assert normalize("ﾊﾞｶｗｗ？！　ＡＢＣ１２３") == "バカww?! ABC123"
    assert normalize("（笑）") == "(笑)"


def test_tokens_carry_unidic_fields(tok):
    tokens = tok.tokenize("行きましょう。")
    assert [t.surface for t in tokens] == ["行き", "ましょう", "。"]
    verb, aux, stop = tokens
    assert (verb.lemma, verb.pos1, verb.c_form) == ("行く", "動詞", "連用形-一般")
    assert (aux.lemma, aux.pos1, aux.orth_base) == ("ます", "助動詞", "ます")
    assert (stop.pos1, stop.pos2) == ("補助記号", "句点")
    assert (verb.start, verb.end, aux.start, aux.end) == (0, 2, 2, 6)


def test_spelling_variants_share_lemma_and_reading(tok):
    keys = {t.surface: t.lemma_key for t in tok.tokenize("バカ ばか 馬鹿")}
    assert keys == {"バカ": ("馬鹿", "バカ"), "ばか": ("馬鹿", "バカ"), "馬鹿": ("馬鹿", "バカ")}
    # same lemma, different lexeme: まとも (decent) vs 正面 (front)
    (matomo,), (shomen,) = tok.tokenize("まとも"), tok.tokenize("正面")
    assert matomo.lemma == shomen.lemma == "正面"
    assert matomo.lemma_key != shomen.lemma_key


def test_unknown_words_fall_back_to_surface(tok):
    (w,) = tok.tokenize("ｗｗｗ")
    assert (w.surface, w.lemma, w.orth_base, w.l_form) == ("www", "www", "www", "")


@pytest.mark.parametrize(
    "text",
    [
        "  前\t後\n\n  end  ",
        "ﾊﾞｶ　ｱﾎ（笑）",
        "x\x00y",  # MeCab stops at NUL; it is read as a space instead
        "a\ud800b",  # lone surrogate
        "😀バカ😀 www.example.com",
        '“quote”,comma,"q"',
        "",
        "   ",
    ],
)
def test_offsets_point_into_normalised_text(tok, text):
    _assert_offsets(text, tok.tokenize(text))


def test_nul_does_not_truncate(tok):
    assert [t.surface for t in tok.tokenize("x\x00y")] == ["x", "y"]


def test_offsets_on_real_forum_posts(tok):
    if not DEV_TSV.is_file():
        pytest.skip(f"shared corpus not found: {DEV_TSV}")
    checked = 0
    with DEV_TSV.open(encoding="utf-8") as fh:
        for line in fh:
            for post in line.rstrip("\n").split("\t")[1:]:
                post = post.replace(" __BR__ ", "\n")
                _assert_offsets(post, tok.tokenize(post))
                checked += 1
            if checked >= 1000:
                break
    assert checked >= 1000


def test_dictionary_info_names_unidic_lite(tok):
    info = tok.dictionary_info()
    assert info["name"] == "unidic-lite"
    assert info["version"] and info["fugashi"]
    assert isinstance(info["dictionary_version"], int)
    assert info["label"].startswith(f"unidic-lite {info['version']}")


def test_missing_fugashi_names_the_pip_command(monkeypatch):
    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name == "fugashi":
            raise ImportError("No module named 'fugashi'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    with pytest.raises(MissingDependency, match="pip install fugashi unidic-lite"):
        JapaneseTokenizer()


def test_tokens_are_built_lazily_from_columns_and_equal_a_list(tok):
    tokens = tok.tokenize("お前 はバカだ")
    assert isinstance(tokens, Tokens)
    columns = token_columns(tokens)
    assert columns.surface == ("お前", "は", "バカ", "だ")
    assert columns.start == (0, 3, 4, 6) and columns.end == (2, 4, 6, 7)
    as_list = list(tokens)
    assert tokens == as_list and as_list == tokens and tokens == tuple(as_list)
    assert tokens[1] == Token("は", "は", "は", "助詞", "係助詞", "*", 3, 4, "ハ")
    assert tokens[1:3] == as_list[1:3] and len(tokens) == 4
    # a plain list of tokens has the same columns
    assert token_columns(as_list) == columns
    assert token_columns([]) == token_columns(tok.tokenize("  "))


def test_one_texts_tokens_equal_the_batchs_view(tok):
    """``tokens_of(i)`` is ``tokens()[i]`` (and ``token_list(i)`` its list), before and after ``tokens()`` was
    made, and on a batch of columns."""
    texts = ["今日は良い天気ですね", "", "お前 はバカだ", "行きましょう。"]
    batch = tok.tokenize_many(texts)
    alone = [batch.tokens_of(i) for i in range(len(texts))]
    assert alone == batch.tokens() == [tok.tokenize(t) for t in texts]
    assert [batch.tokens_of(i) for i in range(len(texts))] == batch.tokens()
    made = TokenBatch.of(texts, alone)
    assert [made.tokens_of(i) for i in range(len(texts))] == alone
    # ``token_list``: straight from the rows, after the views were made, and on a batch of columns
    fresh = tok.tokenize_many(texts)
    for one in (fresh, batch, made):
        assert [one.token_list(i) for i in range(len(texts))] == [list(t) for t in alone]


def test_line_cache_is_bounded_and_gives_the_same_tokens(tok):
    small = JapaneseTokenizer()
    small._lines.limit = 3  # noqa: SLF001  (the cache only changes speed: fill it past its bound)
    text = "今日はいい天気ですね。明日も晴れるといいな。"
    first = small.tokenize(text)
    table = small._lines.table  # noqa: SLF001
    assert first == tok.tokenize(text) == small.tokenize(text)
    # the cache was full after the first text: the second started a new table, the first kept its own
    assert small._lines.table is not table and len(small._lines.lines) == len(table)  # noqa: SLF001
    assert first == tok.tokenize(text)


def test_a_full_line_cache_serves_a_batch_and_keeps_its_bound(tok):
    """A full cache starts a new table at the next batch; repeated new lines in a batch parse once."""
    small = JapaneseTokenizer()
    small._lines.limit = 5  # noqa: SLF001  (the cache only changes speed)
    texts = ["今日はいい天気ですね。", "明日も晴れるといいな。", "今日はいい天気ですね。", "お前 はバカだ", ""]
    batches = []
    for _ in range(2):
        batch = small.tokenize_many(texts)
        batches.append(batch)
        assert batch.tokens() == [tok.tokenize(t) for t in texts]
        assert batch.bounds[-1] == len(batch.columns.surface) and len(batch.bounds) == len(texts) + 1
        distinct = len(set(batch.rows.tolist()))
        assert len(small._lines.lines) == distinct == len(batch.table)  # noqa: SLF001  (one batch's lines, once each)
    assert batches[0].table is not batches[1].table
    assert batches[0].tokens() == batches[1].tokens()


def test_offsets_are_checked_against_the_text(tok, monkeypatch):
    """Offsets come from MeCab's lengths; were MeCab's output off, tokenizing fails rather than mislabel spans."""

    class Shifted:
        def parse(self, text):
            # claim one more space before the second token than there is
            lines = tok._tagger.parse(text).split("\n")  # noqa: SLF001
            lines[1] = " " + lines[1]
            return "\n".join(lines)

    broken = JapaneseTokenizer()
    monkeypatch.setattr(broken, "_tagger", Shifted())
    with pytest.raises(HarnessError, match="offsets lost"):
        broken.tokenize("お前 はバカだ")


def test_a_batch_and_its_tokens_form_no_reference_cycle(tok):
    """A batch keeps its ``Tokens`` and they do not point back at it: dropping the batch frees it at once.

    A cycle per batch left every batch (and every ``Token`` list built from
    it) to the garbage collector, ~20,000 objects on 8,000 posts.
    """
    texts = ["今日は良い天気ですね", "ばかじゃないの?", "", "行きましょう。"]
    gc.collect()
    gc.disable()
    try:
        batch = tok.tokenize_many(texts)
        tokens = batch.tokens()
        read = [list(t) for t in tokens]  # columns gathered and Token objects built
        assert [t.surface for t in read[3]] == ["行き", "ましょう", "。"]
        assert tokens[1].columns == batch.columns_of(batch.bounds[1], batch.bounds[2])
        del batch, tokens, read
        assert gc.collect() == 0
    finally:
        gc.enable()
