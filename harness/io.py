"""Small file helpers: atomic writes, JSON Lines, hashes.

Every output of a run is written through these so that a killed process never
leaves a half-written file behind (write to a temporary file in the same
folder, then ``os.replace``).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from harness.errors import InputError


def require_file(path: str | Path, what: str = "file") -> Path:
    """``path`` as a Path when it is a regular file; else ``InputError`` saying what it is instead.

    A FIFO, socket or device exists but is not a file to read (a FIFO would
    block the reader forever), so it is not reported as "not found".
    """
    path = Path(path)
    if path.is_file():
        return path
    if path.is_dir():
        raise InputError("is a folder, not a file", path)
    if path.exists():
        raise InputError(f"not a regular file (a FIFO, socket or device): the {what} must be a file", path)
    raise InputError(f"{what} not found", path)


def _umask() -> int:
    # os.umask can only be read by setting it; set it straight back
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temp file, fsync, rename).

    mkstemp creates 0600 files; the result gets the mode a plain ``open``
    would give (0666 minus the umask), so shared reports stay readable.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write UTF-8 ``text`` to ``path`` atomically.

    Text that cannot be UTF-8 (a lone surrogate that came in through an
    ``\\ud800`` escape) is refused naming the file and the line, before
    anything is written.
    """
    try:
        data = text.encode("utf-8")
    except UnicodeEncodeError as err:
        line = text.count("\n", 0, err.start) + 1
        raise InputError(f"cannot write U+{ord(text[err.start]):04X} (a lone surrogate) as UTF-8", path, line) from None
    atomic_write_bytes(path, data)


def atomic_write_json(path: str | Path, obj: Any) -> None:
    """Write ``obj`` as pretty UTF-8 JSON (non-ASCII kept readable)."""
    atomic_write_text(path, json.dumps(obj, ensure_ascii=False, indent=2) + "\n")


def write_jsonl(path: str | Path, records: Iterable[dict]) -> int:
    """Write records as JSON Lines atomically; return how many were written."""
    lines = [json.dumps(r, ensure_ascii=False) for r in records]
    atomic_write_text(path, "".join(line + "\n" for line in lines))
    return len(lines)


def iter_jsonl_numbered(path: str | Path) -> Iterator[tuple[int, dict]]:
    """Yield ``(line number, object)`` per non-blank line; a bad line raises naming file and line."""
    path = require_file(path)
    # utf-8-sig: a leading byte-order mark is not part of the first line's JSON
    with path.open(encoding="utf-8-sig") as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as err:
                raise InputError(f"invalid JSON ({err.msg})", path, lineno) from None
            except (ValueError, RecursionError) as err:  # a 5,000-digit integer, nesting 100,000 deep
                raise InputError(f"invalid JSON ({type(err).__name__}: {str(err)[:100]})", path, lineno) from None
            if not isinstance(obj, dict):
                raise InputError("expected a JSON object", path, lineno)
            yield lineno, obj


def iter_jsonl(path: str | Path) -> Iterator[dict]:
    """Yield the objects of a JSON Lines file (see ``iter_jsonl_numbered``)."""
    for _, obj in iter_jsonl_numbered(path):
        yield obj


def read_jsonl(path: str | Path) -> list[dict]:
    """All objects of a JSON Lines file (see ``iter_jsonl``)."""
    return list(iter_jsonl(path))


def read_json(path: str | Path) -> Any:
    """Load a JSON file; a missing or malformed file raises ``InputError``."""
    path = require_file(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise InputError(f"invalid JSON ({err.msg})", path, err.lineno) from None
    except UnicodeDecodeError:
        raise InputError("not valid UTF-8", path) from None
    except (ValueError, RecursionError) as err:
        raise InputError(f"invalid JSON ({type(err).__name__})", path) from None


# sha256 of the files this process has read, keyed by the file's identity and modification
# time: the tuning corpus is hashed while it is decode-checked at validation, and the run
# record and the token cache key then reuse that digest instead of reading the corpus again.
_DIGESTS: dict[tuple[int, int, int, int], str] = {}


def _identity(path: str | Path) -> tuple[int, int, int, int]:
    st = os.stat(path)
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def remember_sha256(path: str | Path, digest: str) -> None:
    """Record the sha256 of ``path`` computed while reading it for another purpose."""
    _DIGESTS[_identity(path)] = digest


def sha256_file(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes (recorded in run.json; keys the token cache).

    A file already hashed in this process and unchanged since (same inode,
    size and modification time) is not read again.
    """
    key = _identity(path)
    if key in _DIGESTS:
        return _DIGESTS[key]
    digest = hashlib.sha256()
    with Path(path).open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    _DIGESTS[key] = digest.hexdigest()
    return _DIGESTS[key]


def replace_folder(target: str | Path, fill: Callable[[Path], None]) -> Path:
    """Build a folder with ``fill(tmp)`` beside ``target``, then swap it in.

    The old folder (if any) is renamed aside before the new one takes its
    name and is deleted only after that rename succeeded: at every moment a
    complete folder sits under ``target`` or under the aside name.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp"))
    aside = target.parent / f".{target.name}.old"
    try:
        os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes 0700 folders
        fill(tmp)
        if aside.exists():
            shutil.rmtree(aside)
        if target.exists():
            os.replace(target, aside)
        os.replace(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    shutil.rmtree(aside, ignore_errors=True)
    return target
