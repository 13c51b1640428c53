# %% [markdown]
# # A run in a notebook
#
# `harness.open_run` opens a run directory (or a matrix parent) and hands its tables over as typed
# pandas DataFrames. This file is a notebook in script form: each `# %%` is a cell (VS Code, PyCharm
# and Jupytext open it as a notebook), and it also runs top to bottom, headless:
#
#     pip install 'harness[notebook]'
#     python docs/notebook_example.py reports/demo            # → reports/demo/flagged-delta.png
#     python docs/notebook_example.py RUN_DIR OUT.png MEASURE
#
# tests/test_notebook.py runs it against a run built by the test fixtures.

# %%
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: no display needed; in Jupyter drop this line to see the figure inline
import matplotlib.pyplot as plt  # noqa: E402

from harness import open_run  # noqa: E402

RUN_DIR = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("reports/demo")
OUT = Path(sys.argv[2]) if len(sys.argv) > 2 else RUN_DIR / "flagged-delta.png"
MEASURE = sys.argv[3] if len(sys.argv) > 3 else "flagged"

run = open_run(RUN_DIR)
print(f"run {run.record.name!r}: arms {[a.name for a in run.record.arms]}, reference {run.record.reference_arm!r}")

# %% [markdown]
# ## summary.csv
# Rates and means per arm and probe category, and paired deltas against the reference, each with its
# 95% CI (bootstrapped over prompts). `arm`, `measure`, `probe_category` are categoricals; the
# numbers are floats (NaN where a bound is undefined).

# %%
summary = run.summary()
print(summary.to_string(max_rows=40))
print(summary.dtypes.to_string())

# %% [markdown]
# ## One delta with its CI
# The change in `MEASURE` of each arm against the reference, per probe category: a point with its
# interval; an interval that does not cross 0 is a change the prompts support.

# %%
reference = run.record.reference_arm
deltas = summary[(summary.kind == "delta") & (summary.measure == MEASURE) & (summary.versus == reference)]
if deltas.empty:
    sys.exit(f"{RUN_DIR}: no {MEASURE!r} delta against {reference!r} in summary.csv")

fig, ax = plt.subplots(figsize=(7, 0.5 + 0.45 * len(deltas)))
labels = [f"{row.arm} · {row.probe_category}" for row in deltas.itertuples()]
y = range(len(deltas))
low = (deltas.value - deltas.ci_low).fillna(0)
high = (deltas.ci_high - deltas.value).fillna(0)
ax.errorbar(deltas.value * 100, y, xerr=[low * 100, high * 100], fmt="o", capsize=3)
ax.axvline(0, color="grey", linewidth=0.8)
ax.set_yticks(list(y), labels)
ax.invert_yaxis()
ax.set_xlabel(f"{MEASURE}: arm − {reference} (percentage points, 95% CI)")
ax.set_title(f"{run.record.name}: {MEASURE} against {reference}")
fig.tight_layout()
OUT.parent.mkdir(parents=True, exist_ok=True)
fig.savefig(OUT, dpi=100)
print(f"wrote {OUT}")

# %% [markdown]
# ## More tables
# `run.scores()` (one row per generation: binary measures as bool, list details such as
# `flagged_terms` as Python lists), `run.generations()`, `run.groups()`, `run.vocab_shift()`; for
# a matrix parent, `open_run(PARENT).matrix()` and `.child(NAME)`.

# %%
scores = run.scores()
if MEASURE in scores.columns:  # per-prompt measures (RealToxicityPrompts) have no scores.csv column
    print(scores.groupby("arm", observed=True)[MEASURE].mean())
