"""Downloading a public corpus archive: size and sha256 checks, extraction with progress.

``harness corpora fetch open2ch --out DIR`` downloads the official
おーぷん2ちゃんねる対話コーパス zip (URL from the corpus README), checks the
byte count against the server's Content-Length (and against ``--size`` when
given) and the sha256 against ``--sha256`` when given, then extracts it with a
progress bar.  Our sources publish no checksum for this archive, so without
``--sha256`` the computed one is printed (and written beside the archive) for
pinning in later fetches.  The download goes to ``<name>.part`` and is renamed
only once complete and checked; extraction refuses paths that leave ``--out``.
"""

from __future__ import annotations

import hashlib
import sys
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

from harness.errors import InputError

CHUNK = 1 << 20


@dataclass(frozen=True)
class Source:
    """A known corpus archive."""

    url: str
    filename: str
    size: int | None = None  # bytes, when known
    sha256: str | None = None  # when known


SOURCES = {
    # ../shared/README.md: "http://keldic.net/data/open2ch_dialogue_corpus.zip per the corpus README" (534 MB)
    "open2ch": Source(url="http://keldic.net/data/open2ch_dialogue_corpus.zip", filename="open2ch_dialogue_corpus.zip"),
}


@dataclass
class Fetched:
    """What a fetch produced."""

    archive: Path
    size: int
    sha256: str
    extracted: list[Path]


def download(url: str, dest: Path, *, size: int | None, sha256: str | None, progress: bool = True) -> tuple[int, str]:
    """Stream ``url`` to ``dest`` (via ``dest.part``), checking length and hash; return (bytes, sha256)."""
    from harness.progress import Progress

    part = dest.with_name(dest.name + ".part")
    digest = hashlib.sha256()
    received = 0
    try:
        with urllib.request.urlopen(url, timeout=60) as response, part.open("wb") as out:
            announced = response.headers.get("Content-Length")
            total = int(announced) if announced and announced.isdigit() else (size or 0)
            bar = Progress(
                iter(lambda: response.read(CHUNK), b""),
                max(1, -(-total // CHUNK)),
                f"download {dest.name}",
                enabled=progress,
            )
            for piece in bar:
                out.write(piece)
                digest.update(piece)
                received += len(piece)
    except (urllib.error.URLError, OSError, ValueError) as err:
        part.unlink(missing_ok=True)
        raise InputError(f"download failed: {url}: {getattr(err, 'reason', err)}") from None
    problem = None
    if announced and announced.isdigit() and received != int(announced):
        problem = f"got {received:,} bytes, the server announced {int(announced):,} (interrupted download)"
    elif size is not None and received != size:
        problem = f"got {received:,} bytes, expected {size:,}"
    elif sha256 is not None and digest.hexdigest() != sha256.lower():
        problem = f"sha256 {digest.hexdigest()} does not match the expected {sha256.lower()}"
    if problem:
        part.unlink(missing_ok=True)
        raise InputError(f"{url}: {problem}; nothing was kept")
    part.replace(dest)
    return received, digest.hexdigest()


def extract(archive: Path, out: Path, progress: bool = True) -> list[Path]:
    """Unzip ``archive`` into ``out`` with a progress bar; refuse members that would land outside ``out``."""
    from harness.progress import Progress

    root = out.resolve()
    try:
        with zipfile.ZipFile(archive) as zf:
            members = zf.infolist()
            for info in members:
                target = (root / info.filename).resolve()
                if target != root and root not in target.parents:
                    raise InputError(f"unsafe path in the archive: {info.filename}", archive)
            written = []
            for info in Progress(members, len(members), f"extract {archive.name}", enabled=progress):
                zf.extract(info, root)
                if not info.is_dir():
                    written.append(root / info.filename)
            return written
    except zipfile.BadZipFile as err:
        raise InputError(f"not a valid zip archive ({err})", archive) from None


def fetch(
    name: str,
    out: Path,
    *,
    url: str | None = None,
    size: int | None = None,
    sha256: str | None = None,
    progress: bool = True,
) -> Fetched:
    """Download corpus ``name`` (or ``url``) into ``out`` and extract it."""
    if name not in SOURCES:
        raise InputError(f"unknown corpus {name!r} (known: {', '.join(sorted(SOURCES))})")
    source = SOURCES[name]
    out.mkdir(parents=True, exist_ok=True)
    archive = out / source.filename
    received, digest = download(
        url or source.url,
        archive,
        size=size if size is not None else source.size,
        sha256=sha256 or source.sha256,
        progress=progress,
    )
    (out / f"{source.filename}.sha256").write_text(f"{digest}  {source.filename}\n", encoding="utf-8")
    files = extract(archive, out, progress=progress)
    return Fetched(archive=archive, size=received, sha256=digest, extracted=files)


def main_fetch(name: str, out: Path, url: str | None, size: int | None, sha256: str | None, quiet: bool) -> int:
    """CLI body of ``harness corpora fetch``."""
    result = fetch(name, out, url=url, size=size, sha256=sha256, progress=not quiet)
    print(
        f"{result.archive}: {result.size:,} bytes, sha256 {result.sha256}"
        f"{'' if sha256 else ' (not checked: pass --sha256 to pin it)'}"
    )
    print(f"extracted {len(result.extracted)} files into {out}", file=sys.stdout)
    return 0
