"""The fast analysis path gives exactly the tokens, offsets and scores of the slow one (issue 17).

Two kinds of proof, both on the shared forum posts (read at test time,
skipped when absent) and on texts drawn from the property tests' pieces and
alphabets (``test_properties.PIECES``: lexicon terms, tone markers, control
characters, lone surrogates, half-width kana, runs of w):

* Tokens and offsets: ``JapaneseTokenizer`` against ``reference_tokens``
  below, the plain fugashi node API read feature by feature, as the tokenizer
  did before it parsed MeCab's formatted output itself.  Every field of every
  token must agree.
* Scores: every value and detail cell of ``AnalysisSuite.score_text`` is
  hashed, in blocks, and compared with ``GOLDEN``, the digests the analysers
  gave before the fast path (commit 52cced1, the day the fast path started).
  A second implementation of each analyser kept here as an oracle would be
  the rule "one implementation" broken; a digest of today's outputs proves
  the same thing without one.  The lexicon is a frozen copy
  (``tests/data/equivalence/flagged.yaml``) so that editing the shipped
  lexicon does not move the digests; a change to what an analyser measures
  does, deliberately.  After such a change, regenerate them with

      .venv/bin/python tests/test_analysis_equivalence.py

  and say in the commit why the scores moved.
"""

from __future__ import annotations

import hashlib
import json
import random
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from test_properties import PIECES, RUN_UNITS, SURROGATES  # noqa: E402

from harness.analysis.suite import AnalysisSuite  # noqa: E402
from harness.analysis.tokenize import JapaneseTokenizer, Token, split_points  # noqa: E402
from harness.config import AnalysisConfig  # noqa: E402
from harness.text import normalize  # noqa: E402

POSTS = ROOT.parent / "shared" / "corpora" / "open2ch-ranking-dev" / "dev.tsv"
LEXICON = ROOT / "tests" / "data" / "equivalence" / "flagged.yaml"
BLOCK = 1000  # texts per digest: a mismatch names its block
DRAWN = 3000  # texts drawn from the property pieces
SMALL_CHUNKS = 64  # a second tokenizer with tiny chunks, so long texts cross chunk seams

# sha256 per block of BLOCK texts (see ``score_digests``), made with commit 52cced1; regenerated in issue 16
# (branch i16-rules) for two deliberate lexicon-engine rules: the vocative target frame
# (context_rules) and kana variants at the start of a text or line (flagged._variant_may_start).
GOLDEN: dict[str, list[str]] = {
    "drawn": [
        "dcefe88366545cf66ec5ba6e2fb64aff3995c7b584f66e08a8b6a3e9a9da0b86",
        "80112adfd2b7df4734f8f213c2df4c07f7b0bfbc8f75f8798d7f8622256c6a49",
        "5f1794f7676ff0b1b47de39a7484f2f37202fd8788e1f3635612b5ef3ea5f35b",
    ],
    "posts": [
        "f637c66b7f46730469051f0360586dee95f36170e7c01a4ec805101d1c53a70f",
        "adafeb68901fb91a93d993f6e3fcf47c01eb85066250eec3061c0c3d607d9b3a",
        "6523643e67cfeb897da36afa9ad8c59c088f5fceab107bad05af5745048a8805",
        "d3a47f659ae0ee2c9bef5326e75ac83132830716a19255d673c36d80e1138b53",
        "603ba19d38b323cb14d8f43b2005fd2e5fdf1767cfb8b355f3eee20c8b55e873",
        "f287f88ac3c5d91f450459d8d17cb63d4f8dd880cb74053f4e5c6d609e8315d2",
        "b22c094d4484c4c242e9e73505fb12a878ae978ca616afbb997e91e6f5e78f21",
        "05448262f947741bb4a6ee187bdc85d60b2237b3e0c37c30083d7b88abc3b17e",
        "b6b539072a5febcd1d4cf6ced3224ab41105702645d3e1fad403ba101b55a3f5",
        "3b8783cebf35083f32265364e6e2b08899ef6e957962b8700e242fa7262d4490",
        "d7ae2c92725037ff2421885ce17c87adb55d4cfff03976049ee17394ade658a7",
        "4665389fa524e4f5c38e98830d261224a798debdc7dbed88d6817646cfd7fbae",
        "5a928d0e2359ae35d554fbd9fc6fbf223fb0e54f5d69d36bc7d6f38b9dc16196",
        "f95da033a558aef95a369c7e70387b0af5101a978509804ff5778417d90471b3",
        "f0ab30c86b54d8ffb2b745b8e2a4843ec7b243e3a795d714abd3e4c87488d47b",
        "c84476cf0fa35b401eca77e22d94ecbae5e756805128a1d997523c00aedb2b45",
        "fa3b1aeba770c0c051b978736cc52fd52ccbe25a605eacac35e649f1ea4a36e4",
        "581f3581730c94b0a0af31742833fe6cd65536d6a11679bf70ab8411401ad88e",
        "a327df1a3d7c62ef6e43212ca402de1fef25a184b299f8dece774ec78a1f6c04",
        "00dae10d404bbc5ace72e3b4751dd90d23e54bff9aaa5ca3a4af1164ef0e1245",
        "dd47687bf57f88e6d5876a3b05380e948ae1deace76cd84744343cc2b93cf433",
        "bf13d932e6dfd82f7a88a0d708f031e9aea3872e976d0e2cf2d6b598baa59c49",
    ],
}


