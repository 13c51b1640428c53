"""CSV tables for Excel on Japanese Windows: UTF-8 with a byte-order mark (``report.csv_bom``, ``--excel``).

Excel opens a BOM-less UTF-8 CSV as CP932, so Japanese turns into mojibake;
with a BOM it reads UTF-8.  The tables keep their cells (formula cells stay
neutralised) and every reader of the harness accepts both forms.
"""

from __future__ import annotations

from pathlib import Path

from harness.csvfile import add_bom
from harness.record.rundir import RunDir


def excel_tables(run: RunDir) -> list[Path]:
    """Give every CSV table at the top of the run directory a BOM; return the files changed."""
    return [path for path in sorted(run.path.glob("*.csv")) if add_bom(path)]
