"""The CDXJ index kept beside the WARCs (no Scrapy).

One index file per closed WARC file: `archive/indexes/<warc file name>.cdxj`,
written by cdxj-indexer (the format pywb, ReplayWeb.page and py-wacz read:
`urlkey timestamp {"url", "mime", "status", "digest", "length", "offset",
"filename"}`), sorted, one line per response and revisit record. During a
crawl each line is made as its record is written (`RecordIndexer`: the record
just built goes through cdxj-indexer's own field logic, with its real offset
and length), so closing a file does not read it back; the file is written
when the WARC file is closed (atomically: a temporary file renamed into
place), so parallel crawls never touch each other's index files, and
`archiver verify --repair` indexes a file it closes after a crash by reading
it. Concatenating the files and sorting gives a collection-wide index.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path
from typing import Any

from cdxj_indexer.main import CDXJIndexer, write_cdx_index
from warcio.archiveiterator import ArchiveIterator

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


def _replace(out: Path, write: Callable[[Path], object]) -> None:
    """`write` a temporary file beside `out`, then rename it over `out` (atomic)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        write(tmp)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)


def index_warc(warc: Path, out: Path) -> None:
    """Index one WARC file into `out` (sorted CDXJ), replacing it atomically."""
    _replace(out, lambda tmp: write_cdx_index(str(tmp), [str(warc)], {"sort": True}))


def index_closed_warc(warc: Path, index_dir: Path) -> Path:
    """The hook run as each WARC file closes: its CDXJ file in `index_dir`."""
    out = cdxj_path(index_dir, warc.name)
    index_warc(warc, out)
    logger.info("indexed %s into %s", warc.name, out)
    return out


class _Place:
    """Where a record lies in its WARC file, in the shape cdxj-indexer asks for it."""

    def __init__(self, offset: int, length: int) -> None:
        self.offset, self.length = offset, length

    def get_record_offset(self) -> int:
        return self.offset

    def get_record_length(self) -> int:
        return self.length


class _Lines(list):
    write = list.append  # cdxj-indexer writes each line to a file-like `out`


class RecordIndexer:
    """CDXJ lines of records as they are written: the same lines cdxj-indexer gives.

    `add` takes a record's uncompressed bytes (warcio parses its headers, as
    when reading the file) and where its gzip member lies in the file; lines are
    kept per WARC file until `write` puts them, sorted, beside the others.
    """

    def __init__(self) -> None:
        self._indexer = CDXJIndexer(output=None, inputs=[])
        self._lines: dict[str, _Lines] = {}

    def add(self, record_bytes: bytes, warc_name: str, offset: int, length: int) -> None:
        record = next(iter(ArchiveIterator(BytesIO(record_bytes), arc2warc=True)))
        if self._indexer.filter_record(record):
            self._indexer.curr_filename = warc_name
            self._indexer.process_index_entry(_Place(offset, length), record, warc_name,
                                              self._lines.setdefault(warc_name, _Lines()))

    def discard(self, warc_name: str) -> None:
        self._lines.pop(warc_name, None)

    def write(self, warc_name: str, index_dir: Path) -> Path:
        """The CDXJ file of `warc_name` from its lines (sorted, duplicates dropped)."""
        lines = sorted(set(self._lines.pop(warc_name, _Lines())))
        out = cdxj_path(index_dir, warc_name)
        _replace(out, lambda tmp: tmp.write_text("".join(lines), encoding="utf-8"))
        return out


def read_cdxj(path: Path) -> list[CdxjLine]:
    lines = []
    for text in Path(path).read_text(encoding="utf-8").splitlines():
        if text.strip():
            urlkey, timestamp, blob = text.split(" ", 2)
            lines.append(CdxjLine(urlkey, timestamp, json.loads(blob)))
    return lines
