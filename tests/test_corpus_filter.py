"""corpus.filter: the fine-tune's corpus minus what the audit flags (issue 19, deliverable 1).

The decisions come from the audit's own per-document scores; ``harness audit
--write-filtered`` writes the kept units in the input's format, and the harness
reads that corpus back with 0 documents the filter would drop.  The texts below
are written for these tests (the test lexicon of conftest.py: 老害, カス, バカ
harmful; 草 a topic category).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from conftest import LEXICON

from harness.cli import main
from harness.config import CorpusConfig, CorpusFilter, RunConfig, load_config
from harness.data.corpus_filter import drop_reasons, filter_key
from harness.train.data import cache_key

TEXTS = ["今日は晴れ", "お前カスか", "草生える", "老害乙", "駅で会おう", "バカじゃねーの", "せやな", "お前カスか"]
CLEAN = {"今日は晴れ", "草生える", "駅で会おう", "せやな"}


def audit(tmp_path: Path, corpus: Path, name: str, *args: str) -> int:
    lexicon = tmp_path / "lexicon.yaml"
    lexicon.write_text(LEXICON, encoding="utf-8")
    return main(["audit", str(corpus), "--lexicon", str(lexicon), "--out", str(tmp_path / name), *args])


def flagged_count(tmp_path: Path, name: str) -> tuple[int, int]:
    """(flagged documents, documents) of an audit run's corpus_audit.csv."""
    with (tmp_path / name / "corpus_audit.csv").open(encoding="utf-8") as fh:
        row = next(r for r in csv.DictReader(fh) if r["measure"] == "flagged")
    return int(row["count"]), int(row["n"])


