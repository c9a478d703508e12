"""RSS 2.0 / RSS 1.0 / Atom parsing (pure, lxml): recover what a broken feed still holds."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from urllib.parse import urljoin, urlsplit

from lxml import etree

logger = logging.getLogger(__name__)

ATOM = "{http://www.w3.org/2005/Atom}"
DATE_FIELDS = ("published", "pubdate", "date", "issued", "updated", "modified")


@dataclass
class FeedItem:
    link: str
    guid: str = ""
    title: str = ""
    published: str = ""  # ISO-8601 UTC, "" when missing or impossible
    categories: list[str] = field(default_factory=list)


def _text(el) -> str:
    return "".join(el.itertext()).strip() if el is not None else ""


def _local(el) -> str:
    tag = el.tag if isinstance(el.tag, str) else ""
    return tag.rsplit("}", 1)[-1].lower()


def http_url(base_url: str, link: str) -> str:
    """`link` made absolute against `base_url` if it is an http(s) URL, else ""."""
    link = (link or "").strip()
    if not link:
        return ""
    try:
        url = urljoin(base_url, link)
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError:  # e.g. "Invalid IPv6 URL"
        return ""
    return url if parts.scheme in ("http", "https") and parts.hostname else ""


def parse_date(value: str) -> str:
    """RFC 822 or ISO-8601 date to ISO-8601 UTC; "" if it cannot be read."""
    value = (value or "").strip()
    if not value:
        return ""
    moment: datetime | None = None
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return ""
    if moment is None:
        return ""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def parse_feed(body: bytes, base_url: str) -> list[FeedItem]:
    """Items of an RSS or Atom feed, in document order; items without an http(s) link are
    skipped (and counted in the log), impossible dates are dropped."""
    parser = etree.XMLParser(recover=True, resolve_entities=False, no_network=True, huge_tree=False)
    try:
        root = etree.fromstring(body, parser)
    except (etree.XMLSyntaxError, ValueError):
        root = None
    if root is None:
        logger.warning("feed %s could not be parsed at all", base_url)
        return []
    items: list[FeedItem] = []
    skipped = undated = 0
    for el in root.iter():
        kind = _local(el)
        if kind not in ("item", "entry"):
            continue
        children = {_local(c): c for c in el}
        link = ""
        if kind == "entry":
            for c in el.iter(f"{ATOM}link"):
                if c.get("rel", "alternate") == "alternate" and c.get("href"):
                    link = c.get("href", "")
                    break
        else:
            link = _text(children.get("link")) or el.get(
                "{http://www.w3.org/1999/02/22-rdf-syntax-ns#}about", "")
        link = http_url(base_url, link)
        if not link:
            skipped += 1
            continue
        date = ""
        named = [n for n in DATE_FIELDS if n in children and _text(children[n])]
        for name in named:
            if date := parse_date(_text(children[name])):
                break
        if named and not date:
            undated += 1
        cats = [c.get("term") or _text(c) for c in el if _local(c) in ("category", "subject")]
        items.append(FeedItem(
            link=link,
            guid=_text(children.get("guid")) or _text(children.get("id")),
            title=_text(children.get("title")),
            published=date,
            categories=[c.strip() for c in cats if c and c.strip()],
        ))
    if skipped:
        logger.warning("feed %s: %d items without a link skipped", base_url, skipped)
    if undated:
        logger.warning("feed %s: %d items with an impossible or unreadable date kept without "
                       "one", base_url, undated)
    return items


def feed_links(html_head_links: list[tuple[str, str, str]], base_url: str) -> list[str]:
    """Feed URLs from (rel, type, href) triples of <link> elements."""
    wanted = ("application/rss+xml", "application/atom+xml", "application/rdf+xml")
    return [urljoin(base_url, href) for rel, typ, href in html_head_links
            if "alternate" in rel.lower().split() and typ.lower() in wanted and href]
