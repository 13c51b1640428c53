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
# (context_rules._tacked_on: 寝るなやハゲ); and again in issue 16 (lexicon v11) for the self-directed rule's wider
# reach (harassment and sexual nouns, 童貞ワイ, not うちの旦那), name-calling + に + する and + の + a time, a term
# glued to 言う or + 呼ばわり (context_rules.not_aimed), でも + わかる in compared, and the spoken forms of
# adjective entries (variants.spoken_adjective: うぜぇ).
GOLDEN: dict[str, list[str]] = {
    "drawn": [
        "dcefe88366545cf66ec5ba6e2fb64aff3995c7b584f66e08a8b6a3e9a9da0b86",
        "80112adfd2b7df4734f8f213c2df4c07f7b0bfbc8f75f8798d7f8622256c6a49",
        "54e7c055c1acd704ac386344b9e412d92be02377d7d7fddebb67800b5028e4b9"
    ],
    "posts": [
        "2da2f38652a7cf596d4f99249ca61cd578eba369e0caa3b506d28dcc36047e52",
        "5a798e5fdb2d11d3d924921223aa4594de33c1eb65fbcbeb7b216eaababd8fac",
        "68e528b47b7cd85da10c654dcc120d106d0302f0624237d4100a0089c6106cd6",
        "71253f7b7a6e8f634ca8d7744835593761c806a39d1d8457347b56ea27ac66a4",
        "502acc3e0de2a39516b4dd04cf604460743dfcabe11c9fc7da4f4aa393651389",
        "22cd829dd7e5b06d83f210fda873745a26b1cd3c5fe7d6a22fdbba60d0271a02",
        "25a44044ff1f732e297eab2c3fe66bc466f34dbb8098cb97719ed724b4a06fc8",
        "f844079dd2ec01130cbd6c28c878ff08b3082788d16de0cb754d4b55803f35ab",
        "ca27306f31ae7d6859467221ea8074397026455052bda644bfa66219ea6003d7",
        "474d7154b8ded7e203b89ca04be42b02f2386f7c558bd111d43cd5d4fa805652",
        "63f745dc85899fff61844124fe45a902950e68ab84ec3c0c86f03554d681a656",
        "7c9db2a5b2002f9b251b54a3f862f925389724ce51770892a52327911995b971",
        "3bd96cbf1ce04c35369ce978856cbb257e0fe8d952e3b4ec25b668474c397f52",
        "5a15d5dacb722a930151c01b9348ab9798ceabe5d58cfde11213d3e4f074aec0",
        "ee05b6fc27ea79d8500e08b5a287bb28218a595987636878da09919d552479a9",
        "cee08f38e6e5cc03d697fab170eaae98804276a4322d3d4f0abe0e6914c55df3",
        "6cb916507a9ddbf3dbcf458085252ae0d68542ef5ee12e579df1e4c6a4eb83a0",
        "0cda9e38d6cefa39dc0596483709a0adf280a5019270d4045c8d58a1f9ae8f54",
        "c7952b423f151f35332b51ad847562377e7838b19f826fb879b0ab32cd259742",
        "901018b910a4bc1e81dabbe0e2a6a662e4aee2b05057de7b48872264b692df1a",
        "7155e4ac4b68eacd28fc81dbb3c277d304f07fba7a35b943b85da0845c6c5301",
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
