"""The SQLite index (no Scrapy): schema through sqlite-utils migrations, upserts, FTS5 search.

`index.db` is a cache of the WARC files: every row points at its exact capture
(WARC file, offset, length, record id, payload digest). The database runs in
WAL mode so Datasette can read while a crawl writes; writes retry with
tenacity while another connection holds the lock.
"""

from __future__ import annotations

import json
import logging
import re
import sqlite3
from collections.abc import Iterable, Mapping
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlite_utils
from sqlite_utils.migrations import Migrations
from tenacity import retry, retry_if_exception, stop_after_delay, wait_exponential

from archiver.items import CaptureRef
from archiver.urls import clean_url, host_of

logger = logging.getLogger(__name__)

FTS_COLUMNS = ["title", "text", "authors", "tags", "fold_terms"]
# bm25 weights, one per FTS column: a hit in the title counts most.
FTS_WEIGHTS = (10.0, 1.0, 5.0, 3.0, 1.0)
# Letters that unicode61's remove_diacritics leaves alone (they do not decompose).
FOLD = str.maketrans({"ł": "l", "Ł": "L", "đ": "d", "Đ": "D", "ø": "o", "Ø": "O", "ß": "ss",
                      "æ": "ae", "Æ": "AE", "œ": "oe", "Œ": "OE", "ı": "i", "ħ": "h",
                      "þ": "th", "ð": "d"})
FOLD_WORD = re.compile(r"\w*[łŁđĐøØßæÆœŒıħþð]\w*")
LIST_COLUMNS = ("authors", "categories", "tags")

migrations = Migrations("archiver")


@migrations()
def m001_articles(db: sqlite_utils.Database) -> None:
    db["articles"].create(
        {
            "canonical_url": str, "url": str, "site": str, "title": str,
            "authors": str, "date_published": str, "date_published_source": str,
            "date_modified": str, "date_modified_source": str,
            "site_name": str, "description": str, "categories": str, "tags": str,
            "language": str, "text": str, "word_count": int, "image": str,
            "warc_file": str, "warc_offset": int, "warc_length": int,
            "record_id": str, "payload_digest": str, "fetched_at": str,
            "source_type": str, "via": str, "indexed_at": str, "fold_terms": str,
        },
        pk="canonical_url",
        not_null={"url", "title", "text", "warc_file", "record_id"},
    )
    db["articles"].create_index(["site", "date_published"])
    db["articles"].enable_fts(
        FTS_COLUMNS, tokenize="unicode61 remove_diacritics 2", create_triggers=True)


class IndexUnavailable(RuntimeError):
    """The index cannot be opened or used (corrupt, foreign or unwritable)."""


class SearchError(ValueError):
    """A search query SQLite FTS5 cannot parse."""


def _is_locked(exc: BaseException) -> bool:
    return isinstance(exc, sqlite3.OperationalError) and (
        "locked" in str(exc) or "busy" in str(exc))


retry_locked = retry(
    retry=retry_if_exception(_is_locked),
    wait=wait_exponential(multiplier=0.05, max=2.0),
    stop=stop_after_delay(120),
    reraise=True,
)


def utc_now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


URL_DATE = re.compile(r"/(\d{4})/(\d{2})/(\d{2})/")


def fold_terms(*texts: str) -> str:
    """ASCII spellings of words with letters FTS5 cannot fold (Wałęsa → Walesa).

    Indexed in a column of their own so "Walesa" finds "Wałęsa" while the
    text itself, and its snippets, keep the original spelling.
    """
    words = {w.translate(FOLD) for t in texts for w in FOLD_WORD.findall(t or "")}
    return " ".join(sorted(words))


def fallback_date(hints: Mapping[str, Any], url: str) -> tuple[str, str]:
    """A published date when the page declares none: feed item, sitemap, URL."""
    if hints.get("feed_date"):
        return str(hints["feed_date"]), "feed"
    if hints.get("sitemap_lastmod"):
        return str(hints["sitemap_lastmod"]), "sitemap"
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
        "source_type": source.get("type") or None,
        "via": source.get("via") or None,
    }
    for name in LIST_COLUMNS:
        row[name] = json.dumps(list(extracted.get(name) or []), ensure_ascii=False)
    row["fold_terms"] = fold_terms(row["title"], row["text"], row["authors"], row["tags"])
    return row


class Index:
    """`index.db`: open (creating or upgrading the schema), write, search."""

    def __init__(self, path: Path, *, create: bool = True) -> None:
        self.path = Path(path)
        if not create and not self.path.exists():
            raise IndexUnavailable(f"no index at {self.path}: crawl first (archiver crawl / demo)")
        try:
            conn = sqlite3.connect(str(self.path), timeout=30, check_same_thread=False)
            self.db = sqlite_utils.Database(conn)
            if create:
                self.db.enable_wal()
                retry_locked(migrations.apply)(self.db)
            elif not self.db["articles"].exists():
                raise IndexUnavailable(
                    f"{self.path} is not a digest-archiver index (no articles table)")
        except sqlite3.DatabaseError as exc:
            raise IndexUnavailable(f"cannot use index {self.path}: {exc}") from None

    def close(self) -> None:
        self.db.close()

    # -- writes -------------------------------------------------------------
    @retry_locked
    def upsert_articles(self, rows: Iterable[dict[str, Any]]) -> None:
        """Insert or update rows in one transaction (FTS kept in step by triggers)."""
        stamp = utc_now_iso()
        with self.db.conn:
            for row in rows:
                self.db["articles"].upsert({**row, "indexed_at": stamp}, pk="canonical_url")

    # -- reads --------------------------------------------------------------
    def count(self, table: str = "articles") -> int:
        return self.db[table].count

    def search(self, query: str, *, limit: int = 20) -> list[dict[str, Any]]:
        """FTS5 query language (phrases, AND/OR/NOT, prefix*), ranked by bm25."""
        weights = ", ".join(str(w) for w in FTS_WEIGHTS)
        sql = f"""
            select a.canonical_url as url, a.title, a.date_published, a.authors, a.site,
                   snippet(articles_fts, 1, '**', '**', ' … ', 16) as snippet,
                   bm25(articles_fts, {weights}) as rank
            from articles_fts join articles a on a.rowid = articles_fts.rowid
            where articles_fts match :query
            order by rank limit :limit
        """
        try:
            rows = list(self.db.query(sql, {"query": query, "limit": limit}))
        except sqlite3.OperationalError as exc:
            if _is_locked(exc):
                raise
            # Anything else SQLite says about a MATCH is about the query's syntax.
            raise SearchError(f"cannot parse search query {query!r}: {exc}") from None
        for row in rows:
            row["authors"] = json.loads(row["authors"] or "[]")
        return rows


def as_row(obj: Any) -> dict[str, Any]:
    """Dataclass or mapping to a plain dict."""
    return asdict(obj) if hasattr(obj, "__dataclass_fields__") else dict(obj)
