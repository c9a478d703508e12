"""Run one worker of a distributed crawl in this process (Scrapy glue).

`run_worker` is what `archiver worker` and `archiver crawl --redis` call: the
project's settings with the `--redis` layer on top, the archive prepared (no archive
lock: several workers may share one archive directory, each writing its own WARC files
named with its host and pid), `.open` files that dead workers of this host left
repaired, then the `redis_digest` spider until the frontier is drained.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

from archiver.config import ArchiverConfig
from archiver.distributed.frontier import connect
from archiver.distributed.settings import apply_redis
from archiver.runner import CrawlResult, prepare_archive, project_settings, run_spider
from archiver.warc import OPEN_SUFFIX

logger = logging.getLogger(__name__)


def repair_dead_files(archive: Path) -> list[str]:
    """Close the `.open` WARC files of dead writers *of this host* (another host's files
    may be live: their writers' pids mean nothing here)."""
    from archiver.repair import _writer_alive, repair_file
    from archiver.verify import scan_warc
    from archiver.warc import file_host

    done: list[str] = []
    here = file_host(socket.gethostname())
    for path in sorted((archive / "warcs").glob("*" + OPEN_SUFFIX)):
        parts = path.name.removesuffix(".warc.gz" + OPEN_SUFFIX).split("-", 4)
        if len(parts) == 5 and parts[4] == here and not _writer_alive(path):
            done += repair_file(scan_warc(path), archive / "indexes")
    return done


def run_worker(archive: Path | None, url: str, overrides: Mapping[str, str] | None = None,
               *, keep_alive: bool = False, worker_id: str = "") -> CrawlResult:
    settings = project_settings(archive, overrides or {})
    if keep_alive:
        settings.set("ARCHIVER_REDIS_KEEP_ALIVE", True, priority="cmdline")
    if worker_id:
        settings.set("ARCHIVER_REDIS_WORKER_ID", worker_id, priority="cmdline")
    apply_redis(settings, url)
    config = ArchiverConfig.from_settings(settings)
    connect(url).close()  # RedisUnavailable: one clear line, before anything is written
    prepare_archive(config.archive_dir)
    for line in repair_dead_files(config.archive_dir):
        logger.warning("repaired a dead worker's file: %s", line)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    log_file = config.log_dir / f"worker-{stamp}-{os.getpid()}.log"
    if settings.get("LOG_FILE"):
        log_file = Path(settings["LOG_FILE"])
    settings.set("LOG_FILE", str(log_file), priority="cmdline")
    logging.raiseExceptions = False
    return run_spider(settings, "redis_digest", log_file, config)
