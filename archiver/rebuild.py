"""Rebuild `index.db` from the WARC files alone (no Scrapy): `archiver reindex`.

Reads every response record with the metadata record tied to it, and turns
them into the same rows a crawl writes, with the same pure functions:
`captures` for every response, `articles` (or `article_failures`) for pages
the crawl treated as articles, `feed_items` for archived feeds, `crawl_runs`
from each crawl's run record. Article pages go to a process pool (one worker
per core) as a record's place in its file, not its bytes: each worker reads
the record, extracts and builds the row itself, so this process only scans
the files and writes rows. A bounded number of pages is in flight and results
are taken in WARC order. The new database is built beside the old one and
swapped in with one rename, so a reader never sees a half-built index.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import zlib
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Executor, Future
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path
from typing import Any

from warcio.archiveiterator import ArchiveIterator
from warcio.bufferedreaders import DecompressingBufferedReader
from warcio.exceptions import ArchiveLoadFailed

from archiver.extraction import extraction_pool, is_html, try_extract
from archiver.feeds import parse_feed
from archiver.index import Index
from archiver.items import CaptureRef
from archiver.rows import article_row, capture_row, feed_item_rows, sitemap_entry_rows
from archiver.runs import RUN_URI_PREFIX, parse_fields, run_row
from archiver.sitemaps import parse_sitemap
from archiver.warc import OPEN_SUFFIX, warc_paths

logger = logging.getLogger(__name__)


def decoded(headers: Any, raw: bytes) -> bytes:
    """The payload with Content-Encoding removed, as Scrapy hands it to a spider."""
    encoding = (headers.get_header("Content-Encoding") or "").strip().lower()
    if encoding not in ("gzip", "x-gzip", "deflate", "br"):
        return raw
    try:
        reader = DecompressingBufferedReader(BytesIO(raw),
                                             decomp_type=encoding.replace("x-", ""))
        return reader.read()
    except Exception:  # a broken encoding: keep what was stored
        return raw


@dataclass
class Capture:
    ref: CaptureRef
    metadata: dict[str, str]
    headers: Any  # warcio StatusAndHeaders of the HTTP response
    raw: bytes  # payload as stored (content-encoded)
    path: Path  # the WARC file holding the record (its name may end in .open)

    def body(self) -> bytes:
        return decoded(self.headers, self.raw)


def read_archive(warc_dir: Path, skip: dict[str, int] | None = None
                 ) -> Iterator[Capture | dict[str, str]]:
    """Captures (response + its metadata) and run records' fields, in WARC order.

    `skip` maps file names to the last indexed offset: files indexed before the newest
    one among them are not read at all (a catch-up reads only the tail).
    """
    paths = warc_paths(warc_dir)
    if skip:
        newest = max((p for p in paths if p.name.removesuffix(OPEN_SUFFIX) in skip),
                     default=None)
        paths = [p for p in paths if newest is None or p >= newest
                 or p.name.removesuffix(OPEN_SUFFIX) not in skip]
    for path in paths:
        try:
            yield from _read_file(path)
        except (ArchiveLoadFailed, EOFError, OSError, zlib.error) as exc:
            # a torn tail (a crash mid-write): keep what was read, say what was not
            logger.warning("%s: stopped reading at a damaged record (%s); "
                           "`archiver verify --repair` trims it", path.name, exc)


def _read_file(path: Path) -> Iterator[Capture | dict[str, str]]:
    name = path.name.removesuffix(OPEN_SUFFIX)
    pending: Capture | None = None
    with path.open("rb") as fh:
        records = ArchiveIterator(fh)
        for record in records:
            kind = record.rec_type
            headers = record.rec_headers
            block = record.content_stream().read() if kind == "metadata" else b""
            raw = record.raw_stream.read() if kind == "response" else b""
            records.read_to_end(record)
            if kind in ("response", "revisit"):
                if pending is not None:
                    yield pending
                http = record.http_headers
                ctype = (http.get_header("Content-Type") or "").split(";")[0]
                pending = Capture(
                    ref=CaptureRef(
                        url=headers.get_header("WARC-Target-URI"), warc_file=name,
                        offset=records.get_record_offset(),
                        length=records.get_record_length(),
                        record_id=headers.get_header("WARC-Record-ID"),
                        payload_digest=headers.get_header("WARC-Payload-Digest") or "",
                        fetched_at=headers.get_header("WARC-Date"),
                        status=int(http.get_statuscode() or 0),
                        mime_type=ctype.strip().lower(), record_type=kind,
                        refers_to=headers.get_header("WARC-Refers-To") or ""),
                    metadata={}, headers=http, raw=raw, path=path)
            elif kind == "metadata":
                target = headers.get_header("WARC-Target-URI") or ""
                if target.startswith(RUN_URI_PREFIX):
                    yield parse_fields(block)
                elif pending is not None and headers.get_header(
                        "WARC-Concurrent-To") == pending.ref.record_id:
                    pending.metadata = parse_fields(block)
                    yield pending
                    pending = None
    if pending is not None:
        yield pending


def is_article(capture: Capture) -> bool:
    """The crawl's own decision (its role), and a page Scrapy would hand to the spider."""
    return (capture.metadata.get("role") == "article" and capture.ref.record_type == "response"
            and 200 <= capture.ref.status < 300
            and is_html(capture.headers.get_header("Content-Type")))


