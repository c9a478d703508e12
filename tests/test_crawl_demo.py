"""End to end: a real `archiver crawl` of the demo site over HTTP on 127.0.0.1.

The WARCs are read back with warcio (digests checked), the index is the real
SQLite file, and what the crawler requested is judged from the demo server's
own request log.
"""

from __future__ import annotations

import gzip
import io
import json
import sqlite3
from collections import Counter
from pathlib import Path

import pytest
from warcio.archiveiterator import ArchiveIterator

from tests.conftest import SEED_TITLE, norm, run_archiver


@pytest.fixture(scope="module")
def records(demo_crawl):
    """Every record of every WARC file, per file, read with digest checking on."""
    files = sorted((demo_crawl.archive / "warcs").iterdir())
    out = {}
    for path in files:
        with path.open("rb") as fh:
            out[path] = [
                (r.rec_type, dict(r.rec_headers.headers), r.http_headers,
                 r.raw_stream.read(), fh.tell())
                for r in ArchiveIterator(fh, check_digests="raise")
            ]
    return out


@pytest.fixture(scope="module")
def rows(demo_crawl):
    db = sqlite3.connect(demo_crawl.archive / "index.db")
    db.row_factory = sqlite3.Row
    yield {r["canonical_url"]: dict(r) for r in db.execute("select * from articles")}
    db.close()


def test_crawl_summary(demo_crawl) -> None:
    out = demo_crawl.result.stdout
    assert "Crawl finished" in out
    for label in ("pages fetched:", "articles indexed:", "WARC files:", "index:",
                  "archiver search", "archiver serve"):
        assert label in out
    logs = list((demo_crawl.archive / "logs").glob("crawl-*.log"))
    assert logs and "Spider closed (finished)" in logs[0].read_text()


def test_warc_files_are_closed_and_framed(records) -> None:
    assert records
    for path, recs in records.items():
        assert path.name.endswith(".warc.gz") and not path.name.endswith(".open")
        assert recs[0][0] == "warcinfo"
        assert recs[0][1]["WARC-Filename"] == path.name
        assert sum(1 for r in recs if r[0] == "warcinfo") == 1
        info = recs[0][3].decode()
        for field in ("software:", "format:", "conformsTo:", "isPartOf:", "robots: obey",
                      "hostname:", "http-header-user-agent:"):
            assert field in info


def test_every_exchange_is_paired_and_consistent(records, demo_crawl) -> None:
    ids: Counter[str] = Counter()
    responses = 0
    for recs in records.values():
        ids.update(r[1]["WARC-Record-ID"] for r in recs)
        for i, (kind, headers, http, _body, _) in enumerate(recs):
            if kind != "response":
                continue
            responses += 1
            request = recs[i + 1]  # adjacent, same file
            assert request[0] == "request"
            assert request[1]["WARC-Concurrent-To"] == headers["WARC-Record-ID"]
            assert request[1]["WARC-Date"] == headers["WARC-Date"]
            assert request[1]["WARC-Target-URI"] == headers["WARC-Target-URI"]
            assert headers["WARC-IP-Address"] == "127.0.0.1"
            assert "WARC-Payload-Digest" in headers
            # the request line keeps path and query of the target URI
            target = headers["WARC-Target-URI"].split("/", 3)[3]
            assert request[2].statusline.split(" ")[0] == "/" + target
            ua = request[2].get_header("User-Agent")
            assert ua.startswith("digest-archiver/") and "+http" in ua
            # status line with a reason phrase; body consistent with the headers
            code, _, reason = http.statusline.partition(" ")
            assert code.isdigit() and reason
        assert all(r[1]["WARC-Record-ID"].startswith("<urn:uuid:") for r in recs)
    assert max(ids.values()) == 1, "duplicate WARC-Record-IDs"
    log = demo_crawl.log
    # every HTTP exchange the server answered is in the WARCs
    assert responses == len(log)


def test_content_encoding_kept_with_encoded_body(demo_crawl) -> None:
    gzipped = 0
    for path in (demo_crawl.archive / "warcs").iterdir():
        with path.open("rb") as fh:
            for rec in ArchiveIterator(fh):
                if rec.rec_type != "response":
                    continue
                raw = rec.raw_stream.read()
                encoding = rec.http_headers.get_header("Content-Encoding")
                length = rec.http_headers.get_header("Content-Length")
                if encoding == "gzip":
                    gzipped += 1
                    assert raw[:2] == b"\x1f\x8b"
                    gzip.decompress(raw)
                if length is not None and rec.http_headers.get_statuscode() not in ("304",):
                    assert int(length) == len(raw)
                assert rec.http_headers.get_header("Transfer-Encoding") is None
    assert gzipped > 10


