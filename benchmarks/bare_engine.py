"""Import the sampling engine on a machine without pydantic (a bare GPU box with torch only).

``harness/__init__`` imports the pipeline (pydantic); the sampling engine
(``harness.models.sampler``, ``rng``, ``topp``, ``kvcache``) needs only torch.
When pydantic is missing, ``allow_engine_import`` registers ``harness`` and
``harness.models`` as plain namespace modules so the engine modules import
without the package ``__init__``.  Shared by generate.py and batch_invariance.py.
"""

from __future__ import annotations

import importlib.util
import sys
import types
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def allow_engine_import() -> None:
    """Put the checkout on sys.path and, without pydantic, bypass the package ``__init__``."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    if importlib.util.find_spec("pydantic") is not None:
        return
    for name, folder in (("harness", ROOT / "harness"), ("harness.models", ROOT / "harness" / "models")):
        module = types.ModuleType(name)
        module.__path__ = [str(folder)]
        sys.modules.setdefault(name, module)
