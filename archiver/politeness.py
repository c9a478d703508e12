"""Scrapy glue: honour robots.txt `Crawl-delay` (and `Request-rate`), which Scrapy does not.

Scrapy's RobotsTxtMiddleware fetches and parses robots.txt (with protego) and
obeys its Allow/Disallow rules, but ignores the delay a site asks for.
`RobotsCrawlDelay` listens to Scrapy's `robots_parsed` signal, asks the parser
for the delay that applies to our user agent (`Crawl-delay`, or the interval
of `Request-rate: n/s`), caps it at `ARCHIVER_CRAWL_DELAY_MAX` and makes it the
floor of that host's download slot delay, without jitter: DOWNLOAD_DELAY and
AutoThrottle may make the crawl slower than the site asks, never faster.
"""

from __future__ import annotations

import logging
from typing import Any

from scrapy import Request, signals
from scrapy.crawler import Crawler
from scrapy.exceptions import NotConfigured
from scrapy.http import Response

from archiver.config import ArchiverConfig

logger = logging.getLogger(__name__)


def robots_delay(robotparser: Any, user_agent: str) -> float | None:
    """The delay between requests a parsed robots.txt asks of `user_agent`, if any."""
    rp = getattr(robotparser, "rp", None)  # scrapy.robotstxt.ProtegoRobotParser
    if rp is None or not hasattr(rp, "crawl_delay"):
        return None
    delays = []
    if (delay := rp.crawl_delay(user_agent)) is not None:
        delays.append(float(delay))
    rate = rp.request_rate(user_agent) if hasattr(rp, "request_rate") else None
    if rate is not None and rate.requests:
        delays.append(rate.seconds / rate.requests)
    return max(delays) if delays else None


class RobotsCrawlDelay:
    """Downloader middleware: a host's robots.txt delay is its slot's minimum delay."""

    def __init__(self, crawler: Crawler, max_delay: float) -> None:
        if not crawler.settings.getbool("ROBOTSTXT_OBEY"):
            raise NotConfigured("ROBOTSTXT_OBEY is off")
        self.crawler = crawler
        self.max_delay = max_delay
        self.user_agent = str(crawler.settings.get("ROBOTSTXT_USER_AGENT")
                              or crawler.settings.get("USER_AGENT") or "")
        self.delays: dict[str, float] = {}  # download slot key -> delay floor
        crawler.signals.connect(self.robots_parsed, signal=signals.robots_parsed)
        crawler.signals.connect(self.spider_opened, signal=signals.spider_opened)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> RobotsCrawlDelay:
        if not crawler.settings.getbool("ARCHIVER_OBEY_CRAWL_DELAY"):
            raise NotConfigured("ARCHIVER_OBEY_CRAWL_DELAY is off")
        return cls(crawler, ArchiverConfig.from_settings(crawler.settings).crawl_delay_max)

    def spider_opened(self, spider: Any) -> None:
        # Connected now, after AutoThrottle's handler: the floor is applied after it adjusts.
        self.crawler.signals.connect(self.response_downloaded,
                                     signal=signals.response_downloaded)

    def robots_parsed(self, robotparser: Any, request: Request) -> None:
        delay = robots_delay(robotparser, self.user_agent)
        if not delay or delay <= 0:
            return
        if delay > self.max_delay:
            logger.warning("robots.txt of %s asks for %.1f s between requests; using "
                           "ARCHIVER_CRAWL_DELAY_MAX = %.1f s", request.url, delay,
                           self.max_delay)
            delay = self.max_delay
        key = self._key(request)
        self.delays[key] = delay
        if self.crawler.stats is not None:
            self.crawler.stats.max_value("archiver/robots/crawl_delay", delay)
        logger.info("robots.txt Crawl-delay for %s: %.2f s", key, delay)
        self._apply(key)

    def _key(self, request: Request) -> str:
        engine = self.crawler.engine
        assert engine is not None
        return engine.downloader.get_slot_key(request)

    def _apply(self, key: str) -> None:
        delay = self.delays.get(key)
        engine = self.crawler.engine
        if delay is None or engine is None:
            return
        downloader = engine.downloader
        slot_settings = downloader.per_slot_settings.setdefault(key, {})
        slot_settings["delay"] = max(float(slot_settings.get("delay", 0.0)), delay)
        slot_settings["jitter"] = 0.0
        slot = downloader.slots.get(key)
        if slot is not None:
            slot.delay = max(slot.delay, delay)
            slot.jitter = 0.0

    def process_request(self, request: Request) -> None:
        if self.delays:
            self._apply(self._key(request))

    def response_downloaded(self, response: Response, request: Request, spider: Any) -> None:
        if self.delays:
            self._apply(self._key(request))
