"""Plain data passed between the crawler, the WARC writer and the index."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class CaptureRef:
    """Where one HTTP response lives in the WARC files: enough to fetch the exact record."""

    url: str
    warc_file: str  # final file name (without the `.open` suffix used while writing)
    offset: int  # byte offset of the response record's gzip member
    length: int  # compressed length of that member
    record_id: str  # <urn:uuid:...>
    payload_digest: str  # sha1:BASE32 of the entity body, content-encoding kept
    fetched_at: str  # WARC-Date, ISO-8601 UTC
    status: int
    mime_type: str
    record_type: str = "response"  # or "revisit" (no body: see refers_to)
    refers_to: str = ""  # WARC-Refers-To of a revisit: the record holding the payload


@dataclass
class ArticleItem:
    """A fetched page the spider believes is an article, before extraction."""

    url: str
    html: bytes  # decoded (content-encoding removed) body
    capture: CaptureRef
    site: str
    source: dict[str, str] = field(default_factory=dict)  # how it was found
    hints: dict[str, Any] = field(default_factory=dict)  # feed/sitemap facts (dates, title)
    content_type: str = ""  # the response's Content-Type header (its charset counts)
    extracted: dict[str, Any] | None = None  # extraction fields, set by ExtractPipeline
    failure: str = ""  # why extraction gave no article (set by ExtractPipeline)


@dataclass
class FeedCapture:
    """The items of one archived feed response, for the `feed_items` table."""

    feed_url: str
    capture: CaptureRef
    items: list[Any] = field(default_factory=list)  # archiver.feeds.FeedItem


@dataclass
class SitemapCapture:
    """The entries of one archived `<urlset>` sitemap, for `sitemap_entries`."""

    sitemap_url: str
    capture: CaptureRef
    entries: list[tuple[str, str]] = field(default_factory=list)  # (loc, lastmod)