def article_rows(pages: list[tuple[str, CaptureRef, dict[str, str]]]) -> list[tuple[str, dict]]:
    """`article_row` for each (path, ref, metadata), in a pool worker (a few per task)."""
    return [article_row_at(*page) for page in pages]


def article_row_at(path: str, ref: CaptureRef, meta: dict[str, str]) -> tuple[str, dict]:
    """("articles", row) or ("failures", row) for the article page at `ref` in `path`.

    Reads the one record (its gzip member) from the file, extracts, and builds
    the row the crawl would have written.
    """
    try:
        with open(path, "rb") as fh:
            fh.seek(ref.offset)
            record = next(iter(ArchiveIterator(BytesIO(fh.read(ref.length)))))
            if record.rec_headers.get_header("WARC-Record-ID") != ref.record_id:
                raise ArchiveLoadFailed(f"another record at offset {ref.offset}")
            http = record.http_headers
            body = decoded(http, record.raw_stream.read())
    except (OSError, ArchiveLoadFailed, StopIteration, EOFError, zlib.error) as exc:
        fields, reason = None, f"unreadable record in {Path(path).name}: {exc}"[:500]
    else:
        fields, reason = try_extract(body, ref.url, http.get_header("Content-Type"))
    if fields is not None:
        hints = json.loads(meta["hints"]) if meta.get("hints") else {}
        return "articles", article_row(fields, ref, site=meta.get("site", ""), source=meta,
                                       hints=hints)
    return "failures", {"url": ref.url, "record_id": ref.record_id,
                        "site": meta.get("site", ""), "reason": reason,
                        "failed_at": ref.fetched_at}


class _Serial:
    """An executor that runs in this process (workers=0), for comparison and debugging."""

    def submit(self, fn: Any, *args: Any) -> Future:
        future: Future = Future()
        future.set_result(fn(*args))
        return future

    def shutdown(self, wait: bool = True) -> None:
        pass


def load_captures(items: Iterator[Capture | dict[str, str]], index: Index, *, workers: int,
                  batch_size: int = 500, per_task: int = 4, in_flight: int = 16) -> None:
    """Write the rows of these captures and run records into `index`, in WARC order.

    Article pages go to the workers `per_task` at a time (fewer hand-offs), and
    up to `in_flight` pages per worker are queued: a record's place is a few
    bytes, and a deep queue keeps the workers busy while this process writes.
    """
    pool: Executor | _Serial = extraction_pool(workers) if workers > 0 else _Serial()
    window: deque[Future] = deque()
    pages: list[tuple[str, CaptureRef, dict[str, str]]] = []
    batch: dict[str, list[dict[str, Any]]] = {"articles": [], "captures": [], "feed_items": [],
                                              "failures": [], "runs": [],
                                              "sitemap_entries": []}

    def flush(force: bool = False) -> None:
        if force or sum(len(v) for v in batch.values()) >= batch_size:
            index.write(**batch)
            for rows in batch.values():
                rows.clear()

    def finish(future: Future) -> None:
        for kind, row in future.result():
            batch[kind].append(row)

    def submit() -> None:
        window.append(pool.submit(article_rows, pages.copy()))
        pages.clear()
        while len(window) * per_task > in_flight * max(workers, 1):
            finish(window.popleft())

    try:
        for item in items:
            if isinstance(item, dict):
                batch["runs"].append(run_row(item))
                continue
            validators = {name: item.headers.get_header(name) or ""
                          for name in ("etag", "last-modified", "location")}
            batch["captures"].append(capture_row(item.ref, item.metadata, len(item.raw),
                                                 validators))
            if (item.metadata.get("role") == "feed" and item.ref.record_type == "response"
                    and 200 <= item.ref.status < 300):
                items_ = parse_feed(item.body(), item.ref.url)
                batch["feed_items"] += feed_item_rows(item.ref.url, items_, item.ref.fetched_at)
            if (item.metadata.get("role") == "sitemap" and item.ref.record_type == "response"
                    and 200 <= item.ref.status < 300):
                kind, entries = parse_sitemap(item.body())
                if kind == "urlset":
                    batch["sitemap_entries"] += sitemap_entry_rows(
                        item.ref.url, entries, item.ref.fetched_at)
            if is_article(item):
                pages.append((str(item.path), item.ref, item.metadata))
                if len(pages) == per_task:
                    submit()
            flush()
        if pages:
            submit()
        while window:
            finish(window.popleft())
        flush(force=True)
        index.write(runs=interrupted_runs(index))
    finally:
        pool.shutdown(wait=True)


