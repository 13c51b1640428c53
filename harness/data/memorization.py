"""Memorization probes, built at run time from the fine-tuning corpus.

A probe file with ``from_corpus`` (probes/memorization.yaml) holds no
prompts: at run time ``corpus_probes`` streams the tuning corpus and picks
``per_split`` documents from each side of THE held-out split
(``is_heldout(text, run seed, finetune.val_fraction)``).  The prompt is a
document's first ``prefix_chars`` characters and the category ``train`` or
``heldout``, so the analysis can measure verbatim continuation on trained vs
never-trained text: a gap between the two is memorization, not just fluency
in the corpus's style.  The rest of the document is not kept: the analysis
checks a completion against every N-gram of the corpus
(``harness.analysis.memorization``), which covers the document's own rest.

Documents are chosen by a seeded hash of their text (the smallest hashes per
side), so the choice streams, is the same for every arm and run with the
same seed, and does not depend on corpus order.
"""

from __future__ import annotations

import hashlib
import heapq

from harness.config import RunConfig
from harness.data.corpus import iter_corpus
from harness.data.probes import CorpusProbesSchema, Probe, ProbeSet
from harness.data.split import is_heldout
from harness.errors import ConfigError

SIDES = ("train", "heldout")


def corpus_probes(name: str, spec: CorpusProbesSchema, config: RunConfig) -> tuple[Probe, ...]:
    """The memorization probes of one ``from_corpus`` set (train first, then heldout)."""
    if config.corpus is None:
        raise ConfigError(f"probe set '{name}' is built from the fine-tuning corpus, but the config has no corpus")
    fraction = config.finetune.val_fraction
    chosen: dict[str, list[tuple[int, str]]] = {side: [] for side in SIDES}  # max-heaps of (-hash, text)
    for doc in iter_corpus(config.corpus):
        text = doc.text
        if len(text) < spec.min_chars:
            continue
        side = "heldout" if is_heldout(text, config.seed, fraction) else "train"
        rank = int.from_bytes(hashlib.sha256(f"{config.seed}/memorization/{text}".encode()).digest()[:8], "big")
        heap = chosen[side]
        if any(kept == text for _, kept in heap):
            continue  # a duplicate document (same text, same rank)
        if len(heap) < spec.per_split:
            heapq.heappush(heap, (-rank, text))
        elif -heap[0][0] > rank:
            heapq.heapreplace(heap, (-rank, text))
    probes = []
    for side in SIDES:
        for i, (_, text) in enumerate(sorted(chosen[side], key=lambda item: -item[0])):
            probes.append(Probe(name, f"{side}-{i + 1:03d}", side, text[: spec.prefix_chars]))
    return tuple(probes)


def run_probes(sets: list[ProbeSet], config: RunConfig) -> tuple[Probe, ...]:
    """Every probe of ``sets`` in file order, ``from_corpus`` sets built from the config's corpus."""
    out: list[Probe] = []
    for probe_set in sets:
        if probe_set.from_corpus is not None:
            out += corpus_probes(probe_set.name, probe_set.from_corpus, config)
        else:
            out += probe_set.probes
    return tuple(out)
