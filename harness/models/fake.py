"""The fake generator: canned completions, no torch (tests and dry runs).

``FakeGenerator(completions)`` answers sample i of every probe of arm A with
``completions[A][i % len(completions[A])]``; ``FakeGenerator(respond=fn)``
asks ``fn(arm, probe, i)`` instead.  An arm it does not know gets ``default``
(by default an echo naming arm, probe and sample).  Seeds are per sample like
every backend's, so runs pair exactly as real ones do, and it honours a
generation store (resume and cache) like the real backends.
"""

from __future__ import annotations

import hashlib
from typing import Any, Callable, Mapping, Sequence

from harness.data.probes import Probe
from harness.models.gencache import assemble, todo
from harness.models.generator import ArmSamples, Sample, SamplingPlan


class FakeGenerator:
    """A deterministic backend with fixed completions per arm."""

    backend = "fake"

    def __init__(
        self,
        completions: Mapping[str, Sequence[str]] | None = None,
        default: str | None = None,
        respond: Callable[[str, Probe, int], str] | None = None,
    ):
        self.completions = {arm: list(texts) for arm, texts in (completions or {}).items()}
        self.default = default
        self.respond = respond
        self.calls: list[str] = []  # arms sampled, in order (tests check resume with it)
        self.drawn = 0  # samples actually produced (not read back from a store)

    def fingerprint(self, arm: str, model: str) -> str:
        """Fake models differ by arm and by what they answer."""
        key = f"fake/{arm}/{self.completions.get(arm)}/{self.default}/{self.respond!r}"
        return hashlib.sha256(key.encode()).hexdigest()[:16]

    def _text(self, arm: str, probe: Probe, index: int) -> str:
        texts = self.completions.get(arm)
        if self.respond is not None:
            return self.respond(arm, probe, index)
        if texts:
            return texts[index % len(texts)]
        if self.default is not None:
            return self.default
        return f"{arm} {probe.id} {index}"

    def sample(self, arm: str, model: str, plan: SamplingPlan, progress: bool, store: Any = None) -> ArmSamples:
        self.calls.append(arm)
        new = []
        for item in todo(plan, store):
            text = self._text(arm, item.probe, item.index)
            sample = Sample(item.probe, item.index, item.seed, text, len(item.probe.text), len(text), False)
            self.drawn += 1
            if store is not None:
                store.add(sample)
            new.append(sample)
        return ArmSamples(assemble(plan, store, new), None)
