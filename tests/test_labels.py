"""The labelling tool of issue 16: fixed selection, hash split, weights, label file checks."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import pytest

from harness.errors import InputError
from harness.io import read_json
from harness.labels import selection
from harness.labels.check import check_file
from harness.labels.cli import main
from harness.labels.design import LEGACY_LABELS, read_selection
from harness.labels.extension import read_population
from harness.labels.labelfile import DESIGN, LABEL_COLUMNS, LABEL_DIR, parse_key, read_table
from harness.labels.merge import cohen_kappa, kappa_report, merge, read_merged, write_merged
from harness.labels.posts import Key, distinct_posts
from harness.labels.selection import Selected, select, split_of


def synthetic_posts(n: int) -> dict[Key, str]:
    """Posts made up for the test: every 7th is 'flagged' by the fake flagger, every 5th has a cue."""
    posts = {}
    for i in range(1, n + 1):
        text = f"投稿{i}です"
        if i % 7 == 0:
            text += " FLAG"
        elif i % 5 == 0:
            text = "お前" + text
        posts[Key(i, 1 + i % 3)] = text
    return posts


def fake_flagger(text: str) -> bool:
    return "FLAG" in text


ALLOC = {"lexicon": 10, "cue": 15, "rest": 20}


def test_split_is_a_hash_of_the_key_alone():
    keys = [Key(line, post) for line in range(1, 2001) for post in (1, 2)]
    splits = [split_of(k) for k in keys]
    assert splits == [split_of(k) for k in keys]
    assert 0.27 < splits.count("test") / len(keys) < 0.33
    # another salt gives another split: the salt, not the key order, fixes it
    assert splits != [split_of(k, salt="other") for k in keys]


def test_select_is_deterministic_and_weights_sum_to_the_population(monkeypatch):
    monkeypatch.setattr(selection, "SECOND_PASS_SIZE", 9)
    posts = synthetic_posts(400)
    rows, sizes = select(posts, fake_flagger, [], ALLOC)
    again, _ = select(dict(reversed(list(posts.items()))), fake_flagger, [], ALLOC)
    assert rows == again  # neither the order of the input nor a rerun changes anything
    assert {h: s["sample"] for h, s in sizes.items()} == ALLOC
    assert sum(s["population"] for s in sizes.values()) == len(posts)
    assert sum(r.weight for r in rows) == pytest.approx(len(posts))
    for row in rows:
        assert row.weight == pytest.approx(sizes[row.stratum]["population"] / sizes[row.stratum]["sample"])
        assert row.split == split_of(row.key)
    assert sum(r.second_pass for r in rows) == 9
    per_chunk = Counter(r.chunk for r in rows)
    assert sorted(per_chunk) == [1, 2, 3, 4, 5] and max(per_chunk.values()) - min(per_chunk.values()) <= 1
    strata = {r.key: r.stratum for r in rows}
    assert all(fake_flagger(posts[k]) == (h == "lexicon") for k, h in strata.items())


def test_a_larger_population_keeps_each_key_split_and_a_small_stratum_is_taken_whole():
    small, _ = select(synthetic_posts(100), fake_flagger, [], ALLOC)
    large, sizes = select(synthetic_posts(1000), fake_flagger, [], {"lexicon": 10, "cue": 15, "rest": 5000})
    split_large = {r.key: r.split for r in large}
    assert all(split_large.get(r.key, r.split) == r.split for r in small)
    assert sizes["rest"]["sample"] == sizes["rest"]["population"]
    assert {r.weight for r in large if r.stratum == "rest"} == {1.0}


def test_stratum_cues_include_groups_and_topic_frames():
    assert selection.stratum_of("火星人って本当にあれだよな", False, []) == "cue"
    assert selection.stratum_of("車椅子で来た", False, ["車椅子"]) == "cue"
    assert selection.stratum_of("ｺｲﾂ誰", False, []) == "cue"  # half-width kana normalised first
    assert selection.stratum_of("今日は晴れ", False, []) == "rest"
    assert selection.stratum_of("今日は晴れ", True, []) == "lexicon"


def test_distinct_posts_keeps_the_first_key_of_each_text():
    lines = [["1", "文脈", "返信A"], ["0", "文脈", "返信B"], ["0", "  ", "返信A"]]
    assert distinct_posts(lines) == {Key(1, 1): "文脈", Key(1, 2): "返信A", Key(2, 2): "返信B"}


# --- the committed selection ------------------------------------------------------------


def test_committed_selection_matches_its_design_and_files():
    chosen = read_selection()
    design = read_json(DESIGN)
    assert len(chosen) >= 3000
    assert sum(s.weight for s in chosen.values()) == pytest.approx(design["population"], abs=0.05)
    strata, cells = read_population(LABEL_DIR / "population.csv")
    assert len(strata) == design["population"]
    wave1 = {k: s for k, s in chosen.items() if s.chunk <= selection.CHUNKS}
    for h, size in design["strata"].items():  # wave 1: stratum sizes and sample sizes as designed
        assert sum(v == h for v in strata.values()) == size["population"]
        assert sum(strata[k] == h for k in wave1) == size["sample"]
    for c, size in design["wave2"]["cells"].items():  # both waves: each cell's sample and weight N_c/n_c
        rows = [s for s in chosen.values() if s.stratum == c]
        assert len(rows) == size["sample"] and sum(v == c for v in cells.values()) == size["population"]
        assert {round(s.weight, 6) for s in rows} == {round(size["population"] / size["sample"], 6)}
        assert all(cells[s.key] == c for s in rows)
    assert all(s.split == split_of(k) for k, s in chosen.items())
    legacy = {parse_key(r, LEGACY_LABELS) for r in read_table(LEGACY_LABELS, ["line", "post", "split", "label"])}
    assert not legacy & set(chosen)
    second = [s for s in chosen.values() if s.second_pass == 1]
    assert len(second) == design["second_pass"] and {s.chunk for s in second} == {1, 2, 3, 4, 5}
    assert sum(s.second_pass == 2 for s in chosen.values()) == design["wave2"]["second_pass"]
    for number in range(1, 10):
        path = LABEL_DIR / f"chunk-{number}.csv"
        keys = {parse_key(r, path) for r in read_table(path, LABEL_COLUMNS)}
        assert keys == {k for k, s in chosen.items() if s.chunk == number}
        assert (400 <= len(keys) <= 450) if number <= selection.CHUNKS else (240 <= len(keys) <= 260)
        assert {s.split for k, s in chosen.items() if k in keys} == {"dev", "test"}
        check_file(path, chosen, partial=True)
    check_file(LABEL_DIR / "second-pass.csv", chosen, partial=True)
    check_file(LABEL_DIR / "second-pass-2.csv", chosen, partial=True)


# --- check ------------------------------------------------------------------------------

CHOSEN = {
    Key(10, 2): Selected(Key(10, 2), "dev", "lexicon", 2.0, 1, True),
    Key(11, 2): Selected(Key(11, 2), "test", "rest", 20.0, 1, False),
    Key(12, 3): Selected(Key(12, 3), "dev", "cue", 1.5, 2, True),
}


def write_labels(path: Path, rows: list[list[str]], header: list[str] = LABEL_COLUMNS) -> Path:
    with open(path, "w", encoding="utf-8", newline="") as handle:
        handle.write("# a comment line\n")
        csv.writer(handle).writerows([header, *rows])
    return path


GOOD = [["10", "2", "toxic", "threat", "h-a", "1"], ["11", "2", "profanity", "", "h-a", "1"]]


def test_check_accepts_a_filled_chunk(tmp_path):
    summary = check_file(write_labels(tmp_path / "chunk-1.csv", GOOD), CHOSEN)
    assert "ok, 2 rows" in summary and "toxic 1" in summary


@pytest.mark.parametrize(
    "rows, message, line",
    [
        ([GOOD[0], ["11", "2", "toxc", "", "h-a", "1"]], "label 'toxc' is not one of", 4),
        ([["10", "2", "toxic", "", "h-a", "1"], GOOD[1]], "a toxic post needs a category", 3),
        ([GOOD[0], ["11", "2", "clean", "insult", "h-a", "1"]], "only for toxic posts", 4),
        ([GOOD[0], ["11", "2", "clean", "", "", "1"]], "annotator is empty", 4),
        ([GOOD[0], ["11", "2", "clean", "", "h-a", "9"]], "guideline must be", 4),
        ([GOOD[0], GOOD[1], GOOD[0]], "repeats line 3", 5),
        ([GOOD[0], GOOD[1], ["13", "3", "clean", "", "h-a", "1"]], "not in the selection", 5),
        ([GOOD[0], GOOD[1], ["12", "3", "clean", "", "h-a", "1"]], "selected for chunk 2, not for chunk-1.csv", 5),
        ([GOOD[0], ["x", "2", "clean", "", "h-a", "1"]], "positive integers", 4),
        ([GOOD[0]], "1 selected posts missing, first 11,2", None),
        ([GOOD[0], ["11", "2", "", "", "", ""]], "label is empty", 4),
    ],
)
def test_check_names_file_line_and_problem(tmp_path, rows, message, line):
    path = write_labels(tmp_path / "chunk-1.csv", rows)
    with pytest.raises(InputError, match=message) as err:
        check_file(path, CHOSEN)
    where = f"{path}:{line}: " if line else f"{path}: "
    assert str(err.value).startswith(where)


def test_check_refuses_a_text_column_and_accepts_blanks_when_partial(tmp_path):
    header = [*LABEL_COLUMNS, "text"]
    path = write_labels(tmp_path / "chunk-1.csv", [[*GOOD[0], "本文"]], header)
    with pytest.raises(InputError, match="column 'text' is not allowed.*never the text"):
        check_file(path, CHOSEN)
    partial = write_labels(tmp_path / "chunk-1.csv", [GOOD[0], ["11", "2", "", "", "", ""]])
    assert "unlabelled 1" in check_file(partial, CHOSEN, partial=True)


def test_check_second_pass_and_merged_files_by_name(tmp_path):
    second = write_labels(tmp_path / "second-pass.csv", [GOOD[0]])
    with pytest.raises(InputError, match="missing, first 12,3"):
        check_file(second, CHOSEN)
    merged = [Key(10, 2), Key(11, 2), Key(12, 3)]
    rows = [
        ["10", "2", "dev", "lexicon", "2.000000", "toxic", "insult", "h-a", "1"],
        ["11", "2", "test", "rest", "20.000000", "clean", "", "h-a", "1"],
        ["12", "3", "test", "cue", "1.500000", "clean", "", "h-a", "1"],
    ]
    header = ["line", "post", "split", "stratum", "weight", "label", "category", "annotator", "guideline"]
    path = write_labels(tmp_path / "open2ch-dev.csv", rows, header)
    assert len(merged) == 3
    with pytest.raises(InputError, match=r":5: key 12,3: split 'test' differs from the selection \('dev'\)"):
        check_file(path, CHOSEN)


def test_cli_check_prints_one_error_line_and_exits_1(tmp_path, capsys):
    path = write_labels(tmp_path / "chunk-1.csv", [["1", "1", "clean", "", "h-a", "1"]])
    assert main(["check", str(path)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{path}:3:" in err and "not in the selection" in err


# --- show, merge, kappa -----------------------------------------------------------------


def test_show_prints_keys_and_text_from_the_corpus_but_no_label(tmp_path, capsys):
    corpus = tmp_path / "dev.tsv"
    corpus.write_text("1\t文脈です\t一行目 __BR__ 二行目\x07\n0\t文脈です\t別の返信\n", encoding="utf-8")
    path = write_labels(
        tmp_path / "chunk-9.csv", [["1", "2", "toxic", "insult", "h-a", "1"], ["2", "2", "", "", "", ""]]
    )
    assert main(["show", str(path), "--corpus", str(corpus)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[2:] == ["1,2\t一行目 ⏎ 二行目 ", "2,2\t別の返信"]
    assert not any("toxic" in line or "insult" in line for line in out)
    assert main(["show", str(path), "--corpus", str(corpus), "--unlabelled"]) == 0
    assert capsys.readouterr().out.splitlines()[2:] == ["2,2\t別の返信"]
    bad = write_labels(tmp_path / "chunk-8.csv", [["5", "2", "", "", "", ""]])
    assert main(["show", str(bad), "--corpus", str(corpus)]) == 1
    assert "key line 5, post 2 is not a post of the corpus" in capsys.readouterr().err


def test_merge_joins_selection_and_labels_and_kappa_compares_passes(tmp_path):
    write_labels(tmp_path / "chunk-1.csv", GOOD)
    write_labels(tmp_path / "chunk-2.csv", [["12", "3", "clean", "", "h-a", "1"]])
    for number in (3, 4, 5):
        write_labels(tmp_path / f"chunk-{number}.csv", [])
    rows = merge(CHOSEN, tmp_path)
    assert [(r.key, r.split, r.weight, r.label) for r in rows] == [
        (Key(10, 2), "dev", 2.0, "toxic"),
        (Key(11, 2), "test", 20.0, "profanity"),
        (Key(12, 3), "dev", 1.5, "clean"),
    ]
    write_merged(rows, tmp_path / "merged.csv")
    assert read_merged(tmp_path / "merged.csv") == rows
    write_labels(
        tmp_path / "second-pass.csv",
        [["10", "2", "toxic", "insult", "h-b", "1"], ["12", "3", "toxic", "insult", "h-b", "1"]],
    )
    assert kappa_report(CHOSEN, tmp_path).startswith("second-pass.csv: n 2: agreement 0.500")
    write_labels(
        tmp_path / "second-pass.csv", [["10", "2", "toxic", "insult", "h-a", "1"], ["12", "3", "", "", "", ""]]
    )
    with pytest.raises(InputError, match="same annotator in both passes"):
        kappa_report(CHOSEN, tmp_path)


def test_cohen_kappa_known_values():
    assert cohen_kappa(list("aabb"), list("abbb")) == pytest.approx(0.5)
    assert cohen_kappa(list("ab"), list("ab")) == pytest.approx(1.0)
    assert cohen_kappa(list("aa"), list("aa")) == 1.0
