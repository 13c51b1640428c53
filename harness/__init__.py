"""Safety harness for fine-tuned Japanese language models.

Library API (the CLI is a thin layer over these)::

    from harness import load_config, run, demo
    result = run(load_config("configs/demo.yaml"))
    result.run_dir, result.gates_passed
"""

from harness.config import RunConfig, load_config
from harness.errors import HarnessError
from harness.pipeline import RunResult, demo, run

__all__ = ["HarnessError", "RunConfig", "RunResult", "demo", "load_config", "run"]
__version__ = "0.1.0"