def read_posts() -> list[str]:
    """Unique posts of the shared ranking file, NFKC, in file order (as benchmarks/analysis.py reads them)."""
    seen: dict[str, None] = {}
    for line in POSTS.read_text(encoding="utf-8").splitlines():
        for post in line.split("\t")[1:]:
            seen.setdefault(normalize(post.replace(" __BR__ ", "\n")), None)
    return list(seen)


# the property tests' alphabets (test_properties._alphabet), as code point ranges
_RANGES = [(0x0000, 0x10FFFF), (0x3000, 0x30FF), (0xFF00, 0xFFEF), (0x4E00, 0x4FFF), (0x0000, 0x007F), (0x0300, 0x036F)]


def drawn_texts(n: int = DRAWN, seed: int = 17) -> list[str]:
    """``n`` texts like ``test_properties.texts()``: pieces, random characters, now and then a long run."""
    rng = random.Random(seed)
    pieces = PIECES + SURROGATES
    out = []
    for _ in range(n):
        parts = []
        for _ in range(rng.randint(0, 12)):
            if rng.random() < 0.5:
                parts.append(rng.choice(pieces))
            else:
                low, high = rng.choice(_RANGES)
                parts.append("".join(chr(rng.randint(low, high)) for _ in range(rng.randint(0, 30))))
        text = "".join(parts)
        if rng.random() < 0.02:
            text += rng.choice(RUN_UNITS) * rng.randint(1000, 4000) + rng.choice(pieces)
        out.append(text)
    return out


def reference_tokens(tagger, text: str, chunk_chars: int) -> list[Token]:
    """The tokens as fugashi's node API gives them, feature by feature (the tokenizer's old loop)."""
    empty = ("", "*", None)
    text = normalize(text)
    tagged = text.replace("\x00", " ").encode("utf-8", "replace").decode("utf-8")
    tokens, start = [], 0
    for stop in split_points(tagged, chunk_chars):
        pos = 0
        for node in tagger(tagged[start:stop]):
            surface = node.surface
            if not surface:
                continue
            pos += len(node.white_space)
            assert tagged.startswith(surface, start + pos)
            end = pos + len(surface)
            f = node.feature
            tokens.append(
                Token(
                    surface=text[start + pos : start + end],
                    lemma=surface if f.lemma in empty else f.lemma,
                    orth_base=surface if f.orthBase in empty else f.orthBase,
                    pos1=f.pos1 or "*",
                    pos2=f.pos2 or "*",
                    c_form=f.cForm or "*",
                    start=start + pos,
                    end=start + end,
                    l_form="" if f.lForm in empty else f.lForm,
                )
            )
            pos = end
        start = stop
    return tokens


