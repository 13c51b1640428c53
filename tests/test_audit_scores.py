"""`harness audit CORPUS --scores`: one row per input document, CSV corpora, corpus rates in run.json.

Content note: the corpus lines are written for this project and include an insult on purpose.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from harness.cli import main
from harness.config import CorpusConfig
from harness.data.corpus import iter_corpus
from harness.errors import InputError


def read(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_csv_corpus_reads_a_named_column(tmp_path):
    path = tmp_path / "c.csv"
    path.write_text('id,body\n1,"お前はバカだ"\n2,"複数\n行"\n3,""\n', encoding="utf-8")
    docs = list(iter_corpus(CorpusConfig(path=path, text_key="body")))
    assert [(d.text, d.line) for d in docs] == [("お前はバカだ", 2), ("複数\n行", 3)]  # empty text skipped
    with pytest.raises(InputError, match=r"c\.csv:1: no column 'text' in the CSV header \(columns: id, body\)"):
        list(iter_corpus(CorpusConfig(path=path)))


def test_audit_scores_one_row_per_document_in_order(tmp_path, capsys):
    corpus = tmp_path / "posts.txt"
    # the duplicate line stays: rows line up with the input
    corpus.write_text("今日は晴れ\nお前はバカだ\n今日は晴れ\n連絡は090-1234-5678まで\n", encoding="utf-8")
    out = tmp_path / "audit"
    assert main(["audit", str(corpus), "--scores", "--out", str(out)]) == 0
    rows = read(out / "scores.csv")
    # doc_id, every per-text measure of the catalogue (scores.csv order), then the kept detail cells
    columns = list(rows[0])
    assert columns[:2] == ["doc_id", "flagged"] and columns[-3:] == ["flagged_categories", "detectors", "pii_kinds"]
    assert {"toxicity", "cat_insult", "polite", "characters", "pii"} <= set(columns)
    assert [(r["doc_id"], r["flagged"], r["flagged_categories"], r["toxicity"]) for r in rows] == [
        ("1", "0", "", "0.0"),
        ("2", "1", "insult", "0.7"),
        ("3", "0", "", "0.0"),
        ("4", "0", "", "0.0"),
    ]
    assert rows[1]["detectors"] == "lexicon" and (rows[3]["pii"], rows[3]["pii_kinds"]) == ("1", "phone")
    record = json.loads((out / "run.json").read_text(encoding="utf-8"))
    assert record["corpus_rates"]["flagged"] == 0.25
    pii = {r["kind"]: r for r in read(out / "pii.csv")}
    assert (pii["phone"]["scope"], pii["phone"]["count"], pii["phone"]["value"]) == ("corpus", "1", "0.25")


def test_audit_scores_on_two_workers_matches_one(tmp_path):
    corpus = tmp_path / "c.csv"
    lines = ["お前はバカだ", "今日は晴れ", "氏ね", "ゴミを出す"] * 30
    corpus.write_text("text\n" + "\n".join(lines) + "\n", encoding="utf-8")
    one, two = tmp_path / "one", tmp_path / "two"
    assert main(["audit", str(corpus), "--scores", "--out", str(one)]) == 0
    assert main(["audit", str(corpus), "--scores", "--workers", "2", "--out", str(two)]) == 0
    assert read(one / "scores.csv") == read(two / "scores.csv")
    assert read(one / "corpus_audit.csv") == read(two / "corpus_audit.csv")
    assert len(read(two / "scores.csv")) == 120
