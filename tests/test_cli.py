"""The `archiver` CLI as a user runs it: subprocesses, real files, one-line errors."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import FAST, REPO, guarded_env, run_archiver


def one_line_error(proc: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    for fragment in fragments:
        assert fragment in lines[0]


def test_demo_as_a_newcomer(tmp_path: Path) -> None:
    """`archiver demo` in a fresh folder: serves, crawls into ./archive, prints how to search."""
    proc = run_archiver("demo", cwd=tmp_path, check=True)
    out = proc.stdout
    assert "serving at http://127.0.0.1:" in out
    assert "Crawl finished" in out
    articles = int(out.split("articles indexed:")[1].split()[0])
    assert articles >= 30
    assert "archiver search" in out and "archiver serve" in out
    db = sqlite3.connect(tmp_path / "archive" / "index.db")
    assert db.execute("select count(*) from articles").fetchone()[0] == articles
    db.close()
    assert list((tmp_path / "archive" / "warcs").glob("*.warc.gz"))
    found = run_archiver("search", "Klaipeda", "--json", cwd=tmp_path, check=True)
    assert "Foreign Policy Digest" in json.loads(found.stdout.splitlines()[0])["title"]
    # a second demo into the same archive is an incremental crawl of the same URLs
    again = run_archiver("demo", cwd=tmp_path, check=True)
    assert f"articles indexed: {articles}" in again.stdout
    db = sqlite3.connect(tmp_path / "archive" / "index.db")
    runs = db.execute("select articles_new from crawl_runs order by started_at").fetchall()
    db.close()
    assert runs == [(articles,), (0,)]


def test_scrapy_crawl_works_too(tmp_path: Path, demo_site) -> None:
    archive = tmp_path / "arch"
    args = [sys.executable, "-m", "scrapy", "crawl", "digest", "-a", f"target={demo_site.url}",
            "-s", f"ARCHIVER_ARCHIVE_DIR={archive}", *FAST, "-s", "LOG_LEVEL=WARNING"]
    proc = subprocess.run(args, cwd=REPO, env=guarded_env(), capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    db = sqlite3.connect(archive / "index.db")
    assert db.execute("select count(*) from articles").fetchone()[0] >= 30
    db.close()


def test_settings_pass_through(tmp_path: Path, demo_site) -> None:
    before = len(demo_site.requests())
    proc = run_archiver("crawl", demo_site.url, "--archive", str(tmp_path / "a"), *FAST,
                        "-s", "CLOSESPIDER_PAGECOUNT=5", "-s", "CONCURRENT_REQUESTS=1")
    assert "closespider_pagecount" in proc.stdout
    fetched = len(demo_site.requests()) - before
    assert 5 <= fetched <= 8  # the page count stops the crawl; in-flight requests finish


def test_feed_only_crawl(tmp_path: Path, demo_site) -> None:
    proc = run_archiver("crawl", "--feed", demo_site.url + "feed/", "--archive",
                        str(tmp_path / "a"), *FAST, check=True)
    assert "articles indexed: 20" in proc.stdout  # the feed lists the newest 20


@pytest.mark.parametrize("args, fragments", [
    (["crawl", "nosuchprofile"], ["unknown profile 'nosuchprofile'", "belarusdigest"]),
    (["crawl", "http://"], ["not an http(s) URL"]),
    (["crawl", "ftp://example.org/"], ["not an http(s) URL"]),
    (["crawl", "http://127.0.0.1:99999/"], ["malformed port"]),
    (["crawl", "--profile", "/nonexistent/site.toml"], ["cannot read profile"]),
    (["crawl", "http://127.0.0.1/", "-s", "ARCHIVER_WARC_MAX_SIZE=big"],
     ["ARCHIVER_WARC_MAX_SIZE must be an integer"]),
    (["crawl", "http://127.0.0.1/", "-s", "NOEQUALS"], ["expected NAME=VALUE"]),
    (["crawl"], ["give at least one TARGET"]),
    (["search", "x", "--archive", "/nonexistent/archive"], ["no index at"]),
    (["serve", "--archive", "/nonexistent/archive"], ["no index at"]),
])
def test_user_mistakes_get_one_line(args: list[str], fragments: list[str]) -> None:
    one_line_error(run_archiver(*args), *fragments)


def test_bad_profile_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("name = 'x'\narticle_patterns = ['(']\n")
    one_line_error(run_archiver("crawl", "--profile", str(bad)), "bad pattern")
    bad.write_text("name = \n")
    one_line_error(run_archiver("crawl", "--profile", str(bad)), "not valid TOML")


def test_unwritable_archive(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    one_line_error(run_archiver("crawl", "http://127.0.0.1:1/", "--archive",
                                str(blocker / "archive")), "not writable")


def test_foreign_index(tmp_path: Path) -> None:
    (tmp_path / "index.db").write_bytes(b"this is not sqlite" * 100)
    one_line_error(run_archiver("search", "x", "--archive", str(tmp_path)), "cannot use index")
    other = tmp_path / "other"
    other.mkdir()
    sqlite3.connect(other / "index.db").execute("create table t (x)").connection.close()
    one_line_error(run_archiver("search", "x", "--archive", str(other)), "not a digest-archiver")


def test_malformed_search_query(demo_crawl) -> None:
    for query in ['"unbalanced', "AND", "title:("]:
        one_line_error(run_archiver("search", query, "--archive", str(demo_crawl.archive)),
                       "cannot parse search query")


def test_search_query_language(demo_crawl) -> None:
    def titles(query: str) -> list[str]:
        proc = run_archiver("search", query, "--archive", str(demo_crawl.archive), "--json",
                            "--limit", "50", check=True)
        return [json.loads(line)["title"] for line in proc.stdout.splitlines()]

    assert titles('"Klaipeda seaport"') and len(titles("Klaipeda")) == 2
    assert len(titles("Klaipeda NOT Astravets")) == 1
    assert set(titles("Klaipeda OR Venezuela")) >= set(titles("Venezuela"))
    assert titles("Klaip*") == titles("Klaipeda")
    # diacritics removed: "Walesa" finds "Wałęsa", Cyrillic is tokenised
    assert titles("Walesa") and titles("Wałęsa") == titles("Walesa")
    assert titles("Мова")


def test_unreachable_site_fails_with_summary(tmp_path: Path) -> None:
    proc = run_archiver("crawl", "http://127.0.0.1:9/", "--archive", str(tmp_path / "a"), *FAST,
                        "-s", "RETRY_TIMES=0")
    assert proc.returncode == 1
    assert "pages fetched:    0" in proc.stdout
    assert "did not finish cleanly" in proc.stderr and "Traceback" not in proc.stderr
