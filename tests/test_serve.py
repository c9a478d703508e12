"""`archiver serve`: a real Datasette on 127.0.0.1 over a crawled archive, checked over HTTP."""

from __future__ import annotations

import json
import shutil
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from io import BytesIO
from pathlib import Path
from urllib.error import HTTPError, URLError
from urllib.parse import quote

import pytest
from warcio.archiveiterator import ArchiveIterator

from archiver.datasette_meta import TABLES, metadata
from archiver.index import Index
from tests.conftest import FAST, SEED_TITLE, guarded_env, run_archiver

OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str, deadline: float | None = None) -> bytes:
    deadline = deadline or time.monotonic() + 60
    while True:
        try:
            with OPENER.open(url, timeout=10) as resp:
                return resp.read()
        except HTTPError as exc:
            exc.close()  # release the connection; callers only need the status
            raise
        except (URLError, ConnectionError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def get_json(url: str) -> object:
    return json.loads(get(url))


@contextmanager
def serving(archive: Path) -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "archiver", "serve", "--archive", str(archive), "--port",
         str(port)], env=guarded_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        base = f"http://127.0.0.1:{port}"
        get(base + "/-/versions.json")
        yield base
    finally:
        proc.terminate()
        proc.communicate(timeout=20)


@pytest.fixture(scope="module")
def served(demo_crawl, tmp_path_factory) -> Iterator[tuple[str, Path]]:
    """A copy of the demo crawl with one feed item unarchived and one article re-captured."""
    archive = tmp_path_factory.mktemp("served") / "archive"
    shutil.copytree(demo_crawl.archive, archive)
    db = sqlite3.connect(archive / "index.db")
    lost = db.execute(  # an article none of the search tests below looks for
        "select f.link from feed_items f join articles a on a.canonical_url = f.link "
        "where not (a.text like '%Klaipeda%' or a.text like '%Мова%' or a.text like '%Wałęsa%' "
        "or a.text like '%Šuškievič%' or a.text like '%Lithuania%') "
        "order by f.item_date limit 1").fetchone()[0]
    db.execute("delete from articles where canonical_url = ?", [lost])
    db.execute("delete from captures where url = ?", [lost])
    changed = db.execute("select url, record_id from articles where title = ?",
                         [SEED_TITLE]).fetchone()
    row = db.execute("select * from captures where record_id = ?", [changed[1]]).fetchone()
    cols = [d[1] for d in db.execute("pragma table_info(captures)")]
    fake = dict(zip(cols, row, strict=True))
    fake.update(record_id="<urn:uuid:fake>", payload_digest="sha1:OTHER",
                fetched_at="2030-01-01T00:00:00Z")
    db.execute(f"insert into captures ({', '.join(fake)}) values ({', '.join('?' * len(fake))})",
               list(fake.values()))
    db.commit()
    db.close()
    with serving(archive) as base:
        yield base, archive, lost


def test_search_over_http(served) -> None:
    base, _, _ = served
    rows = get_json(f"{base}/index/articles.json?_search=Klaipeda&_shape=array")
    assert SEED_TITLE in {r["title"] for r in rows} and len(rows) == 2
    phrase = get_json(f"{base}/index/articles.json?_search=%22Klaipeda%20seaport%22&_shape=array")
    assert [r["title"] for r in phrase] == [SEED_TITLE]
    cyrillic = get_json(f"{base}/index/articles.json?_search={quote('Мова')}&_shape=array")
    assert cyrillic and any("Мова" in r["text"] for r in cyrillic)
    for plain, accented in (("Walesa", "Wałęsa"), ("Suskievic", "Šuškievič")):
        rows = get_json(f"{base}/index/articles.json?_search={plain}&_shape=array")
        assert rows and all(accented in r["text"] for r in rows), plain


def test_facets(served) -> None:
    base, _, _ = served
    data = get_json(f"{base}/index/articles.json?_size=1")
    facets = data["facet_results"]
    facets = facets.get("results", facets)
    assert {"site", "authors", "tags", "categories", "published_month"} <= set(facets)
    authors = {v["value"]: v["count"] for v in facets["authors"]["results"]}
    assert authors["Igar Gubarevich"] >= 1
    by_author = get_json(f"{base}/index/articles.json?_search=Klaipeda"
                         "&authors__arraycontains=Igar+Gubarevich&_shape=array")
    assert [r["title"] for r in by_author] == [SEED_TITLE]


