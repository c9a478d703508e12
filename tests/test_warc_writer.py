"""WarcWriter: golden bytes, framing, digests, pairing, naming, rotation, .open suffix."""

from __future__ import annotations

import gzip
import itertools
import os
import zlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from warcio.archiveiterator import ArchiveIterator

from archiver.warc import HttpExchange, WarcWriter, warc_filename

GOLDEN = Path(__file__).parent / "golden" / "exchange.warc"
T0 = datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)


def fixed_clock():
    return T0


def id_factory():
    counter = itertools.count(1)
    return lambda: f"<urn:uuid:00000000-0000-4000-8000-{next(counter):012d}>"


def exchange(n: int = 0, body: bytes | None = None) -> HttpExchange:
    if body is None:
        body = gzip.compress("<html><p>Minsk Мінск</p></html>".encode(), mtime=0)
    return HttpExchange(
        url=f"http://127.0.0.1:8080/story/x/?a=1&n={n}", method="GET",
        request_target=f"/story/x/?a=1&n={n}",
        request_headers=[(b"Host", b"127.0.0.1:8080"), (b"User-Agent", b"digest-archiver/test"),
                         (b"Accept-Encoding", b"gzip, deflate")],
        request_body=b"", protocol="HTTP/1.1", status=200, reason="OK",
        response_headers=[(b"Content-Type", b"text/html; charset=UTF-8"),
                          (b"Content-Encoding", b"gzip"),
                          (b"Content-Length", str(len(body)).encode()),
                          (b"Set-Cookie", b"a=1; Path=/"), (b"Set-Cookie", b"b=\xe9")],
        body=body, fetched_at=T0 + timedelta(seconds=n), ip_address="127.0.0.1",
    )


def writer(tmp_path: Path, **kw) -> WarcWriter:
    kw.setdefault("warcinfo", {"isPartOf": "test", "operator": "tests"})
    return WarcWriter(tmp_path, prefix="TEST", hostname="host.example", pid=42,
                      clock=fixed_clock, id_factory=id_factory(), **kw)


def read_members(path: Path) -> list[bytes]:
    """Each gzip member separately: proves record-at-a-time compression."""
    data, members = path.read_bytes(), []
    while data:
        d = zlib.decompressobj(zlib.MAX_WBITS | 16)
        members.append(d.decompress(data))
        data = d.unused_data
    return members


def test_golden_bytes(tmp_path: Path) -> None:
    with writer(tmp_path) as w:
        ref = w.write_exchange(exchange(), {"via": "http://127.0.0.1:8080/feed/", "depth": "1"})
    files = list(tmp_path.iterdir())
    assert [f.name for f in files] == ["TEST-20260102030405123-00000-42-host.example.warc.gz"]
    produced = b"".join(read_members(files[0]))
    if os.environ.get("ARCHIVER_REGEN_GOLDEN"):  # regenerate, review the diff, commit
        GOLDEN.write_bytes(produced)
    assert produced == GOLDEN.read_bytes()
    assert ref.warc_file == files[0].name
    assert ref.record_id == "<urn:uuid:00000000-0000-4000-8000-000000000002>"


def test_records_read_back_with_digests_and_pairing(tmp_path: Path) -> None:
    with writer(tmp_path) as w:
        refs = [w.write_exchange(exchange(n), {"via": "x"}) for n in range(3)]
    path = next(tmp_path.iterdir())
    members = read_members(path)
    records = []
    with path.open("rb") as fh:
        for rec in ArchiveIterator(fh, check_digests="raise"):
            records.append((rec.rec_type, dict(rec.rec_headers.headers), rec.http_headers,
                            rec.content_stream().read()))
    assert len(members) == len(records) == 1 + 3 * 3
    assert records[0][0] == "warcinfo"
    assert records[0][1]["WARC-Filename"] == path.name
    ids = [r[1]["WARC-Record-ID"] for r in records]
    assert len(set(ids)) == len(ids)
    for i, ref in enumerate(refs):
        resp, req, meta = records[1 + 3 * i: 4 + 3 * i]
        assert (resp[0], req[0], meta[0]) == ("response", "request", "metadata")
        assert resp[1]["WARC-Record-ID"] == ref.record_id
        assert req[1]["WARC-Concurrent-To"] == ref.record_id
        assert meta[1]["WARC-Concurrent-To"] == ref.record_id
        assert req[1]["WARC-Date"] == resp[1]["WARC-Date"] == ref.fetched_at
        assert req[1]["WARC-Target-URI"] == resp[1]["WARC-Target-URI"] == ref.url
        assert "WARC-Payload-Digest" not in meta[1]
        assert resp[1]["WARC-Payload-Digest"] == ref.payload_digest
        assert resp[1]["WARC-IP-Address"] == "127.0.0.1"
        # status line, repeated headers and raw bytes kept; body still gzip-encoded
        assert resp[2].statusline == "200 OK"
        assert [v for k, v in resp[2].headers if k == "Set-Cookie"] == ["a=1; Path=/", "b=\xe9"]
        assert "Мінск" in resp[3].decode("utf-8")  # content_stream() decodes gzip
        assert req[2].protocol == "GET" and req[2].statusline.startswith(f"/story/x/?a=1&n={i}")
    # offsets in the CaptureRef start a gzip member holding the response
    data = path.read_bytes()
    for ref in refs:
        member = gzip.decompress(data[ref.offset: ref.offset + ref.length])
        assert member.startswith(b"WARC/1.1\r\n") and b"WARC-Type: response" in member


def test_open_suffix_until_closed(tmp_path: Path) -> None:
    w = writer(tmp_path)
    ref = w.write_exchange(exchange())
    assert [p.name for p in tmp_path.iterdir()] == [ref.warc_file + ".open"]
    w.close()
    assert [p.name for p in tmp_path.iterdir()] == [ref.warc_file]


