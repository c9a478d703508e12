"""Re-read an archive and say, in plain words, what is wrong with it (no Scrapy).

`verify_archive` reads every WARC file under `archive/warcs/` member by member
(each record must be its own complete gzip member, framed as WARC.md A3/A4
says, with digests that verify), checks the rules a replay tool relies on
(warcinfo first with the right WARC-Filename, one WARC version, unique
record ids, every response paired with its request, every
WARC-Concurrent-To target present), checks that each closed file has its
CDXJ index with one line per response and revisit, and reconciles
`index.db`: every article (and capture) row must point at a record that
exists, at that offset and length, with that id and payload digest.

With `repair=True`, `archiver.repair.repair_archive` first fixes what a crash
leaves behind, then the archive is checked as usual.
"""

from __future__ import annotations

import sqlite3
import zlib
from collections import Counter
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path

from warcio.archiveiterator import ArchiveIterator

from archiver.cdxj import INDEX_DIR, cdxj_path, read_cdxj
from archiver.warc import (
    OPEN_SUFFIX,
    WARC_VERSION,
    warc_paths,
)

REPAIR_NOTE = "archiver-repair"  # metadata field naming responses whose request was lost


@dataclass
class Record:
    type: str
    id: str
    offset: int
    length: int
    headers: dict[str, str]
    concurrent_to: list[str]
    status: str = ""
    repair_note: bool = False


@dataclass
class WarcScan:
    path: Path
    records: list[Record] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    complete_end: int = 0  # end of the last complete gzip member
    size: int = 0

    @property
    def name(self) -> str:
        return self.path.name.removesuffix(OPEN_SUFFIX)


@dataclass
class Report:
    problems: list[str] = field(default_factory=list)
    repaired: list[str] = field(default_factory=list)
    files: int = 0
    records: int = 0
    articles: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems


def _record(member: bytes, offset: int, scan: WarcScan) -> Record | None:
    where = f"{scan.path.name} at offset {offset}"
    raw = zlib.decompressobj(zlib.MAX_WBITS | 16).decompress(member)
    head, sep, rest = raw.partition(b"\r\n\r\n")
    if not raw.startswith(WARC_VERSION.encode() + b"\r\n") or not sep:
        scan.problems.append(f"{where}: the record does not start with a {WARC_VERSION} head")
        return None
    fields = dict(line.split(": ", 1) for line in head.decode("utf-8", "replace")
                  .split("\r\n")[1:] if ": " in line)
    length = int(fields.get("Content-Length", "-1"))
    if length < 0 or len(rest) != length + 4 or not rest.endswith(b"\r\n\r\n"):
        scan.problems.append(f"{where}: the record's block is not Content-Length bytes "
                             "followed by CRLF CRLF (bad framing)")
    try:
        it = ArchiveIterator(BytesIO(member), check_digests=True)
        rec = next(iter(it))
        rec.raw_stream.read()
        headers = dict(rec.rec_headers.headers)
        concurrent = [v for k, v in rec.rec_headers.headers if k == "WARC-Concurrent-To"]
        for problem in rec.digest_checker.problems:
            scan.problems.append(f"{where}: digest does not verify ({problem})")
        status = rec.http_headers.get_statuscode() if rec.http_headers else ""
    except Exception as exc:  # warcio raises several types on garbage
        scan.problems.append(f"{where}: the record cannot be read ({exc})")
        return None
    note = rec.rec_type == "metadata" and REPAIR_NOTE.encode() in rest
    return Record(rec.rec_type, headers.get("WARC-Record-ID", ""), offset, len(member),
                  headers, concurrent, status or "", note)


def scan_warc(path: Path) -> WarcScan:
    """Read one WARC file gzip member by gzip member; stop at a torn or corrupt tail."""
    scan = WarcScan(path)
    data = path.read_bytes()
    scan.size, offset = len(data), 0
    while offset < len(data):
        d = zlib.decompressobj(zlib.MAX_WBITS | 16)
        try:
            d.decompress(data[offset:])
        except zlib.error:
            scan.problems.append(f"{path.name}: corrupt gzip data at offset {offset}")
            break
        if not d.eof:
            scan.problems.append(f"{path.name}: torn tail: the last {len(data) - offset} bytes "
                                 f"(from offset {offset}) are an incomplete record")
            break
        end = len(data) - len(d.unused_data)
        record = _record(data[offset:end], offset, scan)
        if record is not None:
            scan.records.append(record)
        offset = scan.complete_end = end
    _check_file(scan)
    return scan


def _check_file(scan: WarcScan) -> None:
    name, recs = scan.path.name, scan.records
    if not recs or recs[0].type != "warcinfo":
        scan.problems.append(f"{name}: does not start with a warcinfo record")
    elif recs[0].headers.get("WARC-Filename") != scan.name:
        scan.problems.append(f"{name}: its warcinfo names another file "
                             f"({recs[0].headers.get('WARC-Filename')})")
    info_ids = {r.id for r in recs if r.type == "warcinfo"}
    noted = {t for r in recs if r.repair_note for t in r.concurrent_to}
    for i, rec in enumerate(recs):
        where = f"{name} at offset {rec.offset}"
        ref = rec.headers.get("WARC-Warcinfo-ID")
        if ref and ref not in info_ids:
            scan.problems.append(f"{where}: WARC-Warcinfo-ID names no warcinfo of this file")
        if rec.type != "response" or not rec.headers.get("WARC-Target-URI", "").startswith(
                ("http:", "https:")):
            continue
        if "WARC-Payload-Digest" not in rec.headers:
            scan.problems.append(f"{where}: response without WARC-Payload-Digest")
        nxt = recs[i + 1] if i + 1 < len(recs) else None
        if nxt is None or nxt.type != "request" or rec.id not in nxt.concurrent_to:
            if rec.id not in noted:
                scan.problems.append(f"{where}: response {rec.headers['WARC-Target-URI']} is "
                                     "not followed by its request record")
        elif (nxt.headers.get("WARC-Date") != rec.headers.get("WARC-Date")
              or nxt.headers.get("WARC-Target-URI") != rec.headers.get("WARC-Target-URI")):
            scan.problems.append(f"{where}: request and response differ in date or target URI")


