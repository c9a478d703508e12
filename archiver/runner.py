"""Run one crawl in this process with the project's settings (Scrapy glue).

`run_crawl` is what `archiver crawl` and `archiver demo` call: it layers the
user's `-s NAME=VALUE` overrides on `archiver.settings`, validates them,
sends the log to `DIR/logs/crawl-<time>.log`, runs the `digest` spider over
the given site profiles and returns the crawl's stats.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from scrapy.crawler import CrawlerProcess
from scrapy.settings import Settings

from archiver.config import ArchiverConfig, ConfigError
from archiver.index import IndexUnavailable
from archiver.lock import archive_lock
from archiver.profiles import SiteProfile
from archiver.rebuild import catch_up
from archiver.runs import exit_status, failed_requests

logger = logging.getLogger(__name__)


@dataclass
class CrawlResult:
    stats: dict[str, Any]
    log_file: Path
    config: ArchiverConfig

    @property
    def ok(self) -> bool:
        """The same judgement as the crawl_runs row's exit_status."""
        return not self.stats.get("archiver/failure") and exit_status(
            str(self.stats.get("finish_reason", "")),
            int(self.stats.get("downloader/response_count", 0)),
            int(self.stats.get("archiver/warc/write_error", 0)),
            failed_requests(self.stats)) == 0


def project_settings(archive: Path | None, overrides: Mapping[str, str]) -> Settings:
    settings = Settings()
    settings.setmodule("archiver.settings", priority="project")
    if archive is not None:
        settings.set("ARCHIVER_ARCHIVE_DIR", str(archive), priority="cmdline")
    for name, value in overrides.items():
        settings.set(name, value, priority="cmdline")
    return settings


def prepare_archive(archive: Path) -> None:
    """Create the archive folders; a clear ConfigError if that is impossible."""
    try:
        for sub in ("", "warcs", "logs"):
            (archive / sub).mkdir(parents=True, exist_ok=True)
        probe = archive / "logs" / f".write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise ConfigError(f"archive directory {archive} is not writable: {exc.strerror}") from None


def check_index(path: Path) -> None:
    """Refuse a corrupt or foreign `index.db` before anything is written (IndexUnavailable).

    A missing or empty file is fine (the crawl creates the index); a file that
    is not SQLite, or a SQLite database without the archiver's tables, is left
    exactly as it is.
    """
    if not path.exists() or path.stat().st_size == 0:
        return
    try:
        conn = sqlite3.connect(str(path), timeout=30)
    except sqlite3.Error as exc:
        raise IndexUnavailable(f"cannot use index {path}: {exc}") from None
    try:
        tables = {row[0] for row in conn.execute(
            "select name from sqlite_master where type = 'table'")}
    except sqlite3.DatabaseError as exc:
        raise IndexUnavailable(f"cannot use index {path}: {exc}") from None
    finally:
        conn.close()
    if tables and "articles" not in tables:
        raise IndexUnavailable(f"{path} is not a digest-archiver index (no articles table); "
                               "move it away or choose another --archive")


class _WarcWriteError(logging.Handler):
    """Remembers why a WARC write failed (archiver.capture logs it), for the one-line error."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.message = ""

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if not self.message and text.startswith("WARC write failed"):
            self.message = text.split("; stopping", 1)[0]


def run_crawl(sites: list[SiteProfile], archive: Path | None,
              overrides: Mapping[str, str] | None = None) -> CrawlResult:
    settings = project_settings(archive, overrides or {})
    config = ArchiverConfig.from_settings(settings)
    prepare_archive(config.archive_dir)
    if config.index_enabled:
        check_index(config.index_path)
    # A full disk must not turn the log file's own write errors into tracebacks on stderr.
    logging.raiseExceptions = False
    write_error = _WarcWriteError()
    logging.getLogger("archiver.capture").addHandler(write_error)
    try:
        result = _run_crawl(settings, sites, config)
    finally:
        logging.getLogger("archiver.capture").removeHandler(write_error)
    if write_error.message:
        result.stats["archiver/warc/write_error_message"] = write_error.message
    return result


def _run_crawl(settings: Settings, sites: list[SiteProfile],
               config: ArchiverConfig) -> CrawlResult:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    log_file = config.log_dir / f"crawl-{stamp}-{os.getpid()}.log"
    if not settings.get("LOG_FILE"):
        settings.set("LOG_FILE", str(log_file), priority="cmdline")
    else:
        log_file = Path(settings.get("LOG_FILE"))
    with archive_lock(config.archive_dir):
        if config.index_enabled and config.index_path.exists():
            added = catch_up(config.archive_dir, workers=config.extract_workers)
            if added:
                logger.warning("indexed %d captures an interrupted crawl left unindexed", added)
        return run_spider(settings, "digest", log_file, config, sites=sites)


def run_spider(settings: Settings, spider: str, log_file: Path, config: ArchiverConfig,
               **spider_args: Any) -> CrawlResult:
    """Run one spider in this process; a failure to start is kept in the stats, not raised."""
    process = CrawlerProcess(settings)
    crawler = process.create_crawler(spider)
    failures: list[str] = []

    def failed(failure: Any) -> None:
        logger.error("crawl failed: %s", failure.getTraceback())
        failures.append(failure.getErrorMessage())

    process.crawl(crawler, **spider_args).addErrback(failed)
    process.start()
    stats = crawler.stats.get_stats() if crawler.stats else {}
    if failures:
        stats["archiver/failure"] = failures[0]
    return CrawlResult(stats=stats, log_file=log_file, config=config)


