"""Property tests (hypothesis): text handling never crashes on arbitrary Unicode and keeps its invariants.

Normalisation, the tokenizer, the analysis suite, span parsing and masking,
the CSV writer/reader and the corpus readers get text mixing Japanese,
emoji, combining marks, control characters (NUL, CR, U+2028 …), lone
surrogates (what ``os.fsdecode`` and ``surrogateescape`` make of undecodable
bytes), half-width katakana, full-width ASCII, NFKC expansions and runs of
thousands of ``w``/``ｗ``.

Bugs these properties found are kept as explicit ``@example``s on tests that
run only those examples (lone surrogates written to CSV, JSON nested 100,000
deep or with 5,000-digit numbers, a one-column CSV of empty cells).
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest
from hypothesis import Phase, example, given, settings
from hypothesis import strategies as st

from harness.analysis.length import (
    MAX_PERIOD,
    MIN_REPEATS,
    distinct_2,
    is_degenerate,
    longest_repeat,
    repeats_at_least,
)
from harness.analysis.flagged import candidate_texts, candidate_tokens, find_flags
from harness.analysis.suite import AnalysisSuite
from harness.analysis.tokenize import JapaneseTokenizer, split_points
from harness.analysis.vocab_shift import VOCAB_COLUMNS, VocabShiftBuilder
from harness.config import AnalysisConfig, CorpusConfig
from harness.csvfile import read_csv, safe_cell, unescape_cell, write_csv
from harness.data.corpus import normalize_text, read_corpus
from harness.errors import HarnessError
from harness.record.spans import MASK_CHAR, Span, mask_text, parse_spans
from harness.text import normalize

ROOT = Path(__file__).resolve().parents[1]
LEXICON = ROOT / "probes" / "lexicons" / "flagged.yaml"

# Modest example counts keep the file fast; deadline=None because MeCab on a
# 4000-character run is slower than the default 200 ms deadline on a busy CI box.
FAST = settings(max_examples=200, deadline=None)
MEDIUM = settings(max_examples=100, deadline=None)
SLOW = settings(max_examples=60, deadline=None)
# Runs only the explicit @example inputs (regression tests of bugs found here).
EXPLICIT_ONLY = settings(phases=[Phase.explicit], deadline=None)

# --- strategies ---------------------------------------------------------------

# Lone surrogates: \udc80-\udcff is what surrogateescape makes of undecodable bytes.
SURROGATES = ["\ud800", "\udbff", "\udc00", "\udfff", "\udc80", "\udcff", "\ud83d"]

PIECES = [
    # Japanese, lexicon terms, tone markers
    "死ね",
    "バカ",
    "ばか",
    "馬鹿",
    "カス",
    "お前",
    "です",
    "ます。",
    "草",
    "老害",
    "殺す",
    "ゴミ人間",
    "それな",
    "か？",
    "。",
    "「",
    "」",
    "(笑)",
    "今日はいい天気ですね",
    # half-width katakana (NFKC: full width; ﾞ becomes a combining dakuten)
    "ﾊﾞｶ",
    "ｶｽ",
    "ｼﾈ",
    "ﾞ",
    "ﾟ",
    "ｰ",
    "｡",
    "ｳﾞ",
    # full-width ASCII and laughter
    "ｗ",
    "ｗｗｗ",
    "ＡＢＣ",
    "１２３",
    "＝",
    "＋",
    "－",
    "＠",
    "！",
    "？",
    "　",
    "（笑）",
    # NFKC expansions that change the length
    "㍻",
    "ﷺ",
    "①",
    "ﬁ",
    "㌀",
    "…",
    "㈱",
    "½",
    # combining marks
    "\u0301",
    "\u0308",
    "\u3099",
    "\u309a",
    "e\u0301",
    "か\u3099",
    "\u0316\u0301",
    # emoji: ZWJ sequence, skin tone, flag, variation selector
    "😀",
    "👍🏽",
    "👨\u200d👩\u200d👧",
    "🇯🇵",
    "❤\ufe0f",
    "\u200d",
    # control and separator characters
    "\x00",
    "\r",
    "\n",
    "\r\n",
    "\t",
    "\x0b",
    "\x0c",
    "\x1c",
    "\x1f",
    "\x7f",
    "\x85",
    "\u2028",
    "\u2029",
    "\u200b",
    "\ufeff",
    # CSV, spreadsheet and corpus syntax
    ",",
    '"',
    "'",
    "''",
    "=",
    "+",
    "-",
    "@",
    '=HYPERLINK("x","y")',
    "-1",
    "+1e-3",
    "__BR__",
    " __BR__ ",
    "www.example.com",
    ".",
    " ",
    "0",
    "1",
    "[",
    "]",
    "{",
    "}",
    MASK_CHAR,
]

RUN_UNITS = ["w", "ｗ", "ww ", "ｗw", "草", "死ね", "ﾊﾞｶ"]


def _alphabet(surrogates: bool) -> st.SearchStrategy[str]:
    everything = st.characters(exclude_categories=() if surrogates else ("Cs",))
    return st.one_of(
        everything,
        st.characters(min_codepoint=0x3000, max_codepoint=0x30FF),  # CJK punctuation, kana
        st.characters(min_codepoint=0xFF00, max_codepoint=0xFFEF),  # full-/half-width forms
        st.characters(min_codepoint=0x4E00, max_codepoint=0x4FFF),  # kanji
        st.characters(min_codepoint=0x0000, max_codepoint=0x007F),  # ASCII incl. controls
        st.characters(min_codepoint=0x0300, max_codepoint=0x036F),  # combining marks
    )


def texts(surrogates: bool = True, runs: bool = True) -> st.SearchStrategy[str]:
    """Arbitrary text: mixed-alphabet chunks, sampled pieces, sometimes a run of thousands."""
    pieces = PIECES + (SURROGATES if surrogates else [])
    part = st.one_of(st.text(_alphabet(surrogates), max_size=30), st.sampled_from(pieces), st.sampled_from(pieces))
    mixed = st.lists(part, max_size=12).map("".join)
    if not runs:
        return mixed
    run = st.builds(lambda unit, n: unit * n, st.sampled_from(RUN_UNITS), st.integers(1000, 4000))
    return st.one_of(mixed, mixed, st.tuples(mixed, run, mixed).map("".join))


ANY_TEXT = texts()
ENCODABLE_TEXT = texts(surrogates=False)
SHORT_ENCODABLE = texts(surrogates=False, runs=False)

# --- fixtures -------------------------------------------------------------------


@pytest.fixture(scope="module")
def tokenizer() -> JapaneseTokenizer:
    return JapaneseTokenizer()


@pytest.fixture(scope="module")
def small_tokenizer() -> JapaneseTokenizer:
    """Tiny chunks and a low cut-off, so the long runs cross chunk seams and get clipped."""
    return JapaneseTokenizer(chunk_chars=64, max_chars=3000)


@pytest.fixture(scope="module")
def suite(tokenizer: JapaneseTokenizer) -> AnalysisSuite:
    return AnalysisSuite(AnalysisConfig(lexicons=[LEXICON]), tokenizer)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One folder per module: examples overwrite the same files (tmp_path is per test, not per example)."""
    return tmp_path_factory.mktemp("properties")


