"""Exports of a run directory: negative examples, preference pairs, a dataset card.

``export_run(run, fmt, mask)`` writes one format of ``FORMATS`` (jsonl,
parquet, hf, dpo, kto) into the run's ``negatives/`` folder and rewrites the
dataset card there.  Modules: ``registry`` (the formats), ``joined``
(generations joined to scores, masking), ``negatives`` and ``preference``
(record builders), ``provenance`` (fields every record carries),
``writers`` (files through ``RunDir``), ``card`` (README.md from a template).
"""

from harness.export.exporter import export_run
from harness.export.registry import FORMATS, ExportFormat

__all__ = ["FORMATS", "ExportFormat", "export_run"]
