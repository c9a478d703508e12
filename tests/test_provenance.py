"""Issue 3, point 3: each page's discovery context is a metadata record tied to its response."""

from __future__ import annotations

import sqlite3

from tests.warcs import read_records, warcs


def test_each_article_has_its_provenance_record(demo_crawl) -> None:
    records = [r for path in warcs(demo_crawl.archive) for r in read_records(path)]
    run_ids = {r.block.decode().split("description: crawl run ", 1)[1].split("\r\n")[0]
               for r in records if r.type == "warcinfo"}
    assert len(run_ids) == 1
    archived = {r.get("WARC-Target-URI") for r in records if r.type == "response"}
    by_response: dict[str, dict[str, str]] = {}
    for r in records:
        if r.type == "metadata" and r.get("WARC-Concurrent-To"):
            fields = dict(line.split(": ", 1) for line in r.block.decode().splitlines())
            assert r.get("WARC-Target-URI")
            by_response[r.get("WARC-Concurrent-To")] = fields | {
                "_uri": r.get("WARC-Target-URI"), "_date": r.get("WARC-Date")}
    responses = {r.get("WARC-Record-ID"): r for r in records if r.type == "response"}
    db = sqlite3.connect(demo_crawl.archive / "index.db")
    rows = db.execute("select url, record_id, source_type, via from articles").fetchall()
    db.close()
    assert len(rows) >= 30
    kinds = set()
    for url, record_id, source_type, via in rows:
        meta = by_response[record_id]  # tied to exactly this response
        response = responses[record_id]
        assert meta["_uri"] == response.get("WARC-Target-URI") == url
        assert meta["_date"] == response.get("WARC-Date")
        assert meta["spider"] == "digest"
        assert meta["crawl-run"] in run_ids
        assert meta["depth"].isdigit()
        assert meta["source-type"] == source_type
        assert meta.get("via", "") == (via or "")
        if meta["source-type"] in ("feed", "sitemap", "listing"):
            assert meta["via"] in archived  # the feed/listing/sitemap is archived too
        kinds.add(meta["source-type"])
    assert {"feed", "sitemap"} & kinds
