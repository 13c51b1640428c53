"""Progress that suits both a terminal and a CI log.

On a terminal: a tqdm bar.  Elsewhere (CI, ``| tee``), tqdm's carriage-return
updates turn into thousands of lines, so we print one plain line per ~20%.
"""

from __future__ import annotations

import sys
from typing import Iterable, Iterator, TypeVar

T = TypeVar("T")


class Progress:
    """Wraps an iterable; ``note(text)`` sets the trailing status (e.g. loss)."""

    def __init__(self, iterable: Iterable[T], total: int, desc: str, enabled: bool = True):
        self.iterable, self.total, self.desc = iterable, total, desc
        self.enabled = enabled and total > 0
        self.status = ""
        self._bar = None
        if self.enabled and sys.stderr.isatty():
            from tqdm.auto import tqdm

            self._bar = tqdm(total=total, desc=desc, leave=False, file=sys.stderr)

    def note(self, status: str) -> None:
        self.status = status
        if self._bar is not None:
            self._bar.set_postfix_str(status, refresh=False)

    def __iter__(self) -> Iterator[T]:
        step = max(1, self.total // 5)
        for done, item in enumerate(self.iterable, start=1):
            yield item
            if self._bar is not None:
                self._bar.update(1)
            elif self.enabled and (done % step == 0 or done == self.total):
                suffix = f" ({self.status})" if self.status else ""
                print(f"  {self.desc}: {done}/{self.total}{suffix}", file=sys.stderr, flush=True)
        if self._bar is not None:
            self._bar.close()