def read_dropped(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


FORMATS = {
    "text": ("corpus.txt", lambda texts: "".join(f"{t}\n" for t in texts), ()),
    "jsonl": ("corpus.jsonl", lambda texts: "".join(json.dumps({"text": t}) + "\r\n" for t in texts), ()),
    # a quoted cell spanning two lines: the record is written (or removed) whole
    "csv": ("corpus.csv", lambda texts: "id,text\n" + "".join(f'{i},"{t}\n続き"\n' for i, t in enumerate(texts)), ()),
    "open2ch join": ("corpus.tsv", lambda texts: "".join(f"{t}\tせやな{i}\n" for i, t in enumerate(texts)), ()),
    "open2ch separate": (
        "corpus.tsv",
        lambda texts: "".join(f"{t}\tせやな{i}\n" for i, t in enumerate(texts)),
        ("--turns", "separate"),
    ),
}


@pytest.mark.parametrize("fmt", FORMATS)
def test_write_filtered_reads_back_with_nothing_flagged(tmp_path, fmt):
    name, render, options = FORMATS[fmt]
    corpus = tmp_path / name
    corpus.write_bytes(("\ufeff" + render(TEXTS)).encode("utf-8"))  # a BOM too: it must survive the copy
    before = corpus.read_bytes()
    assert audit(tmp_path, corpus, "first", *options, "--write-filtered", str(tmp_path / "out")) == 0
    assert corpus.read_bytes() == before
    written = tmp_path / "out" / name
    flagged, n = flagged_count(tmp_path, "first")
    assert flagged > 0
    record = json.loads((tmp_path / "first" / "run.json").read_text(encoding="utf-8"))["corpus_filter"]
    assert record["dropped"] == flagged and record["documents"] == n and record["by_reason"] == {"flagged": flagged}
    assert record["tokens_dropped"] > 0 and record["kept"] == n - flagged

    assert audit(tmp_path, written, "again", *options) == 0  # the harness reads its own output back
    again, kept = flagged_count(tmp_path, "again")
    assert again == 0 and kept > 0
    # kept units are the input's own bytes, in order; dropped.csv names lines, never the text
    src, out = before.splitlines(keepends=True), written.read_bytes().splitlines(keepends=True)
    removed = {int(row["line"]) for row in read_dropped(tmp_path / "out" / "dropped.csv")}
    if fmt != "csv":  # one record a line
        assert out == [line for i, line in enumerate(src, start=1) if i not in removed]
    else:
        assert all(line in src for line in out) and out[0] == src[0]
    dropped_text = (tmp_path / "out" / "dropped.csv").read_text(encoding="utf-8")
    assert not any(t in dropped_text for t in TEXTS)
    assert dropped_text.splitlines()[0] == "line,doc_id,reasons,categories"


def test_separate_turns_drop_the_whole_line_and_duplicates_of_dropped_posts(tmp_path):
    corpus = tmp_path / "posts.tsv"
    # line 3 repeats line 1's flagged post: a duplicate, never audited, but a document once line 1 is gone
    corpus.write_text("お前カスか\t今日は晴れ\n駅で会おう\tせやな\nお前カスか\t草生える\n", encoding="utf-8")
    args = ("--turns", "separate", "--write-filtered", str(tmp_path / "out"))
    assert audit(tmp_path, corpus, "a", *args) == 0
    record = json.loads((tmp_path / "a" / "run.json").read_text(encoding="utf-8"))["corpus_filter"]
    assert (record["documents"], record["dropped"]) == (5, 1)  # the fine-tune drops the one post
    rows = read_dropped(tmp_path / "out" / "dropped.csv")
    assert [(r["line"], r["doc_id"], r["reasons"]) for r in rows] == [("1", "1", "flagged"), ("3", "", "duplicate")]
    assert (tmp_path / "out" / "posts.tsv").read_text(encoding="utf-8") == "駅で会おう\tせやな\n"


def test_max_docs_writes_only_what_the_audit_read(tmp_path):
    corpus = tmp_path / "c.txt"
    corpus.write_text("\n".join(TEXTS) + "\n", encoding="utf-8")
    lexicon = tmp_path / "lexicon.yaml"
    lexicon.write_text(LEXICON, encoding="utf-8")
    from harness.data.corpus_write import write_filtered

    config = CorpusConfig(path=corpus, format="text", max_docs=3, filter=CorpusFilter(drop=["flagged"]))
    dropped = [{"line": "2", "doc_id": "2", "reasons": "flagged", "categories": "insult"}]
    written = write_filtered(config, dropped, tmp_path / "o")
    assert (written.units_kept, written.units_removed, written.units_unread) == (2, 1, 5)
    assert written.corpus.read_text(encoding="utf-8") == "今日は晴れ\n草生える\n"


def test_reasons_name_the_measure_behind_each_rule():
    settings = CorpusFilter(drop=["flagged", "slang"], min_toxicity=0.5, drop_pii=True)
    values = {"flagged": 1, "cat_slang": 1, "toxicity": 0.5, "pii": 1}
    assert drop_reasons(settings, values, {}) == ["flagged", "cat_slang", "toxicity", "pii"]
    assert drop_reasons(settings, {"flagged": 0, "cat_slang": 0, "toxicity": 0.49, "pii": 0}, {}) == []
    assert drop_reasons(CorpusFilter(drop=["slang"]), {"flagged": 1, "cat_slang": 0}, {}) == []


def test_bad_filters_are_one_line_before_any_work(tmp_path, capsys):
    with pytest.raises(ValueError, match="drops nothing"):
        CorpusFilter()
    with pytest.raises(ValueError, match="given twice"):
        CorpusFilter(drop=["flagged", "flagged"])
    corpus = tmp_path / "c.txt"
    corpus.write_text("お前カスか\n", encoding="utf-8")
    assert audit(tmp_path, corpus, "x", "--drop", "slurs") != 0
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "corpus.filter.drop[0]: 'slurs'" in err and "ageism, insult, slang" in err
    assert not (tmp_path / "x" / "corpus_audit.csv").exists()


def test_a_base_corpus_cannot_be_filtered(tmp_path):
    with pytest.raises(ValueError, match="only the tuning corpus"):
        RunConfig.model_validate(
            {
                "name": "x",
                "base": {"init": {"corpus": {"path": "a.txt", "filter": {"drop": ["flagged"]}}}},
            }
        )


class _Tokenizer:  # cache_key needs only what tokenizer_fingerprint reads
    eos_token_id = 0
    backend_tokenizer = None

    def get_vocab(self):
        return {"a": 0}


def test_the_token_cache_key_separates_filtered_and_unfiltered(tmp_path):
    corpus = tmp_path / "c.txt"
    corpus.write_text("今日は晴れ\n", encoding="utf-8")
    lexicon = tmp_path / "lexicon.yaml"
    lexicon.write_text(LEXICON, encoding="utf-8")

    def config(**filter_settings) -> RunConfig:
        filt = {"filter": filter_settings} if filter_settings else {}
        return RunConfig.model_validate(
            {"name": "x", "corpus": {"path": str(corpus), **filt}, "analysis": {"lexicons": [str(lexicon)]}}
        )

    plain, flagged, toxic = config(), config(drop=["flagged"]), config(min_toxicity=0.3)
    assert filter_key(plain) is None
    keys = {
        cache_key(c.corpus, _Tokenizer(), seed=1, val_fraction=0.1, block_size=8, sep=None, filter_key=filter_key(c))
        for c in (plain, flagged, toxic)
    }
    assert len(keys) == 3
    before = filter_key(flagged)
    lexicon.write_text(LEXICON.replace("バカ", "アホ"), encoding="utf-8")  # other lexicon, other decisions
    assert filter_key(flagged) != before
    from harness.train.data import CacheBuild

    with pytest.raises(ValueError, match="filter_key"):
        CacheBuild(flagged.corpus, _Tokenizer(), seed=1, val_fraction=0.1, block_size=8, cache_dir=tmp_path)


MATRIX = """\
matrix:
  corpus.filter: [null, {drop: [flagged]}]
"""


def test_a_matrix_axis_compares_filtered_and_unfiltered(tmp_path, capsys):
    from test_force_rerun import tiny_config

    from harness.matrix.spec import expand_matrix, read_spec

    path = tiny_config(tmp_path, 1e-3)
    path.write_text(path.read_text(encoding="utf-8") + MATRIX, encoding="utf-8")
    expansion = expand_matrix(read_spec(path))
    names = list(expansion.configs)
    assert names == ["c01-filter-none", "c02-filter-drop-flagged"]
    assert expansion.configs[names[0]].corpus.filter is None
    assert expansion.configs[names[1]].corpus.filter == CorpusFilter(drop=["flagged"])
    assert main(["run", str(path), "--plan", "--out", str(tmp_path / "m")]) == 0
    out = capsys.readouterr().out
    assert "c01-filter-none" in out and "c02-filter-drop-flagged" in out


@pytest.mark.slow
def test_a_filtered_run_trains_on_the_kept_documents_only(tmp_path, monkeypatch):
    """One read for the audit, the cache fed only kept posts, and the fine-tune's own fallback agrees."""
    from test_corpus_reads import count_opens
    from test_force_rerun import run_tiny, tiny_config

    from harness.record.rundir import RunDir
    from harness.train.data import TokenCache

    monkeypatch.setenv("HARNESS_CACHE_DIR", str(tmp_path / "token-cache"))
    path = tiny_config(tmp_path, 1e-3)
    # POSTS of test_force_rerun: 「…アホ…」 is no term of the test lexicon; add ones that are
    posts = (tmp_path / "posts.tsv").read_text(encoding="utf-8").splitlines()
    posts[1::3] = [f"{line}\tお前カスか{i}" for i, line in enumerate(posts[1::3])]
    (tmp_path / "posts.tsv").write_text("\n".join(posts) + "\n", encoding="utf-8")
    # the base's tokenizer is trained on a copy of the posts: the reads counted are the tuning corpus's
    (tmp_path / "tokenizer-posts.tsv").write_bytes((tmp_path / "posts.tsv").read_bytes())
    text = path.read_text(encoding="utf-8").replace("turns: separate}", "turns: separate, filter: {drop: [flagged]}}")
    text = text.replace(f"[{{path: {tmp_path / 'posts.tsv'}", f"[{{path: {tmp_path / 'tokenizer-posts.tsv'}")
    assert "tokenizer-posts.tsv" in text
    path.write_text(text, encoding="utf-8")
    assert load_config(path).corpus.filter is not None
    opens = count_opens(monkeypatch, (tmp_path / "posts.tsv").resolve())
    result = run_tiny(path, tmp_path / "run")
    assert result.record.status == "complete"
    filt = result.record.corpus_filter
    assert filt is not None and filt.dropped == len(posts[1::3]) and filt.by_reason == {"flagged": filt.dropped}
    assert len(opens) == 2, opens  # the decode check and the audit's stream, as without a filter
    metas = {p: json.loads(p.read_text(encoding="utf-8")) for p in (tmp_path / "token-cache").glob("*/meta.json")}
    ((entry, meta),) = [(p, m) for p, m in metas.items() if Path(m["corpus"]).name == "posts.tsv"]  # not base.init's
    assert meta["train_docs"] + meta["val_docs"] == filt.kept
    report = (tmp_path / "run" / "report.html").read_text(encoding="utf-8")
    assert "Corpus filter" in report and f"{filt.dropped:,} of {filt.documents:,}" in report

    # the cache entry gone, the fine-tune tokenizes the kept documents itself, from corpus_dropped.csv
    import shutil

    shutil.rmtree(entry.parent)
    from harness.data.corpus_filter import kept_documents
    from harness.models.tokenizer import load_tokenizer
    from harness.train.finetune import tokenize_corpus

    config = load_config(path)
    run = RunDir.open(tmp_path / "run")
    cache: TokenCache = tokenize_corpus(
        config.corpus, load_tokenizer(tmp_path / "run" / "base_model"), config.finetune, config.seed, 16,
        kept=kept_documents(config, run),
    )
    assert cache.meta["train_docs"] + cache.meta["val_docs"] == filt.kept
    assert cache.meta["train_tokens"] == meta["train_tokens"]
    # the held-out loss of a later stage (trajectory points, the mitigate stage's capability cost) is
    # measured on the same kept documents' held-out blocks, found from the run directory alone
    from harness.trajectory import point_losses

    ((held, _drift),) = point_losses(config, run, [str(tmp_path / "run" / "model")]).values()
    assert held == pytest.approx(result.record.finetune.eval_loss_after, rel=1e-4)