def test_canned_queries(served) -> None:
    base, _, lost = served
    ranked = get_json(f"{base}/index/search.json?q=Klaipeda&_shape=array")
    assert ranked[0]["title"] == SEED_TITLE and "**Klaipeda**" in ranked[0]["snippet"]
    monthly = get_json(f"{base}/index/articles_per_month.json?_shape=array")
    assert sum(r["articles"] for r in monthly) == 31  # one article removed in the fixture
    assert {"site", "month", "articles"} <= set(monthly[0])
    changed = get_json(f"{base}/index/changed_articles.json?_shape=array")
    assert [r["title"] for r in changed] == [SEED_TITLE] and changed[0]["versions"] == 2
    missing = get_json(f"{base}/index/unarchived_feed_items.json?_shape=array")
    assert {r["link"] for r in missing} == {lost}
    with pytest.raises(HTTPError) as err:
        get(f"{base}/index/search.json?q=%22unbalanced")
    assert err.value.code == 400


def test_capture_links(served) -> None:
    base, archive, _ = served
    db = sqlite3.connect(archive / "index.db")
    record_id, digest = db.execute("select record_id, payload_digest from articles "
                                   "where title = ?", [SEED_TITLE]).fetchone()
    db.close()
    page = get(f"{base}/index/articles?_search=Klaipeda").decode()
    assert f'/-/capture?id={quote(record_id, safe="")}' in page
    raw = get(f"{base}/-/capture?id={quote(record_id, safe='')}")
    records = list(ArchiveIterator(BytesIO(raw), check_digests="raise"))
    assert len(records) == 1 and records[0].rec_type == "response"
    assert records[0].rec_headers.get_header("WARC-Record-ID") == record_id
    assert records[0].rec_headers.get_header("WARC-Payload-Digest") == digest
    with pytest.raises(HTTPError) as err:
        get(f"{base}/-/capture?id=%3Curn%3Auuid%3Anope%3E")
    assert err.value.code == 404


def test_every_table_and_column_is_described(demo_crawl) -> None:
    db = sqlite3.connect(demo_crawl.archive / "index.db")
    tables = {r[0] for r in db.execute("select name from sqlite_master where type='table'")
              if not r[0].startswith(("articles_fts", "_sqlite", "sqlite_"))}
    assert tables == set(TABLES)
    for table in tables:
        columns = {r[1] for r in db.execute(f"pragma table_info({table})")}
        assert columns == set(TABLES[table][2]), table
    db.close()
    meta = metadata()["databases"]["index"]
    assert all(meta["tables"][t]["description"] for t in TABLES)


def test_datasette_reads_while_a_crawl_writes(tmp_path: Path, demo_crawl) -> None:
    archive = tmp_path / "archive"
    shutil.copytree(demo_crawl.archive, archive)
    before = sqlite3.connect(archive / "index.db").execute(
        "select count(*) from captures").fetchone()[0]
    with serving(archive) as base:
        statuses, stop = [], threading.Event()

        def poll() -> None:
            while not stop.is_set():
                for path in ("articles.json?_size=1", "captures.json?_size=1&_sort_desc=fetched_at",
                             "search.json?q=Klaipeda"):
                    try:
                        get(f"{base}/index/{path}")
                        statuses.append(200)
                    except HTTPError as exc:
                        statuses.append(exc.code)

        reader = threading.Thread(target=poll)
        reader.start()
        try:
            crawl = run_archiver("crawl", demo_crawl.site.url, "--archive", str(archive), *FAST,
                                 "-s", "CONCURRENT_REQUESTS=4")
        finally:
            stop.set()
            reader.join()
        assert crawl.returncode == 0, crawl.stderr
        assert len(statuses) > 10 and set(statuses) == {200}
        captures = get_json(f"{base}/index/captures.json?_size=1")["filtered_table_rows_count"]
        assert captures > before
        runs = get_json(f"{base}/index/crawl_runs.json?_shape=array")
        assert len(runs) == 2
        articles = get_json(f"{base}/index/articles.json?_size=1")["filtered_table_rows_count"]
        assert articles == 32


def test_writes_retry_while_the_database_is_locked(tmp_path: Path) -> None:
    index = Index(tmp_path / "index.db")
    index.db.execute("PRAGMA busy_timeout = 50")  # fail fast so tenacity does the waiting
    locker = sqlite3.connect(tmp_path / "index.db", isolation_level=None, check_same_thread=False)
    locker.execute("BEGIN IMMEDIATE")
    threading.Timer(1.0, locker.execute, ["COMMIT"]).start()
    started = time.monotonic()
    index.write(failures=[{"url": "http://x/", "record_id": "r", "site": "s", "reason": "x",
                           "failed_at": "2026"}])
    assert time.monotonic() - started >= 0.9
    assert index.count("article_failures") == 1
    index.close()
    locker.close()
