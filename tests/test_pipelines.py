"""The extraction pool: same results as in-process extraction; a crashed worker is survived
and its page recorded as failed, not lost."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import time
from pathlib import Path

import pytest
from scrapy.exceptions import DropItem
from scrapy.utils.test import get_crawler

from archiver.demosite import render
from archiver.extraction import try_extract
from archiver.index import Index
from archiver.items import ArticleItem, CaptureRef
from archiver.pipelines import ExtractPipeline, IndexPipeline

BASE = "http://127.0.0.1:8080"


def crash_on_marked_page(html: bytes, url: str, content_type: str | None = None):
    """Module-level (picklable) extractor that kills its worker on one URL."""
    if url.endswith("#crash"):
        os._exit(1)
    return try_extract(html, url, content_type)


def items(site, count: int) -> list[ArticleItem]:
    out = []
    for n, article in enumerate(site.articles[:count]):
        url = BASE + article.path
        ref = CaptureRef(url=url, warc_file="F.warc.gz", offset=n, length=1,
                         record_id=f"<urn:uuid:{n}>", payload_digest="sha1:X",
                         fetched_at=f"2026-01-01T00:00:{n:02d}Z", status=200,
                         mime_type="text/html")
        html = render.article_page(site, article, BASE).encode()
        out.append(ArticleItem(url=url, html=html, capture=ref, site="demo"))
    return out


def run(pipeline: ExtractPipeline, batch: list[ArticleItem]) -> list[ArticleItem]:
    async def go() -> list[ArticleItem]:
        return [await pipeline.process_item(item) for item in batch]
    try:
        return asyncio.run(go())
    finally:
        pipeline.close_spider()


def test_pool_gives_the_same_fields_as_in_process(demo_truth) -> None:
    batch = items(demo_truth, 8)
    pooled = run(ExtractPipeline(workers=2), batch)
    for item in pooled:
        assert not item.failure
        assert item.extracted == try_extract(item.html, item.url)[0]


def test_worker_crash_is_survived_and_recorded(tmp_path: Path, demo_truth) -> None:
    batch = items(demo_truth, 3)
    batch[1].url += "#crash"
    done = run(ExtractPipeline(workers=1, extract=crash_on_marked_page), batch)
    assert done[0].extracted and not done[0].failure
    assert done[1].extracted is None and done[1].failure == "extraction worker crashed"
    assert done[2].extracted and not done[2].failure  # a fresh pool took over

    index = IndexPipeline(tmp_path / "index.db")
    index.open_spider()
    index.process_item(done[0])
    with pytest.raises(DropItem):
        index.process_item(done[1])
    index.process_item(done[2])
    index.close_spider()
    index.spider_closed(None, "finished")
    db = Index(tmp_path / "index.db", create=False)
    assert db.count("articles") == 2
    failures = list(db.db["article_failures"].rows)
    assert [(f["url"], f["reason"]) for f in failures] == [
        (batch[1].url, "extraction worker crashed")]
    db.close()


def test_index_rows_go_in_batches_and_never_wait_longer_than_max_delay(
        tmp_path: Path, demo_truth) -> None:
    failed = items(demo_truth, 5)
    for item in failed:
        item.failure = "no article: test"
    pipe = IndexPipeline(tmp_path / "index.db", batch_size=3, max_delay=60)
    pipe.open_spider()

    def written() -> int:
        with sqlite3.connect(tmp_path / "index.db") as db:
            return db.execute("select count(*) from article_failures").fetchone()[0]

    for n, item in enumerate(failed[:3]):
        assert written() == 0, f"written before the batch was full ({n} rows)"
        with pytest.raises(DropItem):
            pipe.process_item(item)
    pipe.drain()  # nothing pending: waits for the writer thread
    assert written() == 3  # the third row filled the batch

    pipe.max_delay = 0.2
    with pytest.raises(DropItem):
        pipe.process_item(failed[3])
    assert written() == 3
    time.sleep(0.3)
    with pytest.raises(DropItem):
        pipe.process_item(failed[4])  # the row before it has waited long enough: both go
    pipe.drain()
    assert written() == 5
    pipe.close_spider()
    pipe.spider_closed(None, "finished")


def test_a_batch_is_written_by_the_writer_thread_while_the_crawl_goes_on(
        tmp_path: Path, demo_truth) -> None:
    """Handing a batch over returns at once; its counts arrive when it is written."""
    demo = items(demo_truth, 8)
    fields = [try_extract(item.html, item.url)[0] for item in demo]
    crawler = get_crawler()
    pipe = IndexPipeline(tmp_path / "index.db", crawler, batch_size=10_000)
    pipe.open_spider()
    for n in range(1500):
        url = f"{BASE}/story/copy-{n}/"
        ref = CaptureRef(url=url, warc_file="F.warc.gz", offset=n, length=1,
                         record_id=f"<urn:uuid:copy-{n}>", payload_digest="sha1:X",
                         fetched_at="2026-01-01T00:00:00Z", status=200, mime_type="text/html")
        item = ArticleItem(url=url, html=b"", capture=ref, site="demo")
        item.extracted = {**fields[n % 8], "url": url, "canonical_url": url}
        pipe.process_item(item)
    started = time.perf_counter()
    pipe.flush()
    handed_over = time.perf_counter() - started
    assert crawler.stats.get_value("archiver/index/articles") is None  # not written yet
    pipe.drain()
    written = time.perf_counter() - started
    assert crawler.stats.get_value("archiver/index/articles") == 1500
    assert handed_over < written / 5, (handed_over, written)
    pipe.spider_closed(None, "finished")
    with sqlite3.connect(tmp_path / "index.db") as db:
        assert db.execute("select count(*) from articles_fts").fetchone()[0] == 1500
