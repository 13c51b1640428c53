"""``check``: validate a filled label file against the contract and the committed selection.

Which keys a file must hold follows from its name: ``chunk-N*.csv`` the
posts of chunk N, ``second-pass*.csv`` the second-pass posts, a file with the
merged columns every selected post (and the selection's split, stratum and
weight).  Any other name is checked for format and for keys in the selection.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

from harness.errors import InputError
from harness.labels.labelfile import (
    LABEL_COLUMNS,
    MERGED_COLUMNS,
    SECOND_PASS,
    guideline_version,
    label_problem,
    parse_key,
    read_table,
)
from harness.labels.posts import Key
from harness.labels.selection import Selected


def is_merged(path: Path) -> bool:
    """Does the header of ``path`` carry the merged columns (split, stratum, weight)?"""
    for line in path.read_text(encoding="utf-8-sig").split("\n"):
        if line.strip() and not line.lstrip().startswith("#"):
            return "split" in [c.strip() for c in line.split(",")]
    return False


def expected_keys(path: Path, chosen: dict[Key, Selected], merged: bool) -> set[Key] | None:
    """The keys ``path`` must hold exactly, from its name; None when its name says nothing."""
    found = re.search(r"chunk-(\d+)", path.name)
    if merged:
        return set(chosen)
    if found:
        return {k for k, s in chosen.items() if s.chunk == int(found.group(1))}
    second = re.search(rf"{SECOND_PASS}(?:-(\d+))?", path.name)
    if second:  # second-pass.csv is wave 1's, second-pass-2.csv wave 2's
        wave = int(second.group(1) or 1)
        return {k for k, s in chosen.items() if s.second_pass == wave}
    return None


def row_problem(cells: dict[str, str], item: Selected | None, merged: bool, partial: bool, newest: int) -> str | None:
    """What is wrong with one row, given its selection entry (None: not selected)."""
    if item is None:
        return "key is not in the selection (labels/open2ch-dev/selection.csv)"
    if merged:
        want = {"split": item.split, "stratum": item.stratum, "weight": f"{item.weight:.6f}"}
        for column, value in want.items():
            if cells[column] != value:
                return f"{column} {cells[column]!r} differs from the selection ({value!r})"
    return label_problem(cells, partial, newest)


def check_file(path: str | Path, chosen: dict[Key, Selected], partial: bool = False) -> str:
    """A one-line summary when ``path`` is a valid label file; else ``InputError`` on its first problem.

    ``partial`` accepts rows not labelled yet (blank label and category).
    """
    path = Path(path)
    merged = path.is_file() and is_merged(path)
    rows = read_table(path, MERGED_COLUMNS if merged else LABEL_COLUMNS)
    newest = guideline_version()
    want = expected_keys(path, chosen, merged)
    problems: list[tuple[int | None, str]] = []
    seen: dict[Key, int] = {}
    for row in rows:
        key = parse_key(row, path)
        if key in seen:
            problems.append((row.lineno, f"key {key.line},{key.post} repeats line {seen[key]}"))
            continue
        seen[key] = row.lineno
        why = row_problem(row.cells, chosen.get(key), merged, partial, newest)
        if not why and want is not None and key not in want:
            why = f"selected for chunk {chosen[key].chunk}, not for {path.name}"
        if why:
            problems.append((row.lineno, f"key {key.line},{key.post}: {why}"))
    missing = sorted(want - set(seen)) if want is not None else []
    if missing:
        problems.append((None, f"{len(missing)} selected posts missing, first {missing[0].line},{missing[0].post}"))
    if problems:
        line, message = problems[0]
        more = f" (and {len(problems) - 1} more problems)" if len(problems) > 1 else ""
        raise InputError(message + more, path, line)
    counts = Counter(r.cells["label"] or "unlabelled" for r in rows)
    scope = "" if want is not None else " (name says no chunk: keys checked against the selection only)"
    return f"{path}: ok, {len(rows)} rows: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) + scope
