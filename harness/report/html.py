"""The self-contained HTML report of a run directory (report.html).

``digest_run`` turns the run into plain data; ``templates/report.html.j2``
lays it out under an autoescaping Jinja environment.  The page has inline CSS
and SVG, one small inline script (the sample browser) and no external URL, so
it opens from disk on an offline machine; its Content-Security-Policy forbids
every fetch and every script but that one (allowed by its sha256 hash).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.record.rundir import REPORT, RunDir
from harness.report.digest import digest_run
from harness.report.render import render


def render_report(run: RunDir, *, mask: bool | None = None) -> str:
    """The report of ``run`` as one self-contained HTML page.

    ``mask`` overrides ``config.analysis.mask_flagged`` (on by default): it
    decides whether flagged text starts masked; the page's toggle reveals it.
    Raises ``InputError`` naming a missing or malformed input file (and line).
    """
    digest = digest_run(run, mask=mask)
    # the page's own CSP (allowing its one script by hash) replaces the environment's default
    return render("report.html.j2", d=digest, csp=digest.csp)


def write_report(run: RunDir, **options: Any) -> Path:
    """Render the report (``options`` as for ``render_report``) and write report.html atomically."""
    return run.write_text(REPORT, render_report(run, **options))
