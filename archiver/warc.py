"""Rotating, crash-safe WARC writer (no Scrapy here).

One `WarcWriter` owns one file at a time, named
`Prefix-Timestamp17-Serial-Pid-Host.warc.gz` (Heritrix' convention with
`-` for its `~`, so two processes never collide and WACZ accepts the name)
and suffixed `.open` until it is closed. Every file starts with a warcinfo
record; each record is its own gzip member; one HTTP exchange
(response, request, metadata) is always written whole into one file, flushed,
and the file rotates only between exchanges; a hook runs as each file closes
(the capture extension writes its CDXJ index there).

The HTTP header block is written from the bytes we are given, not re-rendered
by warcio (which would %-encode non-ASCII values), while warcio computes the
block and payload digests. The clock and the record-id factory are injectable
so records can be compared byte for byte in tests.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import socket
import uuid
import zlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from io import BytesIO
from pathlib import Path
from typing import BinaryIO

from warcio.statusandheaders import StatusAndHeaders
from warcio.timeutils import datetime_to_iso_date
from warcio.warcwriter import WARCWriter as _WarcioWriter

from archiver.items import CaptureRef

logger = logging.getLogger(__name__)

WARC_VERSION = "WARC/1.1"
OPEN_SUFFIX = ".open"

Clock = Callable[[], datetime]
IdFactory = Callable[[], str]


def utc_now() -> datetime:
    return datetime.now(UTC)


def new_record_id() -> str:
    return f"<urn:uuid:{uuid.uuid4()}>"


def warc_date(moment: datetime) -> str:
    """W3C-ISO8601 UTC with microseconds, as WARC/1.1 allows."""
    return datetime_to_iso_date(moment.astimezone(UTC).replace(tzinfo=None), use_micros=True)


def warc_filename(prefix: str, started: datetime, serial: int, pid: int, hostname: str) -> str:
    started = started.astimezone(UTC)
    stamp = started.strftime("%Y%m%d%H%M%S") + f"{started.microsecond // 1000:03d}"
    return f"{prefix}-{stamp}-{serial:05d}-{pid}-{file_host(hostname)}.warc.gz"


def file_host(hostname: str) -> str:
    """The host name as it may appear in a file name (WACZ allows only [-a-z0-9._])."""
    host = "".join(c if c.isascii() and (c.isalnum() or c in ".-") else "-" for c in hostname)
    return host or "localhost"


def warc_paths(warc_dir: Path) -> list[Path]:
    """The WARC files of a folder, closed and still open, in name (= start time) order."""
    if not Path(warc_dir).is_dir():
        return []
    return sorted(p for p in Path(warc_dir).iterdir()
                  if p.name.endswith((".warc.gz", ".warc.gz" + OPEN_SUFFIX)))


@dataclass
class HttpExchange:
    """One HTTP request and its response, as sent and received."""

    url: str
    method: str
    request_target: str  # path and query as sent, e.g. "/story/x/?p=1"
    request_headers: list[tuple[bytes, bytes]]
    request_body: bytes
    protocol: str  # "HTTP/1.1"
    status: int
    reason: str
    response_headers: list[tuple[bytes, bytes]]
    body: bytes  # transfer-decoded, content-encoding kept
    fetched_at: datetime
    ip_address: str | None = None
    truncated: str | None = None  # WARC-Truncated reason: length|time|disconnect|unspecified
    raw_response_head: bytes | None = None  # status line + headers as received, if known
    raw_request_head: bytes | None = None  # request line + headers as sent, if known
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def mime_type(self) -> str:
        for name, value in self.response_headers:
            if name.lower() == b"content-type":
                return value.split(b";")[0].strip().decode("latin-1").lower()
        return ""

    @property
    def compressed_payload(self) -> bool:
        """Is the body compressed already (a Content-Encoding, or a compressed format)?"""
        for name, value in self.response_headers:
            if (name.lower() == b"content-encoding"
                    and value.strip().lower() not in (b"", b"identity")):
                return True
        return self.mime_type.startswith(COMPRESSED_TYPES)


# Formats that are compressed themselves (deflate finds nothing more in them).
COMPRESSED_TYPES = ("image/jpeg", "image/png", "image/gif", "image/webp", "image/avif",
                    "video/", "audio/mpeg", "audio/ogg", "audio/aac", "application/zip",
                    "application/gzip", "application/x-gzip", "font/woff")


REVISIT_PROFILES = {
    "identical-payload-digest":
        "http://netpreserve.org/warc/1.1/revisit/identical-payload-digest",
    "server-not-modified": "http://netpreserve.org/warc/1.1/revisit/server-not-modified",
}


@dataclass(frozen=True)
class Revisit:
    """Write the response as a `revisit` of an earlier capture instead of a full copy."""

    profile: str  # a key of REVISIT_PROFILES
    refers_to: str  # WARC-Record-ID of the record holding the payload
    refers_to_uri: str
    refers_to_date: str
    payload_digest: str  # the referenced payload's digest


def payload_digest(body: bytes) -> str:
    """sha1:BASE32 of a payload, as warcio writes WARC-Payload-Digest."""
    return "sha1:" + base64.b32encode(hashlib.sha1(body).digest()).decode("ascii")


class _RawHttpHeaders(StatusAndHeaders):
    """StatusAndHeaders whose serialised form is exactly the bytes we were given."""

    def __init__(self, raw: bytes, statusline: str, protocol: str) -> None:
        super().__init__(statusline, [], protocol=protocol)
        self.headers_buff = raw

    def compute_headers_buffer(self, header_filter=None) -> None:  # noqa: ARG002
        return None  # keep the raw bytes

    def __bool__(self) -> bool:  # warcio tests truthiness; an empty header list is falsy
        return True


def http_head(first_line: bytes, headers: Iterable[tuple[bytes, bytes]]) -> bytes:
    lines = [first_line] + [name + b": " + value for name, value in headers]
    return b"\r\n".join(lines) + b"\r\n\r\n"


class _Builder(_WarcioWriter):
    # metadata records have no payload (WARC.md B5); warcinfo and revisit neither.
    NO_PAYLOAD_DIGEST_TYPES = ("warcinfo", "revisit", "metadata")


class WarcWriter:
    """Writes HTTP exchanges into rotating `.warc.gz` files under `directory`."""

    def __init__(
        self,
        directory: Path,
        *,
        prefix: str = "ARCHIVER",
        max_size: int = 1_000_000_000,
        gzip_level: int = 6,
        warcinfo: Mapping[str, str] | None = None,
        hostname: str | None = None,
        pid: int | None = None,
        clock: Clock = utc_now,
        id_factory: IdFactory = new_record_id,
        on_close: Callable[[Path], None] | None = None,
        on_record: Callable[[bytes, str, int, int], None] | None = None,
    ) -> None:
        self.directory = Path(directory)
        self.prefix = prefix
        self.max_size = max_size
        self.gzip_level = gzip_level
        self.warcinfo = dict(warcinfo or {})
        self.hostname = hostname or socket.gethostname()
        self.pid = os.getpid() if pid is None else pid
        self.clock = clock
        self.id_factory = id_factory
        self.on_close = on_close  # called with each file's final path once it is closed
        # called with each response and revisit record: its bytes (uncompressed), file
        # name, offset and compressed length (the CDXJ index is made from these)
        self.on_record = on_record
        # warcio frames and digests each record; we gzip it (one member per record) at a
        # level of our choosing: warcio's fixed level 9 costs twice the CPU of 6 for ~2% size.
        self._builder = _Builder(None, gzip=False, warc_version=WARC_VERSION)
        self._serial = 0
        self._file: BinaryIO | None = None
        self._name = ""
        self._warcinfo_id = ""
        self.files_closed: list[str] = []
        self.bytes_written = 0

    # -- files --------------------------------------------------------------
    @property
    def current_file(self) -> str | None:
        return self._name or None

    def _open(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        while True:
            name = warc_filename(self.prefix, self.clock(), self._serial, self.pid, self.hostname)
            self._serial += 1
            path = self.directory / (name + OPEN_SUFFIX)
            if not path.exists() and not (self.directory / name).exists():
                break
        self._file = open(path, "xb")  # noqa: SIM115 - closed in close()
        self._name = name
        self._warcinfo_id = self.id_factory()
        info = {"software": "digest-archiver", "format": "WARC File Format 1.1",
                "conformsTo": "https://iipc.github.io/warc-specifications/specifications/"
                "warc-format/warc-1.1/", "hostname": self.hostname}
        info.update({k: v for k, v in self.warcinfo.items() if v})
        info.setdefault("operator", "unspecified")
        body = b"".join(f"{k}: {v}\r\n".encode() for k, v in info.items())
        record = self._builder.create_warc_record(
            "", "warcinfo", payload=BytesIO(body), length=len(body),
            warc_content_type="application/warc-fields",
            warc_headers_dict={"WARC-Record-ID": self._warcinfo_id,
                               "WARC-Date": warc_date(self.clock()),
                               "WARC-Filename": name},
        )
        self._write(record)
        self._file.flush()
        logger.info("opened WARC file %s", name)

    def close(self) -> None:
        """Flush, fsync and rename `X.warc.gz.open` to `X.warc.gz`."""
        if self._file is None:
            return
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        self._file = None
        final = self.directory / self._name
        os.replace(self.directory / (self._name + OPEN_SUFFIX), final)
        self.files_closed.append(self._name)
        logger.info("closed WARC file %s", self._name)
        self._name = ""
        if self.on_close is not None:
            self.on_close(final)

    def __enter__(self) -> WarcWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- records ------------------------------------------------------------
    def _write(self, *records, compressed_payload: bool = False) -> list[tuple[int, int]]:
        """Append records (one gzip member each) in one write; their (offset, length).

        One write for an exchange's records: a crash leaves all of them or a torn
        tail, never a response without its request after it. With
        `compressed_payload`, the first record's payload is compressed already
        (gzip or brotli on the wire, a JPEG): deflate's search for repeats finds
        nothing in it at any level, so that member is Huffman-coded only, which is
        the same size for a quarter of the CPU.
        """
        assert self._file is not None
        plain, members = [], []
        for n, record in enumerate(records):
            buffer = BytesIO()
            self._builder._write_warc_record(buffer, record)
            plain.append(buffer.getvalue())
            strategy = (zlib.Z_HUFFMAN_ONLY if compressed_payload and n == 0
                        else zlib.Z_DEFAULT_STRATEGY)
            deflate = zlib.compressobj(self.gzip_level, zlib.DEFLATED, 31, 8, strategy)
            members.append(deflate.compress(plain[-1]) + deflate.flush())
        start = self._file.tell()
        self._file.write(b"".join(members))
        self.bytes_written += sum(map(len, members))
        places = []
        for record, data, member in zip(records, plain, members, strict=True):
            places.append((start, len(member)))
            if self.on_record is not None and record.rec_type in ("response", "revisit"):
                self.on_record(data, self._name, start, len(member))
            start += len(member)
        return places

    def write_exchange(
        self, ex: HttpExchange, metadata: Mapping[str, str] | None = None,
        revisit: Revisit | None = None,
    ) -> CaptureRef:
        """Write response (or revisit), request and metadata records; return the capture.

        A revisit keeps the new status line and headers but not the body: a 304, or a
        200 whose payload digest equals the earlier capture's (WARC.md D1-D3).
        """
        if self._file is None:
            self._open()
        date = warc_date(ex.fetched_at)
        response_id, request_id = self.id_factory(), self.id_factory()
        common = {"WARC-Date": date, "WARC-Warcinfo-ID": self._warcinfo_id}
        if ex.ip_address:
            common["WARC-IP-Address"] = ex.ip_address

        status_line = f"{ex.protocol} {ex.status} {ex.reason}".rstrip()
        raw_head = ex.raw_response_head or http_head(status_line.encode("latin-1"),
                                                     ex.response_headers)
        resp_fields = {"WARC-Record-ID": response_id, **common}
        if ex.truncated:
            resp_fields["WARC-Truncated"] = ex.truncated
        kind, body = "response", ex.body
        if revisit is not None:
            kind, body = "revisit", b""
            resp_fields.update({
                "WARC-Profile": REVISIT_PROFILES[revisit.profile],
                "WARC-Refers-To": revisit.refers_to,
                "WARC-Refers-To-Target-URI": revisit.refers_to_uri,
                "WARC-Refers-To-Date": revisit.refers_to_date,
                "WARC-Payload-Digest": revisit.payload_digest,
            })
            if ex.body:  # the body is left out: same payload as the referenced record
                resp_fields["WARC-Truncated"] = "length"
        response = self._builder.create_warc_record(
            ex.url, kind, payload=BytesIO(body), length=len(body),
            warc_headers_dict=resp_fields,
            http_headers=_RawHttpHeaders(raw_head, f"{ex.status} {ex.reason}", ex.protocol),
        )

        req_line = f"{ex.method} {ex.request_target} {ex.protocol}".encode("latin-1")
        request = self._builder.create_warc_record(
            ex.url, "request", payload=BytesIO(ex.request_body), length=len(ex.request_body),
            warc_headers_dict={"WARC-Record-ID": request_id, **common,
                               "WARC-Concurrent-To": response_id},
            http_headers=_RawHttpHeaders(
                ex.raw_request_head or http_head(req_line, ex.request_headers),
                f"{ex.request_target} {ex.protocol}", ex.method),
        )
        records = [response, request]
        if metadata:
            body = b"".join(f"{k}: {v}\r\n".encode() for k, v in metadata.items() if v != "")
            record = self._builder.create_warc_record(
                ex.url, "metadata", payload=BytesIO(body), length=len(body),
                warc_content_type="application/warc-fields",
                warc_headers_dict={"WARC-Record-ID": self.id_factory(), "WARC-Date": date,
                                   "WARC-Warcinfo-ID": self._warcinfo_id,
                                   "WARC-Concurrent-To": response_id},
            )
            records.append(record)
        (offset, length), *_ = self._write(
            *records, compressed_payload=kind == "response" and ex.compressed_payload)

        assert self._file is not None
        self._file.flush()
        ref = CaptureRef(
            url=ex.url, warc_file=self._name, offset=offset, length=length,
            record_id=response_id,
            payload_digest=response.rec_headers.get_header("WARC-Payload-Digest"),
            fetched_at=date, status=ex.status, mime_type=ex.mime_type, record_type=kind,
            refers_to=revisit.refers_to if revisit else "",
        )
        if self._file.tell() >= self.max_size:
            self.close()
        return ref

    def write_metadata(self, uri: str, fields: Mapping[str, str]) -> CaptureRef:
        """A stand-alone `metadata` record (e.g. a crawl-run summary) in the current file."""
        if self._file is None:
            self._open()
        date = warc_date(self.clock())
        record_id = self.id_factory()
        body = b"".join(f"{k}: {v}\r\n".encode() for k, v in fields.items() if v != "")
        record = self._builder.create_warc_record(
            uri, "metadata", payload=BytesIO(body), length=len(body),
            warc_content_type="application/warc-fields",
            warc_headers_dict={"WARC-Record-ID": record_id, "WARC-Date": date,
                               "WARC-Warcinfo-ID": self._warcinfo_id},
        )
        [(offset, length)] = self._write(record)
        assert self._file is not None
        self._file.flush()
        return CaptureRef(url=uri, warc_file=self._name, offset=offset, length=length,
                          record_id=record_id, payload_digest="", fetched_at=date, status=0,
                          mime_type="application/warc-fields")
