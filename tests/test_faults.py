"""Issue 6 end to end: a real crawl of the fault-injecting site (tests/faultsite.py).

Each test judges one behaviour three ways: what the server's own request log
says was asked for, what is in the WARC files, and what is (or is not) in
index.db. Timeouts, backoff and trap limits are set small with `-s`.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from warcio.archiveiterator import ArchiveIterator

from tests.conftest import SiteServer, guarded_env, run_archiver

SETTINGS = {
    "DOWNLOAD_DELAY": "0", "AUTOTHROTTLE_ENABLED": "False", "CONCURRENT_REQUESTS_PER_DOMAIN": "8",
    "DOWNLOAD_TIMEOUT": "1.5", "ARCHIVER_RETRY_BACKOFF": "0.25", "DOWNLOAD_MAXSIZE": "100000",
    "ARCHIVER_TRAP_MAX_SHAPE_URLS": "5", "ARCHIVER_TRAP_MAX_QUERY_VARIANTS": "5",
    "REDIRECT_MAX_TIMES": "5", "ARCHIVER_EXTRACT_WORKERS": "1",
}
PROFILE = """name = "faults"
home = ["{url}"]
discover = true
article_patterns = ['^/story/', '^/\\?p=\\d+$']
listing_patterns = ['^/category/', '^/shop/']
"""


def start_faultsite(tmp: Path, *args: str) -> SiteServer:
    log = tmp / "fault-requests.jsonl"
    log.touch()
    proc = subprocess.Popen([sys.executable, "-m", "tests.faultsite", "--request-log", str(log),
                             *args], env=guarded_env(), stdout=subprocess.PIPE, text=True,
                            stdin=subprocess.DEVNULL)
    assert proc.stdout is not None
    url = proc.stdout.readline().strip()
    assert url.startswith("http://127.0.0.1:"), url
    return SiteServer(url=url, request_log=log, process=proc)


def settings_args(**extra: str) -> list[str]:
    return [a for k, v in {**SETTINGS, **extra}.items() for a in ("-s", f"{k}={v}")]


@dataclass
class FaultCrawl:
    site: SiteServer
    archive: Path
    profile: Path
    first: list[dict]  # the server's log of the first crawl
    proc: subprocess.CompletedProcess[str]

    def db(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.archive / "index.db")
        conn.row_factory = sqlite3.Row
        return conn

    def query(self, sql: str, *params: object) -> list[sqlite3.Row]:
        conn = self.db()
        try:
            return conn.execute(sql, params).fetchall()
        finally:
            conn.close()

    def url(self, path: str) -> str:
        return self.site.url.rstrip("/") + path

    def hits(self, path: str) -> list[dict]:
        return [r for r in self.first if r["path"] == path]

    def article(self, path: str) -> sqlite3.Row | None:
        rows = self.query("select * from articles where canonical_url = ?", self.url(path))
        return rows[0] if rows else None

    def failure(self, path: str) -> str | None:
        rows = self.query("select reason from article_failures where url = ?", self.url(path))
        return rows[0]["reason"] if rows else None

    def statuses(self, path: str) -> list[int]:
        return [r["status"] for r in self.query(
            "select status from captures where url = ? order by fetched_at", self.url(path))]


def responses(archive: Path) -> list[dict]:
    """Every response record in the archive: URL, status, WARC headers, payload."""
    found = []
    for path in sorted((archive / "warcs").iterdir()):
        with path.open("rb") as fh:
            for rec in ArchiveIterator(fh):
                if rec.rec_type == "response":
                    found.append({
                        "url": rec.rec_headers.get_header("WARC-Target-URI"),
                        "status": int(rec.http_headers.get_statuscode()),
                        "truncated": rec.rec_headers.get_header("WARC-Truncated"),
                        "id": rec.rec_headers.get_header("WARC-Record-ID"),
                        "body": rec.raw_stream.read(),
                    })
    return found


@pytest.fixture(scope="module")
def fault(tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("faults")
    site = start_faultsite(tmp)
    profile = tmp / "faults.toml"
    profile.write_text(PROFILE.format(url=site.url))
    archive = tmp / "archive"
    proc = run_archiver("crawl", "--profile", str(profile), "--archive", str(archive),
                        *settings_args(), timeout=240)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    yield FaultCrawl(site, archive, profile, site.requests(), proc)
    site.process.terminate()
    site.process.wait(timeout=10)
    assert site.process.stdout is not None
    site.process.stdout.close()


@pytest.fixture(scope="module")
def warc_responses(fault: FaultCrawl) -> list[dict]:
    return responses(fault.archive)


def gaps(hits: list[dict]) -> list[float]:
    return [b["t"] - a["t"] for a, b in zip(hits, hits[1:], strict=False)]


# -- 1. Faults -------------------------------------------------------------------------------

def test_server_errors_are_retried_with_backoff_and_every_attempt_archived(fault) -> None:
    hits = fault.hits("/story/flaky/")
    assert len(hits) == 3  # 500, 502, 200
    first, second = gaps(hits)
    assert first >= 0.25 - 0.02 and second >= 0.5 - 0.02  # ARCHIVER_RETRY_BACKOFF, doubled
    assert fault.statuses("/story/flaky/") == [500, 502, 200]
    assert fault.article("/story/flaky/")["title"] == "Flaky article"


@pytest.mark.parametrize("path, wait", [("/story/busy/", 2.0), ("/story/rate-limited/", 2.0)])
def test_retry_after_is_honoured(fault, path: str, wait: float) -> None:
    """503 with Retry-After: 2 (seconds), 429 with an HTTP date 3 s ahead (whole seconds)."""
    hits = fault.hits(path)
    assert len(hits) == 2
    assert gaps(hits)[0] >= wait - 0.05
    assert fault.statuses(path) in ([503, 200], [429, 200])
    assert fault.article(path) is not None


def test_retry_after_beyond_the_limit_is_not_waited_for(fault) -> None:
    assert len(fault.hits("/story/too-busy/")) == 1  # Retry-After: 3600 > ARCHIVER_RETRY_AFTER_MAX
    assert fault.statuses("/story/too-busy/") == [503]
    assert fault.article("/story/too-busy/") is None


def test_slow_pages_are_waited_for_and_timeouts_retried(fault) -> None:
    assert len(fault.hits("/story/slow/")) == 1  # 0.6 s < DOWNLOAD_TIMEOUT
    assert fault.article("/story/slow/") is not None
    hits = fault.hits("/story/slow-once/")  # 3 s the first time: timed out, retried
    assert len(hits) == 2 and gaps(hits)[0] >= 1.5
    assert fault.statuses("/story/slow-once/") == [200]  # a timed-out attempt has no response
    assert fault.article("/story/slow-once/") is not None


def test_redirect_chains_are_followed_and_archived(fault, warc_responses) -> None:
    chain = {"/story/redirect-chain/": 301, "/story/hop-2/": 302, "/story/hop-3/": 307,
             "/story/chain-end/": 200}
    for path, status in chain.items():
        assert len(fault.hits(path)) == 1
        assert fault.statuses(path) == [status]
        assert any(r["url"] == fault.url(path) and r["status"] == status for r in warc_responses)
    assert fault.article("/story/chain-end/")["title"] == "Chain end article"


def test_redirect_loops_stop(fault) -> None:
    assert len(fault.hits("/story/loop-a/")) == 1 and len(fault.hits("/story/loop-b/")) == 1
    endless = [r for r in fault.first if r["path"].startswith("/story/endless/")]
    assert len(endless) == 5 + 1  # REDIRECT_MAX_TIMES=5 hops after the first request
    assert not fault.query("select * from articles where url like '%endless%'")


def test_connection_reset_is_archived_truncated_and_retried(fault, warc_responses) -> None:
    assert len(fault.hits("/story/reset-once/")) == 2
    records = [r for r in warc_responses if r["url"] == fault.url("/story/reset-once/")]
    assert [r["truncated"] for r in records] == ["disconnect", None]
    assert len(records[0]["body"]) < len(records[1]["body"])
    row = fault.article("/story/reset-once/")
    assert row["record_id"] == records[1]["id"]  # indexed from the complete response


# -- 2. Traps --------------------------------------------------------------------------------

def test_other_host_names_are_off_site(fault) -> None:
    home = fault.hits("/")[0]
    assert home["host"].startswith("127.0.0.1:")
    assert all(r["host"].startswith("127.0.0.1:") for r in fault.first)  # never localhost
    assert not fault.hits("/story/offsite/")


def test_robots_disallowed_paths_are_never_requested(fault) -> None:
    assert fault.first[0]["path"] == "/robots.txt"
    assert not fault.hits("/story/private/")
    assert not fault.query("select * from captures where url like '%/private/%'")


def test_calendar_faceted_and_nesting_traps_stay_bounded(fault) -> None:
    calendar = [r for r in fault.first if r["path"].startswith("/category/events/")]
    assert 1 <= len(calendar) <= 5  # ARCHIVER_TRAP_MAX_SHAPE_URLS
    facets = {r["path"] for r in fault.first if r["path"].startswith("/shop/?")}
    assert 1 <= len(facets) <= 5  # ARCHIVER_TRAP_MAX_QUERY_VARIANTS
    nested = [r for r in fault.first if r["path"].startswith("/category/a/")]
    assert [r["path"] for r in nested] == ["/category/a/b/", "/category/a/b/a/b/"]


def test_tracking_session_ids_and_fragments_are_removed_before_requesting(fault) -> None:
    assert [r["path"] for r in fault.first if "tracked" in r["path"]] == ["/story/tracked/"]
    for r in fault.first:
        assert not any(bad in r["path"].lower() for bad in (
            "utm_", "fbclid", "jsessionid", "phpsessid", "#"))
    assert fault.article("/story/tracked/") is not None
    assert fault.statuses("/story/canonical-article/") == [200]  # ?utm_campaign= dropped


def test_shortlink_canonical_and_redirect_make_one_article_row(fault) -> None:
    assert fault.statuses("/?p=42") == [301]
    assert fault.statuses("/story/alias-article/") == [200]
    rows = fault.query("select canonical_url, url from articles where title = ?",
                       "Canonical article")
    assert len(rows) == 1
    assert rows[0]["canonical_url"] == fault.url("/story/canonical-article/")


def test_forms_are_never_submitted(fault) -> None:
    assert {r["method"] for r in fault.first} == {"GET"}
    assert not fault.hits("/story/submit/")
    assert fault.article("/story/with-form/") is not None


# -- 3. Content ------------------------------------------------------------------------------

@pytest.mark.parametrize("path, title, encoding, source, meta", [
    ("/story/cp1251-meta/", "Мінск і Вільня", "cp1251", "meta", "cp1251"),
    ("/story/mislabelled/", "Гомель і Брэст", "cp1251", "detected", None),
    ("/story/bom/", "Магілёў з BOM", "utf-8", "bom", None),
])
def test_other_encodings_are_decoded_and_the_decision_recorded(fault, path, title, encoding,
                                                               source, meta) -> None:
    row = fault.article(path)
    assert row["title"] == title
    assert "Савет сабраўся ў аўторак" in row["text"]
    assert (row["encoding"], row["encoding_source"], row["encoding_meta"]) == (
        encoding, source, meta)
    if source == "detected":
        assert row["encoding_detected"] == encoding


@pytest.mark.parametrize("path, mime", [("/story/report.pdf", "application/pdf"),
                                        ("/story/photo.png", "image/png"),
                                        ("/story/feed-here/", "application/rss+xml")])
def test_non_html_is_archived_but_not_indexed(fault, warc_responses, path, mime) -> None:
    assert fault.query("select mime_type from captures where url = ?",
                       fault.url(path))[0]["mime_type"] == mime
    assert any(r["url"] == fault.url(path) and r["status"] == 200 for r in warc_responses)
    assert fault.article(path) is None
    assert not fault.query("select * from articles where url = ?", fault.url(path))


def test_oversize_page_is_archived_truncated_and_not_indexed(fault, warc_responses) -> None:
    records = [r for r in warc_responses if r["url"] == fault.url("/story/huge/")]
    assert records and all(r["truncated"] == "length" for r in records)
    assert all(len(r["body"]) <= 100000 for r in records)
    assert fault.article("/story/huge/") is None


@pytest.mark.parametrize("path, reason", [
    ("/story/blocked/", "blocked page ('Access denied')"),
    ("/story/captcha/", "blocked page"),
    ("/story/soft-404/", "error page served with status 200"),
    ("/story/empty/", "empty page"),
])
def test_block_error_and_empty_pages_are_kept_out_with_a_reason(fault, path, reason) -> None:
    assert fault.statuses(path) == [200]  # archived
    assert fault.article(path) is None
    assert reason in (fault.failure(path) or "")


def test_failed_pages_are_retried_on_the_next_run(fault) -> None:
    assert "blocked page" in fault.failure("/story/flip/")
    proc = run_archiver("crawl", "--profile", str(fault.profile), "--archive",
                        str(fault.archive), *settings_args(), timeout=240)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    flips = [r for r in fault.site.requests() if r["path"] == "/story/flip/"]
    assert len(flips) == 2
    assert fault.article("/story/flip/")["title"] == "Flip article"
    assert fault.failure("/story/flip/") is None
    assert "blocked page" in fault.failure("/story/blocked/")  # still blocked, still recorded


# -- 4. Bad feeds and sitemaps ---------------------------------------------------------------

def test_broken_feed_and_sitemap_yield_what_they_can(fault) -> None:
    items = fault.query("select link, item_date from feed_items order by link")
    assert [(r["link"], r["item_date"]) for r in items] == [
        (fault.url("/story/feed-item-1/"), None), (fault.url("/story/feed-item-2/"), None)]
    for path in ("/story/feed-item-1/", "/story/feed-item-2/", "/story/sitemap-only/",
                 "/story/sitemap-two/"):
        assert len(fault.hits(path)) == 1 and fault.article(path) is not None
    log = sorted((fault.archive / "logs").glob("crawl-*.log"))[0].read_text()  # the first crawl
    assert "2 items without a link skipped" in log


# -- 2. Depth and page limits ----------------------------------------------------------------

def test_depth_limit_is_respected(fault, tmp_path: Path) -> None:
    before = len(fault.site.requests())
    proc = run_archiver("crawl", fault.url("/category/deep/1/"), "--archive",
                        str(tmp_path / "a"), *settings_args(DEPTH_LIMIT="2"), timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    deep = [r["path"] for r in fault.site.requests()[before:]
            if r["path"].startswith("/category/deep/")]
    assert deep == ["/category/deep/1/", "/category/deep/2/", "/category/deep/3/"]


def test_politeness_crawl_delay_and_user_agent(tmp_path: Path) -> None:
    """robots.txt asks for 1 s between requests: honoured although the settings would
    allow no delay at all; the User-Agent names a contact URL; the page limit holds."""
    site = start_faultsite(tmp_path, "--crawl-delay", "1")
    try:
        proc = run_archiver(
            "crawl", site.url.rstrip("/") + "/category/deep/1/", "--archive",
            str(tmp_path / "a"), "-s", "DOWNLOAD_DELAY=0", "-s", "AUTOTHROTTLE_START_DELAY=0",
            "-s", "CLOSESPIDER_PAGECOUNT=3", "-s", "ARCHIVER_EXTRACT_WORKERS=1", timeout=120)
        hits = site.requests()
    finally:
        site.process.terminate()
        site.process.wait(timeout=10)
        assert site.process.stdout is not None
        site.process.stdout.close()
    assert "closespider_pagecount" in proc.stdout, proc.stdout + proc.stderr
    assert hits[0]["path"] == "/robots.txt"
    assert 3 <= len(hits) <= 3 + 3  # the limit, plus what was already on its way
    assert min(gaps(hits)) >= 1 - 0.05, [round(g, 2) for g in gaps(hits)]
    for r in hits:
        assert r["user_agent"].startswith("digest-archiver/") and "+https://" in r[
            "user_agent"]



def test_impossible_sitemap_date_is_not_indexed(fault) -> None:
    row = fault.article("/story/sitemap-only/")  # <lastmod>2024-13-45</lastmod>
    assert row["date_published"] != "2024-13-45"
