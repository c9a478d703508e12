"""The index schema, created and upgraded through sqlite-utils migrations.

Every table here can be rebuilt from the WARC files (`archiver reindex`):
`captures` from response records, `articles` and its author/tag/category
tables from extraction, `feed_items` from archived feeds, `crawl_runs` from the
run record each crawl writes at its end. Migrations only ever add: never
`table.transform()` a table with FTS triggers (it drops them).
"""

from __future__ import annotations

import sqlite_utils
from sqlite_utils.migrations import Migrations

FTS_COLUMNS = ["title", "text", "authors", "tags", "fold_terms"]
# bm25 weights, one per FTS column: a hit in the title counts most.
FTS_WEIGHTS = (10.0, 1.0, 5.0, 3.0, 1.0)
# Many-to-many tables: list column of `articles` -> (entity table, link table, entity column)
LINKS = {
    "authors": ("authors", "article_authors", "author"),
    "tags": ("tags", "article_tags", "tag"),
    "categories": ("categories", "article_categories", "category"),
}

# How an article's bytes were decoded (archiver.extraction.Decoded), added by m004.
ENCODING_COLUMNS = ("encoding", "encoding_source", "encoding_header", "encoding_meta",
                    "encoding_detected")

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


@migrations()
def m002_captures_feeds_runs_links(db: sqlite_utils.Database) -> None:
    db["articles"].add_column("published_month", str)
    db["articles"].create_index(["published_month"])
    db["captures"].create(
        {
            "record_id": str, "url": str, "status": int, "mime_type": str, "length_bytes": int,
            "fetched_at": str, "warc_file": str, "warc_offset": int, "warc_length": int,
            "payload_digest": str, "site": str, "source_type": str, "via": str, "depth": int,
            "role": str, "crawl_run": str,
        },
        pk="record_id",
        not_null={"url", "status", "fetched_at", "warc_file"},
    )
    db["captures"].create_index(["url", "fetched_at"])
    db["feed_items"].create(
        {
            "feed_url": str, "item_key": str, "guid": str, "link": str, "title": str,
            "item_date": str, "categories": str, "first_seen": str, "last_seen": str,
        },
        pk=("feed_url", "item_key"),
    )
    db["feed_items"].create_index(["link"])
    db["crawl_runs"].create(
        {
            "run_id": str, "started_at": str, "finished_at": str, "finish_reason": str,
            "command": str, "settings": str, "pages_fetched": int, "articles_new": int,
            "articles_changed": int, "articles_unchanged": int, "articles_failed": int,
            "bytes_written": int, "warc_files": int, "exit_status": int,
        },
        pk="run_id",
    )
    db["article_failures"].create(
        {"url": str, "record_id": str, "site": str, "reason": str, "failed_at": str},
        pk="url",
    )
    for entity, link, column in LINKS.values():
        db[entity].create({"name": str}, pk="name")
        db[link].create(
            {"canonical_url": str, column: str, "position": int},
            pk=("canonical_url", column),
            foreign_keys=[("canonical_url", "articles", "canonical_url"),
                          (column, entity, "name")],
        )
        db[link].create_index([column])


# Unchanged feed polls since the feed last changed, from the captures alone: the adaptive
# polling schedule lives in the index and is rebuilt with it.
FEED_SCHEDULE_VIEW = """
with polls as (
    select url as feed_url, fetched_at, status, payload_digest,
           lag(payload_digest) over (partition by url order by fetched_at) as previous
    from captures where role = 'feed' and status in (200, 304)
), marked as (
    select *, case when status = 304 or payload_digest = previous then 0 else 1 end as changed
    from polls
), last_change as (
    select feed_url, max(case when changed = 1 then fetched_at end) as last_changed
    from marked group by feed_url
)
select m.feed_url, max(m.fetched_at) as last_fetched, l.last_changed,
       sum(case when m.fetched_at > coalesce(l.last_changed, '') then 1 else 0 end)
           as unchanged_polls,
       count(*) as polls
from marked m join last_change l using (feed_url)
group by m.feed_url
"""


@migrations()
def m003_history_and_revisits(db: sqlite_utils.Database) -> None:
    for column in ("record_type", "refers_to", "etag", "last_modified", "location"):
        db["captures"].add_column(column, str)
    db["sitemap_entries"].create(
        {"sitemap_url": str, "loc": str, "lastmod": str, "first_seen": str, "last_seen": str},
        pk=("sitemap_url", "loc"),
    )
    db["sitemap_entries"].create_index(["loc"])
    db["articles"].add_column("version_count", int)
    db["article_versions"].create(
        {
            "canonical_url": str, "version": int, "record_id": str, "fetched_at": str,
            "title": str, "date_published": str, "date_modified": str, "text": str,
            "changes": str, "diff": str,
        },
        pk=("canonical_url", "version"),
        foreign_keys=[("canonical_url", "articles", "canonical_url")],
    )
    db.create_view("feed_schedule", FEED_SCHEDULE_VIEW)


@migrations()
def m004_article_encoding(db: sqlite_utils.Database) -> None:
    """The encoding decision behind each article's text (add_column: FTS triggers stay)."""
    for column in ENCODING_COLUMNS:
        db["articles"].add_column(column, str)


@migrations()
def m005_fts_rank(db: sqlite_utils.Database) -> None:
    """Make FTS5's own `rank` our weighted bm25, so `ORDER BY rank LIMIT n` is done inside
    FTS5 and snippets are built for the n results only."""
    weights = ", ".join(str(w) for w in FTS_WEIGHTS)
    db.execute(f"insert into articles_fts(articles_fts, rank) values ('rank', 'bm25({weights})')")
