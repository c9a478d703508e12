"""Scrapy glue: a live progress line on a terminal while a crawl runs.

Logs go to a file in the archive directory (set by the CLI), so the terminal
shows only this line, refreshed every ARCHIVER_PROGRESS_INTERVAL seconds:
pages fetched, articles indexed, errors, WARC bytes written and the rate.
Off when stderr is not a terminal or the interval is 0.
"""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

from scrapy import signals
from scrapy.crawler import Crawler
from scrapy.exceptions import NotConfigured
from twisted.internet.task import LoopingCall

from archiver.config import ArchiverConfig


def progress_line(stats: dict[str, Any], elapsed: float) -> str:
    pages = stats.get("downloader/response_count", 0)
    articles = stats.get("archiver/index/articles", 0)
    errors = stats.get("log_count/ERROR", 0) + stats.get("downloader/exception_count", 0)
    mb = stats.get("archiver/warc/bytes", 0) / 1e6
    rate = pages / elapsed if elapsed > 0 else 0.0
    return (f"pages {pages} · articles {articles} · errors {errors} · "
            f"WARC {mb:.1f} MB · {rate:.1f} pages/s")


class Progress:
    def __init__(self, crawler: Crawler, interval: float, stream: TextIO) -> None:
        self.crawler = crawler
        self.interval = interval
        self.stream = stream
        self.started = time.monotonic()
        self.task: LoopingCall | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Progress:
        interval = ArchiverConfig.from_settings(crawler.settings).progress_interval
        if interval <= 0 or not sys.stderr.isatty():
            raise NotConfigured("progress needs a terminal and ARCHIVER_PROGRESS_INTERVAL > 0")
        ext = cls(crawler, interval, sys.stderr)
        crawler.signals.connect(ext.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(ext.spider_closed, signal=signals.spider_closed)
        return ext

    def show(self) -> None:
        assert self.crawler.stats is not None
        line = progress_line(self.crawler.stats.get_stats(), time.monotonic() - self.started)
        self.stream.write("\r\033[K" + line)
        self.stream.flush()

    def spider_opened(self, spider: Any) -> None:
        self.started = time.monotonic()
        self.task = LoopingCall(self.show)
        self.task.start(self.interval, now=False)

    def spider_closed(self, spider: Any, reason: str) -> None:
        if self.task is not None and self.task.running:
            self.task.stop()
        self.show()
        self.stream.write("\n")
        self.stream.flush()
