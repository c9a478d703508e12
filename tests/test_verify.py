"""archiver.verify: every kind of damage is reported in plain words; --repair fixes a crash."""

from __future__ import annotations

import gzip
import os
import socket
import sqlite3
from pathlib import Path

from click.testing import CliRunner

from archiver.cli import cli
from archiver.verify import scan_warc, verify_archive
from archiver.warc import WarcWriter  # noqa: I001
from tests.test_warc_writer import exchange
from tests.warcs import gzip_members, read_records


def make_archive(tmp_path: Path, n: int = 3, *, close: bool = True,
                 pid: int = 999_999_999) -> tuple[Path, WarcWriter, list]:
    archive = tmp_path / "archive"
    from archiver.cdxj import index_closed_warc

    w = WarcWriter(archive / "warcs", prefix="TEST", pid=pid, warcinfo={"isPartOf": "t"},
                   on_close=lambda p: index_closed_warc(p, archive / "indexes"))
    refs = [w.write_exchange(exchange(i), {"via": "x"}) for i in range(n)]
    if close:
        w.close()
    db = sqlite3.connect(archive / "index.db")
    db.execute("create table articles (url, warc_file, warc_offset, warc_length, record_id, "
               "payload_digest)")
    db.executemany("insert into articles values (?, ?, ?, ?, ?, ?)",
                   [(r.url, r.warc_file, r.offset, r.length, r.record_id, r.payload_digest)
                    for r in refs])
    db.commit()
    db.close()
    return archive, w, refs


def only_warc(archive: Path) -> Path:
    (path,) = (archive / "warcs").iterdir()
    return path


def test_clean_archive_verifies(tmp_path: Path) -> None:
    archive, _, _ = make_archive(tmp_path)
    report = verify_archive(archive)
    assert report.ok, report.problems
    assert (report.files, report.records, report.articles) == (1, 10, 3)


def rewrite_member(path: Path, index: int, change) -> None:
    members = gzip_members(path)
    data = path.read_bytes()
    offset, length, raw = members[index]
    new = change(raw)
    blob = gzip.compress(new, mtime=0) if new else b""
    path.write_bytes(data[:offset] + blob + data[offset + length:])


def test_bad_digest_and_missing_request_are_reported(tmp_path: Path) -> None:
    archive, _, _ = make_archive(tmp_path)
    path = only_warc(archive)
    rewrite_member(path, 1, lambda raw: raw.replace(b"Set-Cookie: a=1", b"Set-Cookie: a=2"))
    rewrite_member(path, 5, lambda raw: b"")  # the second exchange's request record
    report = verify_archive(archive)
    text = "\n".join(report.problems)
    assert "digest does not verify" in text
    assert "is not followed by its request record" in text
    assert "no record at" in text  # index rows after the removed record moved
    proc = CliRunner().invoke(cli, ["verify", "--archive", str(archive)])
    assert proc.exit_code == 1 and "problem:" in proc.output


def test_index_rows_must_match_the_warc(tmp_path: Path) -> None:
    archive, _, refs = make_archive(tmp_path)
    db = sqlite3.connect(archive / "index.db")
    db.execute("update articles set payload_digest = 'sha1:XXXX' where url = ?", (refs[0].url,))
    db.execute("update articles set warc_offset = 7 where url = ?", (refs[1].url,))
    db.commit()
    db.close()
    text = "\n".join(verify_archive(archive).problems)
    assert f"article {refs[0].url}: the payload digest differs" in text
    assert f"article {refs[1].url}: no record at {refs[1].warc_file} offset 7" in text


def test_missing_cdxj_is_reported_and_repaired(tmp_path: Path) -> None:
    archive, _, _ = make_archive(tmp_path)
    for f in (archive / "indexes").iterdir():
        f.unlink()
    assert "no CDXJ index" in "\n".join(verify_archive(archive).problems)
    report = verify_archive(archive, repair=True)
    assert report.ok and report.repaired


def test_repair_trims_a_torn_tail_and_closes_the_file(tmp_path: Path) -> None:
    archive, w, refs = make_archive(tmp_path, n=3, close=False)
    path = only_warc(archive)
    assert path.name.endswith(".open")
    before = read_records(path)
    # a crash in the middle of the next exchange: its response is whole, its request torn
    w.write_exchange(exchange(9), {"via": "x"})
    w._file.close()  # the process dies: no close(), no rename
    w._file = None
    members = gzip_members(path)
    data = path.read_bytes()
    torn = members[-2][0] + members[-2][1] // 2  # half of the request member
    path.write_bytes(data[:torn])
    report = verify_archive(archive)
    text = "\n".join(report.problems)
    assert "torn tail" in text and "still open" in text
    report = verify_archive(archive, repair=True)
    assert report.ok, report.problems
    assert any("trimmed a torn tail" in line for line in report.repaired)
    assert any("lost their request record" in line for line in report.repaired)
    final = only_warc(archive)
    assert final.name == refs[0].warc_file
    after = read_records(final)
    kept = [r.get("WARC-Record-ID") for r in after]
    assert [r.get("WARC-Record-ID") for r in before] == kept[: len(before)]
    assert [r.type for r in after[len(before):]] == ["response", "metadata"]
    assert (archive / "indexes" / (final.name + ".cdxj")).exists()
    assert verify_archive(archive, repair=True).repaired == []  # twice is harmless


def test_repair_leaves_a_live_writers_file_alone(tmp_path: Path) -> None:
    archive = tmp_path / "archive"
    w = WarcWriter(archive / "warcs", prefix="TEST", pid=os.getpid(),
                   hostname=socket.gethostname(), warcinfo={"isPartOf": "t"})
    w.write_exchange(exchange(), {"via": "x"})
    report = verify_archive(archive, repair=True)
    assert any("still running" in line for line in report.repaired)
    assert only_warc(archive).name.endswith(".open")
    w.close()


def test_scan_stops_at_corrupt_gzip(tmp_path: Path) -> None:
    archive, _, _ = make_archive(tmp_path)
    path = only_warc(archive)
    data = bytearray(path.read_bytes())
    offset = gzip_members(path)[2][0]
    data[offset + 20: offset + 40] = b"\0" * 20
    path.write_bytes(bytes(data))
    scan = scan_warc(path)
    assert any("corrupt gzip data" in p or "digest" in p or "cannot be read" in p
               for p in scan.problems), scan.problems