# --- normalisation and tokenization ---------------------------------------------


@FAST
@given(ANY_TEXT)
def test_normalize_is_idempotent(text: str) -> None:
    once = normalize(text)
    assert normalize(once) == once


@FAST
@given(ANY_TEXT)
def test_normalize_text_is_nfkc_and_tidy(text: str) -> None:
    """The corpus readers' normalisation: NFKC, idempotent, no stray whitespace at the ends."""
    tidy = normalize_text(text)
    assert normalize(tidy) == tidy
    assert normalize_text(tidy) == tidy
    assert tidy == tidy.strip()


@MEDIUM
@given(ANY_TEXT)
def test_tokens_are_ordered_non_overlapping_and_index_the_nfkc_text(
    tokenizer: JapaneseTokenizer, small_tokenizer: JapaneseTokenizer, text: str
) -> None:
    for tok_ in (tokenizer, small_tokenizer):
        norm = normalize(text)[: tok_.max_chars]
        tokens = tok_.tokenize(text)
        pos = 0
        for tok in tokens:
            assert pos <= tok.start < tok.end <= len(norm)
            assert norm[tok.start : tok.end] == tok.surface
            # MeCab skips only whitespace (and the NUL the tokenizer turns into a space)
            gap = norm[pos : tok.start]
            assert all(ch.isspace() or ch == "\x00" for ch in gap), (gap, tok)
            pos = tok.end
        assert all(ch.isspace() or ch == "\x00" for ch in norm[pos:])
        assert tok_.tokenize(norm) == tokens  # tokenizing the stored NFKC text changes nothing


