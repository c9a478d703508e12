"""Crawl-run records (pure): what a crawl did, written into the WARC and into `crawl_runs`.

At the end of each crawl the capture extension writes these fields as a
`metadata` record (target `urn:x-archiver:crawl-run:<id>`), so `crawl_runs`
can be rebuilt from the WARCs alone; the live index gets the same row from
the same fields.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

RUN_URI_PREFIX = "urn:x-archiver:crawl-run:"


def _iso(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds").replace("+00:00", "Z")
    return str(value or "")


# A run stopped by its own bounds (--max-pages, --max-duration) did what it was asked.
CLEAN_REASONS = {"finished", "closespider_pagecount", "closespider_timeout",
                 "closespider_itemcount"}


def failed_requests(stats: Mapping[str, Any]) -> int:
    """Requests that ended in a network error or a server error (5xx)."""
    errors = int(stats.get("downloader/exception_count", 0))
    return errors + sum(int(v) for k, v in stats.items()
                        if k.startswith("downloader/response_status_count/5"))


def exit_status(finish_reason: str, pages_fetched: int, warc_errors: int = 0,
                failed: int = 0) -> int:
    """0 for a clean run; 1 when it did not finish cleanly, fetched nothing, lost a WARC
    write, or most of its requests failed."""
    attempts = pages_fetched + failed
    ok = (finish_reason in CLEAN_REASONS and pages_fetched > 0 and not warc_errors
          and failed * 2 <= attempts)
    return 0 if ok else 1


def run_fields(run_id: str, stats: Mapping[str, Any], *, finish_reason: str, finished_at: str,
               command: str, settings: Mapping[str, Any], bytes_written: int,
               warc_files: int) -> dict[str, str]:
    """The run record's fields (application/warc-fields: one `name: value` per line)."""
    pages = int(stats.get("downloader/response_count", 0))
    return {
        "run-id": run_id,
        "started-at": _iso(stats.get("start_time")),
        "finished-at": finished_at,
        "finish-reason": finish_reason,
        "command": command,
        "settings": json.dumps(dict(settings), sort_keys=True, default=str),
        "pages-fetched": str(pages),
        "articles-new": str(stats.get("archiver/index/new", 0)),
        "articles-changed": str(stats.get("archiver/index/changed", 0)),
        "articles-unchanged": str(stats.get("archiver/index/unchanged", 0)),
        "articles-failed": str(stats.get("archiver/index/failed", 0)),
        "bytes-written": str(bytes_written),
        "warc-files": str(warc_files),
        "exit-status": str(exit_status(finish_reason, pages,
                                       int(stats.get("archiver/warc/write_error", 0)),
                                       failed_requests(stats))),
    }


def run_row(fields: Mapping[str, str]) -> dict[str, Any]:
    """A `crawl_runs` row from the run record's fields."""
    def num(name: str) -> int:
        value = str(fields.get(name) or "0")
        return int(value) if value.lstrip("-").isdigit() else 0

    return {
        "run_id": fields.get("run-id"), "started_at": fields.get("started-at") or None,
        "finished_at": fields.get("finished-at") or None,
        "finish_reason": fields.get("finish-reason") or None,
        "command": fields.get("command") or None, "settings": fields.get("settings") or "{}",
        "pages_fetched": num("pages-fetched"), "articles_new": num("articles-new"),
        "articles_changed": num("articles-changed"),
        "articles_unchanged": num("articles-unchanged"),
        "articles_failed": num("articles-failed"), "bytes_written": num("bytes-written"),
        "warc_files": num("warc-files"), "exit_status": num("exit-status"),
    }


def parse_fields(block: bytes) -> dict[str, str]:
    """application/warc-fields bytes to a dict (later duplicates win)."""
    fields = {}
    for line in block.decode("utf-8", "replace").splitlines():
        name, sep, value = line.partition(":")
        if sep:
            fields[name.strip()] = value.strip()
    return fields
