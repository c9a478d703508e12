"""Fix what a crashed crawl leaves in an archive (no Scrapy): `archiver verify --repair`.

An `.open` file whose writer process is gone has its torn tail trimmed at the
end of the last complete record (every complete record is kept); if that
leaves a response without its request, a `metadata` record saying so is
appended, tied to the response with WARC-Concurrent-To, so the loss is
recorded in the WARC itself. The file is then closed (renamed to its final
name) and indexed into CDXJ. A file whose writer is still running is left alone.
"""

from __future__ import annotations

import os
import socket
from io import BytesIO
from pathlib import Path

from archiver.cdxj import INDEX_DIR, index_closed_warc
from archiver.verify import REPAIR_NOTE, WarcScan, _check_cdxj, scan_warc
from archiver.warc import (
    OPEN_SUFFIX,
    WARC_VERSION,
    file_host,
    new_record_id,
    utc_now,
    warc_date,
    warc_paths,
)
from archiver.warc import _Builder as _RecordBuilder


def _writer_alive(path: Path) -> bool:
    """Is the process that named this `.open` file still running on this host?"""
    try:
        parts = path.name.removesuffix(".warc.gz" + OPEN_SUFFIX).split("-", 4)
        pid, host = parts[3], parts[4]
        if host != file_host(socket.gethostname()):
            return False
        os.kill(int(pid), 0)
    except (IndexError, ValueError, ProcessLookupError):
        return False
    except PermissionError:
        return True
    return True


def repair_file(scan: WarcScan, index_dir: Path) -> list[str]:
    """Trim a torn tail, note responses left without a request, close and index the file."""
    done, path = [], scan.path
    if scan.complete_end < scan.size:
        with path.open("r+b") as fh:
            fh.truncate(scan.complete_end)
        done.append(f"{path.name}: trimmed a torn tail of {scan.size - scan.complete_end} "
                    f"bytes; kept {len(scan.records)} complete records")
    if not scan.records:
        path.unlink()
        return done + [f"{path.name}: removed (no complete record in it)"]
    paired = {t for r in scan.records if r.type == "request" for t in r.concurrent_to}
    orphans = [r for r in scan.records if r.type == "response" and r.id not in paired
               and r.headers.get("WARC-Target-URI", "").startswith(("http:", "https:"))]
    if orphans:
        info = scan.records[0].id if scan.records[0].type == "warcinfo" else None
        body = (f"{REPAIR_NOTE}: the request record of each response named by "
                f"WARC-Concurrent-To was lost in a crash\r\n").encode()
        builder = _RecordBuilder(None, gzip=True, warc_version=WARC_VERSION)
        fields = {"WARC-Record-ID": new_record_id(), "WARC-Date": warc_date(utc_now())}
        if info:
            fields["WARC-Warcinfo-ID"] = info
        record = builder.create_warc_record("urn:x-archiver:repair", "metadata",
                                            payload=BytesIO(body), length=len(body),
                                            warc_content_type="application/warc-fields",
                                            warc_headers_dict=fields)
        for orphan in orphans:
            record.rec_headers.add_header("WARC-Concurrent-To", orphan.id)
        with path.open("ab") as fh:
            builder._write_warc_record(fh, record)
        done.append(f"{path.name}: {len(orphans)} response(s) lost their request record; "
                    "a metadata record now says so")
    if path.name.endswith(OPEN_SUFFIX):
        final = path.with_name(scan.name)
        os.replace(path, final)
        done.append(f"{path.name}: closed as {final.name}")
        path = final
    index_closed_warc(path, index_dir)
    return done


def repair_archive(archive: Path) -> list[str]:
    """Repair every crashed `.open` file and every missing or stale CDXJ; say what was done."""
    done: list[str] = []
    index_dir = Path(archive) / INDEX_DIR
    for path in warc_paths(Path(archive) / "warcs"):
        scan = scan_warc(path)
        is_open = path.name.endswith(OPEN_SUFFIX)
        if is_open and _writer_alive(path):
            done.append(f"{path.name}: left alone (its crawl is still running)")
        elif is_open or scan.complete_end < scan.size:
            done += repair_file(scan, index_dir)
        elif _check_cdxj(scan, index_dir):
            index_closed_warc(path, index_dir)
            done.append(f"{path.name}: CDXJ index rewritten")
    return done
