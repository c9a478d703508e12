"""Scrapy glue: keep a crawl on its sites, out of crawler traps and away from forms.

Two components, enabled in `archiver/settings.py`:

- `TrapGuard` (spider middleware) sees every request the spider makes, start
  requests included, before it is scheduled. It drops POSTs and other
  non-GET methods (forms are never submitted), drops requests to hosts other
  than the spider's `allowed_domains` (exactly: another host name on the same
  server is off-site), canonicalises the URL (`archiver.urls.clean_url`:
  tracking parameters, session ids and fragments go, so the dupefilter sees one
  URL per page) and bounds the traps of link-following: too many path
  segments, a path segment repeated over and over (`/a/b/a/b/a/b/`), too many
  query-string variants of one path (faceted navigation) and too many URLs of
  one shape, numbers aside (calendars: `/events/2024/01/`, `?month=2024-01`).
  Requests taken from feeds, sitemaps and robots.txt are the site's own finite
  lists and only get the first three checks.
- `ExactOffsiteMiddleware` (downloader middleware, in place of Scrapy's
  OffsiteMiddleware) applies the same exact-host rule and the no-forms rule to
  what the spider middleware never sees: redirect targets and retries.

Every drop is counted in the stats (`archiver/traps/<reason>`) and logged once
per reason and path.
"""

from __future__ import annotations

import logging
import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from scrapy import Request
from scrapy.crawler import Crawler
from scrapy.downloadermiddlewares.offsite import OffsiteMiddleware
from scrapy.exceptions import IgnoreRequest
from scrapy.http import Response
from scrapy.spidermiddlewares.base import BaseSpiderMiddleware
from scrapy.utils.httpobj import urlparse_cached

from archiver.capture import META_SOURCE
from archiver.config import ArchiverConfig
from archiver.urls import clean_url

logger = logging.getLogger(__name__)

SAFE_METHODS = frozenset({"GET", "HEAD"})
# Where a request came from when the site itself listed it (no link-following trap).
LISTED_SOURCES = frozenset({"feed", "sitemap", "robots", "seed", "seed-feed", "seed-sitemap",
                            "home", "guess"})
DIGITS = re.compile(r"\d+")


@dataclass(frozen=True)
class TrapLimits:
    max_path_segments: int = 12
    max_segment_repeats: int = 2
    max_query_variants: int = 50
    max_shape_urls: int = 1000

    @classmethod
    def from_config(cls, cfg: ArchiverConfig) -> TrapLimits:
        return cls(cfg.trap_max_path_segments, cfg.trap_max_segment_repeats,
                   cfg.trap_max_query_variants, cfg.trap_max_shape_urls)


def allowed_host(url: str, allowed: list[str] | tuple[str, ...] | None) -> bool:
    """True when the URL's host is one of `allowed`, exactly (no subdomains); all if empty."""
    if not allowed:
        return True
    host = (urlsplit(url).hostname or "").lower()
    return host in {d.lower() for d in allowed if d}


def shape(url: str) -> str:
    """The URL with every run of digits replaced by '#': one shape per calendar or pager."""
    parts = urlsplit(url)
    return f"{parts.hostname}{DIGITS.sub('#', parts.path)}?{DIGITS.sub('#', parts.query)}"


class TrapState:
    """The trap rules over a stream of canonical URLs (pure, no Scrapy)."""

    def __init__(self, limits: TrapLimits) -> None:
        self.limits = limits
        self._queries: dict[tuple[str, str], set[str]] = defaultdict(set)
        self._shapes: dict[str, set[str]] = defaultdict(set)

    def check(self, url: str, *, listed: bool = False) -> str:
        """"" when the URL may be crawled, else the rule it breaks."""
        parts = urlsplit(url)
        segments = [s for s in parts.path.split("/") if s]
        if len(segments) > self.limits.max_path_segments:
            return "path_depth"
        if segments and max(Counter(segments).values()) > self.limits.max_segment_repeats:
            return "repeated_segments"
        if listed:
            return ""
        if parts.query:
            variants = self._queries[(parts.hostname or "", parts.path)]
            query_shape = DIGITS.sub("#", parts.query)
            if query_shape not in variants and len(variants) >= self.limits.max_query_variants:
                return "query_variants"
            variants.add(query_shape)
        urls = self._shapes[shape(url)]
        if url not in urls and len(urls) >= self.limits.max_shape_urls:
            return "shape_urls"
        urls.add(url)
        return ""


class TrapGuard(BaseSpiderMiddleware):
    """Spider middleware: canonical URLs, on-site, GET only, traps bounded."""

    def __init__(self, crawler: Crawler, limits: TrapLimits | None = None) -> None:
        super().__init__(crawler)
        self.state = TrapState(limits or TrapLimits())
        self._logged: set[tuple[str, str]] = set()

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> TrapGuard:
        return cls(crawler, TrapLimits.from_config(ArchiverConfig.from_settings(crawler.settings)))

    def _drop(self, request: Request, reason: str) -> None:
        if self.crawler.stats is not None:
            self.crawler.stats.inc_value(f"archiver/traps/{reason}")
        key = (reason, urlsplit(request.url).path)
        level = logging.INFO if key not in self._logged else logging.DEBUG
        self._logged.add(key)
        logger.log(level, "not following %s %s: %s", request.method, request.url, reason)

    def get_processed_request(self, request: Request,
                              response: Response | None) -> Request | None:
        if request.method.upper() not in SAFE_METHODS:
            self._drop(request, "form_submission")
            return None
        spider = self.crawler.spider
        if not allowed_host(request.url, getattr(spider, "allowed_domains", None)):
            self._drop(request, "offsite")
            return None
        url = clean_url(request.url)
        if url != request.url:
            request = request.replace(url=url)
        source = request.meta.get(META_SOURCE) or {}
        listed = response is None or source.get("type") in LISTED_SOURCES
        if reason := self.state.check(url, listed=listed):
            self._drop(request, reason)
            return None
        return request


class ExactOffsiteMiddleware(OffsiteMiddleware):
    """Scrapy's OffsiteMiddleware with exact host names (no subdomains) and no forms."""

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> ExactOffsiteMiddleware:
        return super().from_crawler(crawler)  # type: ignore[return-value]

    def process_request(self, request: Request) -> None:  # type: ignore[override]
        if request.method.upper() not in SAFE_METHODS:
            self.stats.inc_value("archiver/traps/form_submission")
            raise IgnoreRequest(f"not submitting a form: {request.method} {request.url}")
        return super().process_request(request)

    def should_follow(self, request: Request, spider: Any) -> bool:
        allowed = getattr(spider, "allowed_domains", None)
        if not allowed:
            return True
        return (urlparse_cached(request).hostname or "").lower() in {
            d.lower() for d in allowed if d}