def interrupted_runs(index: Index) -> list[dict[str, Any]]:
    """Crawl runs known from their captures only (killed before their run record)."""
    rows = index.db.query(
        "select crawl_run, min(fetched_at) as started, max(fetched_at) as finished, "
        "count(*) as pages from captures where crawl_run is not null and crawl_run not in "
        "(select run_id from crawl_runs) group by crawl_run")
    return [{"run_id": r["crawl_run"], "started_at": r["started"], "finished_at": r["finished"],
             "finish_reason": "interrupted", "command": None, "settings": "{}",
             "pages_fetched": r["pages"], "articles_new": 0, "articles_changed": 0,
             "articles_unchanged": 0, "articles_failed": 0, "bytes_written": 0,
             "warc_files": 0, "exit_status": 1} for r in rows]


def rebuild(archive: Path, *, workers: int, batch_size: int = 500) -> dict[str, int]:
    """Build a fresh index from `archive/warcs` and swap it in; return row counts."""
    target = archive / "index.db"
    tmp = archive / f".index.db.rebuild-{os.getpid()}"
    for leftover in (tmp, Path(f"{tmp}-wal"), Path(f"{tmp}-shm")):
        leftover.unlink(missing_ok=True)
    index = Index(tmp)
    try:
        load_captures(read_archive(archive / "warcs"), index, workers=workers,
                      batch_size=batch_size)
        counts = {t: index.count(t) for t in ("articles", "captures", "feed_items",
                                              "crawl_runs", "article_failures")}
    except BaseException:
        index.close()
        tmp.unlink(missing_ok=True)
        raise
    _swap(index, tmp, target)
    return counts


def catch_up(archive: Path, *, workers: int) -> int:
    """Index what the WARCs hold but `index.db` does not (the tail of a killed crawl).

    Call it with the archive locked. `.open` files left by a dead crawl are repaired
    first (torn tail trimmed, closed); then every response, revisit and run record
    not yet in the index goes through the same path as a rebuild. Returns the number
    of captures added.
    """
    from archiver.repair import _writer_alive, repair_file  # noqa: PLC0415
    from archiver.verify import scan_warc  # noqa: PLC0415

    warcs = archive / "warcs"
    for path in warc_paths(warcs):
        if path.name.endswith(OPEN_SUFFIX) and not _writer_alive(path):
            for line in repair_file(scan_warc(path), archive / "indexes"):
                logger.warning("repaired after an interrupted crawl: %s", line)
    index = Index(archive / "index.db")
    try:
        before = index.count("captures")
        known = {r["warc_file"]: r["last"] for r in index.db.query(
            "select warc_file, max(warc_offset) as last from captures group by warc_file")}
        runs = {r["run_id"] for r in index.db.query("select run_id from crawl_runs")}
        # article pages captured but never extracted (the kill came first)
        orphans = {r["record_id"]: r["warc_file"] for r in index.db.query(
            "select record_id, warc_file from captures where role = 'article' "
            "and coalesce(record_type, 'response') = 'response' and status between 200 and 299 "
            "and url not in (select url from articles) "
            "and url not in (select canonical_url from articles) "
            "and url not in (select url from article_failures)")}
        skip = {name: last for name, last in known.items() if name not in orphans.values()}

        def missing() -> Iterator[Capture | dict[str, str]]:
            for item in read_archive(warcs, skip=skip):
                if isinstance(item, dict):
                    if item.get("run-id") not in runs:
                        yield item
                elif (item.ref.offset > known.get(item.ref.warc_file, -1)
                      or item.ref.record_id in orphans):
                    yield item

        load_captures(missing(), index, workers=workers)
        return index.count("captures") - before
    finally:
        index.close()


def _swap(index: Index, tmp: Path, target: Path) -> None:
    """Make `tmp` a single self-contained file, then rename it over `target` atomically."""
    index.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    index.db.execute("PRAGMA journal_mode=DELETE")
    index.close()
    if target.exists():
        try:  # fold the old database's WAL into it so no stale -wal outlives the swap
            old = sqlite3.connect(target, timeout=30)
            old.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            old.close()
        except sqlite3.DatabaseError:
            pass  # a corrupt or foreign old file is simply replaced
    os.replace(tmp, target)
    for suffix in ("-wal", "-shm"):
        Path(f"{target}{suffix}").unlink(missing_ok=True)
