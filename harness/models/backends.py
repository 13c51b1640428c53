"""The generator backends, in ONE registry, and the rule that picks one per arm.

* ``hf-local``: a Hugging Face causal LM from a local folder (safetensors only);
* ``hf-hub``: a hub model id, only when the config allows the hub;
* ``fake``: canned text, no torch (tests, and ``probes.backend: fake`` dry runs);
* ``endpoint``: an OpenAI-compatible server, for an arm with ``endpoint:`` (the
  only backend that uses the network; see harness.models.endpoint).  It is
  built from the arm's endpoint settings, not the probe config, so it sits
  beside ``BACKENDS`` in ``generator_for``.

A faster batched sampler or a LoRA-adapter backend is one more entry here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from harness.config import EndpointConfig, ProbeConfig
from harness.errors import ModelError
from harness.models.fake import FakeGenerator
from harness.models.generator import Generator
from harness.models.hf import HFHubGenerator, HFLocalGenerator

BACKENDS: dict[str, Callable[[ProbeConfig], Generator]] = {
    "hf-local": lambda config: HFLocalGenerator(device=config.device),
    "hf-hub": lambda config: HFHubGenerator(device=config.device),
    "fake": lambda config: FakeGenerator(),
}


def backend_name(model: str, config: ProbeConfig, allow_hub: bool) -> str:
    """Which backend serves ``model``: fake (config), a local folder, or the hub (when allowed)."""
    if config.backend == "fake":
        return "fake"
    if Path(model).is_dir():
        return "hf-local"
    if allow_hub:
        return "hf-hub"
    raise ModelError(f"model folder not found: {model} (hub downloads are off; set base.allow_hub: true to allow)")


def generator_for(
    model: str, config: ProbeConfig, allow_hub: bool, endpoint: EndpointConfig | None = None
) -> Generator:
    """The backend instance for one arm's model (see ``backend_name``); a served arm (``endpoint``) gets
    the endpoint backend unless the config asks for the fake one (a dry run never opens a connection)."""
    if endpoint is not None and config.backend != "fake":
        from harness.models.endpoint import EndpointGenerator

        return EndpointGenerator(endpoint)
    return BACKENDS[backend_name(model, config, allow_hub)](config)
