"""The self-contained HTML report of a run directory (report.html).

``digest_run`` turns the run into plain data; ``templates/report.html.j2``
lays it out under an autoescaping Jinja environment.  The page has inline CSS
only, no script and no external URL, so it opens from disk on an offline
machine, and its Content-Security-Policy forbids any fetch or script should
markup ever slip through.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.record.rundir import REPORT, RunDir
from harness.report.digest import DEFAULT_MAX_PROBES, DEFAULT_MAX_SAMPLES, digest_run
from harness.report.render import render


def render_report(
    run: RunDir,
    *,
    max_probes: int | None = DEFAULT_MAX_PROBES,
    max_samples: int | None = DEFAULT_MAX_SAMPLES,
    mask: bool | None = None,
) -> str:
    """The report of ``run`` as one self-contained HTML page.

    ``max_probes``/``max_samples`` limit the samples section (``None``: all).
    ``mask`` overrides ``config.analysis.mask_flagged`` (on by default).
    Raises ``InputError`` naming a missing or malformed input file (and line).
    """
    digest = digest_run(run, max_probes=max_probes, max_samples=max_samples, mask=mask)
    return render("report.html.j2", d=digest)


def write_report(run: RunDir, **options: Any) -> Path:
    """Render the report (``options`` as for ``render_report``) and write report.html atomically."""
    return run.write_text(REPORT, render_report(run, **options))
