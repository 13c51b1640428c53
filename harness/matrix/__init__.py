"""Run matrices: one config, many child runs (axes over dotted config keys).

``spec`` reads ``matrix:`` / ``matrix_exclude:`` / ``--set`` and expands the
children; ``runner`` runs them under one parent folder (``paths``) on a
backend (``backends``: local, processes, ray); ``plan`` estimates the work
before any is done (``harness run CONFIG --plan``).
"""
