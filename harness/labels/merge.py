"""``merge`` the first-pass chunks into ``labels/open2ch-dev.csv``; ``kappa`` between the two passes.

The merged file is what detectors train and are measured on
(``read_merged``): one row per labelled post with its split, stratum and
weight from the selection.  Only first-pass labels go into it; the second
pass exists to measure agreement (Cohen's κ).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import NamedTuple

from harness.errors import InputError
from harness.io import atomic_write_text
from harness.labels.check import check_file
from harness.labels.labelfile import LABEL_COLUMNS, LABEL_DIR, MERGED_COLUMNS, SECOND_PASS, parse_key, read_table
from harness.labels.posts import Key
from harness.labels.selection import Selected


class Labelled(NamedTuple):
    """One labelled post of the merged file."""

    key: Key
    split: str
    stratum: str
    weight: float
    label: str
    category: str
    annotator: str
    guideline: int


def read_labels(path: Path) -> dict[Key, dict[str, str]]:
    """The labelled rows (blank labels left out) of an annotator file, by key."""
    rows = read_table(path, LABEL_COLUMNS)
    return {parse_key(r, path): r.cells for r in rows if r.cells["label"]}


def merge(chosen: dict[Key, Selected], folder: Path = LABEL_DIR, partial: bool = False) -> list[Labelled]:
    """The first-pass labels of every chunk in ``folder``, each file checked first, in selection order."""
    cells: dict[Key, dict[str, str]] = {}
    for number in sorted({s.chunk for s in chosen.values()}):  # wave 1's chunks 1-5, wave 2's 6-9
        path = folder / f"chunk-{number}.csv"
        check_file(path, chosen, partial=partial)
        cells.update(read_labels(path))
    return [
        Labelled(k, s.split, s.stratum, s.weight, c["label"], c["category"], c["annotator"], int(c["guideline"]))
        for k, s in chosen.items()
        if (c := cells.get(k))
    ]


def merged_csv(rows: list[Labelled]) -> str:
    """The text of the merged file (content note and column header first)."""
    head = (
        "# Labels of posts of ../shared/corpora/open2ch-ranking-dev/dev.tsv (content note: marks rude,\n"
        "# abusive, sexual or discriminatory posts); text never stored. Made by python -m harness.labels merge.\n"
    )
    body = "".join(
        f"{r.key.line},{r.key.post},{r.split},{r.stratum},{r.weight:.6f},{r.label},{r.category},"
        f"{r.annotator},{r.guideline}\n"
        for r in rows
    )
    return head + ",".join(MERGED_COLUMNS) + "\n" + body


def write_merged(rows: list[Labelled], path: Path) -> None:
    """Write the merged file atomically."""
    atomic_write_text(path, merged_csv(rows))


def read_merged(path: Path) -> list[Labelled]:
    """The rows of a merged label file (``InputError`` on a malformed row)."""
    out = []
    for row in read_table(path, MERGED_COLUMNS):
        c = row.cells
        try:
            out.append(
                Labelled(
                    parse_key(row, path),
                    c["split"],
                    c["stratum"],
                    float(c["weight"]),
                    c["label"],
                    c["category"],
                    c["annotator"],
                    int(c["guideline"]),
                )
            )
        except ValueError:
            raise InputError("weight must be a number and guideline an integer", path, row.lineno) from None
    return out


def cohen_kappa(first: list[str], second: list[str]) -> float:
    """Cohen's κ of two raters' labels for the same items (1.0 when both use one label only)."""
    n = len(first)
    observed = sum(a == b for a, b in zip(first, second)) / n
    p1, p2 = Counter(first), Counter(second)
    expected = sum(p1[c] * p2[c] for c in p1) / (n * n)
    return 1.0 if expected == 1 else (observed - expected) / (1 - expected)


def kappa_report(chosen: dict[Key, Selected], folder: Path = LABEL_DIR) -> str:
    """κ between the first pass (chunks) and each wave's second pass, on the posts both labelled; a line each."""
    first: dict[Key, dict[str, str]] = {}
    for number in sorted({s.chunk for s in chosen.values()}):
        first.update(read_labels(folder / f"chunk-{number}.csv"))
    waves = sorted({s.second_pass for s in chosen.values()} - {0})
    return "\n".join(wave_kappa(first, chosen, folder / f"{second_pass_stem(w)}.csv") for w in waves)


def second_pass_stem(wave: int) -> str:
    """The file stem of wave ``wave``'s second pass: ``second-pass`` (wave 1), ``second-pass-2`` …"""
    return SECOND_PASS if wave == 1 else f"{SECOND_PASS}-{wave}"


def wave_kappa(first: dict[Key, dict[str, str]], chosen: dict[Key, Selected], second_path: Path) -> str:
    """One line: agreement and κ between the first pass and the second pass in ``second_path``."""
    check_file(second_path, chosen, partial=True)
    second = read_labels(second_path)
    both = [k for k in second if k in first]
    if not both:
        raise InputError("no post is labelled in both passes yet", second_path)
    same = [k for k in both if first[k]["annotator"] == second[k]["annotator"]]
    if same:
        raise InputError(f"post {same[0].line},{same[0].post} has the same annotator in both passes", second_path)
    a, b = [first[k]["label"] for k in both], [second[k]["label"] for k in both]
    binary = cohen_kappa([x == "toxic" for x in a], [x == "toxic" for x in b])
    agree = sum(x == y for x, y in zip(a, b)) / len(both)
    return (
        f"{second_path.name}: n {len(both)}: agreement {agree:.3f}, Cohen's kappa {cohen_kappa(a, b):.3f} (4 labels), "
        f"{binary:.3f} (toxic vs not)"
    )