@FAST
@given(ANY_TEXT, st.integers(2, 200))
def test_split_points_cover_the_text_in_bounded_chunks(text: str, limit: int) -> None:
    ends = split_points(text, limit)
    assert ends[-1] == len(text)
    starts = [0, *ends[:-1]]
    for start, end in zip(starts, ends):
        assert end - start <= limit
        if end != len(text):
            assert end - start >= limit // 2
    assert ends == sorted(set(ends))


# --- the analysis suite ---------------------------------------------------------


@MEDIUM
@given(ANY_TEXT)
def test_score_text_keeps_its_invariants(suite: AnalysisSuite, text: str) -> None:
    scored = suite.score_text(text)
    norm = normalize(text)
    assert scored.text == norm
    values = scored.values
    catalogue = suite.catalogue()
    for spec in catalogue:
        value = values[spec.name]
        assert isinstance(value, (int, float)) and not isinstance(value, bool), spec.name
        assert math.isfinite(value), spec.name
        if spec.kind == "binary":
            assert value in (0, 1), spec.name
    assert values["characters"] == len(norm)
    assert 0 <= values["tokens"] <= len(scored.tokens)
    assert 0 <= values["distinct_2"] <= 1

    harmful = [s.name for s in catalogue if s.harmful and s.name.startswith("cat_")]
    assert values["flagged"] == int(any(values[name] == 1 for name in harmful))

    cell = scored.details["flagged_spans"]
    raw = json.loads(cell)
    assert scored.details["flag_count"] == len(raw)
    starts = {t.start for t in scored.tokens}
    ends = {t.end for t in scored.tokens}
    pos = 0
    for start, end, _term, category, surface in raw:
        # spans index the NFKC text, start and end on token boundaries, never overlap
        assert pos <= start < end <= len(norm)
        assert norm[start:end] == surface
        assert start in starts and end in ends
        assert values[f"cat_{category}"] == 1
        pos = end
    assert {c for _, _, _, c, _ in raw} == set(filter(None, scored.details["flagged_categories"].split("|")))
    assert {t for _, _, t, _, _ in raw} == set(filter(None, scored.details["flagged_terms"].split("|")))
    spans = parse_spans(unescape_cell(safe_cell(cell)), text=norm)
    assert spans == [Span(*item[:4]) for item in raw]
    masked = mask_text(norm, spans)
    assert len(masked) == len(norm)
    assert all(masked[i] == MASK_CHAR for s in spans for i in range(s.start, s.end))


@pytest.fixture(scope="module")
def small_suite(small_tokenizer: JapaneseTokenizer) -> AnalysisSuite:
    return AnalysisSuite(AnalysisConfig(lexicons=[LEXICON]), small_tokenizer)


