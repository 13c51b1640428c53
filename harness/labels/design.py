"""Make, write, read and verify the selection files under ``labels/open2ch-dev/``.

``make_selection`` runs ``selection.select`` on the corpus with the current
lexicon; ``write_selection`` writes ``selection.csv`` (one row per post),
``selection.json`` (the design: salt, fractions, N_h and n_h per stratum, the
hashes of every input) and the blank files annotators fill.  The committed
files are the fact: rerunning only reproduces them with the same inputs
(``verify_selection`` says which input changed).
"""

from __future__ import annotations

import json
from pathlib import Path

from harness.errors import InputError
from harness.io import atomic_write_text, read_json, sha256_file
from harness.labels import extension, selection
from harness.labels.labelfile import (
    DESIGN,
    LABEL_COLUMNS,
    LABEL_DIR,
    SECOND_PASS,
    SELECTION,
    SELECTION_COLUMNS,
    SPLITS,
    guideline_version,
    parse_key,
    read_table,
)
from harness.labels.merge import second_pass_stem
from harness.labels.posts import BREAK, DEFAULT_CORPUS, REPO, Key, distinct_posts, read_corpus
from harness.resources import default_lexicon

LEGACY_LABELS = REPO / "tests" / "data" / "dev_labels.csv"
GROUPS = REPO / "probes" / "groups"


def legacy_texts(lines: list[list[str]], path: Path = LEGACY_LABELS) -> set[str]:
    """The texts already labelled in ``tests/data/dev_labels.csv`` (excluded from the population)."""
    rows = read_table(path, ["line", "post", "split", "label"])
    return {lines[k.line - 1][k.post] for k in (parse_key(r, path) for r in rows)}


def lexicon_flagger():
    """``text → bool``: does the current project lexicon flag the text (as ``harness audit`` would)?"""
    from harness.analysis.suite import AnalysisSuite
    from harness.config import AnalysisConfig

    suite = AnalysisSuite(AnalysisConfig())
    return lambda text: bool(suite.score_text(text).values["flagged"])


def make_selection(corpus: Path = DEFAULT_CORPUS) -> tuple[list[selection.Selected], dict]:
    """The selection from ``corpus`` and its design record (inputs hashed)."""
    rows, sizes = selection.select(population(corpus), lexicon_flagger(), selection.group_terms(GROUPS))
    inputs = {
        "corpus": corpus,
        "lexicon": default_lexicon(),
        "legacy_labels": LEGACY_LABELS,
        **{f"groups/{p.name}": p for p in sorted(GROUPS.glob("*.yaml"))},
    }
    design = {
        "salt": selection.SALT,
        "test_fraction": selection.TEST_FRACTION,
        "chunks": selection.CHUNKS,
        "second_pass": selection.SECOND_PASS_SIZE,
        "guideline": guideline_version(),
        "population": sum(s["population"] for s in sizes.values()),
        "strata": sizes,
        "inputs": {name: sha256_file(path) for name, path in inputs.items()},
    }
    return rows, design


def chunk_name(number: int) -> str:
    """The file stem of chunk ``number`` (1-based)."""
    return f"chunk-{number}"


HEADER = (
    "# Labels for posts of ../shared/corpora/open2ch-ranking-dev/dev.tsv; the text is never stored here.\n"
    "# Guideline: docs/labelling.md. See the posts: python -m harness.labels show {name}\n"
    "# Fill label (toxic|profanity|clean|unreadable), category (toxic only), annotator, guideline.\n"
    "# Check: python -m harness.labels check labels/open2ch-dev/{name}.csv\n"
)


def blank_file(name: str, keys: list[Key]) -> str:
    """The text of an unfilled label file for ``keys``."""
    body = "".join(f"{k.line},{k.post},,,,\n" for k in keys)
    return HEADER.format(name=name) + ",".join(LABEL_COLUMNS) + "\n" + body


