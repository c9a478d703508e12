"""`archiver serve` starts a real Datasette on 127.0.0.1 that answers searches over HTTP."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request
from urllib.error import URLError

from tests.conftest import guarded_env

SEED_TITLE = ("Belarus Engages with the US, Improves Ties with Europe and Post-Soviet Countries "
              "– Foreign Policy Digest")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get_json(url: str, deadline: float) -> object:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    while True:
        try:
            with opener.open(url, timeout=5) as resp:
                return json.load(resp)
        except (URLError, ConnectionError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_serve_answers_a_search(demo_crawl) -> None:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "archiver", "serve", "--archive", str(demo_crawl.archive),
         "--port", str(port)],
        env=guarded_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        base = f"http://127.0.0.1:{port}/index"
        deadline = time.monotonic() + 60
        rows = get_json(f"{base}/articles.json?_search=Klaipeda&_shape=array", deadline)
        assert isinstance(rows, list) and len(rows) == 2
        assert SEED_TITLE in {r["title"] for r in rows}
        # full-text search uses the FTS5 table the crawler maintains
        meta = get_json(f"{base}/articles.json?_search=%22Klaipeda%20seaport%22", deadline)
        assert [r[meta["columns"].index("title")] for r in meta["rows"]] == [SEED_TITLE]
        # the bundled metadata describes the table
        info = get_json(f"http://127.0.0.1:{port}/-/metadata.json", deadline)
        assert "articles" in info["databases"]["index"]["tables"]
    finally:
        proc.terminate()
        proc.communicate(timeout=20)
