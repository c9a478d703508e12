"""Issue 6, bad input: every mistake is one line on stderr and a non-zero exit, and the
archive that was already there is left exactly as it was (WARC checksums, index rows).

The read-only and full-disk cases use a real tmpfs (they need `mount`, i.e. root: the
test suite runs as root in CI; elsewhere they are skipped, never faked).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import FAST, run_archiver

TABLES = ("articles", "captures", "feed_items", "crawl_runs", "article_failures")


def fingerprint(archive: Path) -> dict[str, object]:
    """Checksums of every WARC file and the rows of every index table."""
    warcs = {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
             for p in sorted((archive / "warcs").iterdir())}
    db = sqlite3.connect(archive / "index.db")
    try:
        rows = {t: sorted(map(tuple, db.execute(f"select * from {t}").fetchall()))  # noqa: S608
                for t in TABLES}
    finally:
        db.close()
    return {"warcs": warcs, "rows": rows}


def one_line(proc: subprocess.CompletedProcess[str], *fragments: str, status: int = 2) -> str:
    assert proc.returncode == status, (proc.returncode, proc.stdout, proc.stderr)
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("archiver: error: ") and "Traceback" not in proc.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


@pytest.fixture
def existing(demo_crawl, tmp_path: Path) -> Path:
    """A copy of a real archive (WARCs and index) to make mistakes against."""
    archive = tmp_path / "archive"
    shutil.copytree(demo_crawl.archive, archive)
    return archive


@pytest.mark.parametrize("args, fragments", [
    (["nosuchprofile"], ["unknown profile 'nosuchprofile'"]),
    (["http://"], ["not an http(s) URL"]),
    (["http://127.0.0.1:99999/"], ["malformed port"]),
    (["--profile", "/nonexistent/site.toml"], ["cannot read profile"]),
    (["--feed", "feed.xml"], ["not an http(s) URL"]),
    (["http://127.0.0.1/", "-s", "ARCHIVER_TRAP_MAX_SHAPE_URLS=lots"],
     ["ARCHIVER_TRAP_MAX_SHAPE_URLS must be an integer"]),
    (["http://127.0.0.1/", "-s", "ARCHIVER_RETRY_BACKOFF=-1"], ["ARCHIVER_RETRY_BACKOFF must be"]),
])
def test_bad_command_line_leaves_the_archive_intact(existing: Path, demo_site, args,
                                                    fragments) -> None:
    before, asked = fingerprint(existing), len(demo_site.requests())
    one_line(run_archiver("crawl", *args, "--archive", str(existing)), *fragments)
    assert fingerprint(existing) == before
    assert len(demo_site.requests()) == asked


def test_corrupt_index_is_refused_before_anything_is_written(existing: Path, demo_site) -> None:
    index = existing / "index.db"
    for name in ("index.db-wal", "index.db-shm"):
        (existing / name).unlink(missing_ok=True)
    index.write_bytes(b"\x00garbage, not SQLite\x00" * 500)
    warcs = fingerprint_warcs(existing)
    asked = len(demo_site.requests())
    one_line(run_archiver("crawl", demo_site.url, "--archive", str(existing), *FAST),
             "cannot use index", "index.db")
    assert index.read_bytes() == b"\x00garbage, not SQLite\x00" * 500
    assert fingerprint_warcs(existing) == warcs  # no new WARC file either
    assert len(demo_site.requests()) == asked
    for command in ("search", "stats", "export"):
        args = [command, "x"] if command == "search" else [command]
        one_line(run_archiver(*args, "--archive", str(existing)), "cannot use index")


def test_foreign_index_is_left_alone(existing: Path, demo_site) -> None:
    index = existing / "index.db"
    for name in ("index.db", "index.db-wal", "index.db-shm"):
        (existing / name).unlink(missing_ok=True)
    db = sqlite3.connect(index)
    db.execute("create table notes (id integer primary key, body text)")
    db.execute("insert into notes (body) values ('mine, not the archiver''s')")
    db.commit()
    db.close()
    digest = hashlib.sha256(index.read_bytes()).hexdigest()
    warcs = fingerprint_warcs(existing)
    one_line(run_archiver("crawl", demo_site.url, "--archive", str(existing), *FAST),
             "not a digest-archiver index")
    assert hashlib.sha256(index.read_bytes()).hexdigest() == digest
    assert fingerprint_warcs(existing) == warcs


def fingerprint_warcs(archive: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted((archive / "warcs").iterdir())}


@contextlib.contextmanager
def tmpfs(where: Path, size: str) -> Iterator[Path]:
    where.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("needs root and mount(8) for a real tmpfs")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def test_read_only_archive(existing: Path, demo_site, tmp_path: Path) -> None:
    with tmpfs(tmp_path / "ro", "64m") as mnt:
        archive = mnt / "archive"
        shutil.copytree(existing, archive)
        before = fingerprint(archive)
        subprocess.run(["mount", "-o", "remount,ro", str(mnt)], check=True)
        asked = len(demo_site.requests())
        one_line(run_archiver("crawl", demo_site.url, "--archive", str(archive), *FAST),
                 "not writable", "Read-only file system")
        assert len(demo_site.requests()) == asked
        subprocess.run(["mount", "-o", "remount,rw", str(mnt)], check=True)
        assert fingerprint(archive) == before


def test_full_disk_during_a_crawl(existing: Path, demo_site, tmp_path: Path) -> None:
    """The disk fills up while the crawl writes: one line, exit 1, nothing lost."""
    with tmpfs(tmp_path / "full", "16m") as mnt:
        archive = mnt / "archive"
        shutil.copytree(existing, archive)
        before = fingerprint(archive)
        free = shutil.disk_usage(mnt).free
        filler = mnt / "filler"
        with filler.open("wb") as fh:  # leave 300 KB: the index opens, the WARC fills up
            fh.write(b"\0" * max(0, free - 300_000))
        proc = run_archiver("crawl", demo_site.url, "--archive", str(archive), *FAST)
        line = one_line(proc, status=proc.returncode)
        assert proc.returncode in (1, 2)
        assert "No space left on device" in line or "disk" in line, line
        filler.unlink()
        after = fingerprint(archive)
        for name, digest in before["warcs"].items():  # type: ignore[union-attr]
            assert after["warcs"][name] == digest  # type: ignore[index]
        for table, rows in before["rows"].items():  # type: ignore[union-attr]
            assert set(rows) <= set(after["rows"][table]) or table == "articles", table  # type: ignore[index]
        before_articles = {r[0]: r for r in before["rows"]["articles"]}  # type: ignore[index]
        after_articles = {r[0]: r for r in after["rows"]["articles"]}  # type: ignore[index]
        assert set(before_articles) <= set(after_articles)
        # the one-line error says what happened and where the log is; `verify` sees the
        # cut file, and --repair makes the archive whole again
        repaired = run_archiver("verify", "--archive", str(archive), "--repair")
        assert "Traceback" not in repaired.stderr