def selection_csv(rows: list[selection.Selected]) -> str:
    """The text of ``selection.csv``."""
    body = "".join(
        f"{r.key.line},{r.key.post},{r.split},{r.stratum},{r.weight:.6f},{r.chunk},{r.second_pass:d}\n" for r in rows
    )
    return (
        "# Fixed before labelling; see harness/labels/selection.py and docs/labelling.md.\n"
        + ",".join(SELECTION_COLUMNS)
        + "\n"
        + body
    )


def write_selection(rows: list[selection.Selected], design: dict, folder: Path = LABEL_DIR, force: bool = False):
    """Write the selection, its design and the blank chunk and second-pass files into ``folder``.

    Refuses when a selection is already there (without ``force``) and always
    when an annotator file there already holds a label.
    """
    folder.mkdir(parents=True, exist_ok=True)
    if (folder / SELECTION.name).exists() and not force:
        raise InputError("a selection exists; it is fixed before labelling (--force to remake it)", folder)
    for path in folder.glob("*.csv"):
        if path.name != SELECTION.name and any(r.cells["label"] for r in read_table(path, LABEL_COLUMNS)):
            raise InputError("holds labels: remaking the selection would discard them", path)
    atomic_write_text(folder / SELECTION.name, selection_csv(rows))
    atomic_write_text(folder / DESIGN.name, json.dumps(design, indent=2, ensure_ascii=False) + "\n")
    for number in range(1, selection.CHUNKS + 1):
        keys = [r.key for r in rows if r.chunk == number]
        atomic_write_text(folder / f"{chunk_name(number)}.csv", blank_file(chunk_name(number), keys))
    second = [r.key for r in rows if r.second_pass]
    atomic_write_text(folder / f"{SECOND_PASS}.csv", blank_file(SECOND_PASS, second))


def read_selection(path: Path = SELECTION) -> dict[Key, selection.Selected]:
    """The committed selection, by key; ``InputError`` naming the line of a malformed row."""
    out: dict[Key, selection.Selected] = {}
    for row in read_table(path, SELECTION_COLUMNS):
        c = row.cells
        key = parse_key(row, path)
        try:
            item = selection.Selected(
                key, c["split"], c["stratum"], float(c["weight"]), int(c["chunk"]), int(c["second_pass"])
            )
        except ValueError:
            raise InputError("weight must be a number, chunk and second_pass integers", path, row.lineno) from None
        if item.split not in SPLITS or item.stratum not in (*selection.STRATA, *extension.CELLS) or key in out:
            raise InputError(f"bad split/stratum or repeated key {key.line},{key.post}", path, row.lineno)
        out[key] = item
    return out


def verify_selection(corpus: Path = DEFAULT_CORPUS, folder: Path = LABEL_DIR) -> str:
    """Remake the selection and compare it with the committed one; a line saying it reproduces, else ``InputError``."""
    rows, design = make_selection(corpus)
    old = read_json(folder / DESIGN.name)
    changed = [name for name, digest in design["inputs"].items() if old["inputs"].get(name) != digest]
    if (folder / SELECTION.name).read_text("utf-8") != selection_csv(rows):
        why = f"inputs changed since it was made: {', '.join(changed)}" if changed else "same inputs"
        raise InputError(f"the selection does not reproduce ({why})", folder / SELECTION.name)
    return f"{folder / SELECTION.name}: reproduces ({len(rows)} posts)"


POPULATION = LABEL_DIR / "population.csv"


def default_scorer():
    """``texts → [values]`` with the default detectors (lexicon and classifier), a few hundred texts a batch."""
    from harness.analysis.suite import AnalysisSuite
    from harness.config import AnalysisConfig

    suite = AnalysisSuite(AnalysisConfig())

    def score(texts: list[str]) -> list[dict]:
        return [s.values for i in range(0, len(texts), 500) for s in suite.score_texts(texts[i : i + 500])]

    return score, AnalysisConfig().lexicon_files()


def population(corpus: Path = DEFAULT_CORPUS) -> dict[Key, str]:
    """The labelling population (section 6): every distinct post but the legacy-labelled ones, key → text."""
    lines = read_corpus(corpus)
    done = legacy_texts(lines)
    return {k: t.replace(BREAK, "\n") for k, t in distinct_posts(lines).items() if t not in done}