def score_digests(suite: AnalysisSuite, texts: list[str], batch: int = 0) -> list[str]:
    """sha256 of every value and detail cell of ``score_text``, one digest per BLOCK texts.

    ``batch``: score through ``score_texts``, this many texts a call (0: ``score_text``, one by one).
    """
    digests = []
    for i in range(0, len(texts), BLOCK):
        h = hashlib.sha256()
        block = texts[i : i + BLOCK]
        if batch:
            results = [s for k in range(0, len(block), batch) for s in suite.score_texts(block[k : k + batch])]
        else:
            results = map(suite.score_text, block)
        for scored in results:
            line = json.dumps([scored.values, scored.details], sort_keys=True, ensure_ascii=True)
            h.update(line.encode("ascii") + b"\n")
        digests.append(h.hexdigest())
    return digests


@pytest.fixture(scope="module")
def suite() -> AnalysisSuite:
    return AnalysisSuite(AnalysisConfig(lexicons=[LEXICON]))


@pytest.fixture(scope="module")
def tagger():
    fugashi = pytest.importorskip("fugashi")
    import unidic_lite

    return fugashi.Tagger(f'-d "{unidic_lite.DICDIR}" -r "{unidic_lite.DICDIR}/mecabrc"')


def _corpus() -> list[str]:
    if not POSTS.is_file():
        pytest.skip(f"{POSTS} is missing (the shared forum posts are not part of the repository)")
    return read_posts()


@pytest.mark.parametrize("chunk_chars", [20_000, SMALL_CHUNKS])
def test_tokens_equal_fugashi_node_api_on_drawn_texts(tagger, chunk_chars):
    tok = JapaneseTokenizer(chunk_chars=chunk_chars)
    for text in drawn_texts():
        assert tok.tokenize(text) == reference_tokens(tagger, text, chunk_chars), repr(text[:80])


def test_tokens_equal_fugashi_node_api_on_the_shared_posts(tagger):
    tok = JapaneseTokenizer()
    for text in _corpus():
        assert tok.tokenize(text) == reference_tokens(tagger, text, tok.chunk_chars), repr(text[:80])


def test_scores_equal_golden_on_drawn_texts(suite):
    assert score_digests(suite, drawn_texts()) == GOLDEN["drawn"]


def test_scores_equal_golden_on_the_shared_posts(suite):
    assert score_digests(suite, _corpus()) == GOLDEN["posts"]


@pytest.mark.parametrize("batch", [7, 256])
def test_batched_scores_equal_golden_on_drawn_texts(suite, batch):
    """``score_texts`` (every analyser's ``score_many`` over one ``TokenBatch``) gives the very same scores."""
    assert score_digests(suite, drawn_texts(), batch) == GOLDEN["drawn"]


def test_batched_scores_equal_golden_on_the_shared_posts(suite):
    assert score_digests(suite, _corpus(), 256) == GOLDEN["posts"]


@pytest.mark.parametrize("chunk_chars", [20_000, SMALL_CHUNKS])
def test_token_batches_equal_text_by_text(chunk_chars):
    """``tokenize_many``: each text's tokens and offsets exactly as ``tokenize`` gives them, batch by batch."""
    tok = JapaneseTokenizer(chunk_chars=chunk_chars)
    texts = drawn_texts(600, seed=3)
    for size in (1, 5, 64, 600):
        for k in range(0, len(texts), size):
            part = texts[k : k + size]
            batch = tok.tokenize_many(part)
            assert batch.texts == [tok.clip(normalize(t)) for t in part]
            assert batch.tokens() == [tok.tokenize(t) for t in part]


if __name__ == "__main__":
    # print the GOLDEN dict for the code as it is now (see the module docstring)
    golden_suite = AnalysisSuite(AnalysisConfig(lexicons=[LEXICON]))
    found = {"drawn": score_digests(golden_suite, drawn_texts())}
    if POSTS.is_file():
        found["posts"] = score_digests(golden_suite, read_posts())
    print(json.dumps(found, indent=4))