def test_politeness_from_the_request_log(demo_crawl) -> None:
    log = demo_crawl.log
    paths = [entry["path"] for entry in log]
    assert not [p for p in paths if p.startswith(("/private/", "/wp-admin/"))]
    assert all(e["method"] == "GET" for e in log), "no form was ever submitted"
    assert all(e["headers"].get("user-agent", "").startswith("digest-archiver/") for e in log)
    assert "/robots.txt" in paths and "/feed/" in paths and "/sitemap.xml" in paths
    # tracking parameters are removed before a request is made
    assert not [p for p in paths if "utm_" in p or "fbclid" in p]
    # each article page fetched once, whatever the links to it look like
    # (feed links with utm_*, "#comments" fragments, /?p=ID shortlinks redirected to it)
    stories = Counter(p for p in paths if p.startswith("/story/"))
    assert stories and max(stories.values()) == 1
    statuses = {(e["path"].split("=")[0], e["status"]) for e in log}
    assert ("/?p", 301) in statuses
    assert ("/story/belarus-digest-turns-one/", 404) in statuses


def test_redirects_and_errors_are_archived_but_not_indexed(records, rows) -> None:
    statuses = Counter()
    for recs in records.values():
        for kind, headers, http, _, _ in recs:
            if kind == "response":
                statuses[http.get_statuscode()] += 1
                if http.get_statuscode() == "301":
                    assert "/?p=" in headers["WARC-Target-URI"]
                    assert http.get_header("Location")
    assert statuses["301"] >= 1 and statuses["404"] == 1
    assert not [u for u in rows if "?p=" in u or "turns-one" in u]


def test_every_article_indexed_with_its_metadata(rows, demo_crawl, demo_truth) -> None:
    base = demo_crawl.site.url.rstrip("/")
    assert len(rows) == len(demo_truth.articles) >= 30
    for article in demo_truth.articles:
        row = rows[base + article.path]
        where = article.slug
        assert row["title"] == article.title, where
        assert json.loads(row["authors"]) == article.authors, where
        assert row["date_published"][:10] == article.published.date().isoformat(), where
        assert sorted(json.loads(row["tags"])) == sorted(article.tags), where
        assert article.category_name in json.loads(row["categories"]), where
        for paragraph in article.paragraphs:
            assert norm(paragraph) in norm(row["text"]), where
        assert row["site_name"] == "Belarus Digest"
        assert row["word_count"] == len(row["text"].split())


def test_rows_point_at_their_exact_capture(rows, demo_crawl) -> None:
    warcs = demo_crawl.archive / "warcs"
    for row in rows.values():
        data = (warcs / row["warc_file"]).read_bytes()
        member = data[row["warc_offset"]: row["warc_offset"] + row["warc_length"]]
        with io.BytesIO(member) as fh:
            record = next(iter(ArchiveIterator(fh, check_digests="raise")))
        assert record.rec_type == "response"
        assert record.rec_headers.get_header("WARC-Record-ID") == row["record_id"]
        assert record.rec_headers.get_header("WARC-Payload-Digest") == row["payload_digest"]
        assert record.rec_headers.get_header("WARC-Date") == row["fetched_at"]
        assert record.rec_headers.get_header("WARC-Target-URI") == row["url"]


def test_seed_article_is_clean_in_the_index(rows) -> None:
    seed = next(r for r in rows.values() if r["title"] == SEED_TITLE)
    assert json.loads(seed["authors"]) == ["Igar Gubarevich"]
    for junk in ("Loading...", "Why Support Belarus Digest?", "Read more", "549 reads",
                 "is a senior analyst of the Ostrogorski Centre", "Leave a comment"):
        assert junk not in seed["text"]
    assert "Klaipeda seaport" in seed["text"]


def test_metadata_records_carry_provenance(records) -> None:
    sources = Counter()
    for recs in records.values():
        for kind, headers, _, body, _ in recs:
            if kind == "metadata" and "WARC-Concurrent-To" in headers:
                fields = dict(line.split(": ", 1) for line in body.decode().splitlines() if line)
                assert fields["spider"] == "digest" and fields["crawl-run"]
                sources[fields.get("source-type", "")] += 1
    assert sources["feed"] and sources["listing"] and sources["sitemap"]


def test_search_klaipeda_finds_the_seed_first(demo_crawl) -> None:
    proc = run_archiver("search", "Klaipeda", "--archive", str(demo_crawl.archive), "--json",
                        check=True)
    results = [json.loads(line) for line in proc.stdout.splitlines()]
    assert results[0]["title"] == SEED_TITLE
    assert "**Klaipeda**" in results[0]["snippet"]
    text = run_archiver("search", "Klaipeda", "--archive", str(demo_crawl.archive), check=True)
    assert text.stdout.startswith(f"1. {SEED_TITLE} (2015-04-02) — Igar Gubarevich")


def test_archive_has_nothing_but_the_expected_layout(demo_crawl) -> None:
    names = {p.name for p in Path(demo_crawl.archive).iterdir()}
    assert {"warcs", "index.db", "logs"} <= names
