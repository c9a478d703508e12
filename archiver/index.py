"""The SQLite index (no Scrapy): rows from captures and extraction, writes, search.

`index.db` is a cache of the WARC files: every row points at its exact capture
(WARC file, offset, length, record id, payload digest). The database runs in
WAL mode so Datasette can read while a crawl writes; writes retry with
tenacity while another connection holds the lock. Rows are built by pure
functions (`article_row`, `capture_row`, `feed_item_rows`) shared by the
crawl and by `archiver reindex`, so both give the same rows.
"""

from __future__ import annotations

import difflib
import json
import logging
import re
import sqlite3
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlite_utils
from tenacity import retry, retry_if_exception, stop_after_delay, wait_exponential

from archiver.feeds import parse_date
from archiver.items import CaptureRef
from archiver.schema import ENCODING_COLUMNS, LINKS, migrations
from archiver.urls import clean_url, host_of

logger = logging.getLogger(__name__)

# Letters that unicode61's remove_diacritics leaves alone (they do not decompose).
FOLD = str.maketrans({"ł": "l", "Ł": "L", "đ": "d", "Đ": "D", "ø": "o", "Ø": "O", "ß": "ss",
                      "æ": "ae", "Æ": "AE", "œ": "oe", "Œ": "OE", "ı": "i", "ħ": "h",
                      "þ": "th", "ð": "d"})
FOLD_WORD = re.compile(r"\w*[łŁđĐøØßæÆœŒıħþð]\w*")
URL_DATE = re.compile(r"/(\d{4})/(\d{2})/(\d{2})/")
# Columns whose change makes a new version of an article (capture and bookkeeping aside).
CONTENT_COLUMNS = ("title", "text", "authors", "tags", "categories", "date_published",
                   "date_modified", "description")


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


def _insert(conn: sqlite3.Connection, table: str, rows: Sequence[dict]) -> None:
    if rows:
        columns = list(rows[0])
        conn.executemany(
            f"insert into {table} ({', '.join(f'[{c}]' for c in columns)}) "
            f"values ({', '.join('?' * len(columns))})",
            [[row[c] for c in columns] for row in rows])


def _upsert(conn: sqlite3.Connection, table: str, rows: Sequence[dict],
            pk: tuple[str, ...]) -> None:
    """Insert or update by primary key (tables without FTS triggers)."""
    if rows:
        columns = list(rows[0])
        updates = ", ".join(f"[{c}] = excluded.[{c}]" for c in columns if c not in pk)
        conn.executemany(
            f"insert into {table} ({', '.join(f'[{c}]' for c in columns)}) "
            f"values ({', '.join('?' * len(columns))}) "
            f"on conflict ({', '.join(pk)}) do update set {updates}",
            [[row[c] for c in columns] for row in rows])


def _upsert_seen(conn: sqlite3.Connection, table: str, rows: Sequence[dict],
                 pk: tuple[str, ...]) -> None:
    """Upsert keeping the first and last sighting, and the newest sighting's facts."""
    if rows:
        columns = list(rows[0])
        newer = f"excluded.last_seen >= {table}.last_seen"
        updates = [f"[{c}] = case when {newer} then excluded.[{c}] else {table}.[{c}] end"
                   for c in columns if c not in (*pk, "first_seen", "last_seen")]
        updates += [f"first_seen = min({table}.first_seen, excluded.first_seen)",
                    f"last_seen = max({table}.last_seen, excluded.last_seen)"]
        conn.executemany(
            f"insert into {table} ({', '.join(f'[{c}]' for c in columns)}) "
            f"values ({', '.join('?' * len(columns))}) "
            f"on conflict ({', '.join(pk)}) do update set {', '.join(updates)}",
            [[row[c] for c in columns] for row in rows])


