"""Scrapy glue: write every HTTP exchange to WARC at `response_downloaded`.

`response_downloaded` fires right after the download handler and before any
downloader middleware, so the body is still content-encoded and redirects,
errors and retries are all seen. The resulting `CaptureRef` is put in
`request.meta["archiver_capture"]` for the spider and the pipelines.

Scrapy swallows exceptions raised by signal handlers, so a failed WARC write
is made loud here: it is logged, counted (`archiver/warc/write_error`) and the
spider is closed with reason `warc_write_error` (house rule 4).
"""

from __future__ import annotations

import json
import logging
import shlex
import socket
import sys
import uuid
from datetime import UTC, datetime
from http import HTTPStatus
from importlib.metadata import version
from pathlib import Path
from urllib.parse import urlsplit

import scrapy
from scrapy import signals
from scrapy.crawler import Crawler
from scrapy.http import Request, Response
from scrapy.settings import SETTINGS_PRIORITIES
from scrapy.utils.defer import deferred_from_coro

from archiver import __version__
from archiver.cdxj import INDEX_DIR, RecordIndexer, index_closed_warc
from archiver.config import ArchiverConfig
from archiver.handler import META_WIRE, WireHead, partial_response
from archiver.runs import RUN_URI_PREFIX, run_fields
from archiver.warc import HttpExchange, Revisit, WarcWriter, payload_digest, warc_date
from archiver.wire import stored_head

logger = logging.getLogger(__name__)

# Sent once at the end of the crawl, after the run record is in the WARC: `fields`.
run_recorded = object()
# Sent after each exchange is safely in the WARC: handlers get `ref` (CaptureRef),
# `request`, `response` and `metadata` (the provenance fields written with it).
capture_written = object()

META_CAPTURE = "archiver_capture"
META_SOURCE = "archiver_source"
META_HINTS = "archiver_hints"
META_ROLE = "archiver_role"  # what the spider will do with the page: article, feed, ...
META_PREVIOUS = "archiver_previous"  # the URL's last full capture (incremental crawls)


def reason_phrase(status: int) -> str:
    """The standard phrase: only used when the handler could not keep the real one."""
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


def exchange_from_scrapy(
    request: Request, response: Response, fetched_at: datetime,
    wire: WireHead | None = None, truncated: str | None = None,
) -> HttpExchange:
    """Rebuild the exchange from what the download handler saw.

    With `wire` (from `archiver.handler`) the status line, response headers and
    request head are the bytes received and sent. Twisted has removed the
    chunked framing from the body, so Transfer-Encoding is left out of the
    stored head and the payload digest is the spec's (WARC.md C3, C5).
    Content-Encoding is untouched: HttpCompressionMiddleware has not run yet.
    Without `wire` (another handler) the head is rebuilt from Scrapy's headers.
    """
    parts = urlsplit(response.url)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    req_headers: list[tuple[bytes, bytes]] = [(b"Host", parts.netloc.encode("ascii"))]
    for name, values in request.headers.items():
        if name.lower() != b"host":
            req_headers.extend((name, v) for v in values)
    resp_headers = [(name, v) for name, values in response.headers.items() for v in values]
    protocol = response.protocol or "HTTP/1.1"
    reason, raw_head = reason_phrase(response.status), None
    if wire is not None:
        head = stored_head(wire.lines)
        protocol, reason, resp_headers, raw_head = (head.protocol, head.reason, head.headers,
                                                    head.raw)
    if truncated is None and "dataloss" in (response.flags or []):
        truncated = "disconnect"
    return HttpExchange(
        url=response.url,
        method=request.method,
        request_target=target,
        request_headers=req_headers,
        request_body=request.body,
        protocol=protocol,
        status=response.status,
        reason=reason,
        response_headers=resp_headers,
        body=response.body,
        fetched_at=fetched_at,
        ip_address=str(response.ip_address) if response.ip_address else None,
        truncated=truncated,
        raw_response_head=raw_head,
        raw_request_head=wire.request_head if wire is not None else None,
    )


def revisit_of(previous: dict[str, str] | None, ex: HttpExchange) -> Revisit | None:
    """A 304, or a 200 with the payload of the URL's last capture, becomes a revisit."""
    if not previous:
        return None
    if ex.status == 304:
        profile = "server-not-modified"
    elif ex.status == 200 and payload_digest(ex.body) == previous["payload_digest"]:
        profile = "identical-payload-digest"
    else:
        return None
    return Revisit(profile=profile, refers_to=previous["record_id"],
                   refers_to_uri=previous["url"], refers_to_date=previous["fetched_at"],
                   payload_digest=previous["payload_digest"])


