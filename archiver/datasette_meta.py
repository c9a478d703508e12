"""Datasette configuration for `archiver serve` (pure): descriptions, facets, canned queries.

Every table and column of the index is described here; a test checks the
list against the real schema, so a new column cannot go undocumented.
"""

from __future__ import annotations

from typing import Any

ARTICLES = {
    "canonical_url": "The article's canonical URL (tracking parameters and fragments removed)",
    "url": "The URL that was fetched",
    "site": "The site profile (or host) the article belongs to",
    "title": "Headline",
    "authors": "Authors (JSON array; also in article_authors)",
    "date_published": "Publication date as the page declares it (ISO-8601)",
    "date_published_source": "Where it came from: json-ld, meta, time, trafilatura, feed, "
                             "sitemap or url",
    "date_modified": "Last modification date as the page declares it",
    "date_modified_source": "Where the modification date came from",
    "site_name": "Site name declared by the page",
    "description": "Summary declared by the page",
    "categories": "Categories / sections (JSON array; also in article_categories)",
    "tags": "The article's own tags (JSON array; also in article_tags)",
    "language": "ISO 639-1 language code",
    "text": "Clean article text, boilerplate removed",
    "word_count": "Words in text",
    "image": "Lead image URL",
    "warc_file": "WARC file holding the response record",
    "warc_offset": "Byte offset of the response record in warc_file",
    "warc_length": "Compressed length in bytes of the response record",
    "record_id": "WARC-Record-ID of the response record (links to the raw record)",
    "payload_digest": "WARC-Payload-Digest of the response",
    "fetched_at": "When the page was fetched (WARC-Date, UTC)",
    "source_type": "How the page was found: feed, sitemap, listing, article, seed",
    "via": "The feed, sitemap or page that led to it",
    "indexed_at": "When the row was written",
    "fold_terms": "ASCII spellings of words with letters search cannot fold (Wałęsa → Walesa)",
    "published_month": "YYYY-MM of date_published, for monthly facets",
    "version_count": "Distinct versions archived (see article_versions); the row is the latest",
    "encoding": "The character encoding the page was decoded with for extraction",
    "encoding_source": "Why that encoding: bom, header, meta, detected (the bytes contradicted "
                       "or lacked a declaration) or default",
    "encoding_header": "Charset named by the HTTP Content-Type header, if any",
    "encoding_meta": "Charset the page declares in <meta charset> / http-equiv, if any",
    "encoding_detected": "Charset detected from the bytes (charset-normalizer), when asked",
}
CAPTURES = {
    "record_id": "WARC-Record-ID of the response record (links to the raw record)",
    "url": "The URL fetched",
    "status": "HTTP status code",
    "mime_type": "Content-Type of the response, without parameters",
    "length_bytes": "Length of the body as stored (still content-encoded), in bytes",
    "fetched_at": "WARC-Date of the exchange (UTC)",
    "warc_file": "WARC file holding the record",
    "warc_offset": "Byte offset of the record in warc_file",
    "warc_length": "Compressed length in bytes of the record",
    "payload_digest": "WARC-Payload-Digest",
    "site": "Site profile the request belonged to",
    "source_type": "How the URL was found: feed, sitemap, listing, article, seed, robots, guess",
    "via": "The page, feed or sitemap that led to it",
    "depth": "Links followed from a start URL",
    "role": "What the crawler did with it: article, feed, sitemap, listing, robots",
    "crawl_run": "The crawl run that fetched it",
    "record_type": "response (a full copy) or revisit (same payload as refers_to)",
    "refers_to": "For a revisit: the record holding the payload",
    "etag": "The response's ETag (sent back as If-None-Match)",
    "last_modified": "The response's Last-Modified (sent back as If-Modified-Since)",
    "location": "The Location of a redirect",
}
TABLES: dict[str, tuple[str, str, dict[str, str]]] = {
    "articles": ("Articles", "One row per article, keyed by canonical URL; text extracted "
                 "with trafilatura from the archived page.", ARTICLES),
    "captures": ("Captures", "Every HTTP response archived in the WARC files.", CAPTURES),
    "feed_items": ("Feed items", "Every RSS/Atom item seen in an archived feed.", {
        "feed_url": "The feed", "item_key": "The item's guid, or its link without one",
        "guid": "The item's guid / Atom id", "link": "The item's link (tracking removed)",
        "title": "The item's title", "item_date": "pubDate / published, ISO-8601 UTC",
        "categories": "The item's categories (JSON array)",
        "first_seen": "First archived feed that listed it", "last_seen": "Last one that did"}),
    "crawl_runs": ("Crawl runs", "One row per crawl, from the run record in the WARC.", {
        "run_id": "Crawl run id", "started_at": "Start (UTC)", "finished_at": "End (UTC)",
        "finish_reason": "Why it ended (finished, closespider_*, shutdown, ...)",
        "command": "The command line", "settings": "Settings given on the command line (JSON)",
        "pages_fetched": "HTTP responses archived", "articles_new": "Articles first indexed",
        "articles_changed": "Articles whose content changed",
        "articles_unchanged": "Articles fetched again without change",
        "articles_failed": "Article pages without an extractable article",
        "bytes_written": "WARC bytes written", "warc_files": "WARC files written to",
        "exit_status": "0 on success, 1 when the crawl did not finish cleanly"}),
    "article_failures": ("Failed article pages", "Pages the crawler took for articles but "
                         "that gave no article text, with the reason.", {
        "url": "The URL fetched", "record_id": "The response record",
        "site": "Site profile", "reason": "Why no article was extracted",
        "failed_at": "When it was fetched"}),
}
TABLES["article_versions"] = (
    "Article versions", "Every distinct version of an article, with what changed and a diff.", {
        "canonical_url": "The article", "version": "1 for the first capture, then +1 per change",
        "record_id": "The response record of this version", "fetched_at": "When it was fetched",
        "title": "Headline of this version", "date_published": "Publication date it declared",
        "date_modified": "Modification date it declared", "text": "Its text",
        "changes": "What changed from the previous version: title, body, dates, ...",
        "diff": "Unified diff of the text (and the title) against the previous version"})