class Index:
    """`index.db`: open (creating or upgrading the schema), write, search."""

    def __init__(self, path: Path, *, create: bool = True) -> None:
        self.path = Path(path)
        if not create and not self.path.exists():
            raise IndexUnavailable(f"no index at {self.path}: crawl first (archiver crawl / demo)")
        try:
            conn = sqlite3.connect(str(self.path), timeout=30, check_same_thread=False)
            self.db = sqlite_utils.Database(conn)
            if not create and not self.db["articles"].exists():
                raise IndexUnavailable(
                    f"{self.path} is not a digest-archiver index (no articles table)")
            if create or migrations.pending(self.db):
                self.db.enable_wal()
                retry_locked(migrations.apply)(self.db)
        except sqlite3.DatabaseError as exc:
            raise IndexUnavailable(f"cannot use index {self.path}: {exc}") from None

    def close(self) -> None:
        self.db.close()

    # -- writes -------------------------------------------------------------
    @retry_locked
    def write(self, *, articles: Sequence[dict] = (), captures: Sequence[dict] = (),
              feed_items: Sequence[dict] = (), runs: Sequence[dict] = (),
              failures: Sequence[dict] = (), sitemap_entries: Sequence[dict] = ()
              ) -> Counter[str]:
        """Write a batch in one transaction; count articles new, changed, unchanged, stale.

        Plain SQL with executemany on this hot path (sqlite-utils' table helpers
        introspect the schema on every call).
        """
        outcome: Counter[str] = Counter()
        stamp = utc_now_iso()
        conn = self.db.conn
        with conn:
            _upsert(conn, "captures", captures, ("record_id",))
            _upsert_seen(conn, "feed_items", feed_items, ("feed_url", "item_key"))
            _upsert_seen(conn, "sitemap_entries", sitemap_entries, ("sitemap_url", "loc"))
            for row in articles:
                outcome[self._article(conn, row, stamp)] += 1
            if articles:
                conn.executemany("delete from article_failures where url = ?",
                                 [(row["url"],) for row in articles])
            _upsert(conn, "article_failures", failures, ("url",))
            _upsert(conn, "crawl_runs", runs, ("run_id",))
        return outcome

    def _article(self, conn: sqlite3.Connection, row: dict, stamp: str) -> str:
        cursor = conn.execute("select * from articles where canonical_url = ?",
                              [row["canonical_url"]])
        found = cursor.fetchone()
        old = dict(zip([d[0] for d in cursor.description], found, strict=True)) if found else None
        if old is not None and old["fetched_at"] > row["fetched_at"]:
            return "stale"  # an older capture never replaces a newer one
        outcome = "new" if old is None else (
            "unchanged" if all(old[c] == row[c] for c in CONTENT_COLUMNS) else "changed")
        versions = (old or {}).get("version_count") or 0
        if outcome != "unchanged":
            versions += 1
            _insert(conn, "article_versions", [version_row(old, row, versions)])
        row = {**row, "version_count": versions, "indexed_at": stamp}
        if old is None:
            _insert(conn, "articles", [row])
        else:  # UPDATE, not REPLACE: the rowid (and the FTS row) stays the same
            columns = [c for c in row if c != "canonical_url"]
            conn.execute(f"update articles set {', '.join(f'[{c}] = ?' for c in columns)} "
                         "where canonical_url = ?",
                         [row[c] for c in columns] + [row["canonical_url"]])
        for column, (entity, link, name) in LINKS.items():
            values = list(dict.fromkeys(json.loads(row[column] or "[]")))
            conn.execute(f"delete from {link} where canonical_url = ?", [row["canonical_url"]])
            conn.executemany(f"insert or ignore into {entity} (name) values (?)",
                             [(v,) for v in values])
            conn.executemany(f"insert into {link} (canonical_url, [{name}], position) "
                             "values (?, ?, ?)",
                             [(row["canonical_url"], v, i) for i, v in enumerate(values)])
        return outcome

    def upsert_articles(self, rows: Iterable[dict[str, Any]]) -> Counter[str]:
        return self.write(articles=list(rows))

    # -- reads --------------------------------------------------------------
    def count(self, table: str = "articles") -> int:
        return self.db[table].count

    def search(self, query: str, *, limit: int = 20, site: str | None = None,
               author: str | None = None, tag: str | None = None,
               since: str | None = None, until: str | None = None) -> list[dict[str, Any]]:
        """FTS5 query language (phrases, AND/OR/NOT, prefix*), ranked by bm25, filtered."""
        where, params = article_filters(site=site, author=author, tag=tag, since=since,
                                        until=until)
        # FTS5 sorts by its `rank` (our weighted bm25, see schema.m005) and stops at
        # the limit; the filters narrow the match inside FTS5 through the rowid.
        narrow = ("and rowid in (select a.rowid from articles a where "
                  + " and ".join(where) + ")") if where else ""
        sql = f"""
            with hits as (
                select rowid, rank, snippet(articles_fts, 1, '**', '**', ' … ', 16) as snippet
                from articles_fts where articles_fts match :query {narrow}
                order by rank limit :limit
            )
            select a.canonical_url as url, a.title, a.date_published, a.authors, a.tags,
                   a.site, hits.snippet, hits.rank
            from hits join articles a on a.rowid = hits.rowid
            order by hits.rank
        """
        try:
            rows = list(self.db.query(sql, {"query": query, "limit": limit, **params}))
        except sqlite3.OperationalError as exc:
            if _is_locked(exc):
                raise
            # Anything else SQLite says about a MATCH is about the query's syntax.
            raise SearchError(f"cannot parse search query {query!r}: {exc}") from None
        for row in rows:
            row["authors"] = json.loads(row["authors"] or "[]")
            row["tags"] = json.loads(row["tags"] or "[]")
        return rows

    def stats(self) -> dict[str, Any]:
        """Per-site counts and date ranges, the last crawl run, table sizes."""
        sites = list(self.db.query(
            "select site, count(*) as articles, min(substr(date_published, 1, 10)) as first, "
            "max(substr(date_published, 1, 10)) as last, max(fetched_at) as last_fetched "
            "from articles group by site order by site"))
        last = next(iter(self.db.query(
            "select * from crawl_runs order by finished_at desc limit 1")), None)
        return {"sites": sites, "last_crawl": last, "articles": self.count("articles"),
                "captures": self.count("captures"), "feed_items": self.count("feed_items")}

    def articles(self, **filters: str | None) -> Iterable[dict[str, Any]]:
        """Articles (newest first) matching the same filters as search, for export."""
        where, params = article_filters(**filters)
        sql = ("select * from articles a" + (" where " + " and ".join(where) if where else "")
               + " order by a.date_published desc, a.canonical_url")
        for row in self.db.query(sql, params):
            row.pop("fold_terms", None)
            yield row


def article_filters(*, site: str | None = None, author: str | None = None,
                    tag: str | None = None, since: str | None = None,
                    until: str | None = None) -> tuple[list[str], dict[str, str]]:
    """SQL conditions on `articles a` for the CLI filters (dates compare as ISO text)."""
    where, params = [], {}
    if site:
        where.append("a.site = :site")
        params["site"] = site
    if author:
        where.append("a.canonical_url in (select canonical_url from article_authors "
                     "where author = :author collate nocase)")
        params["author"] = author
    if tag:
        where.append("a.canonical_url in (select canonical_url from article_tags "
                     "where tag = :tag collate nocase)")
        params["tag"] = tag
    if since:
        where.append("substr(a.date_published, 1, 10) >= :since")
        params["since"] = since
    if until:
        where.append("substr(a.date_published, 1, 10) <= :until")
        params["until"] = until
    return where, params