@SLOW
@given(st.lists(ANY_TEXT, max_size=5))
def test_a_batch_scores_each_text_as_alone(suite: AnalysisSuite, small_suite: AnalysisSuite, batch: list[str]) -> None:
    """``score_batch`` over texts side by side: each text's tokens, values and details (their order
    too) exactly as ``score_text`` gives them — nothing leaks from one text of a batch into the next."""
    for one in (suite, small_suite):
        scored = one.score_batch(batch)
        assert len(scored.scored) == len(batch)
        for text, got in zip(batch, scored.scored):
            alone = one.score_text(text)
            assert got.text == alone.text
            assert got.tokens == alone.tokens
            assert list(got.values.items()) == list(alone.values.items())
            assert list(got.details.items()) == list(alone.details.items())


# group-contempt sentences and their near misses (topic, predicate, negation, object) in any order
GROUP_PIECES = ["日本人", "韓国人", "自民党", "大阪の人", "の", "支持者", "人", "は", "って", "なんて", "全員", "ども"]
GROUP_PIECES += ["ゴミ", "害悪", "民度", "低い", "マナー", "が", "を", "ない", "じゃ", "分別する", "。", "\n", " "]
GROUP_TEXT = st.lists(st.sampled_from(GROUP_PIECES), max_size=10).map("".join)
TEXT_OR_GROUP = st.one_of(ANY_TEXT, GROUP_TEXT)


@MEDIUM
@given(st.lists(TEXT_OR_GROUP, max_size=8))
def test_each_scan_skips_only_texts_it_cannot_match(suite: AnalysisSuite, batch: list[str]) -> None:
    """``candidate_texts`` of each lexicon ``score_many`` scans (the flag lexicon, the group rules'
    group vocabulary and predicates): ``find_flags`` finds nothing in a text it leaves out, and
    scanning only from ``candidate_tokens`` finds exactly what the whole scan finds."""
    flagged = suite.analysers[0]
    assert flagged.group_rules is not None
    tokens = suite.tokenizer.tokenize_many(batch)
    for lexicon in (flagged.lexicon, flagged.group_rules.groups, flagged.group_rules.predicates):
        kept = set(candidate_texts(tokens, lexicon))
        starts = candidate_tokens(tokens, lexicon)
        for i, (text, toks) in enumerate(zip(tokens.texts, tokens.tokens())):
            whole = find_flags(toks, lexicon, text)
            if i not in kept:
                assert whole == []
            lo, hi = tokens.bounds[i], tokens.bounds[i + 1]
            assert find_flags(toks, lexicon, text, [t - lo for t in starts if lo <= t < hi]) == whole
        # limited to some texts (as the predicates to the texts naming a group): those texts' tokens exactly
        some = list(range(0, len(batch), 2))
        owners = tokens.owners.tolist()
        assert candidate_tokens(tokens, lexicon, some) == [t for t in starts if owners[t] in some]


@MEDIUM
@given(st.lists(TEXT_OR_GROUP, max_size=8))
# masked variants (まぬ● is 間抜け) and entries of three tokens (大阪の人) whose third token decides:
# their first pair must not be remembered; nor the first three tokens where the fourth decides (がいあ●)
@example(["まぬだ", "まぬ●", "む●だ", "む●う", "が●だ", "が●あく", "大阪の。", "大阪の人", "がいあ!", "がいあ●"])
def test_remembered_pairs_give_what_the_scan_gives(suite: AnalysisSuite, batch: list[str]) -> None:
    """``candidate_tokens`` remembers, per pair (or triple) of tokens, what the tokens after a start
    decide.  Every token it keeps for a text scanned alone with nothing remembered (each lexicon's
    prefilter cleared) it keeps in the batch too, with the pairs the earlier examples left; and it
    gives the same tokens with nothing remembered, and again with the pairs this batch left."""
    flagged = suite.analysers[0]
    assert flagged.group_rules is not None
    tokens = suite.tokenizer.tokenize_many(batch)
    for lexicon in (flagged.lexicon, flagged.group_rules.groups, flagged.group_rules.predicates):
        kept = list(lexicon.index.row_bits)
        try:
            alone: set[int] = set()
            for lo, text in zip(tokens.bounds, tokens.texts):
                lexicon.index.row_bits.clear()
                alone.update(lo + t for t in candidate_tokens(suite.tokenizer.tokenize_many([text]), lexicon))
            lexicon.index.row_bits[:] = kept
            warm = candidate_tokens(tokens, lexicon)
            assert alone <= set(warm)
            lexicon.index.row_bits.clear()
            assert candidate_tokens(tokens, lexicon) == warm  # computed afresh, its pairs remembered
            assert candidate_tokens(tokens, lexicon) == warm  # read from what was just remembered
        finally:
            lexicon.index.row_bits[:] = kept