TABLES["sitemap_entries"] = (
    "Sitemap entries", "Every URL an archived sitemap listed, with the lastmod it claimed.", {
        "sitemap_url": "The sitemap", "loc": "The URL listed", "lastmod": "Its claimed lastmod",
        "first_seen": "First archived sitemap that listed it", "last_seen": "Last one that did"})
for _entity, _link, _column, _what in (("authors", "article_authors", "author", "Author"),
                                        ("tags", "article_tags", "tag", "Tag"),
                                        ("categories", "article_categories", "category",
                                         "Category")):
    TABLES[_entity] = (f"{_what}s", f"Every {_what.lower()} name.", {"name": f"{_what} name"})
    TABLES[_link] = (f"Article {_what.lower()}s", f"Which article has which {_what.lower()}.", {
        "canonical_url": "The article", _column: f"{_what} name",
        "position": "Order on the page, from 0"})

QUERIES = {
    "search": {
        "title": "Ranked search",
        "description": "Full-text search (FTS5 syntax: \"a phrase\", AND/OR/NOT, prefix*), "
                       "best first (bm25), with the matching passage marked **like this**.",
        "sql": "with hits as (select rowid, rank, "
               "snippet(articles_fts, 1, '**', '**', ' … ', 24) as snippet "
               "from articles_fts where articles_fts match :q order by rank limit 100) "
               "select a.title, substr(a.date_published, 1, 10) as date, a.authors, "
               "hits.snippet, round(hits.rank, 3) as rank, a.canonical_url, a.record_id "
               "from hits join articles a on a.rowid = hits.rowid order by hits.rank",
    },
    "articles_per_month": {
        "title": "Articles per month per site",
        "sql": "select site, published_month as month, count(*) as articles from articles "
               "group by site, published_month order by published_month desc, site",
    },
    "changed_articles": {
        "title": "Articles that changed between crawls",
        "description": "Articles whose page was archived more than once with different "
                       "content (distinct payload digests of successful captures).",
        "sql": "select a.title, a.canonical_url, count(distinct c.payload_digest) as versions, "
               "min(c.fetched_at) as first_fetched, max(c.fetched_at) as last_fetched "
               "from articles a join captures c on c.url = a.url and c.status = 200 "
               "group by a.canonical_url having versions > 1 order by last_fetched desc",
    },
    "unarchived_feed_items": {
        "title": "Feed items never archived",
        "description": "Items a feed listed whose page is neither an article nor a "
                       "successful capture.",
        "sql": "select f.feed_url, f.title, f.link, f.item_date, f.first_seen from feed_items f "
               "where f.link not in (select canonical_url from articles) and f.link not in "
               "(select url from captures where status between 200 and 299) "
               "order by f.item_date desc",
    },
}


def metadata(database: str = "index") -> dict[str, Any]:
    tables: dict[str, Any] = {}
    for name, (title, description, columns) in TABLES.items():
        tables[name] = {"title": title, "description": description, "columns": columns}
    tables["articles"].update({
        "sort_desc": "date_published",
        "searchmode": "raw",
        "facets": ["site", {"array": "authors"}, {"array": "tags"}, {"array": "categories"},
                   "published_month"],
        "label_column": "title",
    })
    tables["captures"]["sort_desc"] = "fetched_at"
    tables["captures"]["facets"] = ["status", "role", "mime_type", "site"]
    tables["articles_fts"] = {"hidden": True}
    tables["feed_schedule"] = {  # a view over captures: the adaptive polling schedule
        "title": "Feed polling schedule",
        "description": "Per feed: last poll, last change, polls since (each unchanged poll "
                       "doubles the wait before the next, within the configured bounds).",
        "columns": {"feed_url": "The feed", "last_fetched": "Last poll",
                    "last_changed": "Last poll that found it changed",
                    "unchanged_polls": "Polls since it last changed", "polls": "All polls"}}
    return {
        "title": "digest-archiver",
        "description": "Articles archived from digest and news sites. Every article and "
                       "capture links to the exact WARC record it came from (record_id).",
        "databases": {database: {"tables": tables, "queries": QUERIES}},
    }
