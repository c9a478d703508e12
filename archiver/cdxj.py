"""The CDXJ index kept beside the WARCs (no Scrapy).

One index file per closed WARC file: `archive/indexes/<warc file name>.cdxj`,
written by cdxj-indexer (the format pywb, ReplayWeb.page and py-wacz read:
`urlkey timestamp {"url", "mime", "status", "digest", "length", "offset",
"filename"}`), sorted, one line per response and revisit record. It is written
when the WARC file is closed (atomically: a temporary file renamed into
place), so parallel crawls never touch each other's index files, and
`archiver verify --repair` writes it for a file it closes after a crash.
Concatenating the files and sorting gives a collection-wide index.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cdxj_indexer.main import write_cdx_index

logger = logging.getLogger(__name__)

INDEX_DIR = "indexes"
SUFFIX = ".cdxj"


@dataclass(frozen=True)
class CdxjLine:
    urlkey: str
    timestamp: str
    fields: dict[str, Any]

    @property
    def offset(self) -> int:
        return int(self.fields["offset"])


def cdxj_path(index_dir: Path, warc_name: str) -> Path:
    return Path(index_dir) / (warc_name + SUFFIX)


def index_warc(warc: Path, out: Path) -> None:
    """Index one WARC file into `out` (sorted CDXJ), replacing it atomically."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        write_cdx_index(str(tmp), [str(warc)], {"sort": True})
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)


def index_closed_warc(warc: Path, index_dir: Path) -> Path:
    """The hook run as each WARC file closes: its CDXJ file in `index_dir`."""
    out = cdxj_path(index_dir, warc.name)
    index_warc(warc, out)
    logger.info("indexed %s into %s", warc.name, out)
    return out


def read_cdxj(path: Path) -> list[CdxjLine]:
    lines = []
    for text in Path(path).read_text(encoding="utf-8").splitlines():
        if text.strip():
            urlkey, timestamp, blob = text.split(" ", 2)
            lines.append(CdxjLine(urlkey, timestamp, json.loads(blob)))
    return lines
