"""Wave 2 of the labelling selection (``harness.labels.extension``): cells, the hash-order extension, weights."""

from __future__ import annotations

from collections import Counter

import pytest

from harness.errors import InputError
from harness.labels.extension import CHUNKS, cell_of, check_wave1_strata, extend, population_csv, read_population
from harness.labels.posts import Key
from harness.labels.selection import CHUNKS as CHUNKS_1
from harness.labels.selection import select, split_of, unit

ALLOC = {"lexicon": 10, "cue": 15, "rest": 40}
EXTRA = {"lexicon": 5, "cue": 0, "rest-flag": 1000, "rest-clf": 12, "rest-low": 3}


def fake_posts(n: int) -> dict[Key, str]:
    """Made-up posts: every 7th 'flagged' by wave 1's lexicon, every 5th a cue, every 3rd 'scored high' now."""
    posts = {}
    for i in range(1, n + 1):
        text = f"投稿{i}" + (" FLAG" if i % 7 == 0 else " お前" if i % 5 == 0 else "") + (" HIGH" if i % 3 == 0 else "")
        posts[Key(i, 1)] = text
    return posts


def wave1(posts):
    rows, sizes = select(posts, lambda t: "FLAG" in t, [], ALLOC)
    strata = {k: ("lexicon" if "FLAG" in t else "cue" if "お前" in t else "rest") for k, t in posts.items()}
    return {r.key: r for r in rows}, sizes, strata


def now_values(text: str) -> dict:
    """The 'default detectors of the day': flag every 11th post, score HIGH posts above the band."""
    return {"flagged": text.endswith("1 HIGH") or "投稿11" in text, "clf_toxicity": 0.5 if "HIGH" in text else 0.01}


def test_cells_cut_rest_only():
    assert cell_of("lexicon", {"flagged": False}) == "lexicon"
    assert cell_of("rest", {"flagged": True, "clf_toxicity": 0.0}) == "rest-flag"
    assert cell_of("rest", {"flagged": False, "clf_toxicity": 0.10}) == "rest-clf"
    assert cell_of("rest", {"flagged": False, "clf_toxicity": 0.09}) == "rest-low"


def test_extension_is_a_simple_random_sample_of_every_cell_and_keeps_wave_1():
    posts = fake_posts(600)
    chosen, sizes, strata = wave1(posts)
    check_wave1_strata(strata, chosen, sizes, "strata")
    cells = {k: cell_of(strata[k], now_values(t)) for k, t in posts.items()}
    rows, cell_sizes = extend(chosen, cells, EXTRA)
    assert [r.key for r in rows[: len(chosen)]] == list(chosen)  # wave 1 first, in its order
    by_cell = {}
    for r in rows:
        by_cell.setdefault(r.stratum, []).append(r.key)
    for c, keys in by_cell.items():
        everyone = sorted((k for k in cells if cells[k] == c), key=lambda k: unit("sample", k))
        assert sorted(keys, key=lambda k: unit("sample", k)) == everyone[: len(keys)]  # the smallest hashes
        n1 = sum(k in chosen for k in everyone)
        assert len(keys) == min(len(everyone), n1 + EXTRA[c]) == cell_sizes[c]["sample"]
        assert {r.weight for r in rows if r.stratum == c} == {len(everyone) / len(keys)}
    assert sum(r.weight for r in rows) == pytest.approx(len(posts))
    for r in rows[: len(chosen)]:  # wave 1 keeps its split, chunk and second pass; only stratum and weight move
        old = chosen[r.key]
        assert (r.split, r.chunk, r.second_pass) == (old.split, old.chunk, old.second_pass)
    new = rows[len(chosen) :]
    assert all(r.chunk in CHUNKS and r.split == split_of(r.key) and r.second_pass in (0, 2) for r in new)
    assert max(Counter(r.chunk for r in new).values()) - min(Counter(r.chunk for r in new).values()) <= 1
    assert extend(dict(reversed(list(chosen.items()))), cells, EXTRA)[0][len(chosen) :] == new  # order-free


def test_extension_refuses_a_wave_1_that_is_not_a_hash_prefix_and_strata_that_disagree():
    posts = fake_posts(300)
    chosen, sizes, strata = wave1(posts)
    cells = {k: cell_of(strata[k], now_values(t)) for k, t in posts.items()}
    rest = sorted((k for k in cells if strata[k] == "rest"), key=lambda k: unit("sample", k))
    last_in = [k for k in rest if k in chosen][-1]
    swapped = {**{k: v for k, v in chosen.items() if k != last_in}, rest[-1]: chosen[last_in]._replace(key=rest[-1])}
    with pytest.raises(InputError, match="not its first by hash"):
        extend(swapped, cells, EXTRA)
    wrong = {**strata, last_in: "cue"}
    with pytest.raises(InputError, match=f"post {last_in.line},1: stratum 'cue', wave 1 says 'rest'"):
        check_wave1_strata(wrong, chosen, sizes, "strata")
    short = {k: v for k, v in strata.items() if k not in chosen}
    with pytest.raises(InputError, match="wave 1 says"):
        check_wave1_strata(short, chosen, sizes, "strata")


def test_population_file_round_trips_and_names_a_bad_cell(tmp_path):
    strata = {Key(1, 2): "rest", Key(3, 1): "cue"}
    cells = {Key(1, 2): "rest-clf", Key(3, 1): "cue"}
    path = tmp_path / "population.csv"
    path.write_text(population_csv(strata, cells), encoding="utf-8")
    assert read_population(path) == (strata, cells)
    path.write_text(population_csv(strata, {**cells, Key(3, 1): "nowhere"}), encoding="utf-8")
    with pytest.raises(InputError, match="post 3,1: unknown cell 'nowhere'"):
        read_population(path)


def test_committed_wave_2_is_the_extension_of_wave_1_by_its_cells():
    """Without re-scoring (the cells' detectors change as the classifier is retrained): the committed
    selection is exactly ``extend`` of its wave-1 rows over ``population.csv``'s cells."""
    from harness.labels.design import POPULATION, read_selection, selection_csv

    committed = read_selection()
    wave1 = {k: s for k, s in committed.items() if s.chunk <= CHUNKS_1}
    strata, cells = read_population(POPULATION)
    rows, _ = extend({k: s._replace(stratum=strata[k]) for k, s in wave1.items()}, cells)
    assert selection_csv(rows) == selection_csv(list(committed.values()))


def test_extend_refuses_a_second_wave_2_before_any_work(tmp_path, capsys):
    """The committed design holds wave 2: one error line naming selection.json, exit 1, nothing rewritten."""
    from harness.labels.cli import main
    from harness.labels.labelfile import DESIGN, SELECTION

    before = SELECTION.read_bytes(), DESIGN.read_bytes()
    strata = tmp_path / "wave1-strata.csv"
    strata.write_text("line,post,stratum\n1,2,rest\n", encoding="utf-8")
    assert main(["extend", "--wave1-strata", str(strata)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "wave 2 is already selected" in err and "selection.json" in err
    assert (SELECTION.read_bytes(), DESIGN.read_bytes()) == before
