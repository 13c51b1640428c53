"""The Jinja environment of the report pages.

Templates ship as package data (``harness/report/templates/*.j2``).
Autoescaping is always on, so every value a template prints is escaped for
HTML text and attributes alike; no Python code here or in the page modules
escapes anything by hand.  ``StrictUndefined`` turns a misspelt field into an
error instead of a silently empty cell.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined

# Pages are opened from disk on offline machines: no script, no fetch; inline
# styles and data: images only.  The base template puts this in a <meta>.
CONTENT_SECURITY_POLICY = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"


@lru_cache(maxsize=1)
def environment() -> Environment:
    """The shared, autoescaping environment over ``harness/report/templates``."""
    env = Environment(
        loader=PackageLoader("harness", "report/templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.globals["csp"] = CONTENT_SECURITY_POLICY
    # |tojson (the sample browser's data block) escapes <>&' as \u00XX; keep Japanese readable and compact
    env.policies["json.dumps_kwargs"] = {"ensure_ascii": False, "separators": (",", ":")}
    return env


def render(template: str, **context: Any) -> str:
    """Render ``template`` (a file name under templates/) with ``context``."""
    return environment().get_template(template).render(**context)
