"""Replay (WARC.md E2): pywb serves the demo crawl's WARCs through our CDXJ index.

pywb pins old dependencies, so it lives in a virtual environment of its own,
created once by this test from the package registry and cached under
~/.cache/digest-archiver/ (keyed by pywb and Python version) so reruns are fast.
pywb itself runs on 127.0.0.1 under the network guard. Each article must come
back with status 200: its original bytes in `id_` mode, rewritten in `mp_` mode.
"""

from __future__ import annotations

import gzip
import http.client
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
import zlib
from pathlib import Path

import pytest
from warcio.archiveiterator import ArchiveIterator

from tests.conftest import guarded_env

PYWB_VERSION = "2.10.0"
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "digest-archiver"
VENV = CACHE / f"pywb-{PYWB_VERSION}-py{sys.version_info[0]}.{sys.version_info[1]}"


def pywb_venv() -> Path:
    """The cached pywb virtualenv; built (about a minute) when missing or unfinished."""
    done = VENV / ".complete"
    if done.exists():
        return VENV
    shutil.rmtree(VENV, ignore_errors=True)
    VENV.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    pip = subprocess.run([str(VENV / "bin" / "python"), "-m", "pip", "install", "-q",
                          f"pywb=={PYWB_VERSION}"], capture_output=True, text=True, timeout=900)
    assert pip.returncode == 0, f"pip install pywb failed:\n{pip.stdout}\n{pip.stderr}"
    done.write_text(PYWB_VERSION + "\n")
    return VENV


def tool(venv: Path, name: str) -> list[str]:
    return [str(venv / "bin" / "python"), str(venv / "bin" / name)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def pywb(demo_crawl, tmp_path_factory):
    venv = pywb_venv()
    root = tmp_path_factory.mktemp("pywb")
    env = guarded_env()
    subprocess.run([*tool(venv, "wb-manager"), "init", "demo"], cwd=root, env=env,
                   check=True, capture_output=True)
    coll = root / "collections" / "demo"
    for path in (demo_crawl.archive / "warcs").iterdir():
        (coll / "archive" / path.name).symlink_to(path)
    lines = sorted(line for f in (demo_crawl.archive / "indexes").glob("*.cdxj")
                   for line in f.read_text().splitlines())
    (coll / "indexes" / "index.cdxj").write_text("\n".join(lines) + "\n")
    port = free_port()
    proc = subprocess.Popen([*tool(venv, "wayback"), "-b", "127.0.0.1", "-p", str(port)],
                            cwd=root, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.2)
    else:
        proc.kill()
        pytest.fail("pywb did not start")
    yield port
    proc.terminate()
    proc.wait(timeout=20)


def get(port: int, path: str) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", path, headers={"Accept-Encoding": "identity"})
    resp = conn.getresponse()
    body = resp.read()
    headers = {k.lower(): v for k, v in resp.getheaders()}
    conn.close()
    return resp.status, headers, body


def decoded(body: bytes, encoding: str | None) -> bytes:
    if encoding == "gzip":
        return gzip.decompress(body)
    if encoding == "deflate":
        return zlib.decompress(body)
    return body


def test_every_article_replays_in_id_and_mp_modes(pywb, demo_crawl) -> None:
    db = sqlite3.connect(demo_crawl.archive / "index.db")
    rows = db.execute("select url, title, warc_file, warc_offset from articles").fetchall()
    db.close()
    assert len(rows) >= 30
    for url, title, warc_file, offset in rows:
        with (demo_crawl.archive / "warcs" / warc_file).open("rb") as fh:
            fh.seek(offset)
            record = next(iter(ArchiveIterator(fh)))
            stamp = record.rec_headers.get_header("WARC-Date")
            encoding = record.http_headers.get_header("Content-Encoding")
            original = decoded(record.raw_stream.read(), encoding)
        ts = "".join(c for c in stamp if c.isdigit())[:14]
        status, headers, body = get(pywb, f"/demo/{ts}id_/{url}")
        assert status == 200, url
        assert decoded(body, headers.get("content-encoding")) == original, url
        status, headers, body = get(pywb, f"/demo/{ts}mp_/{url}")
        assert status == 200, url
        page = decoded(body, headers.get("content-encoding")).decode("utf-8")
        assert "wbinfo" in page and f"/demo/{ts}" in page  # rewritten for replay
        head_title = original.decode("utf-8").split("<title>", 1)[1].split("</title>", 1)[0]
        assert title and f"<title>{head_title}</title>" in page, url
