"""The matrix parent's outputs: ``matrix.csv`` and ``matrix.html`` ("which one do we ship").

Both are built from the children's run directories and the parent's
matrix.json alone (``harness.matrix.collect``), after the children finish;
matrix.csv holds no time or path, so it is the same bytes whichever backend
ran the children.
"""

from __future__ import annotations

from pathlib import Path

from harness.csvfile import write_csv
from harness.io import atomic_write_text
from harness.matrix.collect import collect, matrix_columns, matrix_rows, tradeoff_front
from harness.matrix.paths import MATRIX_CSV, MATRIX_HTML
from harness.report.matrix_html import render_matrix


def write_parent_outputs(parent: str | Path) -> list[Path]:
    """Write ``matrix.csv`` and ``matrix.html`` into the matrix parent; returns their paths.

    A child that is not complete is left out of matrix.csv and listed on the
    page with its state; a complete child whose tables cannot be read is an
    ``InputError`` naming the file.
    """
    collected = collect(parent)
    csv_path, html_path = Path(parent) / MATRIX_CSV, Path(parent) / MATRIX_HTML
    write_csv(csv_path, matrix_rows(collected), matrix_columns(collected.axes))
    atomic_write_text(html_path, render_matrix(collected, tradeoff_front(collected.children)))
    return [csv_path, html_path]
