"""The `digest` spider: feeds, sitemaps, listings and article pages of digest sites.

Targets come from `archiver crawl` (a list of `SiteProfile`s) or from
`scrapy crawl digest -a target=URL[,URL] -a feed=URL -a sitemap=URL -a profile=NAME`.
For a home-page target the spider discovers feeds (`<link rel="alternate">`
and `/feed/`), sitemaps (robots.txt `Sitemap:` lines, else `/sitemap.xml`)
and the site's listings (categories, tags, authors, `/page/N/`), walking
listings newest first. Only pages matching the profile's article patterns,
or linked from a feed item, become `ArticleItem`s; everything fetched is
archived by the WARC capture extension regardless.
"""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator, Callable, Container, Iterable, Iterator
from dataclasses import asdict
from datetime import UTC, datetime
from functools import wraps
from typing import Any
from urllib.parse import urljoin, urlsplit

import scrapy
from scrapy.crawler import Crawler
from scrapy.http import Response, TextResponse
from scrapy.utils.response import get_base_url
from scrapy.utils.sitemap import sitemap_urls_from_robots

from archiver.capture import META_CAPTURE, META_HINTS, META_PREVIOUS, META_ROLE, META_SOURCE
from archiver.config import ArchiverConfig
from archiver.extraction import is_html
from archiver.feeds import feed_links, parse_feed
from archiver.incremental import CrawlState, Policy
from archiver.items import ArticleItem, FeedCapture, SitemapCapture
from archiver.profiles import (
    SiteProfile,
    profile_for_target,
    profile_for_urls,
)
from archiver.sitemaps import parse_sitemap
from archiver.urls import clean_url, host_of

PAGE_RE = re.compile(r"/page/(\d+)/?$")
# What each callback does with a page; recorded in the WARC's metadata record so
# `archiver reindex` treats every capture the way the crawl did.
ROLES = {"parse_article": "article", "parse_feed": "feed", "parse_sitemap": "sitemap",
         "parse_listing": "listing", "parse_robots": "robots"}


# `<a ... href="...">`: enough for discovery, and ~10x cheaper than parsing the page
# (the reactor thread never builds a DOM; extraction parses in the worker processes).
A_HREF = re.compile(r"""<a\s[^>]*?\bhref\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))""",
                    re.IGNORECASE)


# A host name that canonicalisation leaves as it is (once lower-cased).
PLAIN_HOST = re.compile(r"[a-z0-9.-]+")


def page_links(response: TextResponse, hosts: Container[str] | None = None) -> list[str]:
    """The page's `<a href>` targets, absolute and cleaned, each once, in page order.

    Read with a regular expression over the text (entities decoded), with a fast path
    for the site-relative links that make up most of a page. With `hosts`, links
    plainly on other hosts (share buttons, social profiles: a new URL on every page)
    are left out before the costly canonicalisation.
    """
    base = get_base_url(response)
    parts = urlsplit(base)
    origin = f"{parts.scheme}://{parts.netloc}"
    links: dict[str, None] = {}
    hrefs = dict.fromkeys(a or b or c for a, b, c in A_HREF.findall(response.text))
    for href in hrefs:
        href = html.unescape(href).strip() if "&" in href else href.strip()
        if href.startswith("/") and not href.startswith("//"):
            url = origin + href
        elif href.startswith(("http://", "https://")):
            url = href
            host = host_of(url)
            if hosts is not None and host not in hosts and PLAIN_HOST.fullmatch(host):
                continue
        elif href and not href.startswith(("#", "javascript:", "mailto:", "tel:")):
            url = urljoin(base, href)
        else:
            continue
        links[clean_url(url)] = None
    return list(links)


def _page_number(url: str) -> int:
    match = PAGE_RE.search(url)
    return int(match.group(1)) if match else 1


def _skip_none(callback: Callable[..., Iterable[Any]]) -> Callable[..., Iterator[Any]]:
    """Callbacks yield None for requests the incremental policy skipped; drop them."""
    @wraps(callback)
    def wrapper(self: Any, response: Response) -> Iterator[Any]:
        return (out for out in callback(self, response) if out is not None)
    return wrapper


def _split(value: Any) -> list[str]:
    if not value:
        return []
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    return [str(v) for v in value]


