"""`harness corpora fetch`: download from a local HTTP server, check size and sha256, extract."""

import functools
import hashlib
import http.server
import threading
import zipfile

import pytest

from harness.cli import main
from harness.data.fetch import fetch


@pytest.fixture
def server(tmp_path):
    """A zip (made here: synthetic lines, no real data) served on 127.0.0.1."""
    site = tmp_path / "site"
    site.mkdir()
    archive = site / "corpus.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("open2ch/newsplus.tsv", "".join(f"post {i}\treply {i}\n" for i in range(500)))
        zf.writestr("open2ch/README.md", "synthetic test corpus\n")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(site))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    handler.log_message = lambda *a, **k: None
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/corpus.zip", archive
    httpd.shutdown()


def test_fetch_downloads_checks_and_extracts(server, tmp_path, capsys):
    url, archive = server
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    out = tmp_path / "data"
    code = main(
        [
            "corpora",
            "fetch",
            "open2ch",
            "--out",
            str(out),
            "--url",
            url,
            "--sha256",
            digest,
            "--size",
            str(archive.stat().st_size),
            "--quiet",
        ]
    )
    assert code == 0
    assert (out / "open2ch" / "newsplus.tsv").read_text(encoding="utf-8").startswith("post 0\treply 0")
    assert digest in (out / "open2ch_dialogue_corpus.zip.sha256").read_text()
    assert "sha256" in capsys.readouterr().out
    assert not list(out.glob("*.part"))


def test_a_wrong_hash_or_size_keeps_nothing(server, tmp_path, capsys):
    url, archive = server
    code = main(["corpora", "fetch", "open2ch", "--out", str(tmp_path / "a"), "--url", url, "--sha256", "0" * 64])
    assert code != 0 and "does not match" in capsys.readouterr().err
    assert not (tmp_path / "a" / "open2ch_dialogue_corpus.zip").exists() and not list((tmp_path / "a").glob("*.part"))
    with pytest.raises(Exception, match="expected 1,234"):
        fetch("open2ch", tmp_path / "b", url=url, size=1234, progress=False)


def test_an_unreachable_url_is_one_clear_error(tmp_path, capsys):
    code = main(["corpora", "fetch", "open2ch", "--out", str(tmp_path), "--url", "http://127.0.0.1:9/none.zip"])
    err = capsys.readouterr().err
    assert code != 0 and "download failed" in err and len(err.strip().splitlines()) == 1


def test_an_archive_escaping_the_folder_is_refused(tmp_path):
    from harness.data.fetch import extract
    from harness.errors import InputError

    bad = tmp_path / "bad.zip"
    with zipfile.ZipFile(bad, "w") as zf:
        zf.writestr("../evil.txt", "x")
    with pytest.raises(InputError, match="unsafe path"):
        extract(bad, tmp_path / "out", progress=False)
    assert not (tmp_path / "evil.txt").exists()
