"""Errors a user can act on.

Library code raises a ``HarnessError`` subclass with one message that says
what went wrong and where (file, line, key); the CLI prints it on one line and
exits non-zero.  Anything else escaping the library is a bug.
"""

from __future__ import annotations

from pathlib import Path


class HarnessError(Exception):
    """Base class: ``str(err)`` is the single line shown to the user."""

    exit_code = 1


class ConfigError(HarnessError):
    """A run config, probe file or lexicon is invalid."""


class InputError(HarnessError):
    """An input file (corpus, probe set, run directory) is missing or malformed."""

    def __init__(self, message: str, path: str | Path | None = None, line: int | None = None):
        where = ""
        if path is not None:
            where = f"{path}:{line}: " if line is not None else f"{path}: "
        super().__init__(where + message)
        self.path = path
        self.line = line


class ModelError(HarnessError):
    """A model or tokenizer cannot be loaded or used."""


class MissingDependency(HarnessError):
    """An optional dependency is absent; the message names the pip command."""

    def __init__(self, package: str, purpose: str, install: str | None = None):
        # ``install``: what to pip install when it is not the package itself (an extra: 'harness[tracking]')
        super().__init__(f"{purpose} needs the '{package}' package: pip install {install or package}")


class RunExists(HarnessError):
    """A finished run would be overwritten without --force."""


class GateFailed(HarnessError):
    """One or more gates failed; exit code 3 so CI can tell it from an error."""

    exit_code = 3
