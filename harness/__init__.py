"""Safety harness for fine-tuned Japanese language models.

Library API (the CLI is a thin layer over these)::

    from harness import load_config, run, demo, compare_runs, RunDir
    result = run(load_config("configs/demo.yaml"))
    result.run_dir, result.gates_passed, result.record.arms
    RunDir.open(result.run_dir).read_generations()
    open_run(result.run_dir).summary()  # a pandas DataFrame (pip install 'harness[notebook]')
"""

from harness.compare import compare_runs
from harness.config import RunConfig, load_config
from harness.errors import HarnessError
from harness.pipeline import RunResult, demo, run
from harness.record.rundir import RunDir

__all__ = [
    "HarnessError", "RunConfig", "RunDir", "RunResult", "compare_runs", "demo", "load_config", "open_run", "run",
]  # fmt: skip
__version__ = "0.1.0"


def __getattr__(name: str):
    # open_run needs pandas (an optional extra): imported on first use, so `import harness` never needs it
    if name == "open_run":
        from harness.notebook import open_run

        return open_run
    raise AttributeError(f"module 'harness' has no attribute {name!r}")
