"""The researcher's index: schema and migrations, captures, feed items, crawl runs,
many-to-many authors/tags, CLI filters, stats, export, and the reindex contract."""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlite_utils
from warcio.archiveiterator import ArchiveIterator

from archiver.index import Index
from archiver.schema import migrations
from tests.conftest import guarded_env, query, run_archiver, table_rows

TABLES = ["articles", "captures", "feed_items", "crawl_runs", "article_failures", "authors",
          "article_authors", "tags", "article_tags", "categories", "article_categories"]


@pytest.fixture(scope="module")
def db(demo_crawl) -> Path:
    return demo_crawl.archive / "index.db"


def test_schema_through_migrations(db) -> None:
    names = {r[0] for r in query(db, "select name from sqlite_master where type='table'")}
    assert set(TABLES) | {"articles_fts", "_sqlite_migrations"} <= names
    applied = [r[0] for r in query(db, "select name from _sqlite_migrations order by rowid")]
    assert applied == [m.name for m in migrations._migrations]
    assert query(db, "pragma journal_mode")[0][0] == "wal"


def test_old_index_is_upgraded_in_place(tmp_path: Path) -> None:
    path = tmp_path / "index.db"
    old = sqlite_utils.Database(path)
    migrations.apply(old, stop_before="m002_captures_feeds_runs_links")
    old["articles"].insert({"canonical_url": "http://x/a", "url": "http://x/a", "title": "T",
                            "text": "Klaipeda port", "warc_file": "f", "record_id": "r"})
    old.close()
    Index(path).close()
    assert query(path, "select title from articles") == [("T",)]
    assert query(path, "select count(*) from captures") == [(0,)]
    # the FTS triggers survived the upgrade
    index = Index(path)
    assert [r["title"] for r in index.search("Klaipeda")] == ["T"]
    index.close()


def test_captures_cover_every_response(db, demo_crawl) -> None:
    responses = {}
    for path in (demo_crawl.archive / "warcs").iterdir():
        with path.open("rb") as fh:
            for rec in ArchiveIterator(fh):
                if rec.rec_type == "response":
                    responses[rec.rec_headers.get_header("WARC-Record-ID")] = (
                        rec.rec_headers.get_header("WARC-Target-URI"),
                        int(rec.http_headers.get_statuscode()))
    rows = {r[0]: (r[1], r[2]) for r in query(db, "select record_id, url, status from captures")}
    assert rows == responses
    roles = dict(query(db, "select role, count(*) from captures group by role"))
    assert roles["article"] >= 32 and roles["feed"] >= 2 and roles["listing"] > 10
    ok = query(db, "select count(*) from captures where mime_type is null or length_bytes < 0")
    assert ok == [(0,)]


def test_feed_items(db, demo_crawl, demo_truth) -> None:
    base = demo_crawl.site.url.rstrip("/")
    rows = query(db, "select feed_url, link, title, item_date, first_seen from feed_items")
    by_feed: dict[str, list] = {}
    for row in rows:
        by_feed.setdefault(row[0], []).append(row)
    assert {base + "/feed/", base + "/feed/atom/"} <= set(by_feed)
    newest = {base + a.path for a in demo_truth.articles[:20]}
    for items in by_feed.values():
        assert {r[1] for r in items} == newest  # tracking parameters removed
        assert all(r[2] and r[3] and r[4] for r in items)


def test_crawl_run_recorded(db) -> None:
    runs = query(db, "select command, finish_reason, pages_fetched, articles_new, "
                     "articles_failed, exit_status, warc_files, bytes_written, settings "
                     "from crawl_runs")
    assert len(runs) == 1
    command, reason, pages, new, failed, status, files, size, settings = runs[0]
    assert "crawl" in command and reason == "finished" and status == 0
    assert pages == query(db, "select count(*) from captures")[0][0]
    assert new == 32 and failed == 0 and files >= 1 and size > 100_000
    assert json.loads(settings)["DOWNLOAD_DELAY"] == "0"


def test_authors_and_tags_are_normalised(db, demo_truth) -> None:
    pairs = set(query(db, "select a.title, aa.author from article_authors aa "
                          "join articles a using (canonical_url)"))
    assert pairs == {(a.title, name) for a in demo_truth.articles for name in a.authors}
    tags = set(query(db, "select a.title, t.tag from article_tags t "
                         "join articles a using (canonical_url)"))
    assert tags == {(a.title, tag) for a in demo_truth.articles for tag in a.tags}
    assert query(db, "select count(*) from authors") == [(len(demo_truth.authors),)]
    months = query(db, "select count(*) from articles where published_month is null or "
                       "published_month != substr(date_published, 1, 7)")
    assert months == [(0,)]


def test_search_filters(demo_crawl, demo_truth) -> None:
    def titles(*args: str) -> set[str]:
        proc = run_archiver("search", *args, "--archive", str(demo_crawl.archive), "--json",
                            "--limit", "100", check=True)
        return {json.loads(line)["title"] for line in proc.stdout.splitlines()}

    every = {a.title for a in demo_truth.articles if re.search(r"\bBelarus\b", a.title)}
    assert titles("Belarus") >= every
    by_igar = {a.title for a in demo_truth.articles if "Igar Gubarevich" in a.authors}
    assert titles("Belarus OR Minsk OR Lukashenka", "--author", "Igar Gubarevich") <= by_igar
    assert titles("Klaipeda", "--author", "Igar Gubarevich") == {
        a.title for a in demo_truth.articles if a.slug.startswith("belarus-engages")}
    lithuania = {a.title for a in demo_truth.articles if "Lithuania" in a.tags}
    assert titles("Belarus OR Lithuania OR Klaipeda", "--tag", "lithuania") <= lithuania
    in_2015 = {a.title for a in demo_truth.articles if a.published.year == 2015}
    found = titles("Belarus", "--since", "2015-01-01", "--until", "2015-12-31")
    assert found and found <= in_2015
    assert titles("Belarus", "--site", "nosuchsite") == set()
    bad = run_archiver("search", "x", "--archive", str(demo_crawl.archive), "--since", "2015")
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1