@MEDIUM
@given(st.lists(TEXT_OR_GROUP, max_size=8))
@example(["日本人はゴミ", "今日はいい天気ですね", "日本人はゴミを分別する", "民度の低い大阪の人", "お前バカ"])
def test_flag_prefilter_skips_only_texts_without_a_match(suite: AnalysisSuite, batch: list[str]) -> None:
    """``FlaggedAnalyser.score_many`` (which scans only ``candidate_texts``) equals ``score`` on every text."""
    flagged = suite.analysers[0]
    tokens = suite.tokenizer.tokenize_many(batch)
    many = flagged.score_many(tokens)
    for i, (text, toks) in enumerate(zip(tokens.texts, tokens.tokens())):
        alone = flagged.score(text, toks)
        assert {k: v[i] for k, v in many.values.items()} == alone.values
        assert {k: v[i] for k, v in many.details.items()} == alone.details


@SLOW
@given(
    st.sampled_from(["", "それな", "今日はいい天気ですね。", "草生える "]),
    st.sampled_from(["w", "ｗ"]),
    st.integers(1, 4000),
)
def test_runs_of_w_are_laughter(suite: AnalysisSuite, prefix: str, unit: str, n: int) -> None:
    values = suite.score_text(prefix + unit * n).values
    assert values["laughter"] == 1
    assert values["characters"] == len(normalize(prefix)) + n


@SLOW
@given(st.sampled_from(["死ね", "ﾊﾞｶ", "バカ"]), st.integers(MIN_REPEATS, 2000))
def test_repeated_insults_flag_and_loop(suite: AnalysisSuite, unit: str, n: int) -> None:
    values = suite.score_text(unit * n).values
    assert values["flagged"] == 1
    assert values["degenerate_repetition"] == 1


@SLOW
@given(st.lists(st.tuples(st.sampled_from(["base", "tuned"]), ANY_TEXT), max_size=6))
def test_vocab_shift_tables_never_crash(suite: AnalysisSuite, observed: list[tuple[str, str]]) -> None:
    builder = next(a.table_builder() for a in suite.analysers if a.name == "vocab_shift")
    assert isinstance(builder, VocabShiftBuilder)
    for arm, text in observed:
        builder.observe(arm, suite.score_text(text))
    table, divergence = builder.tables(["base", "tuned"], "base")
    for row in divergence.rows:
        assert row["jsd_bits"] == "" or 0.0 <= row["jsd_bits"] <= 1.0
    for row in table.rows:
        assert list(row) == VOCAB_COLUMNS
        assert row["count_arm"] >= 0 and row["count_versus"] >= 0
        assert math.isfinite(row["log_odds"]) and math.isfinite(row["z"])
        assert row["flagged"] in (0, 1)


# --- length and repetition ------------------------------------------------------

SURFACES = st.lists(st.one_of(st.sampled_from(["w", "草", "死ね", "。", "a", ""]), st.text(max_size=3)), max_size=80)


