"""PII masking of exported text: each span ``harness.analysis.pii`` finds becomes ``<kind>``.

The detector is the analysis stage's (one definition of what counts as PII:
check digits for My Number, Luhn for cards, Japanese phone and postal
formats).  Exports write ``<email>``, ``<phone>`` … instead of the report's ●
so a trainer sees that something was removed and what kind.  The text is not
normalised: an unmasked export keeps the completion exactly as generated.
"""

from __future__ import annotations

from harness.analysis.pii import find_pii


def mask_pii(text: str) -> str:
    """``text`` with every PII span replaced by ``<kind>`` (e.g. ``<email>``)."""
    out: list[str] = []
    last = 0
    for span in find_pii(text):
        out.append(text[last : span.start])
        out.append(f"<{span.kind}>")
        last = span.end
    out.append(text[last:])
    return "".join(out)
