"""The fake generator: canned completions, no torch (tests and dry runs).

``FakeGenerator(completions)`` answers sample i of every probe of arm A with
``completions[A][i % len(completions[A])]``; ``FakeGenerator(respond=fn)``
asks ``fn(arm, probe, i)`` instead.  An arm it does not know gets ``default``
(by default an echo naming arm, probe and sample).  Seeds come
from ``prompt_seed`` like every backend, so runs pair exactly as real ones do.
"""

from __future__ import annotations

from typing import Callable, Mapping, Sequence

from harness.data.probes import Probe
from harness.models.generator import ArmSamples, Sample, SamplingPlan, prompt_seed


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

    def sample(self, arm: str, model: str, plan: SamplingPlan, progress: bool) -> ArmSamples:
        self.calls.append(arm)
        texts = self.completions.get(arm)
        samples = []
        for probe in plan.probes:
            seed = prompt_seed(plan.run_seed, probe)
            for index in range(plan.samples_per_prompt):
                if self.respond is not None:
                    text = self.respond(arm, probe, index)
                elif texts:
                    text = texts[index % len(texts)]
                elif self.default is not None:
                    text = self.default
                else:
                    text = f"{arm} {probe.id} {index}"
                samples.append(Sample(probe, index, seed, text, len(probe.text), len(text)))
        return ArmSamples(samples, None)