@FAST
@given(SURFACES)
def test_length_measures_stay_in_range(surfaces: list[str]) -> None:
    d2 = distinct_2(surfaces)
    assert 0 <= d2 <= 1
    repeat = longest_repeat(surfaces)
    assert 1 <= repeat <= max(1, len(surfaces))
    assert isinstance(is_degenerate(surfaces), bool)


@FAST
@given(
    SURFACES,
    st.lists(st.sampled_from(["w", "草", "死ね", "a"]), min_size=1, max_size=MAX_PERIOD),
    st.integers(MIN_REPEATS, 40),
    SURFACES,
)
def test_repeated_unit_is_degenerate(prefix: list[str], unit: list[str], k: int, suffix: list[str]) -> None:
    surfaces = prefix + unit * k + suffix
    assert longest_repeat(surfaces) >= k
    assert is_degenerate(surfaces)


@FAST
@given(
    st.lists(st.sampled_from(["w", "草", "a", "b"]), max_size=60),
    st.integers(0, 8),
    st.integers(1, MAX_PERIOD + 1),
)
def test_repeat_test_by_byte_runs_agrees_with_longest_repeat(surfaces: list[str], k: int, period: int) -> None:
    """The fast test the analyser uses (issue 17) says exactly what ``longest_repeat`` says."""
    assert repeats_at_least(surfaces, k, period) == (longest_repeat(surfaces, period) >= k)


@SLOW
@given(st.sampled_from(["w", "ｗ", "草"]), st.integers(2, 5000))
def test_length_measures_on_long_runs(unit: str, n: int) -> None:
    surfaces = [unit] * n
    assert distinct_2(surfaces) == 1 / (n - 1)
    assert longest_repeat(surfaces) == n
    assert is_degenerate(surfaces) == (n >= MIN_REPEATS)


# --- spans and masking ----------------------------------------------------------


@st.composite
def text_and_spans(draw: st.DrawFn) -> tuple[str, list[list]]:
    text = draw(texts(runs=False).filter(bool))
    n = len(text)
    items = []
    for _ in range(draw(st.integers(0, 6))):
        start = draw(st.integers(0, n - 1))
        end = draw(st.integers(start + 1, n))
        items.append([start, end, draw(ANY_TEXT.filter(lambda t: len(t) < 50)), draw(st.text(max_size=10))])
    return text, items


@FAST
@given(text_and_spans())
def test_parse_spans_and_mask(case: tuple[str, list[list]]) -> None:
    text, items = case
    cell = json.dumps(items, ensure_ascii=False)
    spans = parse_spans(unescape_cell(safe_cell(cell)), len(text))
    covered = {i for start, end, *_ in items for i in range(start, end)}
    assert {i for s in spans for i in range(s.start, s.end)} == covered
    for before, after in zip(spans, spans[1:]):
        assert before.end <= after.start  # sorted, never overlapping
    masked = mask_text(text, spans)
    assert len(masked) == len(text)
    for i, (old, new) in enumerate(zip(text, masked)):
        assert new == (MASK_CHAR if i in covered else old)
    # canonical (merged) spans round-trip through their serialized form
    again = json.dumps([list(s) for s in spans], ensure_ascii=False)
    assert parse_spans(again, len(text)) == spans
    if items:
        with pytest.raises(ValueError):
            parse_spans(cell, max(end for _, end, *_ in items) - 1)


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
    max_leaves=20,
)


@FAST
@given(st.one_of(ANY_TEXT, JSON_VALUES.map(json.dumps)), st.none() | st.integers(0, 50))
def test_parse_spans_rejects_garbage_with_value_error(cell: str, length: int | None) -> None:
    try:
        spans = parse_spans(cell, length)
    except ValueError:
        return
    for span in spans:
        assert 0 <= span.start < span.end and (length is None or span.end <= length)


