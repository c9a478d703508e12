"""Scrapy glue: thin pipelines over `archiver.extraction` and `archiver.index`.

ExtractPipeline runs `extract_article` in a pool of worker processes (one per
core by default), so fetching, WARC writing and extraction overlap and the
reactor thread never parses HTML. A page that yields no article is recorded
(stats, log) and dropped: soft failure, it can be recomputed from the WARC.
IndexPipeline writes the rows to `index.db` in small transactions.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

from scrapy.crawler import Crawler
from scrapy.exceptions import DropItem, NotConfigured

from archiver.config import ArchiverConfig
from archiver.extraction import ExtractionError, extract_article
from archiver.index import Index, article_row
from archiver.items import ArticleItem

logger = logging.getLogger(__name__)


class ExtractPipeline:
    def __init__(self, workers: int, crawler: Crawler | None = None) -> None:
        self.workers = workers
        self.crawler = crawler
        self._pool: ProcessPoolExecutor | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> ExtractPipeline:
        return cls(ArchiverConfig.from_settings(crawler.settings).extract_workers, crawler)

    def _inc(self, key: str) -> None:
        if self.crawler is not None and self.crawler.stats is not None:
            self.crawler.stats.inc_value(key)

    def pool(self) -> ProcessPoolExecutor:
        if self._pool is None:
            # forkserver: never fork the reactor's process state into workers.
            context = multiprocessing.get_context("forkserver")
            self._pool = ProcessPoolExecutor(self.workers, mp_context=context)
        return self._pool

    async def process_item(self, item: Any) -> Any:
        if not isinstance(item, ArticleItem):
            return item
        loop = asyncio.get_running_loop()
        try:
            item.extracted = await loop.run_in_executor(
                self.pool(), extract_article, item.html, item.url)
        except ExtractionError as exc:
            self._inc("archiver/extract/no_article")
            raise DropItem(f"no article in {item.url}: {exc}") from None
        except BrokenProcessPool:
            # A worker died (out of memory, segfault in a parser): start a new
            # pool and record the page as failed, not lost: it is in the WARC.
            self._inc("archiver/extract/worker_crash")
            if self._pool is not None:
                self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
            raise DropItem(f"extraction worker crashed on {item.url}") from None
        except Exception as exc:  # soft: recorded, recomputable from the WARC
            self._inc("archiver/extract/error")
            logger.error("extraction failed for %s: %r", item.url, exc)
            raise DropItem(f"extraction failed for {item.url}") from None
        self._inc("archiver/extract/ok")
        return item

    def close_spider(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


class IndexPipeline:
    def __init__(self, path: Path, crawler: Crawler | None = None, batch_size: int = 20) -> None:
        self.path = path
        self.crawler = crawler
        self.batch_size = batch_size
        self.index: Index | None = None
        self._rows: list[dict[str, Any]] = []

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> IndexPipeline:
        cfg = ArchiverConfig.from_settings(crawler.settings)
        if not cfg.index_enabled:
            raise NotConfigured("ARCHIVER_INDEX_ENABLED is off: WARC only")
        return cls(cfg.index_path, crawler)

    def open_spider(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.index = Index(self.path)

    def process_item(self, item: Any) -> Any:
        if isinstance(item, ArticleItem) and item.extracted is not None:
            self._rows.append(article_row(item.extracted.to_dict(), item.capture,
                                          site=item.site, source=item.source, hints=item.hints))
            if len(self._rows) >= self.batch_size:
                self.flush()
        return item

    def flush(self) -> None:
        if self._rows and self.index is not None:
            self.index.upsert_articles(self._rows)
            if self.crawler is not None and self.crawler.stats is not None:
                self.crawler.stats.inc_value("archiver/index/articles", len(self._rows))
            self._rows = []

    def close_spider(self) -> None:
        self.flush()
        if self.index is not None:
            self.index.close()
            self.index = None
