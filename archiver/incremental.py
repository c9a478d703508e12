"""What a scheduled crawl already has (pure): skip, re-check or ask conditionally.

`CrawlState.load` reads the index once at the start of a crawl: the last
full capture of every URL (its validators and payload digest, for
If-None-Match / If-Modified-Since and for revisit records), the articles
already archived (with their dates), and the feed polling schedule (the
`feed_schedule` view over the captures). `Policy` holds the settings that
decide when an article is due for a re-check and how often a feed is polled.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

from archiver.urls import clean_url


@dataclass(frozen=True)
class Policy:
    enabled: bool = True
    recheck_all: bool = False  # --recheck: fetch every known article again
    backfill: bool = False  # --backfill: walk every listing page
    force_feeds: bool = False  # --force: poll feeds even when not due
    recheck_window: timedelta = timedelta(days=7)  # re-check articles this young...
    recheck_interval: timedelta = timedelta(days=1)  # ...at most this often
    feed_min_interval: timedelta = timedelta(minutes=30)
    feed_max_interval: timedelta = timedelta(days=1)

    @classmethod
    def from_settings(cls, settings: Any) -> Policy:
        return cls(
            enabled=settings.getbool("ARCHIVER_INCREMENTAL"),
            recheck_all=settings.getbool("ARCHIVER_RECHECK"),
            backfill=settings.getbool("ARCHIVER_BACKFILL"),
            force_feeds=settings.getbool("ARCHIVER_FORCE"),
            recheck_window=timedelta(days=settings.getfloat("ARCHIVER_RECHECK_WINDOW_DAYS")),
            recheck_interval=timedelta(
                hours=settings.getfloat("ARCHIVER_RECHECK_INTERVAL_HOURS")),
            feed_min_interval=timedelta(seconds=settings.getfloat("ARCHIVER_FEED_MIN_INTERVAL")),
            feed_max_interval=timedelta(seconds=settings.getfloat("ARCHIVER_FEED_MAX_INTERVAL")),
        )


@dataclass(frozen=True)
class Previous:
    """The last full (response) capture of a URL: what a revisit record refers to."""

    url: str
    record_id: str
    fetched_at: str
    payload_digest: str
    etag: str | None
    last_modified: str | None


@dataclass(frozen=True)
class KnownArticle:
    canonical_url: str
    fetched_at: str
    date_published: str | None
    date_modified: str | None


@dataclass
class CrawlState:
    previous: dict[str, Previous] = field(default_factory=dict)
    # Captures by crawls that finished: only those may answer "not modified" for us, or
    # an interrupted crawl's unvisited links would never be walked again.
    validated: dict[str, Previous] = field(default_factory=dict)
    articles: dict[str, KnownArticle] = field(default_factory=dict)  # by url and canonical
    feeds: dict[str, tuple[str, int]] = field(default_factory=dict)  # last_fetched, unchanged
    redirects: dict[str, str] = field(default_factory=dict)  # permanent: url -> location
    lastmods: dict[str, str] = field(default_factory=dict)  # what sitemaps said last time
    gone: set[str] = field(default_factory=set)  # answered 404/410 and never 200

    @classmethod
    def load(cls, db_path: Path) -> CrawlState:
        state = cls()
        if not Path(db_path).exists():
            return state
        db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=30)
        try:
            tables = {r[0] for r in db.execute("select name from sqlite_master")}
            if "captures" not in tables or "feed_schedule" not in tables:
                return state
            for *row, finished in db.execute(
                    "select c.url, c.record_id, c.fetched_at, c.payload_digest, c.etag, "
                    "c.last_modified, r.finish_reason = 'finished' from captures c "
                    "left join crawl_runs r on r.run_id = c.crawl_run where c.status = 200 "
                    "and coalesce(c.record_type, 'response') = 'response' order by c.fetched_at"):
                state.previous[row[0]] = Previous(*row)
                if finished:
                    state.validated[row[0]] = state.previous[row[0]]
            for row in db.execute("select canonical_url, url, fetched_at, date_published, "
                                  "date_modified from articles"):
                known = KnownArticle(row[0], row[2], row[3], row[4])
                state.articles[row[0]] = state.articles[row[1]] = known
            for url, location in db.execute(
                    "select url, location from captures where status in (301, 308) "
                    "and location is not null order by fetched_at"):
                state.redirects[url] = clean_url(urljoin(url, location))
            state.gone = {url for (url,) in db.execute(
                "select url from captures group by url having max(status in (404, 410)) = 1 "
                "and max(status between 200 and 299) = 0")}
            for loc, lastmod in db.execute(
                    "select loc, lastmod from sitemap_entries order by last_seen"):
                state.lastmods[loc] = lastmod or ""
            for feed_url, last_fetched, unchanged in db.execute(
                    "select feed_url, last_fetched, unchanged_polls from feed_schedule"):
                state.feeds[feed_url] = (last_fetched, unchanged)
        finally:
            db.close()
        return state

    def article_urls(self, hosts: tuple[str, ...]) -> set[str]:
        """The canonical URLs of the archived articles on these hosts."""
        return {a.canonical_url for a in self.articles.values()
                if (urlsplit(a.canonical_url).hostname or "") in hosts}

    def resolve(self, url: str) -> str:
        """Where known permanent redirects (e.g. shortlinks) lead."""
        for _ in range(5):
            if url not in self.redirects:
                break
            url = self.redirects[url]
        return url

    def is_known_article(self, url: str) -> bool:
        return self.resolve(url) in self.articles

    def nothing_new_at(self, url: str) -> bool:
        """Known, or a dead link seen before: no reason to walk further for it."""
        return self.is_known_article(url) or self.resolve(url) in self.gone

    def conditional_headers(self, url: str) -> dict[str, str]:
        prev = self.validated.get(url)
        if prev is None:
            return {}
        headers = {}
        if prev.etag:
            headers["If-None-Match"] = prev.etag
        if prev.last_modified:
            headers["If-Modified-Since"] = prev.last_modified
        elif not prev.etag and (moment := parse_time(prev.fetched_at)):
            headers["If-Modified-Since"] = format_datetime(moment, usegmt=True)
        return headers

    def article_due(self, url: str, hints: dict[str, Any], now: datetime,
                    policy: Policy) -> str:
        """Why this article page should be fetched ("" = it should not)."""
        known = self.articles.get(self.resolve(url))
        if known is None or not policy.enabled:
            return "new"
        if policy.recheck_all:
            return "recheck requested"
        claimed = parse_time(hints.get("sitemap_lastmod") or "")
        if url in self.lastmods:  # the sitemap listed it before: has its lastmod moved?
            before = parse_time(self.lastmods[url])
            if claimed and (before is None or claimed > before):
                return "changed per sitemap"
        elif claimed and (ours := parse_time(known.date_modified or known.date_published
                                             or "")) and claimed > ours:
            return "changed per sitemap"
        published = parse_time(known.date_published or "")
        fetched = parse_time(known.fetched_at)
        if (published and fetched and now - published <= policy.recheck_window
                and now - fetched >= policy.recheck_interval):
            return "recent article re-check"
        return ""

    def feed_interval(self, url: str, policy: Policy) -> timedelta:
        """Doubles with each unchanged poll, within [min, max]; back to min on a change."""
        _, unchanged = self.feeds.get(url, ("", 0))
        interval = policy.feed_min_interval * (2 ** min(int(unchanged or 0), 20))
        return min(max(interval, policy.feed_min_interval), policy.feed_max_interval)

    def feed_due(self, url: str, now: datetime, policy: Policy) -> bool:
        if not policy.enabled or policy.force_feeds or url not in self.feeds:
            return True
        last = parse_time(self.feeds[url][0])
        return last is None or now >= last + self.feed_interval(url, policy)


def parse_time(value: str) -> datetime | None:
    """ISO-8601 (date or date-time, any offset) as an aware datetime; None if unreadable."""
    value = (value or "").strip()
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