@EXPLICIT_ONLY
@given(st.text())
@example("[" * 100_000 + "]" * 100_000)
def test_parse_spans_deep_nesting_raises_value_error(cell: str) -> None:
    with pytest.raises(ValueError):
        parse_spans(cell)


# --- CSV ------------------------------------------------------------------------

FORMULA_START = re.compile(r"[=+\-@\t\r]")
PLAIN_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
COLUMNS = ["id", "text", "flagged_spans"]


@FAST
@given(ANY_TEXT)
def test_safe_cell_round_trips_and_neutralises_formulas(text: str) -> None:
    cell = safe_cell(text)
    assert unescape_cell(cell) == text
    assert not FORMULA_START.match(cell) or PLAIN_NUMBER.fullmatch(cell)


@MEDIUM
@given(st.lists(st.fixed_dictionaries({c: ENCODABLE_TEXT for c in COLUMNS}), max_size=5))
def test_csv_round_trips_any_text(workdir: Path, rows: list[dict[str, str]]) -> None:
    path = workdir / "table.csv"
    write_csv(path, rows, COLUMNS)
    assert read_csv(path) == rows
    for row in read_csv(path, raw=True):  # what a spreadsheet sees
        for cell in row.values():
            assert not FORMULA_START.match(cell) or PLAIN_NUMBER.fullmatch(cell)


@MEDIUM
@given(st.sampled_from(SURROGATES), SHORT_ENCODABLE, SHORT_ENCODABLE)
def test_csv_with_lone_surrogate_fails_without_touching_the_file(
    workdir: Path, surrogate: str, before: str, after: str
) -> None:
    """A lone surrogate cannot be UTF-8: the write fails and the old file stays as it was."""
    path = workdir / "surrogate.csv"
    write_csv(path, [{"id": "1", "text": "old", "flagged_spans": ""}], COLUMNS)
    old = path.read_bytes()
    with pytest.raises((UnicodeError, HarnessError)):
        write_csv(path, [{"id": "1", "text": before + surrogate + after, "flagged_spans": ""}], COLUMNS)
    assert path.read_bytes() == old
    assert sorted(p.name for p in workdir.iterdir() if p.name.startswith(".surrogate.csv")) == []


@EXPLICIT_ONLY
@given(st.text())
@example("abc\ud800")
@example("\udc80")
def test_csv_with_lone_surrogate_raises_harness_error(workdir: Path, text: str) -> None:
    with pytest.raises(HarnessError):
        write_csv(workdir / "surrogate-error.csv", [{"id": "1", "text": text, "flagged_spans": ""}], COLUMNS)


@FAST
@given(st.lists(st.text(), max_size=3))
@example([""])
@example(["a", "", "b"])
def test_one_column_csv_round_trips_empty_cells(workdir: Path, cells: list[str]) -> None:
    path = workdir / "one-column.csv"
    rows = [{"text": c} for c in cells]
    write_csv(path, rows, ["text"])
    assert read_csv(path) == rows


# --- corpus readers -------------------------------------------------------------

CORPUS_OPTIONS = st.fixed_dictionaries(
    {
        "turns": st.sampled_from(["join", "separate"]),
        "dedupe": st.booleans(),
        "max_docs": st.none() | st.integers(1, 5),
    }
)


def _read(path: Path, fmt: str, options: dict) -> list | None:
    """read_corpus, or None when it raised a HarnessError (anything else propagates)."""
    try:
        docs = read_corpus(CorpusConfig(path=path, format=fmt, **options))
    except HarnessError:
        return None
    assert docs
    for doc in docs:
        assert doc.text and doc.text == doc.text.strip()
        assert normalize(doc.text) == doc.text
        assert "\t" not in doc.text and "\r" not in doc.text
        assert doc.line >= 1
    assert [d.line for d in docs] == sorted(d.line for d in docs)
    if options["dedupe"]:
        assert len({d.text for d in docs}) == len(docs)
    if options["max_docs"]:
        assert len(docs) <= options["max_docs"]
    return docs


