"""The `redis_digest` spider: `DigestSpider` whose sites and seeds come from Redis.

`archiver enqueue TARGET...` stores each site profile as JSON in Redis and queues its
name for seeding. Every worker knows every profile (callbacks need a page's site: its
patterns, its hosts); only the worker that pops a name from the seed list schedules that
site's seed requests (home, feeds, sitemaps, robots.txt), into the shared queue. The
callbacks are DigestSpider's own, so a page is treated exactly as in a one-process crawl
and the WARC metadata (site, role, via, hints) is the same.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any

import scrapy
from scrapy import signals
from scrapy.crawler import Crawler
from scrapy.exceptions import DontCloseSpider

from archiver.profiles import SiteProfile
from spiders.digest import DigestSpider

if TYPE_CHECKING:  # redis is an optional extra: imported when a worker starts, not here
    from archiver.distributed.frontier import Frontier


class RedisDigestSpider(DigestSpider):
    name = "redis_digest"

    def __init__(self, frontier: Frontier | None = None, **kwargs: Any) -> None:
        # DigestSpider.__init__ insists on sites given up front; here they come from Redis
        # (refresh_sites), so it gets a placeholder without hosts, dropped at once.
        super().__init__(sites=[SiteProfile(name="redis")], **kwargs)
        self.frontier = frontier
        self.sites = []
        self._by_host = {}
        self.allowed_domains = []
        self._refreshed = 0.0

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> RedisDigestSpider:
        from archiver.distributed.frontier import Frontier, connect

        s = crawler.settings
        frontier = Frontier(connect(s["REDIS_URL"]), s.get("ARCHIVER_REDIS_PREFIX") or "archiver")
        spider = super().from_crawler(crawler, *args, frontier=frontier, **kwargs)
        assert isinstance(spider, RedisDigestSpider)
        spider.refresh_sites()
        crawler.signals.connect(spider.spider_idle, signal=signals.spider_idle)
        return spider

    def refresh_sites(self) -> None:
        from archiver.distributed.sites import load_sites

        assert self.frontier is not None
        self.sites = load_sites(self.frontier)
        self._by_host = {h: s for s in self.sites for h in s.hosts}
        self.allowed_domains = sorted(self._by_host)
        self._refreshed = time.monotonic()

    def site_for(self, url: str) -> SiteProfile | None:
        site = super().site_for(url)
        if site is None and time.monotonic() - self._refreshed > 1.0:
            self.refresh_sites()  # a site enqueued after this worker started
            site = super().site_for(url)
        return site

    def seed_requests(self) -> Iterator[scrapy.Request]:
        """The seed requests of the sites whose seeding this worker popped from Redis."""
        from archiver.distributed.sites import pop_seeds

        assert self.frontier is not None
        names = pop_seeds(self.frontier)
        if not names:
            return
        self.refresh_sites()
        everything, self.sites = self.sites, [s for s in self.sites if s.name in names]
        try:
            requests = [r for r in self._start_requests() if r is not None]
        finally:
            self.sites = everything
        yield from requests

    async def start(self) -> AsyncIterator[Any]:
        for request in self.seed_requests():
            yield request

    def spider_idle(self) -> None:
        """Sites enqueued while this worker runs (`--keep-alive`) are seeded when idle."""
        scheduled = False
        for request in self.seed_requests():
            self.crawler.engine.crawl(request)
            scheduled = True
        if scheduled:
            raise DontCloseSpider
