"""Index rows (pure): what the crawl and `archiver reindex` both write, from the same facts.

Every function here turns archived facts (a capture, its provenance metadata,
extraction fields, a feed or sitemap) into plain `dict` rows, so a live crawl
and a rebuild from the WARCs produce identical rows by construction.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

from archiver.feeds import parse_date
from archiver.items import CaptureRef
from archiver.schema import ENCODING_COLUMNS, LINKS
from archiver.urls import clean_url, host_of

# Letters that unicode61's remove_diacritics leaves alone (they do not decompose).
FOLD = str.maketrans({"ł": "l", "Ł": "L", "đ": "d", "Đ": "D", "ø": "o", "Ø": "O", "ß": "ss",
                      "æ": "ae", "Æ": "AE", "œ": "oe", "Œ": "OE", "ı": "i", "ħ": "h",
                      "þ": "th", "ð": "d"})
FOLD_CHAR = re.compile("[" + "".join(map(chr, FOLD)) + "]")
WORD_TAIL = re.compile(r"\w*")
URL_DATE = re.compile(r"/(\d{4})/(\d{2})/(\d{2})/")
# Columns whose change makes a new version of an article (capture and bookkeeping aside).
CONTENT_COLUMNS = ("title", "text", "authors", "tags", "categories", "date_published",
                   "date_modified", "description")


def fold_terms(*texts: str) -> str:
    """ASCII spellings of words with letters FTS5 cannot fold (Wałęsa → Walesa).

    Indexed in a column of their own so "Walesa" finds "Wałęsa" while the
    text itself, and its snippets, keep the original spelling.
    """
    words = {w.translate(FOLD) for t in texts for w in _fold_words(t or "")}
    return " ".join(sorted(words))


def _fold_words(text: str) -> Iterable[str]:
    """The words of `text` holding a FOLD letter (what `\\w*[łø...]\\w*` finds).

    Found from the letters outward: a regular expression that starts with
    `\\w*` tries every position of every word, a cost paid on every article.
    """
    end = -1
    for match in FOLD_CHAR.finditer(text):
        if match.start() < end:
            continue  # a second such letter in the word just found
        start = match.start()
        while start and (text[start - 1].isalnum() or text[start - 1] == "_"):
            start -= 1
        end = WORD_TAIL.match(text, match.end()).end()
        yield text[start:end]


def fallback_date(hints: Mapping[str, Any], url: str) -> tuple[str, str]:
    """A published date when the page declares none: feed item, sitemap, URL."""
    if hints.get("feed_date"):
        return str(hints["feed_date"]), "feed"
    if hints.get("sitemap_lastmod") and (lastmod := parse_date(str(hints["sitemap_lastmod"]))):
        return lastmod, "sitemap"  # an impossible date (2024-13-45) is no date
    if match := URL_DATE.search(url):
        return "-".join(match.groups()), "url"
    return "", ""


def article_row(extracted: Mapping[str, Any], capture: CaptureRef, *, site: str,
                source: Mapping[str, str] | None = None,
                hints: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """One `articles` row from extraction fields and the capture behind them.

    The key is the page's declared canonical URL when it is on the same host
    as the fetched URL (a foreign canonical is not trusted), else the fetched
    URL, both cleaned of tracking parameters and fragments.
    """
    canonical = extracted.get("canonical_url") or ""
    if not canonical or host_of(canonical) != host_of(capture.url):
        canonical = capture.url
    source = source or {}
    published = extracted.get("date_published") or ""
    published_source = extracted.get("date_published_source") or ""
    if not published:
        published, published_source = fallback_date(hints or {}, capture.url)
    row: dict[str, Any] = {
        "canonical_url": clean_url(canonical),
        "url": capture.url,
        "site": site,
        "title": extracted.get("title") or "",
        "date_published": published or None,
        "date_published_source": published_source or None,
        "published_month": published[:7] if len(published) >= 7 else None,
        "date_modified": extracted.get("date_modified") or None,
        "date_modified_source": extracted.get("date_modified_source") or None,
        "site_name": extracted.get("site_name") or None,
        "description": extracted.get("description") or None,
        "language": extracted.get("language") or None,
        "text": extracted.get("text") or "",
        "word_count": extracted.get("word_count") or 0,
        "image": extracted.get("image") or None,
        "warc_file": capture.warc_file,
        "warc_offset": capture.offset,
        "warc_length": capture.length,
        "record_id": capture.record_id,
        "payload_digest": capture.payload_digest,
        "fetched_at": capture.fetched_at,
        "source_type": source.get("source-type") or source.get("type") or None,
        "via": source.get("via") or None,
    }
    for name in LINKS:
        row[name] = json.dumps(list(extracted.get(name) or []), ensure_ascii=False)
    for name in ENCODING_COLUMNS:  # how the page's bytes were decoded (schema m004)
        row[name] = extracted.get(name) or None
    row["fold_terms"] = fold_terms(row["title"], row["text"], row["authors"], row["tags"])
    return row


def capture_row(ref: CaptureRef, metadata: Mapping[str, str], length_bytes: int,
                validators: Mapping[str, str] | None = None) -> dict:
    """One `captures` row: a response or revisit record and how its URL was found.

    `validators` are the response's ETag and Last-Modified (for conditional requests)
    and Location (a redirect: shortlinks of known articles are not followed again).
    """
    depth = str(metadata.get("depth") or "0")
    validators = validators or {}
    return {
        "record_type": ref.record_type, "refers_to": ref.refers_to or None,
        "etag": validators.get("etag") or None,
        "last_modified": validators.get("last-modified") or None,
        "location": validators.get("location") or None,
        "record_id": ref.record_id, "url": ref.url, "status": ref.status,
        "mime_type": ref.mime_type or None, "length_bytes": length_bytes,
        "fetched_at": ref.fetched_at, "warc_file": ref.warc_file, "warc_offset": ref.offset,
        "warc_length": ref.length, "payload_digest": ref.payload_digest,
        "site": metadata.get("site") or None, "source_type": metadata.get("source-type") or None,
        "via": metadata.get("via") or None, "depth": int(depth) if depth.isdigit() else 0,
        "role": metadata.get("role") or None, "crawl_run": metadata.get("crawl-run") or None,
    }


def feed_item_rows(feed_url: str, items: Iterable[Any], seen_at: str) -> list[dict]:
    """`feed_items` rows from parsed feed items (archiver.feeds.FeedItem)."""
    rows = []
    for item in items:
        rows.append({
            "feed_url": feed_url, "item_key": item.guid or item.link, "guid": item.guid or None,
            "link": clean_url(item.link), "title": item.title or None,
            "item_date": item.published or None,
            "categories": json.dumps(item.categories, ensure_ascii=False),
            "first_seen": seen_at, "last_seen": seen_at,
        })
    return rows


def version_row(old: Mapping[str, Any] | None, new: Mapping[str, Any], number: int) -> dict:
    """An `article_versions` row: what changed since the previous version, with a text diff."""
    if old is None:
        changes, diff = ["first capture"], ""
    else:
        changes = [name for name in CONTENT_COLUMNS if old[name] != new[name]]
        changes = ["body" if c == "text" else c for c in changes]
        lines = difflib.unified_diff(
            (old["text"] or "").splitlines(), (new["text"] or "").splitlines(),
            fromfile=f"version {number - 1} ({old['fetched_at']})",
            tofile=f"version {number} ({new['fetched_at']})", lineterm="", n=1)
        diff = "\n".join(lines)
        if old["title"] != new["title"]:
            diff = f"title: {old['title']!r} → {new['title']!r}\n" + diff
    return {
        "canonical_url": new["canonical_url"], "version": number,
        "record_id": new["record_id"], "fetched_at": new["fetched_at"], "title": new["title"],
        "date_published": new["date_published"], "date_modified": new["date_modified"],
        "text": new["text"], "changes": ", ".join(changes), "diff": diff,
    }


def sitemap_entry_rows(sitemap_url: str, entries: Iterable[tuple[str, str]],
                       seen_at: str) -> list[dict]:
    """`sitemap_entries` rows: what a sitemap said each URL's lastmod was, and when."""
    return [{"sitemap_url": sitemap_url, "loc": clean_url(loc), "lastmod": lastmod or None,
             "first_seen": seen_at, "last_seen": seen_at} for loc, lastmod in entries]
