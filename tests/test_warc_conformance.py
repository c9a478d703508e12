"""WARC.md's rules on a real crawl of odd fixture routes (tests/oddsite.py).

One `archiver crawl --sitemap` of the odd site (gzip, deflate, chunked, repeated
headers, a redirect chain, 404, 500, a binary file, pages over the size limit,
a dropped connection, query strings, non-ASCII URLs), then every record of
every file is checked against the rules, against the bytes the server wrote,
with `warcio check`, with cdxj-indexer, and packaged as a WACZ that
`wacz validate` accepts.
"""

from __future__ import annotations

import gzip
import json
import subprocess
import zipfile
import zlib
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from archiver.cdxj import read_cdxj
from tests import oddsite
from tests.conftest import run_archiver, stop_site
from tests.warcs import BIN, DATE_RE, ID_RE, ODD_SETTINGS, read_records, start_oddsite, warcs


@pytest.fixture(scope="module")
def odd(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("odd")
    site = start_oddsite(tmp)
    archive = tmp / "archive"
    try:
        result = run_archiver("crawl", "--sitemap", site.url + "sitemap.xml", "--archive",
                              str(archive), *ODD_SETTINGS)
        assert "Crawl finished" in result.stdout, result.stdout + result.stderr
        yield archive, site
    finally:
        stop_site(site)


@pytest.fixture(scope="module")
def files(odd):
    return {path: read_records(path) for path in warcs(odd[0])}


def responses(files):
    return {r.get("WARC-Target-URI"): r for recs in files.values() for r in recs
            if r.type == "response"}


def test_warcio_check_passes(odd) -> None:
    proc = subprocess.run([str(BIN / "warcio"), "check", "-v", *map(str, warcs(odd[0]))],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "digest pass" in proc.stdout and "fail" not in proc.stdout


def test_files_gzip_members_and_warcinfo(files) -> None:
    """A1, A3, A4, A6: suffix, one member per record, one version, warcinfo first."""
    for path, recs in files.items():
        assert path.name.endswith(".warc.gz")
        assert {r.version for r in recs} == {"WARC/1.1"}
        assert recs[0].type == "warcinfo" and [r.type for r in recs].count("warcinfo") == 1
        info = recs[0]
        assert info.get("WARC-Filename") == path.name
        assert info.get("Content-Type") == "application/warc-fields"
        fields = dict(line.split(": ", 1) for line in info.block.decode().splitlines())
        for name in ("software", "format", "conformsTo", "isPartOf", "robots", "hostname",
                     "http-header-user-agent"):
            assert fields.get(name), name
        assert fields["operator"] == "WARC Tests <warc-tests@example.org>"
        assert fields["format"] == "WARC File Format 1.1"


def test_named_fields(files) -> None:
    """B1-B8: mandatory fields, ids, dates, no repeats, placement, content types."""
    ids = Counter()
    for recs in files.values():
        info_id = recs[0].get("WARC-Record-ID")
        for r in recs:
            names = [k for k, _ in r.headers]
            for name in ("WARC-Record-ID", "Content-Length", "WARC-Date", "WARC-Type"):
                assert name in names
            repeated = {n for n in names if names.count(n) > 1}
            assert repeated <= {"WARC-Concurrent-To"}, repeated
            assert ID_RE.match(r.get("WARC-Record-ID")) and DATE_RE.match(r.get("WARC-Date"))
            ids[r.get("WARC-Record-ID")] += 1
            uri = r.get("WARC-Target-URI")
            if r.type == "warcinfo":
                assert uri is None and r.get("WARC-IP-Address") is None
                continue
            assert r.get("WARC-Warcinfo-ID") == info_id
            assert "WARC-Filename" not in names and "WARC-Profile" not in names
            if r.type in ("response", "request"):
                assert uri and not any(c.isspace() or ord(c) > 127 for c in uri)
                assert not uri.startswith("<")
                kind = r.get("Content-Type", "").replace(" ", "")
                assert kind == f"application/http;msgtype={r.type}"
                assert r.get("WARC-IP-Address") == "127.0.0.1"
                assert r.get("WARC-Block-Digest", "").startswith("sha1:")
            if r.type == "response":
                assert r.get("WARC-Payload-Digest", "").startswith("sha1:")
            if r.type == "metadata":
                assert r.get("WARC-Payload-Digest") is None
                assert r.get("Content-Type") == "application/warc-fields"
    assert max(ids.values()) == 1


def test_pairing_adjacent_same_date(files) -> None:
    """C6, C7: request right after its response, same date and URI, path and query kept."""
    for recs in files.values():
        for i, r in enumerate(recs):
            if r.type != "response":
                continue
            req = recs[i + 1]
            assert req.type == "request" and req.get("WARC-Concurrent-To") == r.get(
                "WARC-Record-ID")
            assert req.get("WARC-Date") == r.get("WARC-Date")
            assert req.get("WARC-Target-URI") == r.get("WARC-Target-URI")
            parts = urlsplit(r.get("WARC-Target-URI"))
            target = parts.path + (f"?{parts.query}" if parts.query else "")
            assert req.block.split(b"\r\n", 1)[0] == f"GET {target} HTTP/1.1".encode()
            assert req.http.get_header("Host") == parts.netloc


def test_every_served_exchange_is_archived(odd, files) -> None:
    served = Counter(e["path"] for e in odd[1].requests())
    archived = Counter()
    for recs in files.values():
        for r in recs:
            if r.type == "response":
                parts = urlsplit(r.get("WARC-Target-URI"))
                archived[parts.path + (f"?{parts.query}" if parts.query else "")] += 1
    assert archived == served


def wire_head(path: str) -> bytes:
    status, headers, body, transfer = oddsite.ROUTES[path]
    lines = [status, b"Server: oddsite"] + [k + b": " + v for k, v in headers]
    if transfer != "chunked":
        lines.append(b"Content-Length: %d" % len(body))
    return b"\r\n".join(lines) + b"\r\n\r\n"


@pytest.mark.parametrize("path", ["/story/headers/", "/story/missing/", "/story/gzip/",
                                  "/story/deflate/", "/story/chunked/", "/story/chunked-gzip/",
                                  "/story/file.bin", "/story/error/", "/story/redirect-1/",
                                  "/story/redirect-2/", "/story/q?a=1&b=two",
                                  "/story/%D0%BC%D1%96%D0%BD%D1%81%D0%BA/",
                                  "/story/search?q=%D0%BC%D1%96%D0%BD%D1%81%D0%BA"])
def test_head_and_body_as_received(odd, files, path: str) -> None:
    """C1-C5: the real status line, every header line as sent (case, order, repeats),
    the body still content-encoded; chunked bodies de-chunked without Transfer-Encoding."""
    r = responses(files)[odd[1].url.rstrip("/") + path]
    status, _headers, body, _transfer = oddsite.ROUTES[path]
    assert r.block == wire_head(path) + body
    assert r.get("WARC-Truncated") is None


def test_reason_phrases_and_repeated_headers(odd, files) -> None:
    base = odd[1].url.rstrip("/")
    got = responses(files)
    assert got[base + "/story/headers/"].http.statusline == "200 Everything Is Fine"
    assert got[base + "/story/missing/"].http.statusline == "404 Gone Fishing"
    http = got[base + "/story/headers/"].http
    assert [v for k, v in http.headers if k == "Set-Cookie"] == ["a=1; Path=/",
                                                               "b=2; Path=/; HttpOnly", "c=3"]
    assert ("X-Odd-CASE", "kept") in http.headers and ("x-repeat", "one") in http.headers
    assert gzip.decompress(got[base + "/story/gzip/"].body).startswith(b"<!doctype html>")
    assert zlib.decompress(got[base + "/story/deflate/"].body).startswith(b"<!doctype html>")


@pytest.mark.parametrize("path", ["/story/big/", "/story/big-chunked/"])
def test_body_over_the_size_limit_is_archived_truncated(odd, files, path: str) -> None:
    """B9: a body cut by DOWNLOAD_MAXSIZE is kept up to the limit, marked `length`."""
    r = responses(files)[odd[1].url.rstrip("/") + path]
    assert r.get("WARC-Truncated") == "length"
    assert r.body == oddsite.ROUTES[path][2][:100_000]


def test_dropped_connection_is_archived_as_disconnect(odd, files) -> None:
    drops = [r for recs in files.values() for r in recs
             if r.type == "response" and r.get("WARC-Target-URI").endswith("/story/drop/")]
    assert len(drops) == 2  # first try and one retry
    body = oddsite.ROUTES["/story/drop/"][2]
    for r in drops:
        assert r.get("WARC-Truncated") == "disconnect"
        assert body.startswith(r.body) and 0 < len(r.body) < len(body)


def test_cdxj_covers_every_response_and_matches_cdxj_indexer(odd, files, tmp_path) -> None:
    """E1: one line per response/revisit, same offset, URL, status; as cdxj-indexer says."""
    archive = odd[0]
    for path, recs in files.items():
        ours = archive / "indexes" / (path.name + ".cdxj")
        lines = read_cdxj(ours)
        wanted = {(r.offset, r.get("WARC-Target-URI"), r.http.get_statuscode())
                  for r in recs if r.type in ("response", "revisit")}
        assert len(lines) == len(wanted)
        assert {(c.offset, c.fields["url"], c.fields["status"]) for c in lines} == wanted
        fresh = tmp_path / "fresh.cdxj"
        subprocess.run([str(BIN / "cdxj-indexer"), "-s", "-o", str(fresh), str(path)],
                       check=True)
        assert fresh.read_text() == ours.read_text()


def test_verify_finds_nothing_wrong(odd) -> None:
    proc = run_archiver("verify", "--archive", str(odd[0]))
    assert proc.returncode == 0, proc.stdout
    assert "no problems" in proc.stdout


def test_wacz_export_validates(odd, tmp_path) -> None:
    """E3: `archiver export wacz` output passes `wacz validate`; WARCs stored, pages listed."""
    out = tmp_path / "odd.wacz"
    proc = run_archiver("export", "wacz", "--archive", str(odd[0]), "--output", str(out))
    assert proc.returncode == 0, proc.stderr
    check = subprocess.run([str(BIN / "wacz"), "validate", "-f", str(out)],
                           capture_output=True, text=True)
    assert check.returncode == 0 and "is valid" in check.stdout, check.stdout
    with zipfile.ZipFile(out) as z:
        infos = {i.filename: i for i in z.infolist()}
        names = {f"archive/{p.name}" for p in warcs(odd[0])}
        assert names <= set(infos)
        assert all(infos[n].compress_type == zipfile.ZIP_STORED for n in names)
        assert {"indexes/index.cdx.gz", "indexes/index.idx", "pages/pages.jsonl",
                "datapackage.json", "datapackage-digest.json"} <= set(infos)
        package = json.loads(z.read("datapackage.json"))
        assert {r["path"] for r in package["resources"]} >= names
        assert all(r["hash"].startswith("sha256:") for r in package["resources"])
        pages = [json.loads(line) for line in z.read("pages/pages.jsonl").splitlines()]
    assert pages[0]["format"] == "json-pages-1.0"
    assert all(p["url"] and p["ts"] and "title" in p and "text" in p for p in pages[1:])


def test_cli_errors_are_one_line(tmp_path: Path) -> None:
    for args in (["verify"], ["export", "wacz"]):
        proc = run_archiver(*args, "--archive", str(tmp_path / "nowhere"))
        assert proc.returncode == 2
        assert proc.stderr.startswith("archiver: error:") and proc.stderr.count("\n") == 1


def test_no_lost_content_encoding_and_lengths_consistent(files) -> None:
    """C4, C9: a text body that looks gzipped declares it; Content-Length fits the body."""
    for recs in files.values():
        for r in recs:
            if r.type != "response":
                continue
            kind = r.http.get_header("Content-Type") or ""
            if kind.startswith("text/") and not r.http.get_header("Content-Encoding"):
                assert not r.body.startswith(b"\x1f\x8b"), r.get("WARC-Target-URI")
            length = r.http.get_header("Content-Length")
            if length is not None and not r.get("WARC-Truncated"):
                assert int(length) == len(r.body), r.get("WARC-Target-URI")
            assert r.http.get_header("Transfer-Encoding") is None