def _check_cdxj(scan: WarcScan, index_dir: Path) -> list[str]:
    path = cdxj_path(index_dir, scan.name)
    if not path.exists():
        return [f"{scan.name}: no CDXJ index ({INDEX_DIR}/{path.name}); --repair writes it"]
    lines = {(c.offset, c.fields.get("url"), c.fields.get("status")) for c in read_cdxj(path)}
    wanted = {(r.offset, r.headers.get("WARC-Target-URI"), r.status or None)
              for r in scan.records if r.type in ("response", "revisit")}
    if lines != wanted:
        return [f"{scan.name}: its CDXJ index does not match its response and revisit records "
                f"({len(wanted - lines)} missing, {len(lines - wanted)} extra); --repair "
                "rewrites it"]
    return []


def _check_index(db_path: Path, records: dict[tuple[str, int], Record], report: Report) -> None:
    if not db_path.exists():
        return
    db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        tables = {r[0] for r in db.execute("select name from sqlite_master where type='table'")}
        for table, label in (("articles", "article"), ("captures", "capture")):
            if table not in tables:
                continue
            cols = {r[1] for r in db.execute(f"pragma table_info({table})")}
            digest = "payload_digest" if "payload_digest" in cols else "''"
            rows = db.execute(f"select url, warc_file, warc_offset, warc_length, record_id, "
                              f"{digest} from {table}").fetchall()
            if table == "articles":
                report.articles = len(rows)
            for url, file, offset, length, record_id, payload in rows:
                rec = records.get((file, offset))
                what = f"{label} {url}"
                if rec is None:
                    report.problems.append(f"{what}: no record at {file} offset {offset}")
                elif rec.length != length or rec.id != record_id:
                    report.problems.append(f"{what}: the record at {file} offset {offset} "
                                           "has another length or record id")
                elif payload and rec.headers.get("WARC-Payload-Digest") != payload:
                    report.problems.append(f"{what}: the payload digest differs from the WARC")
    finally:
        db.close()


def verify_archive(archive: Path, *, repair: bool = False) -> Report:
    """Check (and with `repair`, first fix) the archive; the report lists every problem."""
    archive = Path(archive)
    report = Report()
    index_dir = archive / INDEX_DIR
    if repair:
        from archiver.repair import repair_archive

        report.repaired = repair_archive(archive)
    records: dict[tuple[str, int], Record] = {}
    ids: Counter[str] = Counter()
    for path in warc_paths(Path(archive) / "warcs"):
        scan = scan_warc(path)
        report.files += 1
        report.records += len(scan.records)
        report.problems += scan.problems
        if path.name.endswith(OPEN_SUFFIX):
            report.problems.append(f"{path.name}: still open (a crawl is running or crashed; "
                                   "run `archiver verify --repair` when no crawl is running)")
        else:
            report.problems += _check_cdxj(scan, index_dir)
        for rec in scan.records:
            records[(scan.name, rec.offset)] = rec
            ids[rec.id] += 1
    for record_id, n in ids.items():
        if n > 1:
            report.problems.append(f"record id {record_id} is used {n} times")
    known = set(ids)
    for (file, offset), rec in records.items():
        for target in rec.concurrent_to:
            if target not in known:
                report.problems.append(f"{file} at offset {offset}: WARC-Concurrent-To names "
                                       f"a record that is not in the archive ({target})")
    _check_revisits(records, report)
    _check_index(archive / "index.db", records, report)
    return report


def _check_revisits(records: dict[tuple[str, int], Record], report: Report) -> None:
    """WARC.md D1-D3: a profile, and a payload digest equal to the referenced record's."""
    by_id = {rec.id: rec for rec in records.values()}
    for (file, offset), rec in records.items():
        if rec.type != "revisit":
            continue
        where = f"{file} at offset {offset}: revisit"
        profile = rec.headers.get("WARC-Profile", "")
        if not profile:
            report.problems.append(f"{where} without WARC-Profile")
        original = by_id.get(rec.headers.get("WARC-Refers-To", ""))
        if rec.headers.get("WARC-Refers-To") and original is None:
            report.problems.append(f"{where} refers to a record that is not in the archive")
        if profile.endswith("identical-payload-digest") and (
                not rec.headers.get("WARC-Payload-Digest") or (
                    original is not None and original.headers.get("WARC-Payload-Digest")
                    != rec.headers.get("WARC-Payload-Digest"))):
            report.problems.append(f"{where}: its payload digest is not the original's")


def __getattr__(name: str) -> object:
    """`repair_file` and `_writer_alive` moved to archiver.repair; old imports keep working."""
    if name in ("repair_file", "_writer_alive", "repair_archive"):
        from archiver import repair

        return getattr(repair, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
