"""Helpers for the WARC tests: the odd fixture site, reading records, the WARC.md rules."""

from __future__ import annotations

import re
import subprocess
import sys
import zlib
from dataclasses import dataclass
from pathlib import Path

from warcio.archiveiterator import ArchiveIterator

from tests.conftest import SiteServer, guarded_env

BIN = Path(sys.executable).parent
ODD_SETTINGS = ["-s", "DOWNLOAD_DELAY=0", "-s", "AUTOTHROTTLE_ENABLED=False",
                "-s", "DOWNLOAD_MAXSIZE=100000", "-s", "RETRY_TIMES=1",
                "-s", "ARCHIVER_WARC_OPERATOR=WARC Tests <warc-tests@example.org>"]
DATE_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z$")
ID_RE = re.compile(r"^<urn:uuid:[0-9a-f-]{36}>$")


def start_oddsite(tmp: Path) -> SiteServer:
    log = tmp / "odd-requests.jsonl"
    log.touch()
    proc = subprocess.Popen([sys.executable, "-m", "tests.oddsite", "--request-log", str(log)],
                            env=guarded_env(), stdout=subprocess.PIPE, text=True,
                            stdin=subprocess.DEVNULL)
    assert proc.stdout is not None
    url = proc.stdout.readline().strip()
    assert url.startswith("http://127.0.0.1:"), url
    return SiteServer(url=url, request_log=log, process=proc)


@dataclass
class Rec:
    type: str
    headers: list[tuple[str, str]]
    http: object  # warcio StatusAndHeaders or None
    block: bytes  # the record block as stored (HTTP head + body for HTTP records)
    body: bytes  # the HTTP entity body as stored (still content-encoded)
    offset: int
    length: int
    version: str

    def get(self, name: str, default: str | None = None) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name.lower()), default)


def gzip_members(path: Path) -> list[tuple[int, int, bytes]]:
    """(offset, length, decompressed) for each gzip member of a file."""
    data, offset, out = path.read_bytes(), 0, []
    while offset < len(data):
        d = zlib.decompressobj(zlib.MAX_WBITS | 16)
        raw = d.decompress(data[offset:])
        assert d.eof, f"{path.name}: incomplete gzip member at {offset}"
        end = len(data) - len(d.unused_data)
        out.append((offset, end - offset, raw))
        offset = end
    return out


def read_records(path: Path) -> list[Rec]:
    members = gzip_members(path)
    recs = []
    with path.open("rb") as fh:
        for (offset, length, raw), r in zip(members, ArchiveIterator(fh, check_digests="raise"),
                                            strict=True):
            head, _, rest = raw.partition(b"\r\n\r\n")
            block = rest[:-4]
            body = block.partition(b"\r\n\r\n")[2] if r.http_headers else block
            recs.append(Rec(r.rec_type, list(r.rec_headers.headers), r.http_headers, block, body,
                            offset, length, head.split(b"\r\n")[0].decode()))
            r.raw_stream.read()
    return recs


def warcs(archive: Path) -> list[Path]:
    return sorted((archive / "warcs").iterdir())
