"""The fetch ceiling F: a bare Scrapy crawl that only fetches a list of URLs.

Run as `python benchmarks/bare_crawl.py URLS_FILE [NAME=VALUE ...]`. A minimal
Spider yields one Request per line of URLS_FILE and does nothing with the
responses: no item pipelines, no link following, no WARC capture, no
extraction; Scrapy's default downloader middlewares (decompression,
redirects, retries, stats) stay on, as they are in `archiver crawl`. Prints
one JSON line with the crawl's stats (responses, elapsed seconds).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import scrapy
from scrapy.crawler import CrawlerProcess

# The engine and concurrency settings `archiver crawl` runs with in the benchmark.
SETTINGS = {
    "TWISTED_REACTOR": "twisted.internet.asyncioreactor.AsyncioSelectorReactor",
    "CONCURRENT_REQUESTS": 16,
    "CONCURRENT_REQUESTS_PER_DOMAIN": 16,
    "DOWNLOAD_DELAY": 0,
    "AUTOTHROTTLE_ENABLED": False,
    "ROBOTSTXT_OBEY": False,
    "TELNETCONSOLE_ENABLED": False,
    "LOG_LEVEL": "WARNING",
    "USER_AGENT": "digest-archiver-bench (bare fetch)",
}


class FetchOnly(scrapy.Spider):
    name = "fetch_only"

    def __init__(self, urls: list[str], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.urls = urls

    async def start(self):  # type: ignore[override]
        for url in self.urls:
            yield scrapy.Request(url, callback=self.parse, dont_filter=True)

    def parse(self, response: Any) -> None:
        return None


def main() -> None:
    urls = [u for u in Path(sys.argv[1]).read_text().split() if u]
    settings = dict(SETTINGS)
    for arg in sys.argv[2:]:
        name, _, value = arg.partition("=")
        settings[name] = value
    process = CrawlerProcess(settings)
    crawler = process.create_crawler(FetchOnly)
    process.crawl(crawler, urls=urls)
    process.start()
    stats = crawler.stats.get_stats() if crawler.stats else {}
    print(json.dumps({
        "responses": stats.get("downloader/response_count", 0),
        "status_200": stats.get("downloader/response_status_count/200", 0),
        "elapsed": stats.get("elapsed_time_seconds", 0.0),
        "bytes": stats.get("downloader/response_bytes", 0),
        "finish_reason": stats.get("finish_reason", ""),
    }))


if __name__ == "__main__":
    main()
