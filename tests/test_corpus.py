"""Corpus readers: open2ch TSV (with and without labels), text, JSONL, streaming, dedup, errors."""

import json

import pytest

from harness.config import CorpusConfig
from harness.data import corpus as corpus_module
from harness.data.corpus import DigestSet, check_corpus, detect_format, iter_corpus, read_corpus
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
    with pytest.raises(InputError, match=r"b.txt:1: not UTF-8 text \(invalid start byte 0xff at column 1\)"):
        read(path)


# a bad byte deep in the file: the decoder reads ahead in 8 KB blocks, so only
# a line-by-line check can name its line and column
BAD_AT_LINE_900 = "".join(f"投稿{i}です\n" for i in range(899)).encode() + "ここは".encode() + b"\xff" + b"tail\n"


@pytest.mark.parametrize(
    ("name", "data", "where"),
    [
        ("late.txt", BAD_AT_LINE_900, r"late.txt:900: not UTF-8 text \(invalid start byte 0xff at column 4\)"),
        ("late.tsv", BAD_AT_LINE_900, r"late.tsv:900: not UTF-8 text \(invalid start byte 0xff at column 4\)"),
        (
            "late.jsonl",
            b'{"text": "ok"}\n' * 2000 + b'{"text": "\xe3\x81\x82\xe3\x81"}\n',
            r"late.jsonl:2001: not UTF-8 text \(invalid continuation byte 0xe3 0x81 at column 12\)",
        ),
        (
            "sjis.txt",
            "はい\n".encode() + "いいえ\n".encode("cp932"),
            r"sjis.txt:2: .*invalid start byte 0x82 at column 1\)",
        ),
        ("cut.txt", "はい\nあ".encode() + b"\xe3\x81", r"cut.txt:2: .*unexpected end of data 0xe3 0x81 at column 2\)"),
    ],
)
def test_bad_encoding_names_file_line_and_column(tmp_path, name, data, where):
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(InputError, match=where):
        read(path)
    with pytest.raises(InputError, match=where):
        check_corpus(CorpusConfig(path=path))


def test_check_corpus_reads_long_lines_in_pieces(tmp_path, monkeypatch):
    # pieces of 5 bytes split the 3-byte characters: only the bad byte is an error
    monkeypatch.setattr(corpus_module, "CHECK_PIECE_BYTES", 5)
    path = tmp_path / "long.txt"
    path.write_bytes("はい\n".encode() + "あいうえお".encode() * 40 + b"\xff\n")
    with pytest.raises(InputError, match=r"long.txt:2: not UTF-8 text \(invalid start byte 0xff at column 201\)"):
        check_corpus(CorpusConfig(path=path))
    path.write_bytes("はい\r\n".encode() + "あいうえお".encode() * 40 + b"\n")
    check_corpus(CorpusConfig(path=path))  # clean: no error


def test_a_folder_is_not_a_corpus(tmp_path):
    for fn in (read_corpus, iter_corpus, check_corpus):
        with pytest.raises(InputError, match=f"{tmp_path}: is a folder, not a file"):
            fn(CorpusConfig(path=tmp_path))
    with pytest.raises(InputError, match="corpus file not found"):
        check_corpus(CorpusConfig(path=tmp_path / "missing.txt"))


def test_iter_corpus_streams(tmp_path):
    path = tmp_path / "t.jsonl"
    path.write_text(
        json.dumps({"text": "はい"}) + "\n" + json.dumps({"text": "いいえ"}) + "\n{oops\n", encoding="utf-8"
    )
    docs = iter_corpus(CorpusConfig(path=path))
    assert not isinstance(docs, list)
    # the first documents come before the malformed third line is read
    assert [next(docs).text, next(docs).text] == ["はい", "いいえ"]
    with pytest.raises(InputError, match=r"t.jsonl:3: invalid JSON"):
        next(docs)


def test_iter_corpus_checks_the_path_before_the_first_document(tmp_path):
    with pytest.raises(InputError, match="corpus file not found"):
        iter_corpus(CorpusConfig(path=tmp_path / "missing.txt"))  # no next() needed


def test_max_docs_and_empty_streams(tmp_path):
    path = tmp_path / "t.txt"
    path.write_text("a\nb\na\nc\nd\n", encoding="utf-8")
    assert [d.text for d in iter_corpus(CorpusConfig(path=path, max_docs=3))] == ["a", "b", "c"]
    empty = tmp_path / "e.txt"
    empty.write_text("\n \n", encoding="utf-8")
    with pytest.raises(InputError, match="no documents found"):
        list(iter_corpus(CorpusConfig(path=empty)))


def test_line_numbers_count_newlines_only(tmp_path):
    # CRLF files read as before; a stray CR is whitespace inside its line, so
    # line numbers agree with sed -n and with check_corpus
    path = tmp_path / "crlf.tsv"
    path.write_bytes("やあ\tどうも\r\nまた\rね\tおう\r\n\r\nおわり\tだ\r\n".encode())
    docs = read(path, format="open2ch")
    assert [(d.text, d.line) for d in docs] == [("やあ どうも", 1), ("また ね おう", 2), ("おわり だ", 4)]


def test_dedupe_across_digest_merges(tmp_path, monkeypatch):
    monkeypatch.setattr(DigestSet, "FLUSH", 4)  # merge the recent digests into the sorted array often
    path = tmp_path / "t.txt"
    lines = [f"投稿{i % 25}" for i in range(100)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    docs = read(path)
    assert [d.text for d in docs] == [f"投稿{i}" for i in range(25)]
    assert [d.line for d in docs] == list(range(1, 26))


def test_digest_set():
    seen = DigestSet()
    assert seen.add("a") and seen.add("b") and not seen.add("a")
    assert seen.add("\ud800")  # a lone surrogate from a JSON escape still hashes
    assert len(seen) == 3