def test_rotation_never_splits_an_exchange(tmp_path: Path) -> None:
    w = WarcWriter(tmp_path, prefix="TEST", max_size=1500, warcinfo={"isPartOf": "t"})
    refs = [w.write_exchange(exchange(n), {"via": "v"}) for n in range(6)]
    w.close()
    files = sorted(tmp_path.iterdir())
    assert len(files) >= 3
    assert {r.warc_file for r in refs} == {f.name for f in files}
    for path in files:
        with path.open("rb") as fh:
            types = [r.rec_type for r in ArchiveIterator(fh, check_digests="raise")]
        assert types[0] == "warcinfo" and types.count("warcinfo") == 1
        body = types[1:]
        assert len(body) % 3 == 0 and body == ["response", "request", "metadata"] * (len(body) // 3)


def test_file_names_never_collide() -> None:
    a = warc_filename("P", T0, 0, 1, "host")
    assert a == "P-20260102030405123-00000-1-host.warc.gz"
    assert a != warc_filename("P", T0, 0, 2, "host")  # another process, same instant
    assert a != warc_filename("P", T0, 1, 1, "host")


def test_same_instant_same_process_gets_new_serial(tmp_path: Path) -> None:
    w = writer(tmp_path, max_size=1)  # rotate after every exchange, clock frozen
    names = {w.write_exchange(exchange(n)).warc_file for n in range(3)}
    assert len(names) == 3


@pytest.mark.parametrize("truncated", ["length", "disconnect"])
def test_truncated_marked(tmp_path: Path, truncated: str) -> None:
    ex = exchange()
    ex.truncated = truncated
    with writer(tmp_path) as w:
        w.write_exchange(ex)
    with next(tmp_path.iterdir()).open("rb") as fh:
        resp = [r for r in ArchiveIterator(fh) if r.rec_type == "response"][0]
    assert resp.rec_headers.get_header("WARC-Truncated") == truncated


def test_cdxj_lines_made_while_writing_equal_cdxj_indexer(tmp_path: Path) -> None:
    """RecordIndexer's lines (no read-back) equal cdxj-indexer's reading of the closed file."""
    from dataclasses import replace  # noqa: PLC0415

    from archiver.cdxj import RecordIndexer, index_warc  # noqa: PLC0415
    from archiver.warc import Revisit  # noqa: PLC0415

    indexer = RecordIndexer()
    w = writer(tmp_path / "warcs", on_record=indexer.add)
    first = w.write_exchange(exchange(0), {"role": "article"})
    w.write_exchange(exchange(1, body=b"%PDF-1.4 binary"), {"role": "article"})
    odd = replace(exchange(2, body=b""), status=301, reason="Moved", response_headers=[
        (b"Location", b"/story/y/"), (b"content-type", b" text/html ;charset=x")])
    w.write_exchange(odd)
    bare = replace(exchange(3, body=b"x"), response_headers=[])
    w.write_exchange(bare)
    w.write_exchange(exchange(0), revisit=Revisit(
        "identical-payload-digest", first.record_id, first.url, first.fetched_at,
        first.payload_digest))
    w.write_metadata("urn:x-archiver:run:1", {"pages": "5"})
    name = w.current_file
    w.close()
    ours = indexer.write(name, tmp_path / "indexes")
    theirs = tmp_path / "theirs.cdxj"
    index_warc(tmp_path / "warcs" / name, theirs)
    assert len(ours.read_text().splitlines()) == 5
    assert ours.read_text() == theirs.read_text()


def test_an_exchange_is_one_write(tmp_path: Path) -> None:
    """Response, request and metadata reach the file together: a kill cannot split them.

    The CDXJ hook runs after that write, so it sees every record of the exchange written.
    """
    seen: list[int] = []
    w = writer(tmp_path, on_record=lambda *_: seen.append(w.bytes_written))
    w.write_exchange(exchange(0), {"role": "article"})
    after_first = w.bytes_written
    w.write_exchange(exchange(1), {"role": "article"})
    assert seen == [after_first, w.bytes_written]
    w.close()


@pytest.mark.parametrize("encoding", [b"gzip", b"br", None])
def test_a_compressed_payload_is_huffman_coded_the_rest_fully_deflated(
        tmp_path: Path, encoding: bytes | None) -> None:
    """Deflating gzip or brotli bytes again only costs CPU; the writer trusts the header.

    The body is repetitive on purpose: fully deflated it shrinks to almost nothing,
    Huffman-coded only it cannot (a repeat is still a byte each), so the member's size
    shows which one was used. The record's bytes are the same either way.
    """
    body = b"Minsk, Vitebsk, Hrodna. " * 40_000
    ex = exchange(0, body)
    ex.response_headers = [(k, v) for k, v in ex.response_headers if k != b"Content-Encoding"]
    if encoding:
        ex.response_headers.append((b"Content-Encoding", encoding))
    with writer(tmp_path) as w:
        ref = w.write_exchange(ex, {"via": "seed"})
    path = tmp_path / ref.warc_file
    with path.open("rb") as fh:
        fh.seek(ref.offset)
        member = fh.read(ref.length)
    response = zlib.decompress(member, wbits=31)
    assert response.endswith(body + b"\r\n\r\n")
    if encoding:
        assert len(member) > len(body) / 8  # no match was looked for
    else:
        assert len(member) < len(body) / 100
    with path.open("rb") as fh:  # each record whole and readable either way
        records = list(ArchiveIterator(fh))
    assert [r.rec_type for r in records] == ["warcinfo", "response", "request", "metadata"]
