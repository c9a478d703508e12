"""Issue 3, points 2 and 6: rotation under a tiny size limit; a crawl killed with SIGKILL,
repaired with `archiver verify --repair`, then crawled again, verifies clean."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter

from archiver.verify import scan_warc
from tests.conftest import FAST, guarded_env, run_archiver, start_site, stop_site
from tests.warcs import ODD_SETTINGS, gzip_members, read_records, start_oddsite, warcs


def test_rotation_under_a_tiny_size_limit(tmp_path) -> None:
    site = start_oddsite(tmp_path)
    archive = tmp_path / "archive"
    try:
        proc = run_archiver("crawl", "--sitemap", site.url + "sitemap.xml", "--archive",
                            str(archive), *ODD_SETTINGS, "-s", "ARCHIVER_WARC_MAX_SIZE=4000")
        served = len(site.requests())
    finally:
        stop_site(site)
    assert "Crawl finished" in proc.stdout, proc.stdout + proc.stderr
    files = warcs(archive)
    assert len(files) >= 5
    responses = 0
    for path in files:
        assert path.name.endswith(".warc.gz")
        recs = read_records(path)
        assert recs[0].type == "warcinfo" and recs[0].get("WARC-Filename") == path.name
        assert [r.type for r in recs].count("warcinfo") == 1
        for i, r in enumerate(recs):
            if r.type == "response":  # every exchange whole, in one file
                responses += 1
                assert recs[i + 1].type == "request"
                assert recs[i + 1].get("WARC-Concurrent-To") == r.get("WARC-Record-ID")
        assert (archive / "indexes" / (path.name + ".cdxj")).exists()
    assert responses == served
    check = run_archiver("verify", "--archive", str(archive))
    assert check.returncode == 0, check.stdout


def test_sigkill_then_repair_then_crawl_again(tmp_path, demo_truth) -> None:
    site = start_site(tmp_path)
    archive = tmp_path / "archive"
    slow = ["-s", "DOWNLOAD_DELAY=0.05", "-s", "AUTOTHROTTLE_ENABLED=False",
            "-s", "CONCURRENT_REQUESTS_PER_DOMAIN=1"]
    try:
        crawl = subprocess.Popen(
            [sys.executable, "-m", "archiver", "crawl", site.url, "--archive", str(archive),
             *slow], env=guarded_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + 120
        open_file = None
        while time.monotonic() < deadline and crawl.poll() is None:
            found = [p for p in (archive / "warcs").glob("*.open")] if archive.exists() else []
            if found and found[0].stat().st_size > 60_000:
                open_file = found[0]
                break
            time.sleep(0.02)
        assert open_file is not None, "the crawl ended before it could be killed"
        os.killpg(crawl.pid, signal.SIGKILL)  # the crawl and its extraction workers
        crawl.wait(timeout=30)

        # At worst an .open file whose complete records all read back.
        scan = scan_warc(open_file)
        assert not [p for p in scan.problems if "torn" not in p]
        if scan.complete_end == scan.size:  # the kill fell between two writes: tear one
            offset, length, _ = gzip_members(open_file)[-1]
            data = open_file.read_bytes()
            with open_file.open("ab") as fh:
                fh.write(data[offset: offset + length // 2])
        complete = [r.id for r in scan.records]
        assert len(complete) > 10

        broken = run_archiver("verify", "--archive", str(archive))
        assert broken.returncode == 1 and "still open" in broken.stdout
        assert "torn tail" in broken.stdout
        repaired = run_archiver("verify", "--archive", str(archive), "--repair")
        assert repaired.returncode == 0, repaired.stdout
        assert "trimmed a torn tail" in repaired.stdout

        again = run_archiver("crawl", site.url, "--archive", str(archive), *FAST)
        assert "Crawl finished" in again.stdout, again.stdout + again.stderr
    finally:
        stop_site(site)
    final = run_archiver("verify", "--archive", str(archive))
    assert final.returncode == 0, final.stdout
    ids = Counter(r.get("WARC-Record-ID") for p in warcs(archive) for r in read_records(p))
    assert set(complete) <= set(ids) and max(ids.values()) == 1
    assert not list((archive / "warcs").glob("*.open"))
    db = sqlite3.connect(archive / "index.db")
    total, distinct = db.execute(
        "select count(*), count(distinct canonical_url) from articles").fetchone()
    db.close()
    assert total == distinct == len(demo_truth.articles)