def make_extension(strata: dict[Key, str], corpus: Path = DEFAULT_CORPUS, folder: Path = LABEL_DIR):
    """Wave 2 (``extension``) from the wave-1 strata of every post: rows, design, cells."""
    design = read_json(folder / DESIGN.name)
    if "wave2" in design:  # before any work: the selection now holds cells, not wave 1's strata
        raise InputError("wave 2 is already selected; it is fixed before labelling", folder / DESIGN.name)
    chosen = {k: s for k, s in read_selection(folder / SELECTION.name).items() if s.chunk <= selection.CHUNKS}
    posts = population(corpus)
    if set(strata) != set(posts):
        raise InputError(f"wave-1 strata name {len(strata)} posts, the population has {len(posts)}")
    extension.check_wave1_strata(strata, chosen, design["strata"], "wave-1 strata")
    score, files = default_scorer()
    cells = extension.population_cells(posts, strata, score)
    rows, sizes = extension.extend(chosen, cells)
    design["wave2"] = {
        "salt": extension.SALT,
        "clf_band": extension.CLF_BAND,
        "extra": {c: min(n, sizes[c]["population"]) for c, n in extension.EXTRA.items()},
        "chunks": list(extension.CHUNKS),
        "second_pass": extension.SECOND_PASS_SIZE,
        "cells": sizes,
        "inputs": input_hashes(files),
    }
    return rows, design, cells


def write_extension(rows, design: dict, strata: dict[Key, str], cells: dict[Key, str], folder: Path = LABEL_DIR):
    """Write wave 2: the selection with both waves, the design, ``population.csv`` and the blank wave-2 files.

    Refuses when wave 2 exists already (its files hold the fact once labelling starts)."""
    if "wave2" in read_json(folder / DESIGN.name):
        raise InputError("wave 2 is already selected; it is fixed before labelling", folder / DESIGN.name)
    atomic_write_text(folder / POPULATION.name, extension.population_csv(strata, cells))
    atomic_write_text(folder / SELECTION.name, selection_csv(rows))
    atomic_write_text(folder / DESIGN.name, json.dumps(design, indent=2, ensure_ascii=False) + "\n")
    for number in extension.CHUNKS:
        keys = [r.key for r in rows if r.chunk == number]
        atomic_write_text(folder / f"{chunk_name(number)}.csv", blank_file(chunk_name(number), keys))
    name = second_pass_stem(2)
    atomic_write_text(folder / f"{name}.csv", blank_file(name, [r.key for r in rows if r.second_pass == 2]))


def verify_extension(corpus: Path = DEFAULT_CORPUS, folder: Path = LABEL_DIR) -> str:
    """Remake wave 2 from ``population.csv``'s wave-1 strata and compare; a line, else ``InputError``."""
    strata, _ = extension.read_population(folder / POPULATION.name)
    committed = read_selection(folder / SELECTION.name)
    wave1 = {k: s for k, s in committed.items() if s.chunk <= selection.CHUNKS}
    score, files = default_scorer()
    rows, _ = extension.extend(wave1, extension.population_cells(population(corpus), strata, score))
    if selection_csv(rows) != selection_csv(list(committed.values())):
        recorded = read_json(folder / DESIGN.name)["wave2"]["inputs"]
        now = input_hashes(files)
        changed = sorted(n for n in recorded.keys() | now.keys() if recorded.get(n) != now.get(n))
        why = f"inputs changed since it was made: {', '.join(changed)}" if changed else "same inputs"
        raise InputError(f"wave 2 does not reproduce ({why})", folder / SELECTION.name)
    return f"{folder / SELECTION.name}: wave 2 reproduces ({len(rows)} posts)"


def input_hashes(files: list[Path]) -> dict[str, str]:
    """sha256 of each file, named by its path in the repository where it lies there."""
    return {str(p.relative_to(REPO) if p.is_relative_to(REPO) else p): sha256_file(p) for p in files}
