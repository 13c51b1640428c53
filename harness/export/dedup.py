"""Exact and near-duplicate removal for every export format (MinHash LSH via ``datasketch``).

A trainer that sees the same insult 40 times learns the insult, not the
lesson; the reference notebook's KTO file kept 172 duplicates of 880.  Each
record's key text (the completion, or the rejected completion of a DPO pair)
is compared after whitespace is collapsed: equal texts are exact duplicates;
texts whose character 3-gram sets have an estimated Jaccard similarity at or
above ``threshold`` are near duplicates.  The first record (generations.jsonl
order) is kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from harness.errors import MissingDependency

NUM_PERM = 128  # MinHash permutations: estimate error ~ 1/sqrt(128) ≈ 0.09
SHINGLE = 3  # characters per shingle: Japanese has no spaces to split on


@dataclass
class DedupResult:
    """The records kept and how many were dropped as exact or near duplicates."""

    kept: list[dict[str, Any]]
    exact: int
    near: int


def _normal(text: str) -> str:
    return " ".join(text.split())


def shingles(text: str, size: int = SHINGLE) -> set[str]:
    """Character ``size``-grams of ``text`` (the text itself when shorter)."""
    if len(text) <= size:
        return {text}
    return {text[i : i + size] for i in range(len(text) - size + 1)}


def check_near_duplicates_available() -> None:
    """Raise ``MissingDependency`` when ``datasketch`` (a base dependency) cannot be imported."""
    try:
        import datasketch  # noqa: F401
    except ImportError:
        raise MissingDependency("datasketch", "near-duplicate removal (export.near_duplicates)") from None


def deduplicate(
    records: list[dict[str, Any]], key: Callable[[dict[str, Any]], str], threshold: float | None
) -> DedupResult:
    """Drop exact duplicates of ``key(record)`` and, unless ``threshold`` is None, near duplicates.

    Raises ``MissingDependency`` when near-duplicate removal is asked for and
    ``datasketch`` is not installed.
    """
    seen: set[str] = set()
    unique: list[tuple[str, dict[str, Any]]] = []
    for record in records:
        text = _normal(key(record))
        if text in seen:
            continue
        seen.add(text)
        unique.append((text, record))
    exact = len(records) - len(unique)
    if threshold is None:
        return DedupResult([r for _, r in unique], exact, 0)
    check_near_duplicates_available()
    from datasketch import MinHash, MinHashLSH

    lsh = MinHashLSH(threshold=threshold, num_perm=NUM_PERM)
    kept: list[dict[str, Any]] = []
    for index, (text, record) in enumerate(unique):
        digest = MinHash(num_perm=NUM_PERM, seed=1)
        digest.update_batch([s.encode("utf-8") for s in shingles(text)])
        if lsh.query(digest):
            continue
        lsh.insert(str(index), digest)
        kept.append(record)
    return DedupResult(kept, exact, len(unique) - len(kept))
