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
# (context_rules) and kana variants at the start of a text or line (flagged._variant_may_start); and again in
# issue 16 (branch i16-ood) for the context rules that drop a match (reported speech, intensifier, self-directed)
# and the new target frames (て + やる, a wish, 乙): context_rules.not_aimed and has_target; and again for the
# particle slots of multi-word terms (harness.analysis.particle_slots, lexicon v5): 頭が悪い also matches 頭悪い,
# and the v5 context rules (a request frame, comparison frames, って + a noun of speech, くらい and らしい,
# an insult word + な + a deed); and again in issue 16 (wave 2, lexicon v10) for the katakana-compound layer
# (harness.analysis.kana_compounds: ガイジ inside the unknown token ガチガイジ) and the tacked-on vocative
# (context_rules._tacked_on: 寝るなやハゲ).
GOLDEN: dict[str, list[str]] = {
    "drawn": [
        "dcefe88366545cf66ec5ba6e2fb64aff3995c7b584f66e08a8b6a3e9a9da0b86",
        "80112adfd2b7df4734f8f213c2df4c07f7b0bfbc8f75f8798d7f8622256c6a49",
        "54e7c055c1acd704ac386344b9e412d92be02377d7d7fddebb67800b5028e4b9"
    ],
    "posts": [
        "7c3ab38ac9e13acaf6526d9fc79b945e47ca9e9b7cd36d39e8ca4a14750f763d",
        "58fc340d5fcbbba6427be5929092dd9ac05cd54e10456852dc1285f08108c631",
        "ed05bde9ab3d849c18419aa658a53ab517457f42bb17d0145870b1fed156d600",
        "95abf4379091000038e57c1d7a39c5cd35c5daa9e853322d1f1b39ff85f54237",
        "73f101370ee19f0d7840b5802409ab817a7b4a395d92425688b94df8a2f9be92",
        "2020b8a768e6cd07564195807c9ca45ff12bb6dfe5f38dcc3874c223773c826c",
        "827e298e627b42f53811b3a2352f6b3dee72d6ec12a6b9fe1cc053835edfbc23",
        "d6d8242fb63b49a0922ada14e17619bcc2ff303768fcd88a165c1a92765ce7d1",
        "ca27306f31ae7d6859467221ea8074397026455052bda644bfa66219ea6003d7",
        "5adac1fa20357e099d3546c5eeddfaf3015fa82b20456381aabbd40648802252",
        "777443acc1bc787b9bad2b7e63f6219b85478f4c18a5971721af0640dec0e976",
        "60ecb219de70abe741fd14e7a66996a83972e7270eb2073a5d5144934b41965c",
        "7118b6be0d3ceb973d08d84ad2348fa11d4ce64afc159ae872c8d01b792a7383",
        "5a15d5dacb722a930151c01b9348ab9798ceabe5d58cfde11213d3e4f074aec0",
        "4a0a4611428eafc6d50c4b600478dd7401b4afdd6ed9d552a3ddde90a83c82df",
        "3cce13b59ab429f1087083602ec40df8ab266e5645fb139e874233f22858e7a8",
        "aba13efa97a33ef7d405af8e55552e109b9fa0bea2edb75f7e90dd831ccfe326",
        "8ddf39a9a3ba7523c72faa1e23014234e6eb631ec20e1b6b39b1fe505c83d44c",
        "d0c13c922ceb1b1503bf80b647d3e57911a6a9c561162da8a7336a68c04f29a8",
        "c579b5c238b44353929a2a7b705be66df34ad8230a5184afcea7e90833f63563",
        "746c798d40783e79d0adf66c260b050136d865dba9283bfa9c58f800a37fc3d6",
        "bf13d932e6dfd82f7a88a0d708f031e9aea3872e976d0e2cf2d6b598baa59c49"
    ]
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