class DigestSpider(scrapy.Spider):
    name = "digest"

    def __init__(
        self,
        target: Any = None,
        feed: Any = None,
        sitemap: Any = None,
        profile: Any = None,
        sites: list[SiteProfile] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.sites: list[SiteProfile] = list(sites or [])
        for t in _split(target) + _split(profile):
            self.sites.append(profile_for_target(t))
        if _split(feed) or _split(sitemap):
            self.sites.append(profile_for_urls(_split(feed), _split(sitemap)))
        if not self.sites:
            raise ValueError("nothing to crawl: give a target, --feed or --sitemap")
        self._by_host = {h: s for s in self.sites for h in s.hosts}
        self.allowed_domains = sorted(self._by_host)
        self._yielded: set[str] = set()  # URLs requested in this crawl (a pre-filter)
        self.policy = Policy(enabled=False)
        self.state = CrawlState()
        self.now = datetime.now(UTC)

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> DigestSpider:
        spider = super().from_crawler(crawler, *args, **kwargs)
        spider.policy = Policy.from_settings(crawler.settings)
        if spider.policy.enabled:
            spider.state = CrawlState.load(ArchiverConfig.from_settings(crawler.settings)
                                           .index_path)
        return spider

    # -- helpers ------------------------------------------------------------
    def site_for(self, url: str) -> SiteProfile | None:
        return self._by_host.get(host_of(url))

    def _request(self, url: str, callback, kind: str, via: str, site: SiteProfile,
                 priority: int = 0, hints: dict[str, Any] | None = None,
                 **meta: Any) -> scrapy.Request | None:
        """A request, or None when the incremental policy says it is not due."""
        url, role = clean_url(url), ROLES[callback.__name__]
        if url in self._yielded:  # cheaper than building a Request for the dupefilter
            return None
        stats = self.crawler.stats if hasattr(self, "crawler") else None
        if role == "article":
            reason = self.state.article_due(url, hints or {}, self.now, self.policy)
            if not reason:
                if stats:
                    stats.inc_value("archiver/incremental/article_not_due")
                return None
            if reason != "new" and stats:
                stats.inc_value("archiver/incremental/article_recheck")
        elif role == "feed" and not self.state.feed_due(url, self.now, self.policy):
            if stats:
                stats.inc_value("archiver/incremental/feed_not_due")
            return None
        headers: dict[str, str] = {}
        if self.policy.enabled:
            # robots.txt is always fetched whole (sitemaps are found in it), but the same
            # bytes as last time still become a revisit record.
            # --backfill reads every listing whole: a 304 would hide its links.
            whole = role == "robots" or (role == "listing" and self.policy.backfill)
            headers = {} if whole else self.state.conditional_headers(url)
            previous = self.state.previous.get(url)
            # An article page becomes a revisit only when its article is in the index:
            # otherwise (say, a crawl killed before extracting it) it must be stored whole.
            if previous is not None and (role != "article" or self.state.is_known_article(url)):
                meta[META_PREVIOUS] = asdict(previous)
        self._yielded.add(url)  # only once it is really asked for (a later hint may be due)
        return scrapy.Request(
            url, callback=callback, priority=priority, headers=headers or None,
            meta={META_SOURCE: {"type": kind, "via": via, "site": site.name},
                  META_HINTS: hints or {}, META_ROLE: role, **meta},
        )

    # -- start --------------------------------------------------------------
    async def start(self) -> AsyncIterator[Any]:
        for request in self._start_requests():
            if request is not None:
                yield request

    def _start_requests(self) -> Iterator[scrapy.Request | None]:
        for site in self.sites:
            if self.policy.recheck_all:  # --recheck: every archived article of the site
                for url in sorted(self.state.article_urls(site.hosts)):
                    yield self._request(url, self.parse_article, "recheck", "", site)
            for url in site.feeds:
                yield self._request(url, self.parse_feed, "seed-feed", "", site, priority=20)
            for url in site.sitemaps:
                yield self._request(url, self.parse_sitemap, "seed-sitemap", "", site, priority=5)
            for home in site.home:
                yield self._request(home, self.parse_listing, "seed", "", site, priority=10)
                if site.discover:
                    yield self._request(urljoin(home, "/feed/"), self.parse_feed, "guess", home,
                                        site, priority=20)
                    yield self._request(
                        urljoin(home, "/robots.txt"), self.parse_robots, "guess", home, site,
                        priority=15, handle_httpstatus_all=True)

    # -- callbacks ----------------------------------------------------------
    @_skip_none
    def parse_robots(self, response: Response) -> Iterable[scrapy.Request]:
        site = self.site_for(response.url)
        if site is None:
            return
        found = []
        if response.status == 200:
            found = list(sitemap_urls_from_robots(response.text, base_url=response.url))
        for url in found or [urljoin(response.url, "/sitemap.xml")]:
            yield self._request(url, self.parse_sitemap, "robots", response.url, site, priority=5)

    @_skip_none
    def parse_sitemap(self, response: Response) -> Iterable[Any]:
        site = self.site_for(response.url)
        if site is None:
            return
        kind, entries = parse_sitemap(response.body)
        if not kind:
            self.logger.warning("sitemap %s could not be parsed", response.url)
            self.crawler.stats.inc_value("archiver/sitemap/unparseable")
            return
        capture = response.meta.get(META_CAPTURE)
        if kind == "urlset" and capture is not None:
            yield SitemapCapture(sitemap_url=response.url, capture=capture, entries=entries)
        for loc, lastmod in entries:
            url = urljoin(response.url, loc)
            if kind == "sitemapindex":
                yield self._request(url, self.parse_sitemap, "sitemap", response.url, site,
                                    priority=5)
            elif self.site_for(url) is not site:
                continue
            elif site.is_article_url(url):
                hints = {"sitemap_lastmod": lastmod}
                yield self._request(url, self.parse_article, "sitemap", response.url, site,
                                    hints=hints)
            elif site.is_listing_url(url):
                yield self._listing_request(url, response.url, site, "sitemap")

    @_skip_none
    def parse_feed(self, response: Response) -> Iterable[Any]:
        site = self.site_for(response.url)
        if site is None:
            return
        items = parse_feed(response.body, response.url)
        self.crawler.stats.inc_value("archiver/feed/items", len(items))
        capture = response.meta.get(META_CAPTURE)
        if capture is not None:
            yield FeedCapture(feed_url=response.url, capture=capture, items=items)
        for item in items:
            if self.site_for(item.link) is None:
                continue
            if site.is_listing_url(item.link):
                yield self._listing_request(item.link, response.url, site, "feed")
                continue
            hints = {"feed_url": response.url, "feed_guid": item.guid,
                     "feed_title": item.title, "feed_date": item.published,
                     "feed_categories": item.categories}
            yield self._request(item.link, self.parse_article, "feed", response.url, site,
                                priority=1, hints=hints)

    def _listing_request(self, url: str, via: str, site: SiteProfile, kind: str):
        return self._request(url, self.parse_listing, kind, via, site,
                             priority=-_page_number(url))

    def _follow_links(self, response: Response, site: SiteProfile, kind: str):
        # `--feed`/`--sitemap` crawls (discover = false) fetch exactly what those list.
        if not site.discover or not isinstance(response, TextResponse):
            return
        urls = [u for u in page_links(response, self._by_host) if self.site_for(u) is site]
        if kind != "listing":  # only a listing's stop rule needs the links already asked for
            urls = [u for u in urls if u not in self._yielded]
        articles = {u for u in urls if site.is_article_url(u)}
        # Listings run newest first: once a page lists only known articles, older pages
        # hold nothing new, so the walk stops there (unless --backfill).
        stop = (kind == "listing" and self.policy.enabled and not self.policy.backfill
                and bool(articles) and all(self.state.nothing_new_at(u) for u in articles))
        here = _page_number(response.url)
        for url in urls:
            if url in articles:
                yield self._request(url, self.parse_article, kind, response.url, site)
            elif site.is_listing_url(url):
                if stop and _page_number(url) > here:
                    self.crawler.stats.inc_value("archiver/incremental/listing_stop")
                    continue
                yield self._listing_request(url, response.url, site, kind)

    @_skip_none
    def parse_listing(self, response: Response) -> Iterable[scrapy.Request]:
        site = self.site_for(response.url)
        if site is None or not isinstance(response, TextResponse):
            return
        if site.discover and (response.meta.get(META_SOURCE) or {}).get("type") == "seed":
            heads = [(link.attrib.get("rel", ""), link.attrib.get("type", ""),
                      link.attrib.get("href", "")) for link in response.css("link")]
            for url in feed_links(heads, response.url):
                yield self._request(url, self.parse_feed, "home", response.url, site,
                                    priority=20)
        yield from self._follow_links(response, site, "listing")

    @_skip_none
    def parse_article(self, response: Response) -> Iterable[Any]:
        site = self.site_for(response.url)
        if site is None or not isinstance(response, TextResponse):
            return
        # The decision was made when the request was (its role is in the WARC), so a
        # rebuild from the WARCs alone treats this page exactly the same way.
        capture = response.meta.get(META_CAPTURE)
        content_type = (response.headers.get("Content-Type") or b"").decode("latin-1")
        if not is_html(content_type):
            # archived, but a feed, PDF or image is no article (reindex decides the same)
            self.crawler.stats.inc_value("archiver/extract/not_html")
        elif capture is not None and capture.record_type == "revisit":
            # Same payload as the last capture: nothing new to extract.
            self.crawler.stats.inc_value("archiver/index/unchanged")
        elif capture is not None:
            yield ArticleItem(
                url=response.url, html=response.body, capture=capture, site=site.name,
                source=dict(response.meta.get(META_SOURCE) or {}),
                hints=dict(response.meta.get(META_HINTS) or {}), content_type=content_type,
            )
        yield from self._follow_links(response, site, "article")