@MEDIUM
@given(st.lists(SHORT_ENCODABLE, max_size=8), CORPUS_OPTIONS)
def test_text_corpus(workdir: Path, lines: list[str], options: dict) -> None:
    path = workdir / "corpus.txt"
    content = "\n".join(lines)
    path.write_bytes(content.encode("utf-8"))
    docs = _read(path, "text", options)
    if docs is not None:
        assert all("\n" not in d.text for d in docs)
        if not options["dedupe"] and not options["max_docs"]:
            # nothing lost: only whitespace differs, however the reader splits lines (\n; \r too or not);
            # a leading byte-order mark and NULs are not text (harness.data.corpus strips them)
            kept = content.removeprefix("\ufeff").replace("\x00", "")
            assert "".join("".join(d.text.split()) for d in docs) == "".join(normalize(kept).split())


@MEDIUM
@given(
    st.lists(st.lists(SHORT_ENCODABLE, min_size=1, max_size=4), max_size=6),
    st.none() | st.sampled_from(["0", "1"]),
    st.sampled_from(["auto", "open2ch", "open2ch-ranking"]),
    CORPUS_OPTIONS,
)
def test_open2ch_corpus(workdir: Path, rows: list[list[str]], label: str | None, fmt: str, options: dict) -> None:
    path = workdir / "corpus.tsv"
    lines = ["\t".join(([label] if label else []) + fields) for fields in rows]
    path.write_bytes("\n".join(lines).encode("utf-8"))
    _read(path, fmt, options)


JSONL_LINES = st.lists(
    st.one_of(
        st.builds(lambda t: json.dumps({"text": t}, ensure_ascii=False), SHORT_ENCODABLE),
        # \u-escaped: a valid UTF-8 file can still carry lone surrogates ("\ud800") this way
        st.builds(lambda t: json.dumps({"text": t, "id": 1}), texts(runs=False)),
        st.just(""),
    ),
    max_size=6,
)
# at most one line that is not an object with a string "text": more would make nearly every file invalid
BAD_JSONL_LINE = st.none() | JSON_VALUES.map(json.dumps) | SHORT_ENCODABLE


@MEDIUM
@given(JSONL_LINES, BAD_JSONL_LINE, st.integers(0, 6), CORPUS_OPTIONS)
def test_jsonl_corpus(workdir: Path, lines: list[str], bad: str | None, where: int, options: dict) -> None:
    if bad is not None:
        lines = lines[:where] + [bad] + lines[where:]
    path = workdir / "corpus.jsonl"
    path.write_bytes("\n".join(lines).encode("utf-8"))
    _read(path, "jsonl", options)


@MEDIUM
@given(
    st.lists(st.one_of(st.binary(max_size=20), SHORT_ENCODABLE.map(lambda t: t.encode("utf-8"))), max_size=8),
    st.sampled_from(["auto", "text", "open2ch", "open2ch-ranking", "jsonl"]),
    st.sampled_from(["corpus.bin.tsv", "corpus.bin.txt", "corpus.bin.jsonl"]),
    CORPUS_OPTIONS,
)
def test_corpus_of_arbitrary_bytes(workdir: Path, chunks: list[bytes], fmt: str, name: str, options: dict) -> None:
    path = workdir / name
    path.write_bytes(b"".join(chunks))
    _read(path, fmt, options)


@EXPLICIT_ONLY
@given(st.text())
@example('{"text": "x", "n": ' + "1" * 5000 + "}")
@example("[" * 100_000 + "]" * 100_000)
def test_jsonl_corpus_bad_json_raises_harness_error(workdir: Path, line: str) -> None:
    path = workdir / "bad.jsonl"
    path.write_text(line + "\n", encoding="utf-8")
    with pytest.raises(HarnessError):
        read_corpus(CorpusConfig(path=path, format="jsonl"))
