"""Scrapy glue: Scrapy's RetryMiddleware, with backoff and Retry-After.

Scrapy retries 5xx, 408, 429 and network failures (timeouts, refused or
reset connections, a body cut short) at once. `BackoffRetryMiddleware` is the
same middleware (same `RETRY_*` settings, same stats), except that a retry
waits first:

- `ARCHIVER_RETRY_BACKOFF` seconds, doubled for each further attempt, at most
  `ARCHIVER_RETRY_BACKOFF_MAX`;
- for a 429 or 503 with a `Retry-After` header (seconds or an HTTP date), at
  least that long; a server asking for more than `ARCHIVER_RETRY_AFTER_MAX`
  seconds is not retried in this crawl (the response is kept, and archived).

The wait is an `asyncio.sleep` in the middleware: it holds that one request,
never the reactor. Every attempt that got a response is in the WARC (the
capture runs at `response_downloaded`, before any middleware).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from scrapy.crawler import Crawler
from scrapy.downloadermiddlewares.retry import RetryMiddleware
from scrapy.http import Request, Response
from scrapy.settings import BaseSettings
from scrapy.utils.response import response_status_message

from archiver.config import ArchiverConfig

logger = logging.getLogger(__name__)

RETRY_AFTER_STATUSES = frozenset({429, 503})


def retry_after_seconds(value: bytes | str | None, now: datetime | None = None) -> float | None:
    """Seconds a `Retry-After` value asks for (delta-seconds or HTTP-date); None if unreadable."""
    if value is None:
        return None
    text = value.decode("latin-1") if isinstance(value, bytes) else str(value)
    text = text.strip()
    if not text:
        return None
    if text.isdigit():
        return float(text)
    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (moment - (now or datetime.now(UTC))).total_seconds())


class BackoffRetryMiddleware(RetryMiddleware):
    """`DOWNLOADER_MIDDLEWARES` entry replacing Scrapy's RetryMiddleware (see settings.py)."""

    def __init__(self, settings: BaseSettings, backoff: float = 0.0, backoff_max: float = 0.0,
                 retry_after_max: float = 0.0) -> None:
        super().__init__(settings)
        self.backoff = backoff
        self.backoff_max = backoff_max
        self.retry_after_max = retry_after_max

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> BackoffRetryMiddleware:
        cfg = ArchiverConfig.from_settings(crawler.settings)
        mw = cls(crawler.settings, cfg.retry_backoff, cfg.retry_backoff_max,
                 cfg.retry_after_max)
        mw.crawler = crawler
        return mw

    def backoff_for(self, attempt: int) -> float:
        """Wait before retry number `attempt` (1 for the first retry)."""
        if self.backoff <= 0:
            return 0.0
        return min(self.backoff_max, self.backoff * 2 ** max(0, attempt - 1))

    async def _wait(self, retry: Request, seconds: float, why: str) -> None:
        if seconds <= 0:
            return
        stats = self.crawler.stats
        if stats is not None:
            stats.inc_value("archiver/retry/waits")
            stats.inc_value("archiver/retry/wait_seconds", seconds)
        logger.debug("waiting %.2f s before retrying %s (%s)", seconds, retry.url, why)
        await asyncio.sleep(seconds)

    async def process_response(  # type: ignore[override]
            self, request: Request, response: Response) -> Request | Response:
        if request.meta.get("dont_retry", False) or response.status not in self.retry_http_codes:
            return response
        asked = None
        if response.status in RETRY_AFTER_STATUSES:
            asked = retry_after_seconds(response.headers.get(b"Retry-After"))
            if asked is not None and asked > self.retry_after_max:
                if self.crawler.stats is not None:
                    self.crawler.stats.inc_value("archiver/retry/retry_after_too_long")
                logger.warning("%s asks to retry after %.0f s, more than "
                               "ARCHIVER_RETRY_AFTER_MAX (%.0f s): not retrying in this crawl",
                               request.url, asked, self.retry_after_max)
                return response
        retry = self._retry(request, response_status_message(response.status))
        if retry is None:
            return response
        wait = self.backoff_for(retry.meta.get("retry_times", 1))
        if asked is not None:
            wait = max(wait, asked)
        await self._wait(retry, wait, f"status {response.status}"
                         + (f", Retry-After {asked:g} s" if asked is not None else ""))
        return retry

    async def process_exception(  # type: ignore[override]
            self, request: Request, exception: Exception) -> Request | Response | None:
        if not isinstance(exception, self.exceptions_to_retry) or request.meta.get(
                "dont_retry", False):
            return None
        retry = self._retry(request, exception)
        if retry is not None:
            await self._wait(retry, self.backoff_for(retry.meta.get("retry_times", 1)),
                             type(exception).__name__)
        return retry