class WarcCapture:
    """Extension owning the crawl's WarcWriter."""

    def __init__(self, writer: WarcWriter, crawler: Crawler, run_id: str) -> None:
        self.writer = writer
        self.crawler = crawler
        self.run_id = run_id
        self.failed = False
        self.cdxj = RecordIndexer()
        self._read_back: set[str] = set()  # files to index by reading them (a line failed)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> WarcCapture:
        cfg = ArchiverConfig.from_settings(crawler.settings)
        run_id = (
            datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + uuid.uuid4().hex[:8]
        )
        warcinfo = {
            "software": f"digest-archiver/{__version__} scrapy/{scrapy.__version__} "
            f"warcio/{version('warcio')}",
            "isPartOf": cfg.archive_dir.resolve().name,
            "robots": "obey" if crawler.settings.getbool("ROBOTSTXT_OBEY") else "ignore",
            "operator": cfg.warc_operator,
            "http-header-user-agent": crawler.settings.get("USER_AGENT"),
            "description": f"crawl run {run_id}",
        }
        writer = WarcWriter(
            cfg.warc_dir, prefix=cfg.warc_prefix, max_size=cfg.warc_max_size,
            gzip_level=cfg.warc_gzip_level,
            warcinfo=warcinfo, hostname=socket.gethostname(),
        )
        ext = cls(writer, crawler, run_id)
        index_dir = cfg.archive_dir / INDEX_DIR
        writer.on_record = ext.index_record
        writer.on_close = lambda path: ext.index_closed(path, index_dir)
        crawler.signals.connect(ext.response_downloaded, signal=signals.response_downloaded)
        crawler.signals.connect(ext.partial_response, signal=partial_response)
        crawler.signals.connect(ext.spider_closed, signal=signals.spider_closed)
        return ext

    def index_record(self, record: bytes, warc_name: str, offset: int, length: int) -> None:
        """The CDXJ line of a record just written; never fails the capture itself."""
        try:
            self.cdxj.add(record, warc_name, offset, length)
        except Exception as exc:
            self._read_back.add(warc_name)
            logger.warning("CDXJ line for a record at %s:%d failed (%s); the file will be "
                           "indexed by reading it", warc_name, offset, exc)

    def index_closed(self, path: Path, index_dir: Path) -> None:
        """CDXJ for a file just closed; a failure is soft (`archiver verify --repair` redoes it)."""
        try:
            if path.name in self._read_back:
                self.cdxj.discard(path.name)
                index_closed_warc(path, index_dir)
            else:
                out = self.cdxj.write(path.name, index_dir)
                logger.info("indexed %s into %s", path.name, out)
        except Exception as exc:
            self.crawler.stats.inc_value("archiver/cdxj/error")
            logger.error("could not index %s into CDXJ: %s (archiver verify --repair "
                         "writes it)", path.name, exc)

    def record_run(self, reason: str) -> None:
        """Write the crawl-run summary into the WARC (crawl_runs is rebuilt from it)."""
        settings = self.crawler.settings
        overrides = {k: settings[k] for k in settings
                     if settings.getpriority(k) >= SETTINGS_PRIORITIES["cmdline"]}
        files = len(self.writer.files_closed) + (1 if self.writer.current_file else 0)
        fields = run_fields(
            self.run_id, self.crawler.stats.get_stats() if self.crawler.stats else {},
            finish_reason=reason, finished_at=warc_date(datetime.now(UTC)),
            command=shlex.join(["archiver", *sys.argv[1:]]), settings=overrides,
            bytes_written=self.writer.bytes_written, warc_files=max(files, 1))
        try:
            self.writer.write_metadata(RUN_URI_PREFIX + self.run_id, fields)
        except OSError as exc:
            logger.error("could not write the crawl-run record: %s", exc)
            return
        self.crawler.signals.send_catch_log(run_recorded, fields=fields)

    def provenance(self, request: Request) -> dict[str, str]:
        source = request.meta.get(META_SOURCE) or {}
        hints = request.meta.get(META_HINTS) or {}
        spider = self.crawler.spider
        return {
            "spider": spider.name if spider else "",
            "crawl-run": self.run_id,
            "site": str(source.get("site", "")),
            "source-type": str(source.get("type", "")),
            "via": str(source.get("via", "")),
            "depth": str(request.meta.get("depth", 0)),
            "role": str(request.meta.get(META_ROLE, "")),
            "hints": json.dumps(hints, sort_keys=True, ensure_ascii=False) if hints else "",
        }

    def response_downloaded(self, response: Response, request: Request, spider) -> None:
        self._capture(request, response, request.meta.pop(META_WIRE, None), None)

    def partial_response(self, response: Response, request: Request, spider,
                         reason: str) -> None:
        """A body cut by DOWNLOAD_MAXSIZE or a dropped connection: archived, marked."""
        self.crawler.stats.inc_value(f"archiver/warc/truncated/{reason}")
        self._capture(request, response, request.meta.pop(META_WIRE, None), reason)

    def _capture(self, request: Request, response: Response, wire: WireHead | None,
                 truncated: str | None) -> None:
        stats = self.crawler.stats
        if self.failed:
            return
        try:
            ex = exchange_from_scrapy(request, response, datetime.now(UTC), wire, truncated)
            metadata = self.provenance(request)
            revisit = revisit_of(request.meta.get(META_PREVIOUS), ex) if not truncated else None
            ref = self.writer.write_exchange(ex, metadata, revisit)
        except Exception as exc:  # loud: data is at stake
            self.failed = True
            stats.inc_value("archiver/warc/write_error")
            logger.error("WARC write failed for %s: %s; stopping the crawl", response.url, exc,
                         exc_info=True)
            if self.crawler.engine is not None:
                deferred_from_coro(
                    self.crawler.engine.close_spider_async(reason="warc_write_error"))
            return
        stats.inc_value("archiver/warc/records")
        if revisit is not None:
            stats.inc_value(f"archiver/warc/revisit/{revisit.profile}")
            if ex.status == 304 and metadata.get("role") == "article":
                stats.inc_value("archiver/index/unchanged")  # the spider never sees a 304
        if truncated is None or "dataloss" in response.flags:
            request.meta[META_CAPTURE] = ref  # (a cut body's request fails next, as in Scrapy)
        stats.set_value("archiver/warc/bytes", self.writer.bytes_written)
        self.crawler.signals.send_catch_log(capture_written, ref=ref, request=request,
                                            response=response, metadata=metadata)

    def spider_closed(self, spider, reason: str) -> None:
        if not self.failed:
            self.record_run(reason)
        self.writer.close()
        stats = self.crawler.stats
        stats.set_value("archiver/warc/bytes", self.writer.bytes_written)
        stats.set_value("archiver/warc/files", len(self.writer.files_closed))
        stats.set_value("archiver/run_id", self.run_id)
