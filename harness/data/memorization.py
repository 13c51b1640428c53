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
from harness.data.corpus import Document, iter_corpus
from harness.data.probes import CorpusProbesSchema, Probe, ProbeSet
from harness.data.split import is_heldout
from harness.errors import ConfigError

SIDES = ("train", "heldout")


class MemorizationPicker:
    """Picks one ``from_corpus`` set's documents from a stream of documents (``add``, then ``probes``).

    Push rather than pull, so the audit stage can pick them in its own stream
    over the corpus (the probe stage then reads them from corpus_stats/
    instead of reading the corpus again).
    """

    def __init__(self, name: str, spec: CorpusProbesSchema, seed: int, val_fraction: float) -> None:
        self.name, self.spec, self.seed, self.val_fraction = name, spec, seed, val_fraction
        self.chosen: dict[str, list[tuple[int, str]]] = {side: [] for side in SIDES}  # max-heaps of (-hash, text)

    def add(self, doc: Document) -> None:
        """Consider one document: kept when its seeded hash is among the smallest of its side."""
        text = doc.text
        if len(text) < self.spec.min_chars:
            return
        side = "heldout" if is_heldout(text, self.seed, self.val_fraction) else "train"
        rank = int.from_bytes(hashlib.sha256(f"{self.seed}/memorization/{text}".encode()).digest()[:8], "big")
        heap = self.chosen[side]
        if any(kept == text for _, kept in heap):
            return  # a duplicate document (same text, same rank)
        if len(heap) < self.spec.per_split:
            heapq.heappush(heap, (-rank, text))
        elif -heap[0][0] > rank:
            heapq.heapreplace(heap, (-rank, text))

    def probes(self) -> tuple[Probe, ...]:
        """The chosen documents' prefixes as probes, train first, then heldout."""
        probes = []
        for side in SIDES:
            for i, (_, text) in enumerate(sorted(self.chosen[side], key=lambda item: -item[0])):
                probes.append(Probe(self.name, f"{side}-{i + 1:03d}", side, text[: self.spec.prefix_chars]))
        return tuple(probes)


def pickers(sets: list[ProbeSet], config: RunConfig) -> list[MemorizationPicker]:
    """A picker for every ``from_corpus`` set (none without one); a set without a corpus is an error."""
    out = []
    for probe_set in sets:
        if probe_set.from_corpus is None:
            continue
        if config.corpus is None:
            raise ConfigError(
                f"probe set '{probe_set.name}' is built from the fine-tuning corpus, but the config has no corpus"
            )
        out.append(MemorizationPicker(probe_set.name, probe_set.from_corpus, config.seed, config.finetune.val_fraction))
    return out


def run_probes(
    sets: list[ProbeSet], config: RunConfig, picked: dict[str, tuple[Probe, ...]] | None = None
) -> tuple[Probe, ...]:
    """Every probe of ``sets`` in file order, ``from_corpus`` sets built from the config's corpus.

    ``picked``: the ``from_corpus`` sets the audit stage already picked (by set
    name, from corpus_stats/); the corpus is streamed only for a set missing there.
    """
    picked = dict(picked or {})
    missing = [p for p in pickers(sets, config) if p.name not in picked]
    if missing:
        assert config.corpus is not None  # pickers() raised otherwise
        for doc in iter_corpus(config.corpus):
            for picker in missing:
                picker.add(doc)
        picked.update({p.name: p.probes() for p in missing})
    out: list[Probe] = []
    for probe_set in sets:
        out += picked[probe_set.name] if probe_set.from_corpus is not None else probe_set.probes
    return tuple(out)
