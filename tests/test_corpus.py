"""Corpus readers: open2ch TSV (with and without labels), text, JSONL, errors."""

import json

import pytest

from harness.config import CorpusConfig
from harness.data.corpus import detect_format, read_corpus
from harness.errors import InputError


def read(path, **kw):
    return read_corpus(CorpusConfig(path=path, **kw))


def test_open2ch_join_and_separate(tmp_path):
    path = tmp_path / "board.tsv"
    path.write_text('おはよう\t"引用"だろ __BR__ 草\n\nまた明日\tおう\n', encoding="utf-8")
    joined = read(path, format="open2ch")
    assert [d.text for d in joined] == ['おはよう "引用"だろ 草', "また明日 おう"]
    assert [d.line for d in joined] == [1, 3]
    separate = read(path, format="open2ch", turns="separate")
    # quotes survive (pandas would strip them); __BR__ becomes a newline
    assert [d.text for d in separate] == ["おはよう", '"引用"だろ\n草', "また明日", "おう"]


def test_ranking_format_detected_and_fake_dialogues_dropped(tmp_path):
    path = tmp_path / "dev.tsv"
    path.write_text("1\tやあ\tどうも\n0\tやあ\tランダム\n", encoding="utf-8")
    assert detect_format(path) == "open2ch-ranking"
    assert [d.text for d in read(path)] == ["やあ どうも"]
    assert [d.text for d in read(path, turns="separate")] == ["やあ", "どうも", "ランダム"]


def test_nfkc_and_dedupe(tmp_path):
    path = tmp_path / "t.txt"
    path.write_text("ｗｗｗ  です\nwww です\n", encoding="utf-8")
    assert [d.text for d in read(path)] == ["www です"]
    assert len(read(path, dedupe=False)) == 2


def test_jsonl_bad_line_names_file_and_line(tmp_path):
    path = tmp_path / "c.jsonl"
    path.write_text(json.dumps({"text": "はい"}) + "\n{oops\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"c.jsonl:2: invalid JSON"):
        read(path)


def test_jsonl_missing_key(tmp_path):
    path = tmp_path / "c.jsonl"
    path.write_text(json.dumps({"body": "はい"}) + "\n", encoding="utf-8")
    with pytest.raises(InputError, match=r":1: expected an object with a string 'text' field"):
        read(path)


def test_empty_and_missing_files(tmp_path):
    empty = tmp_path / "e.txt"
    empty.write_text("\n\n", encoding="utf-8")
    with pytest.raises(InputError, match="no documents found"):
        read(empty)
    with pytest.raises(InputError, match="corpus file not found"):
        read(tmp_path / "missing.tsv")


def test_bad_label_column(tmp_path):
    path = tmp_path / "x.tsv"
    path.write_text("1\ta\tb\nx\tc\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"x.tsv:2: expected a 0/1 label column"):
        read(path, format="open2ch-ranking")


def test_binary_file_is_a_clear_error(tmp_path):
    path = tmp_path / "b.txt"
    path.write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(InputError, match="not UTF-8"):
        read(path)
