"""Package the archive as a WACZ 1.1 file with py-wacz (no Scrapy).

The WACZ holds every closed WARC file (ZIP_STORED, so a replayer can read a
record by its offset), py-wacz's CDXJ index of them (cdxj-indexer's format,
ZipNum-compressed as `indexes/index.cdx.gz` + `index.idx`), `pages/pages.jsonl`
listing each article of `index.db` with its URL, capture time, title and
extracted text, and `datapackage.json` with the sha256 of every file (plus
`datapackage-digest.json`). Files still being written (`.open`) are left out.
"""

from __future__ import annotations

import contextlib
import io
import json
import sqlite3
import tempfile
from dataclasses import dataclass
from pathlib import Path

from wacz.main import main as wacz_main

from archiver.warc import warc_paths

PAGES_HEADER = {"format": "json-pages-1.0", "id": "pages", "title": "Articles", "hasText": True}


class PackagingError(Exception):
    """The archive cannot be packaged (nothing to package, py-wacz refused)."""


@dataclass(frozen=True)
class WaczResult:
    path: Path
    warc_files: int
    pages: int
    skipped_open: int


def article_pages(db_path: Path) -> list[dict[str, str]]:
    """One WACZ page per article: id (its WARC record id), url, ts, title, text."""
    if not db_path.exists():
        return []
    db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        rows = db.execute("select record_id, url, fetched_at, title, text from articles "
                          "order by fetched_at, url").fetchall()
    except sqlite3.Error:
        return []
    finally:
        db.close()
    return [{"id": rid.strip("<>").removeprefix("urn:uuid:"), "url": url, "ts": ts,
             "title": title or "", "text": text or ""} for rid, url, ts, title, text in rows]


def write_pages(pages: list[dict[str, str]], path: Path) -> None:
    with path.open("w", encoding="utf-8") as fh:
        for entry in [PAGES_HEADER, *pages]:
            fh.write(json.dumps(entry, ensure_ascii=False) + "\n")


def export_wacz(archive: Path, output: Path) -> WaczResult:
    """Write `output` (a .wacz file) from the archive's closed WARCs and index.db."""
    paths = warc_paths(Path(archive) / "warcs")
    closed = [p for p in paths if p.name.endswith(".warc.gz")]
    if not closed:
        raise PackagingError(f"no closed WARC files in {Path(archive) / 'warcs'}")
    pages = article_pages(Path(archive) / "index.db")
    output.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        pages_file = Path(tmp) / "pages.jsonl"
        write_pages(pages, pages_file)
        partial = output.with_name(output.name + ".part")
        args = ["create", "-o", str(partial), "-p", str(pages_file), "--copy-pages",
                "--hash-type", "sha256", "--title", f"digest-archiver: {Path(archive).name}",
                *map(str, closed)]
        said = io.StringIO()
        with contextlib.redirect_stdout(said):
            status = wacz_main(args)
        if status:
            partial.unlink(missing_ok=True)
            raise PackagingError("py-wacz could not package the archive: "
                                 + " ".join(said.getvalue().split()[-20:]))
        partial.replace(output)
    return WaczResult(output, len(closed), len(pages), len(paths) - len(closed))
