"""What the audit's one stream over the tuning corpus also feeds, so no later stage reads the corpus.

The audit stage reads every document once.  The same documents, in the same
order, build the fine-tune's token cache (``train.data.CacheBuild``, when
this run will fine-tune and the entry does not exist yet) and pick the
memorization probes (``data.memorization.MemorizationPicker``, for each
``from_corpus`` probe set).  With the decode check at validation, which
also hashes the file, a run reads the corpus twice (tests/test_corpus_reads.py).

Documents reach the feeds after the audit scored them (``add``), so that a
filtered run (``corpus.filter``, harness.data.corpus_filter) feeds only the
documents it keeps: the token cache and the memorization probes then hold
exactly what the fine-tune trains on.
"""

from __future__ import annotations

from pathlib import Path
from harness.config import RunConfig
from harness.data.corpus import Document
from harness.data.corpus_filter import filter_key
from harness.data.memorization import MemorizationPicker, pickers
from harness.data.probes import load_probe_sets
from harness.record.schema import PickedProbe


class CorpusFeeds:
    """The token-cache build and the memorization pickers fed from the audit's stream."""

    def __init__(self, cache=None, picks: list[MemorizationPicker] | None = None) -> None:
        self.cache = cache  # a train.data.CacheBuild still to fill, or None
        self.picks = picks or []

    @classmethod
    def open(cls, config: RunConfig, base_model: Path | None, will_finetune: bool, will_probe: bool) -> "CorpusFeeds":
        """The feeds this run needs: a token cache when it will fine-tune ``base_model``, pickers when it probes."""
        assert config.corpus is not None
        cache = None
        if will_finetune and base_model is not None:
            from harness.train.finetune import open_corpus_cache

            cache = open_corpus_cache(base_model, config.corpus, config.finetune, config.seed, filter_key(config))
            if cache is not None and cache.cached is not None:
                cache = None  # the entry exists: nothing to build
        picks = pickers(load_probe_sets(config.probes.files), config) if will_probe else []
        return cls(cache, picks)

    def add(self, doc: Document) -> None:
        """Hand one (kept) document to every feed, in the corpus's order."""
        if self.cache is not None:
            self.cache.add(doc)
        for picker in self.picks:
            picker.add(doc)

    def finish(self) -> dict[str, list[PickedProbe]]:
        """Close the token cache entry; the probes each picker chose, by probe set."""
        if self.cache is not None:
            self.cache.finish()
        return {
            p.name: [PickedProbe(id=probe.id, category=probe.category, text=probe.text) for probe in p.probes()]
            for p in self.picks
        }

    def abort(self) -> None:
        """Drop an unfinished token cache entry (the stream failed or was interrupted)."""
        if self.cache is not None:
            self.cache.abort()
