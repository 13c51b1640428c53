"""A run reads the tuning corpus twice and tokenizes it with MeCab once (issue 17, "one pass").

The reads: the decode check at validation (which also hashes the file for
run.json and the token cache key), then the audit's stream, which also builds
the fine-tune's token cache and picks the memorization probes
(harness.corpus_feeds).  Analysis reads corpus_stats/, never the corpus.
"""

from __future__ import annotations

import builtins
import io
from pathlib import Path

import pytest
from test_force_rerun import tiny_config

from harness.analysis.corpus_stats import read_stats_record
from harness.analysis.tokenize import JapaneseTokenizer
from harness.config import load_config
from harness.data.corpus import iter_corpus
from harness.models.fake import FakeGenerator
from harness.pipeline import run

MEMORIZATION = """\
name: memorization
description: picked from the tuning corpus at run time (written for this test)
from_corpus: {per_split: 2, min_chars: 8, prefix_chars: 4}
"""


def count_opens(monkeypatch, target: Path) -> list[str]:
    """Every open() of ``target`` (builtins.open and io.open, which Path.open calls), by mode."""
    opens: list[str] = []
    real = builtins.open

    def counting(file, mode="r", *args, **kwargs):
        if isinstance(file, (str, Path)) and Path(file).resolve() == target:
            opens.append(mode)
        return real(file, mode, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", counting)
    monkeypatch.setattr(io, "open", counting)
    return opens


@pytest.mark.slow
def test_a_run_reads_the_corpus_twice_and_tokenizes_it_once(tmp_path, monkeypatch):
    monkeypatch.setenv("HARNESS_CACHE_DIR", str(tmp_path / "token-cache"))  # the cache must be built here
    config_path = tiny_config(tmp_path, 1e-3)
    (tmp_path / "memorization.yaml").write_text(MEMORIZATION, encoding="utf-8")
    # the base's tokenizer is trained on a copy of the posts: the reads counted are the tuning corpus's
    (tmp_path / "tokenizer-posts.tsv").write_bytes((tmp_path / "posts.tsv").read_bytes())
    text = config_path.read_text(encoding="utf-8")
    text = text.replace("probes: {files: [", f"probes: {{files: [{tmp_path / 'memorization.yaml'}, ")
    text = text.replace(f"[{{path: {tmp_path / 'posts.tsv'}", f"[{{path: {tmp_path / 'tokenizer-posts.tsv'}")
    assert "tokenizer-posts.tsv" in text and "memorization.yaml" in text
    config_path.write_text(text, encoding="utf-8")
    config = load_config(config_path)
    corpus = Path(config.corpus.path).resolve()
    documents = [d.text for d in iter_corpus(config.corpus)]

    tokenized: list[str] = []
    real_tokenize = JapaneseTokenizer.tokenize_many  # every MeCab call goes through it (tokenize too)

    def counting_tokenize(self, texts):
        texts = list(texts)
        tokenized.extend(texts)
        return real_tokenize(self, texts)

    monkeypatch.setattr(JapaneseTokenizer, "tokenize_many", counting_tokenize)
    opens = count_opens(monkeypatch, corpus)
    result = run(
        config,
        out_dir=tmp_path / "run",
        progress=False,
        log=lambda message: None,
        generator=FakeGenerator(respond=lambda arm, probe, i: f"{arm}の{probe.id}への答え{i}"),
    )
    assert result.record.status == "complete"
    assert len(opens) == 2, opens  # the decode check (hashing too), the audit's stream
    assert any((tmp_path / "token-cache").glob("*/meta.json"))  # built from the audit's stream
    stats = read_stats_record(result.run_dir / "corpus_stats" / "stats.json")
    picked = [p.category for p in stats.memorization_probes["memorization"]]
    assert picked == ["train", "train", "heldout", "heldout"]  # picked in the audit's stream
    assert result.record.probe.prompts == 2 + 4  # the smoke set's 2 prompts and the 4 picked
    assert sum(t in set(documents) for t in tokenized) == len(documents)  # each document tokenized once
