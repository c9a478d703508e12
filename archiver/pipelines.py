"""Scrapy glue: thin pipelines over `archiver.extraction` and `archiver.index`.

ExtractPipeline runs `extract_article` in a pool of worker processes (one per
core by default; `archiver.workpool`), so fetching, WARC writing and extraction
overlap and the reactor thread never parses HTML. Scrapy's scraper slot
(SCRAPER_SLOT_MAX_ACTIVE_SIZE) is the back-pressure: while bodies wait for a
worker, the engine stops feeding new responses, so memory stays bounded
whatever the crawl's size.
A page that yields no article is recorded with its reason (soft failure: it
is in the WARC and can be re-extracted).

IndexPipeline batches rows (captures, articles, feed items, failures, the
crawl run) into transactions on `index.db`, committed by a writer thread.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from scrapy import signals
from scrapy.crawler import Crawler
from scrapy.exceptions import DropItem, NotConfigured

from archiver.capture import capture_written, run_recorded
from archiver.config import ArchiverConfig
from archiver.extraction import crawl_pool, try_extract
from archiver.index import Index
from archiver.items import ArticleItem, CaptureRef, FeedCapture, SitemapCapture
from archiver.rows import article_row, capture_row, feed_item_rows, sitemap_entry_rows
from archiver.runs import run_row
from archiver.workpool import WorkerCrashed, WorkerPool

logger = logging.getLogger(__name__)


class ExtractPipeline:
    def __init__(self, workers: int, crawler: Crawler | None = None,
                 extract: Callable[..., tuple[Any, str]] = try_extract) -> None:
        self.workers = workers
        self.crawler = crawler
        self.extract = extract
        self._pool: WorkerPool | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> ExtractPipeline:
        return cls(ArchiverConfig.from_settings(crawler.settings).extract_workers, crawler)

    def _inc(self, key: str) -> None:
        if self.crawler is not None and self.crawler.stats is not None:
            self.crawler.stats.inc_value(key)

    def pool(self) -> WorkerPool:
        if self._pool is None:
            self._pool = crawl_pool(self.workers)
        return self._pool

    async def process_item(self, item: Any) -> Any:
        if not isinstance(item, ArticleItem):
            return item
        try:
            item.extracted, item.failure = await self.pool().run(
                self.extract, item.html, item.url, item.content_type)
        except WorkerCrashed:
            # A worker died (out of memory, a crash in a parser): a new one takes over,
            # and the page is recorded as failed, not lost: it is in the WARC.
            self._inc("archiver/extract/worker_crash")
            logger.error("extraction worker crashed on %s; a new one takes over", item.url)
            item.failure = "extraction worker crashed"
        self._inc("archiver/extract/failed" if item.failure else "archiver/extract/ok")
        return item

    def close_spider(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool = None


class IndexPipeline:
    """Rows go to the index in transactions of `batch_size` rows, or sooner once the
    oldest pending row has waited `max_delay` seconds (checked as rows come).

    Large transactions are cheaper: FTS5 writes one segment per commit and merges
    them later, so at 100 articles per commit instead of 25 an article costs ~15 %
    less to index. A commit of that size takes ~0.1 s, so it runs in a writer
    thread (SQLite lets go of the GIL while it works): the reactor meanwhile keeps
    the extraction workers fed. One batch is written while the next one fills; a
    batch's counts (and any error) reach the crawl when the next one is handed
    over, and `drain()` (at close) waits for the last. What a crash loses of a
    batch, the next crawl re-indexes from the WARCs (`archiver.rebuild.catch_up`,
    run as each crawl starts).
    """

    def __init__(self, path: Path, crawler: Crawler | None = None, batch_size: int = 200,
                 max_delay: float = 5.0) -> None:
        self.path = path
        self.crawler = crawler
        self.batch_size = batch_size
        self.max_delay = max_delay
        self.index: Index | None = None
        self._pending: dict[str, list[dict[str, Any]]] = self._empty()
        self._count = 0
        self._since = 0.0  # when the oldest pending row came
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="index-writer")
        self._writing: Future | None = None  # the batch being written

    @staticmethod
    def _empty() -> dict[str, list[dict[str, Any]]]:
        return {"articles": [], "captures": [], "feed_items": [], "failures": [], "runs": [],
                "sitemap_entries": []}

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> IndexPipeline:
        cfg = ArchiverConfig.from_settings(crawler.settings)
        if not cfg.index_enabled:
            raise NotConfigured("ARCHIVER_INDEX_ENABLED is off: WARC only")
        pipe = cls(cfg.index_path, crawler)
        crawler.signals.connect(pipe.capture_written, signal=capture_written)
        crawler.signals.connect(pipe.run_recorded, signal=run_recorded)
        crawler.signals.connect(pipe.spider_closed, signal=signals.spider_closed)
        return pipe

    def open_spider(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.index = Index(self.path)

    def _add(self, kind: str, row: dict[str, Any]) -> None:
        self._pending[kind].append(row)
        self._count += 1
        now = time.monotonic()
        if self._count == 1:
            self._since = now
        if self._count >= self.batch_size or now - self._since >= self.max_delay:
            self.flush()

    def capture_written(self, ref: CaptureRef, request: Any, response: Any,
                        metadata: dict[str, str]) -> None:
        validators = {name: (response.headers.get(name) or b"").decode("latin-1")
                      for name in ("etag", "last-modified", "location")}
        self._add("captures", capture_row(ref, metadata, len(response.body), validators))

    def process_item(self, item: Any) -> Any:
        if isinstance(item, SitemapCapture):
            for row in sitemap_entry_rows(item.sitemap_url, item.entries,
                                          item.capture.fetched_at):
                self._add("sitemap_entries", row)
        elif isinstance(item, FeedCapture):
            for row in feed_item_rows(item.feed_url, item.items, item.capture.fetched_at):
                self._add("feed_items", row)
        elif isinstance(item, ArticleItem) and item.failure:
            self._add("failures", {"url": item.url, "record_id": item.capture.record_id,
                                   "site": item.site, "reason": item.failure,
                                   "failed_at": item.capture.fetched_at})
            self._stat("failed")
            raise DropItem(f"{item.url}: {item.failure}")
        elif isinstance(item, ArticleItem) and item.extracted is not None:
            self._add("articles", article_row(item.extracted, item.capture,
                                              site=item.site, source=item.source,
                                              hints=item.hints))
        return item

    def _stat(self, outcome: str, count: int = 1) -> None:
        if self.crawler is not None and self.crawler.stats is not None:
            self.crawler.stats.inc_value(f"archiver/index/{outcome}", count)

    def flush(self) -> None:
        """Hand the pending rows to the writer thread; collect the batch before."""
        if self.index is None:
            return
        pending, self._pending, self._count = self._pending, self._empty(), 0
        previous = self._writing
        self._writing = (self._writer.submit(self.index.write, **pending)
                         if any(pending.values()) else None)
        if previous is not None:
            self._counted(previous.result())  # re-raises what the writer raised

    def drain(self) -> None:
        """Write what is pending and wait for it."""
        self.flush()
        writing, self._writing = self._writing, None
        if writing is not None:
            self._counted(writing.result())

    def _counted(self, outcome: Counter[str]) -> None:
        for name, count in outcome.items():
            self._stat(name, count)
        articles = sum(outcome.values())
        if articles:
            self._stat("articles", articles)

    def close_spider(self) -> None:
        self.drain()  # before the run record is written: its counts include this batch

    def run_recorded(self, fields: dict[str, str]) -> None:
        self._add("runs", run_row(fields))
        self.drain()

    def spider_closed(self, spider: Any, reason: str) -> None:
        try:
            self.drain()
        finally:
            self._writer.shutdown(wait=True)
            if self.index is not None:
                self.index.close()
                self.index = None


