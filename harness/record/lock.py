"""One lock per run folder: who holds it, and a clear line for anyone else.

The lock is an advisory ``flock`` on ``RUN/.harness.lock``.  The kernel drops
it when the holding process dies, so a killed run never leaves a stale lock
behind.  The file records the holder (pid, host, start time, command) so a
second process can say who is writing; when the recorded process is gone but
the lock is still held, a child it started (a data-loader worker, say) holds
the inherited descriptor, and the message says so.
"""

from __future__ import annotations

import json
import os
import socket
import sys
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.record.provenance import now

try:  # POSIX only; elsewhere runs are simply unlocked
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

LOCK = ".harness.lock"


class RunBusy(HarnessError):
    """Another process holds the run directory's lock."""


def holder_alive(pid: int) -> bool:
    """Whether a process with ``pid`` exists on this host."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, under another user
    return True


def describe_holder(text: str) -> str:
    """Who holds the lock, in words, from the lock file's JSON (tolerates an empty file)."""
    try:
        info = json.loads(text)
        pid, host, since = int(info["pid"]), str(info["host"]), str(info["since"])
    except (ValueError, KeyError, TypeError):
        return "another harness process"
    who = f"pid {pid} on {host} (since {since})"
    if host == socket.gethostname() and not holder_alive(pid):
        return f"a child process of the finished {who}: stop it, or delete the lock file if none is left"
    return who


class RunLock:
    """The exclusive lock of one run folder (``acquire`` fails at once, never waits)."""

    def __init__(self, folder: Path) -> None:
        self.path = Path(folder) / LOCK
        self._fh: Any = None

    @property
    def held(self) -> bool:
        """Whether this object holds the lock."""
        return self._fh is not None

    def acquire(self) -> None:
        """Take the lock and record this process as its holder, or raise ``RunBusy`` naming the holder."""
        if fcntl is None or self._fh is not None:
            return
        fh = open(self.path, "a+", encoding="utf-8")
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            fh.seek(0)
            holder = describe_holder(fh.read())
            fh.close()
            raise RunBusy(f"{self.path.parent}: this run is being written by {holder}") from None
        fh.seek(0)
        fh.truncate()
        holder = {"pid": os.getpid(), "host": socket.gethostname(), "since": now(), "command": sys.argv[:8]}
        fh.write(json.dumps(holder, ensure_ascii=False))
        fh.flush()
        self._fh = fh

    def release(self) -> None:
        """Release the lock (closing the file drops the flock)."""
        if self._fh is not None:
            self._fh.seek(0)
            self._fh.truncate()
            self._fh.close()
            self._fh = None
