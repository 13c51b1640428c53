"""Long documents and large corpora: chunked tokenization, the length cap, the streaming audit.

MeCab's lattice grows with its input (~2 KB a character): a 3 MB line once
crashed the process.  The tokenizer cuts long texts into chunks at sentence
ends, clips texts beyond ``max_chars``, and the corpus audit keeps counts and
running means instead of every value.
"""

from __future__ import annotations

import json

import math
import subprocess
import sys
import textwrap
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from harness.analysis import tokenize as tokenize_module
from harness.analysis.suite import AnalysisSuite
from harness.analysis.summary import AuditAccumulator, RunningMean
from harness.analysis.tokenize import JapaneseTokenizer, Token, normalize, split_points
from harness.cli import main
from harness.config import AnalysisConfig
from harness.record.schema import MeasureSpec

ROOT = Path(__file__).resolve().parents[1]
LEXICON = ROOT / "probes" / "lexicons" / "flagged.yaml"
FORUM = "お前らほんとバカだなwww 今日は雨だし草も生えない。マジで?「それな」\nおはよう!"
NO_BOUNDARY = "草生えるわお前らほんとバカだなマジで"


@pytest.fixture(scope="module")
def tok() -> JapaneseTokenizer:
    return JapaneseTokenizer()


@pytest.fixture(scope="module")
def small_tok() -> JapaneseTokenizer:
    # tiny chunks and cap: many seams and a clip in a few hundred characters
    return JapaneseTokenizer(chunk_chars=60, max_chars=1000)


def assert_offsets(text: str, tokens: list[Token]) -> None:
    prev = 0
    for t in tokens:
        assert text[t.start : t.end] == t.surface
        assert t.start >= prev and t.end > t.start
        # nothing but whitespace (or a NUL, read as a space) is skipped
        assert text[prev : t.start].replace("\x00", "").strip() == ""
        prev = t.end
    assert text[prev:].strip() == ""


def test_split_points_prefer_sentence_ends_then_spaces_then_the_limit():
    # a sentence end (with its closing bracket) in the second half of the window wins
    text = "a" * 30 + "。」" + "b" * 10 + " " + "c" * 100
    ends = split_points(text, 50)
    assert ends[0] == 32 and ends[-1] == len(text)
    # no sentence end: the last whitespace in the second half
    assert split_points("a" * 40 + " " + "b" * 40, 50)[0] == 41
    # a boundary in the first half only would make a tiny chunk: cut at the limit
    assert split_points("a" * 10 + "。" + "b" * 100, 50)[0] == 50
    # nothing at all: hard cuts
    assert split_points("x" * 120, 50) == [50, 100, 120]
    assert split_points("short", 50) == [5] and split_points("", 50) == [0]


@pytest.mark.parametrize("unit", [FORUM, NO_BOUNDARY, "x" * 7 + " ", "www\n\n\n"])
def test_every_chunk_fits_and_is_at_least_half_the_limit(unit):
    text = unit * 40
    ends = split_points(text, 64)
    starts = [0, *ends[:-1]]
    assert ends[-1] == len(text)
    assert all(e - s <= 64 for s, e in zip(starts, ends))
    assert all(e - s >= 32 for s, e in zip(starts[:-1], ends[:-1]))


def test_offsets_hold_across_chunk_seams(tok, small_tok):
    text = normalize(FORUM * 8)
    assert len(text) < small_tok.max_chars and len(split_points(text, 60)) > 5
    chunked = small_tok.tokenize(text)
    assert_offsets(text, chunked)
    # cut at sentence ends, the chunks give exactly the tokens of one MeCab call
    assert chunked == tok.tokenize(text)


def test_no_sentence_boundary_is_cut_at_the_hard_limit(small_tok):
    text = NO_BOUNDARY * 30  # 540 characters, no sentence end, no space
    tokens = small_tok.tokenize(text)
    assert_offsets(text, tokens)
    assert "".join(t.surface for t in tokens) == text  # nothing lost or doubled at a seam
    assert any(t.end == 60 for t in tokens)  # a seam at the hard limit


def test_nul_and_surrogates_keep_offsets_across_seams(small_tok):
    text = ("バカ\x00だな\ud800。" * 40)[:900]
    assert_offsets(normalize(text), small_tok.tokenize(text))


def test_texts_beyond_max_chars_are_clipped(small_tok):
    text = FORUM * 40
    assert len(normalize(text)) > 1000
    tokens = small_tok.tokenize(text)
    assert_offsets(normalize(text)[:1000], tokens)
    assert tokens[-1].end <= 1000
    assert small_tok.clip("abc") == "abc" and small_tok.clip("x" * 1001) == "x" * 1000


def test_sizes_come_from_the_module_constants(monkeypatch):
    monkeypatch.setattr(tokenize_module, "MAX_CHARS", 123)
    monkeypatch.setattr(tokenize_module, "CHUNK_CHARS", 45)
    built = JapaneseTokenizer()
    assert (built.max_chars, built.chunk_chars) == (123, 45)
    with pytest.raises(ValueError, match="chunk_chars"):
        JapaneseTokenizer(chunk_chars=1)


