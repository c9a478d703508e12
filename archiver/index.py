"""The SQLite index (no Scrapy): rows from captures and extraction, writes, search.

`index.db` is a cache of the WARC files: every row points at its exact capture
(WARC file, offset, length, record id, payload digest). The database runs in
WAL mode so Datasette can read while a crawl writes; writes retry with
tenacity while another connection holds the lock. The rows themselves
are built by the pure functions of `archiver.rows`, shared by the crawl and
by `archiver reindex`, so both give the same rows.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlite_utils
from tenacity import retry, retry_if_exception, stop_after_delay, wait_exponential

from archiver.rows import CONTENT_COLUMNS, version_row
from archiver.schema import LINKS, migrations

logger = logging.getLogger(__name__)


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


def _insert(conn: sqlite3.Connection, table: str, rows: Sequence[dict],
            on_conflict: str = "") -> None:
    """executemany of one INSERT (plus an optional ON CONFLICT clause) over dict rows."""
    if rows:
        columns = list(rows[0])
        conn.executemany(
            f"insert into {table} ({', '.join(f'[{c}]' for c in columns)}) "
            f"values ({', '.join('?' * len(columns))}) {on_conflict}",
            [[row[c] for c in columns] for row in rows])


def _upsert(conn: sqlite3.Connection, table: str, rows: Sequence[dict],
            pk: tuple[str, ...]) -> None:
    """Insert or update by primary key (tables without FTS triggers)."""
    if rows:
        updates = ", ".join(f"[{c}] = excluded.[{c}]" for c in rows[0] if c not in pk)
        _insert(conn, table, rows, f"on conflict ({', '.join(pk)}) do update set {updates}")


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
        _insert(conn, table, rows,
                f"on conflict ({', '.join(pk)}) do update set {', '.join(updates)}")


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
            # WAL + synchronous=NORMAL: no corruption on power loss, at worst the last
            # transactions are lost, and the next crawl's catch-up re-indexes them from
            # the WARCs (the source of truth); commits then cost no fsync each.
            self.db.execute("PRAGMA synchronous = NORMAL")
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
