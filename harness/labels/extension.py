"""Wave 2: extend the fixed sample so that the strata the first wave under-covered get more labels.

Why: in wave 1 the ``rest`` stratum (17,894 posts, 800 sampled) held a third
of the weighted toxic posts, 25 labelled toxic posts each standing for 22
posts of the file, and no detector found any of them.  Recall was measured on
a handful of posts and learned from none.  Wave 2 labels more posts where the
toxic ones the lexicon misses are likely to be, without biasing any estimate.

Design (fixed before any wave-2 label, recorded in ``selection.json``
under ``wave2``):

* **Cells.** Wave 1's strata stay, and ``rest`` is cut by what the default
  detectors of the day (lexicon and classifier, their files hashed) say of a
  post: ``rest-flag`` (flagged), ``rest-clf`` (not flagged, classifier
  probability ≥ ``CLF_BAND``), ``rest-low`` (the remainder).  A cell is a
  fixed function of the text, so the cells partition the population.
* **Sample.** In every cell, the posts with the smallest wave-1 hash
  ``unit("sample", key)``.  Wave 1 took the smallest hashes of each stratum,
  so the wave-1 posts of a cell are exactly its first ones by that hash (this
  module checks it), and taking the next ``EXTRA[cell]`` posts in the same
  order makes the union of both waves a simple random sample of the cell.
  Each labelled post's weight is then N_c / n_c of its cell, wave-1 posts
  included: their stratum and weight change, their label and split do not.
* **Split.** Unchanged: the hash of (wave-1 salt, line, post), so a post's
  split never depends on the wave that drew it.
* **Chunks and second pass.** The new posts, in ``unit("order", key, SALT)``
  order, are dealt round-robin into ``CHUNKS``; the ``SECOND_PASS_SIZE`` new
  posts with the smallest ``unit("second", key, SALT)`` form
  ``second-pass-2.csv`` for an independent second annotator.

The wave-1 stratum of every post is needed for the cells, but wave 1's strata
came from lexicon version 2, which is no longer in the tree: ``population.csv``
(keys, wave-1 stratum and cell; no text) records them, made once from the
commit that made wave 1 (docs/labelling.md section 10).  It is checked
against the wave-1 selection: every sampled post's stratum and every
stratum's size must agree.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from pathlib import Path
from typing import Callable, Mapping

from harness.errors import InputError
from harness.labels.labelfile import parse_key, read_table
from harness.labels.posts import Key
from harness.labels.selection import Selected, split_of, unit

SALT = "issue-16/open2ch-ranking-dev/labels-2"
CLF_BAND = 0.10
# posts added per cell (more than a cell holds takes it whole); rest-low gets none: ~3% toxic at 22 a post
EXTRA = {"lexicon": 250, "cue": 250, "rest-flag": 1_000_000, "rest-clf": 340, "rest-low": 0}
CELLS = tuple(EXTRA)
CHUNKS = (6, 7, 8, 9)
SECOND_PASS_SIZE = 100
POPULATION_COLUMNS = ["line", "post", "stratum", "cell"]


def cell_of(stratum: str, values: Mapping[str, float]) -> str:
    """A post's wave-2 cell from its wave-1 stratum and the default detectors' values for it."""
    if stratum != "rest":
        return stratum
    if values["flagged"]:
        return "rest-flag"
    return "rest-clf" if values.get("clf_toxicity", 0.0) >= CLF_BAND else "rest-low"


def population_cells(posts: Mapping[Key, str], strata: Mapping[Key, str], score: Callable) -> dict[Key, str]:
    """Every post's cell; ``score(texts)`` gives the detectors' value dicts, in order."""
    keys = list(posts)
    values = score([posts[k] for k in keys])
    return {k: cell_of(strata[k], v) for k, v in zip(keys, values)}


def check_wave1_strata(strata: Mapping[Key, str], chosen: Mapping[Key, Selected], sizes: Mapping[str, dict], where):
    """``InputError`` unless ``strata`` agrees with wave 1: each sampled post's stratum, each stratum's size."""
    for key, item in chosen.items():
        if strata.get(key) != item.stratum:
            found = strata.get(key)
            raise InputError(f"post {key.line},{key.post}: stratum {found!r}, wave 1 says {item.stratum!r}", where)
    counts = Counter(strata.values())
    for name, size in sizes.items():
        if counts[name] != size["population"]:
            raise InputError(f"stratum {name}: {counts[name]} posts, wave 1 counted {size['population']}", where)


def extend(chosen: Mapping[Key, Selected], cells: Mapping[Key, str], extra: Mapping[str, int] = EXTRA):
    """Both waves' rows (wave 1's with their new cell and weight, then the new posts) and each cell's sizes.

    ``chosen`` is the wave-1 selection; ``cells`` every population post's cell.
    """
    by_cell: dict[str, list[Key]] = defaultdict(list)
    for key, cell in cells.items():
        by_cell[cell].append(key)
    kept: dict[Key, Selected] = {}
    new: list[tuple[Key, str, float]] = []
    sizes = {}
    for cell in extra:
        keys = sorted(by_cell[cell], key=lambda k: unit("sample", k))
        first = sum(k in chosen for k in keys)
        if any(k not in chosen for k in keys[:first]):
            raise InputError(f"cell {cell}: wave 1's posts are not its first by hash; the union would be biased")
        n = min(len(keys), first + extra[cell])
        sizes[cell] = {"population": len(keys), "wave1": first, "sample": n}
        for key in keys[:n]:
            if key in chosen:
                kept[key] = chosen[key]._replace(stratum=cell, weight=len(keys) / n)
            else:
                new.append((key, cell, len(keys) / n))
    new.sort(key=lambda item: unit("order", item[0], SALT))
    second = set(sorted((k for k, _, _ in new), key=lambda k: unit("second", k, SALT))[:SECOND_PASS_SIZE])
    rows = [kept[k] for k in chosen]
    rows += [
        Selected(k, split_of(k), c, w, CHUNKS[i % len(CHUNKS)], 2 if k in second else 0)
        for i, (k, c, w) in enumerate(new)
    ]
    return rows, sizes


def read_strata(path: Path) -> dict[Key, str]:
    """The wave-1 stratum of every post, by key, from a ``line,post,stratum`` CSV."""
    return {parse_key(r, path): r.cells["stratum"] for r in read_table(path, POPULATION_COLUMNS[:3])}


def read_population(path: Path) -> tuple[dict[Key, str], dict[Key, str]]:
    """``population.csv``: every post's wave-1 stratum and wave-2 cell, by key."""
    rows = [(parse_key(r, path), r.cells) for r in read_table(path, POPULATION_COLUMNS)]
    for key, cells in rows:
        if cells["cell"] not in CELLS:
            raise InputError(f"post {key.line},{key.post}: unknown cell {cells['cell']!r}", path)
    return {k: c["stratum"] for k, c in rows}, {k: c["cell"] for k, c in rows}


def population_csv(strata: Mapping[Key, str], cells: Mapping[Key, str]) -> str:
    """The text of ``population.csv``: every post's key, wave-1 stratum and wave-2 cell."""
    head = (
        "# Every post of the labelling population (docs/labelling.md sections 6 and 10): key, wave-1 stratum\n"
        "# (lexicon version 2), wave-2 cell. Keys only; the text stays in ../shared.\n"
    )
    body = "".join(f"{k.line},{k.post},{strata[k]},{cells[k]}\n" for k in strata)
    return head + ",".join(POPULATION_COLUMNS) + "\n" + body
