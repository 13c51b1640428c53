"""The token cache: keyed, reused, split by is_heldout, memory-mapped, flat memory, turn separators."""

import tracemalloc

import pytest

from harness.config import CorpusConfig
from harness.data.split import is_heldout
from harness.train.data import build_cache


def char_tokenizer():
    """A character-level fast tokenizer with rinna's special-token layout (no training needed)."""
    from tokenizers import Regex, Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    chars = "abcdefghijklmnopqrstuvwxyz0123456789 駅店朝夜はにますwか草"
    vocab = {"<unk>": 0, "<s>": 1, "</s>": 2, "[PAD]": 3, **{c: i + 4 for i, c in enumerate(chars)}}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Split(Regex("."), behavior="isolated")
    return PreTrainedTokenizerFast(
        tokenizer_object=backend, unk_token="<unk>", bos_token="<s>", eos_token="</s>", pad_token="[PAD]"
    )


def write_corpus(path, n, start=0):
    # synthetic lines (content note: generated filler, no real posts)
    path.write_text("".join(f"doc {i} abc{i % 97} xyz\n" for i in range(start, start + n)), encoding="utf-8")
    return CorpusConfig(path=path, format="text")


def test_cache_is_built_once_and_reused(tmp_path):
    corpus = write_corpus(tmp_path / "c.txt", 300)
    tok = char_tokenizer()
    first = build_cache(corpus, tok, seed=1, val_fraction=0.1, block_size=16, cache_dir=tmp_path / "cache")
    inode = (first.path / "train.arrow").stat().st_ino
    again = build_cache(corpus, tok, seed=1, val_fraction=0.1, block_size=16, cache_dir=tmp_path / "cache")
    assert again.path == first.path and (again.path / "train.arrow").stat().st_ino == inode
    other = build_cache(corpus, tok, seed=2, val_fraction=0.1, block_size=16, cache_dir=tmp_path / "cache")
    assert other.path != first.path  # the split is part of the key
    write_corpus(tmp_path / "c.txt", 301)
    changed = build_cache(corpus, tok, seed=1, val_fraction=0.1, block_size=16, cache_dir=tmp_path / "cache")
    assert changed.path != first.path  # so is the corpus's content


def test_split_follows_is_heldout_and_blocks_read_back(tmp_path):
    from datasets import Dataset

    corpus = write_corpus(tmp_path / "c.txt", 400)
    cache = build_cache(corpus, char_tokenizer(), seed=5, val_fraction=0.2, block_size=8, cache_dir=tmp_path)
    texts = (tmp_path / "c.txt").read_text(encoding="utf-8").splitlines()
    n_val = sum(is_heldout(t, 5, 0.2) for t in texts)
    assert (cache.meta["val_docs"], cache.meta["train_docs"]) == (n_val, len(texts) - n_val)
    train = cache.blocks("train")
    assert train.shape == (cache.meta["train_rows"], 8)
    rows = train[[0, len(train) - 1, 3]]
    assert rows.shape == (3, 8) and rows.dtype.is_floating_point is False
    # the files are datasets' Arrow format
    ds = Dataset.from_file(str(cache.path / "train.arrow"))
    assert ds[3]["input_ids"] == rows[2].tolist()
    stream = [t for r in range(len(train)) for t in train[[r]][0].tolist()]
    assert stream.count(2) >= cache.meta["train_rows"] * 8 // 40  # EOS after every document


def test_turn_separator_puts_a_token_between_dialogue_turns(tmp_path):
    path = tmp_path / "d.tsv"
    path.write_text("".join(f"abc{i}\txyz{i}\n" for i in range(50)), encoding="utf-8")
    corpus = CorpusConfig(path=path, format="open2ch", turns="join")
    tok = char_tokenizer()
    plain = build_cache(corpus, tok, seed=0, val_fraction=0.1, block_size=4, cache_dir=tmp_path / "a")
    sep = build_cache(
        corpus, tok, seed=0, val_fraction=0.1, block_size=4, cache_dir=tmp_path / "b", turn_separator="</s>"
    )
    eos = lambda c: sum(r.tolist().count(2) for r in c.blocks("train")[list(range(len(c.blocks("train"))))])  # noqa: E731
    # one extra </s> per dialogue (minus the ragged tail), where the plain cache has a space
    assert eos(sep) > eos(plain) * 1.8


def test_too_small_a_corpus_is_one_clear_error(tmp_path):
    from harness.errors import InputError

    corpus = write_corpus(tmp_path / "c.txt", 1)
    with pytest.raises(InputError, match="c.txt.*no held-out tokens|c.txt.*no training tokens"):
        build_cache(corpus, char_tokenizer(), seed=0, val_fraction=0.5, block_size=8, cache_dir=tmp_path)


def test_memory_stays_flat_when_the_corpus_grows_tenfold(tmp_path):
    tok = char_tokenizer()

    def peak(n):
        # dedupe off: the reader's de-duplication digests are the one thing meant to grow (8 bytes a document)
        corpus = write_corpus(tmp_path / f"c{n}.txt", n).model_copy(update={"dedupe": False})
        tracemalloc.start()
        build_cache(corpus, tok, seed=0, val_fraction=0.1, block_size=16, cache_dir=tmp_path / "cache")
        _, top = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        return top

    peak(300)  # warm-up: first-use imports and caches are not the corpus's
    small, big = peak(3_000), peak(30_000)
    # Python-side peak (token lists, batches, numpy buffers) is bounded by the encode/write batch sizes:
    # measured 1.1 MB at 3k documents and 1.6 MB at 30k; a reader that kept the corpus would be 10×
    assert big < small * 1.8 and big < 4_000_000, (small, big)