def test_the_audit_counts_clipped_texts_and_analyses_the_clipped_text(small_tok):
    suite = AnalysisSuite(AnalysisConfig(lexicons=[LEXICON]), tokenizer=small_tok)
    audit = suite.corpus_audit()
    for text in ["短い", FORUM * 40, "ふつう", "x" * 1001]:
        audit.add(text)
    assert (audit.n, audit.truncated, audit.max_chars) == (4, 2, 1000)
    rows = {r["measure"]: r for r in audit.table().rows}
    assert rows["characters"]["n"] == 4
    assert rows["characters"]["value"] == round((2 + 1000 + 3 + 1000) / 4, 4)  # clipped lengths
    assert suite.score_text(FORUM * 40).values["characters"] == 1000


def test_audit_command_logs_truncated_documents(tmp_path, monkeypatch, capsys):
    import harness.commands as commands

    original = commands.analysis_config
    # the audit command has no --max-chars; lower the config's cap the command builds
    monkeypatch.setattr(commands, "analysis_config", lambda lexicons: {**original(lexicons), "max_chars": 500})
    corpus = tmp_path / "long.txt"
    long_post = FORUM.replace("\n", " ") * 20
    corpus.write_text(f"短い投稿です\n{long_post}\n{NO_BOUNDARY * 40}\nふつう\n", encoding="utf-8")
    assert main(["audit", str(corpus), "--out", str(tmp_path / "a")]) == 0
    out = capsys.readouterr().out
    assert "audit: 4 documents" in out
    assert "audit: 2 documents truncated to 500 characters" in out
    record = json.loads((tmp_path / "a" / "run.json").read_text(encoding="utf-8"))
    assert record["stages"]["audit"]["note"] == "2 documents truncated to 500 characters"
    assert (
        (tmp_path / "a" / "corpus_audit.csv")
        .read_text(encoding="utf-8")
        .startswith("measure,kind,n,count,value,ci_low,ci_high\n")
    )


def test_running_mean_matches_numpy_and_the_normal_interval():
    values = np.random.default_rng(0).gamma(2.0, 10.0, size=5000)
    running = RunningMean()
    for v in values:
        running.add(float(v))
    result = running.interval()
    half = 1.959963984540054 * values.std(ddof=1) / math.sqrt(len(values))
    assert result.n == 5000
    assert result.mean == pytest.approx(values.mean(), rel=1e-12)
    assert (result.low, result.high) == pytest.approx((values.mean() - half, values.mean() + half), rel=1e-9)


def test_running_mean_interval_stays_inside_the_observed_values():
    running = RunningMean()
    for v in (0.0, 10.0):
        running.add(v)
    result = running.interval()
    assert (result.low, result.high) == (0.0, 10.0)  # mean ± 1.96·s/√n would reach below 0
    one = RunningMean()
    one.add(3.0)
    result = one.interval()
    assert (result.mean, result.low, result.high, result.n) == (3.0, 3.0, 3.0, 1)
    assert math.isnan(RunningMean().interval().mean)


def test_audit_accumulator_memory_does_not_grow_with_the_corpus():
    catalogue = [
        MeasureSpec(name="flagged", analyser="t", description="", harmful=True, kind="binary"),
        MeasureSpec(name="characters", analyser="t", description="", harmful=False, kind="mean"),
    ]
    acc = AuditAccumulator(catalogue)
    tracemalloc.start()
    try:
        for i in range(1000):
            acc.add({"flagged": i % 7 == 0, "characters": float(i)})
        before = tracemalloc.get_traced_memory()[0]
        for i in range(1000, 50_000):
            acc.add({"flagged": i % 7 == 0, "characters": float(i)})
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert grown < 10_000  # a list of 49,000 values would be ~400 KB
    rows = {r["measure"]: r for r in acc.rows()}
    assert (rows["flagged"]["n"], rows["flagged"]["count"]) == (50_000, len(range(0, 50_000, 7)))
    assert rows["characters"]["value"] == 24999.5


@pytest.mark.slow
def test_3mb_documents_tokenize_in_bounded_memory():
    # A child process: a MeCab crash (the old failure, exit 139) must fail this
    # test rather than kill the test run, and its peak RSS is its own.
    script = textwrap.dedent(
        f"""
        from harness.analysis.tokenize import JapaneseTokenizer, normalize
        tok = JapaneseTokenizer()
        for unit in ({FORUM!r}, {NO_BOUNDARY!r}):
            text = unit * (3_000_000 // len(unit.encode()) + 1)
            assert len(text.encode()) >= 3_000_000
            tokens = tok.tokenize(text)
            norm = normalize(text)[: tok.max_chars]
            assert all(norm[t.start : t.end] == t.surface for t in tokens)
            assert tokens[-1].end > tok.max_chars - 50, tokens[-1]
            del tokens
        # VmHWM, not ru_maxrss: Linux keeps ru_maxrss across fork+exec, so a
        # child of a big pytest process would report its parent's peak
        status = open("/proc/self/status").read()
        print(int(status.split("VmHWM:")[1].split()[0]) // 1024)
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    peak_mb = int(proc.stdout.split()[-1])
    # measured ~200 MB; one MeCab call over a 2 MB line took 1.9 GB
    assert peak_mb < 700, peak_mb