def test_stats(demo_crawl) -> None:
    out = run_archiver("stats", "--archive", str(demo_crawl.archive), check=True).stdout
    assert "127.0.0.1" in out and " 32 " in out and "last crawl:" in out and "WARC:" in out
    report = json.loads(run_archiver("stats", "--archive", str(demo_crawl.archive), "--json",
                                     check=True).stdout)
    assert report["sites"][0]["articles"] == 32 and report["warc_bytes"] > 0
    assert report["sites"][0]["first"] == "2014-09-08"


def test_export_jsonl_and_csv(demo_crawl, demo_truth) -> None:
    archive = str(demo_crawl.archive)
    jsonl = run_archiver("export", "--archive", archive, "--format", "jsonl",
                         check=True).stdout
    rows = [json.loads(line) for line in jsonl.splitlines()]
    assert len(rows) == 32 and isinstance(rows[0]["authors"], list)
    assert rows[0]["date_published"] >= rows[-1]["date_published"]
    data = run_archiver("export", "--archive", archive, "--format", "csv",
                        "--tag", "Lithuania", check=True).stdout
    table = list(csv.DictReader(io.StringIO(data)))
    assert {r["title"] for r in table} == {a.title for a in demo_truth.articles
                                           if "Lithuania" in a.tags}
    assert all("Lithuania" in r["tags"].split("; ") for r in table)


def copy_archive(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("logs"))
    return dst


def test_reindex_gives_the_same_rows(tmp_path: Path, demo_crawl, db) -> None:
    """The contract of the design: the index is rebuilt from the WARCs alone."""
    rebuilt = copy_archive(demo_crawl.archive, tmp_path / "rebuilt")
    (rebuilt / "index.db").unlink()
    for suffix in ("-wal", "-shm"):
        (rebuilt / f"index.db{suffix}").unlink(missing_ok=True)
    proc = run_archiver("reindex", "--archive", str(rebuilt), check=True)
    assert "32 articles" in proc.stdout
    for table in TABLES:
        assert table_rows(rebuilt / "index.db", table) == table_rows(db, table), table
    # search works on the rebuilt FTS index
    found = run_archiver("search", "Klaipeda", "--archive", str(rebuilt), check=True).stdout
    assert "Foreign Policy Digest" in found.splitlines()[0]


def test_parallel_reindex_equals_serial(tmp_path: Path, demo_crawl) -> None:
    serial = copy_archive(demo_crawl.archive, tmp_path / "serial")
    parallel = copy_archive(demo_crawl.archive, tmp_path / "parallel")
    run_archiver("reindex", "--archive", str(serial), "--serial", check=True)
    run_archiver("reindex", "--archive", str(parallel), "--workers", "2", check=True)
    for table in TABLES:
        assert table_rows(serial / "index.db", table) == table_rows(parallel / "index.db", table)


def test_a_record_workers_cannot_read_is_a_failure_row_not_a_crash(demo_crawl) -> None:
    """Reindex workers read each article record by its offset: a bad offset is reported."""
    from dataclasses import replace  # noqa: PLC0415

    from archiver.rebuild import article_row_at, is_article, read_archive  # noqa: PLC0415

    capture = next(c for c in read_archive(demo_crawl.archive / "warcs")
                   if not isinstance(c, dict) and is_article(c))
    kind, row = article_row_at(str(capture.path), capture.ref, capture.metadata)
    assert kind == "articles" and row["record_id"] == capture.ref.record_id
    for bad in (replace(capture.ref, offset=capture.ref.offset + 1),
                replace(capture.ref, record_id="<urn:uuid:not-this-one>")):
        kind, row = article_row_at(str(capture.path), bad, capture.metadata)
        assert kind == "failures" and row["reason"].startswith("unreadable record in "), row


def test_readers_never_see_a_half_built_index(tmp_path: Path, demo_crawl) -> None:
    archive = copy_archive(demo_crawl.archive, tmp_path / "live")
    proc = subprocess.Popen([sys.executable, "-m", "archiver", "reindex", "--archive",
                             str(archive), "--serial"], env=guarded_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen = []
    while proc.poll() is None:
        conn = sqlite3.connect(f"file:{archive / 'index.db'}?mode=ro", uri=True, timeout=30)
        try:
            seen.append(conn.execute("select count(*) from articles").fetchone()[0])
        except sqlite3.OperationalError as exc:  # the rename may race a reader's open
            assert "locked" in str(exc), exc
        finally:
            conn.close()
        time.sleep(0.01)
    proc.communicate()
    assert proc.returncode == 0
    assert seen and set(seen) == {32}
    assert not list(archive.glob(".index.db.rebuild-*"))


def test_reindex_without_warcs_is_a_clear_error(tmp_path: Path) -> None:
    proc = run_archiver("reindex", "--archive", str(tmp_path))
    assert proc.returncode == 2 and "no WARC files" in proc.stderr
