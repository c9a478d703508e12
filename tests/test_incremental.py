"""Scheduled crawls: state 1 then state 2 of the demo site, judged from the server's own
request log, the WARC records and the index; a SIGKILLed crawl resumed; two runs at once."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from warcio.archiveiterator import ArchiveIterator

from archiver.demosite import load_site
from archiver.incremental import CrawlState, Policy
from archiver.index import Index
from tests.conftest import FAST, SiteServer, guarded_env, run_archiver
from tests.conftest import query as rows

NOW_FEEDS = ["-s", "ARCHIVER_FEED_MIN_INTERVAL=0"]  # feeds due at once in these tests
CONDITIONAL = ("if-none-match", "if-modified-since")


def start_stateful_site(tmp: Path) -> tuple[SiteServer, Path]:
    log, state = tmp / "requests.jsonl", tmp / "state"
    log.touch()
    state.write_text("1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "archiver.demosite", "--port", "0", "--request-log", str(log),
         "--state-file", str(state)],
        env=guarded_env(), stdout=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)
    assert proc.stdout is not None
    return SiteServer(url=proc.stdout.readline().strip(), request_log=log, process=proc), state


def stop(site: SiteServer) -> None:
    site.process.terminate()
    site.process.wait(timeout=10)
    if site.process.stdout:
        site.process.stdout.close()


def records(archive: Path) -> list:
    out = []
    for path in sorted((archive / "warcs").glob("*.warc.gz")):
        with path.open("rb") as fh:
            for rec in ArchiveIterator(fh, check_digests="raise"):
                out.append((rec.rec_type, dict(rec.rec_headers.headers),
                            rec.http_headers.get_statuscode() if rec.http_headers else None))
    return out


def _state(pid: int) -> str:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return f"({fields[0]})"
    except OSError:
        return "(gone)"


def descendants(pid: int) -> list[int]:
    """Every process under `pid`, from /proc."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


@pytest.fixture(scope="module")
def two_states(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("incremental")
    site, state = start_stateful_site(tmp)
    archive = tmp / "archive"
    first = run_archiver("crawl", site.url, "--archive", str(archive), *FAST, *NOW_FEEDS,
                         check=True)
    mark = len(site.requests())
    first_records = len(records(archive))
    state.write_text("2")
    second = run_archiver("crawl", site.url, "--archive", str(archive), *FAST, *NOW_FEEDS,
                          check=True)
    log = site.requests()[mark:]
    second_records = len(records(archive))
    third = run_archiver("crawl", site.url, "--archive", str(archive), *FAST, *NOW_FEEDS,
                         check=True)  # nothing changed since the second run
    yield {"site": site, "archive": archive, "log": log, "first": first, "second": second,
           "third": third, "first_log": site.requests()[:mark],
           "third_log": site.requests()[mark + len(log):],
           "new_records": records(archive)[first_records:second_records],
           "third_records": records(archive)[second_records:]}
    stop(site)


def test_unchanged_articles_not_fetched_or_answered_304(two_states) -> None:
    s1, s2 = load_site(1), load_site(2)
    edited = {a.path for a in s2.articles if a.modified and a.modified.year == 2016}
    new = {a.path for a in s2.articles} - {a.path for a in s1.articles}
    assert len(edited) == 2 and len(new) == 2
    dead = "/story/belarus-digest-turns-one/"  # a dead link: tried again each run, never 200
    story_requests = [e for e in two_states["log"]
                      if e["path"].startswith("/story/") and e["path"] != dead]
    for entry in story_requests:
        if entry["path"] in new:
            assert entry["status"] == 200
        elif entry["path"] not in edited:  # an unchanged article: only ever asked conditionally
            assert any(h in entry["headers"] for h in CONDITIONAL), entry
            assert entry["status"] == 304, entry
    fetched = {e["path"] for e in story_requests if e["status"] == 200}
    assert fetched == new | edited
    deleted = "/story/belarus-and-venezuela-after-chavez/"
    assert deleted not in {e["path"] for e in story_requests}


def test_conditional_requests_for_feeds_and_listings(two_states) -> None:
    log = two_states["log"]
    feeds = [e for e in log if e["path"] in ("/feed/", "/feed/atom/")]
    listings = [e for e in log if e["path"].startswith(("/category/", "/tag/", "/author/",
                                                         "/page/")) or e["path"] == "/"]
    assert feeds and listings
    captured = {e["path"] for e in two_states["first_log"] if e["status"] == 200}
    for entry in feeds + listings:
        if entry["path"] in captured:  # fetched whole last time: now asked conditionally
            assert any(h in entry["headers"] for h in CONDITIONAL), entry["path"]
    assert {e["status"] for e in listings} <= {200, 304}
    # the third run finds nothing changed: feeds and listings answer 304
    third = [e for e in two_states["third_log"] if e["path"] == "/feed/" or e["path"] == "/"]
    assert third and {e["status"] for e in third} == {304}
    # the walk stopped: listing pages beyond the first page of known articles were not asked
    first_run_pages = {"/page/2/", "/page/3/", "/page/4/"}
    assert not first_run_pages & {e["path"] for e in log} - {"/page/2/"}


def test_revisit_records(two_states) -> None:
    revisits = [r for r in two_states["new_records"] + two_states["third_records"]
                if r[0] == "revisit"]
    profiles = Counter(h["WARC-Profile"].rsplit("/", 1)[1] for _, h, _ in revisits)
    assert profiles["server-not-modified"] >= 2  # the third run's 304s
    assert profiles["identical-payload-digest"] >= 1  # robots.txt, same bytes each run
    third_statuses = Counter(s for t, _, s in two_states["third_records"] if t == "response")
    assert not third_statuses.get("304")  # a 304 is never stored as a full response
    for _, headers, status in revisits:
        profile = headers["WARC-Profile"]
        assert profile.startswith("http://netpreserve.org/warc/1.1/revisit/")
        assert headers["WARC-Refers-To"].startswith("<urn:uuid:")
        assert headers["WARC-Refers-To-Target-URI"] == headers["WARC-Target-URI"]
        assert headers["WARC-Refers-To-Date"] < headers["WARC-Date"]
        assert headers["WARC-Payload-Digest"].startswith("sha1:")
        if status == "304":
            assert profile.endswith("/server-not-modified")
    originals = {h["WARC-Record-ID"]: h for t, h, _ in records(two_states["archive"])
                 if t == "response"}
    for _, headers, _ in revisits:
        original = originals[headers["WARC-Refers-To"]]
        assert original["WARC-Payload-Digest"] == headers["WARC-Payload-Digest"]


def test_versions_only_for_edited_articles(two_states) -> None:
    db = two_states["archive"] / "index.db"
    versions = rows(db, "select a.url, v.version, v.changes, v.diff from article_versions v "
                        "join articles a using (canonical_url) where v.version > 1")
    by_slug = {url.rstrip("/").rsplit("/", 1)[1]: (n, changes, diff)
               for url, n, changes, diff in versions}
    assert set(by_slug) == {"eu-suspends-sanctions-new-chapter-for-belarus",
                            "lukashenka-fifth-term-2015-presidential-election"}
    n, changes, diff = by_slug["eu-suspends-sanctions-new-chapter-for-belarus"]
    assert n == 2 and "title" in changes and "body" in changes
    assert "+Update, 20 January 2016: Brussels confirmed" in diff
    assert "title: 'EU Suspends Sanctions: A New Chapter for Belarus?'" in diff
    n, changes, diff = by_slug["lukashenka-fifth-term-2015-presidential-election"]
    assert "title" not in changes and "+Correction: an earlier version" in diff
    latest = rows(db, "select title, version_count from articles where url like ?",
                  "%eu-suspends-sanctions%")
    assert latest == [("EU Suspends Sanctions: A New Chapter for Belarus and Its Neighbours?", 2)]
    counts = Counter(v for (v,) in rows(db, "select version_count from articles"))
    assert counts == {1: 32, 2: 2}  # 30 unchanged + 2 new at 1, the 2 edited at 2; none lost


def test_new_articles_added_and_deleted_one_kept(two_states) -> None:
    db = two_states["archive"] / "index.db"
    titles = {t for (t,) in rows(db, "select title from articles")}
    assert {"Belarus Budget 2016: Austerity Without Reform",
            "Minsk Hosts a New Round of Ukraine Talks"} <= titles
    assert "Belarus and Venezuela after Chávez" in titles or any(
        "Venezuela" in t for t in titles)  # the archive keeps what the site deleted


def test_crawl_runs_counts_match(two_states) -> None:
    db = two_states["archive"] / "index.db"
    runs = rows(db, "select pages_fetched, articles_new, articles_changed, articles_unchanged, "
                    "exit_status from crawl_runs order by started_at")
    pages, new, changed, unchanged, status = runs[1]
    assert len(runs) == 3 and runs[2][1:3] == (0, 0)  # the third run: nothing new
    assert (new, changed, status) == (2, 2, 0)
    assert pages == len(two_states["log"])
    asked_304 = sum(1 for e in two_states["log"]
                    if e["path"].startswith("/story/") and e["status"] == 304)
    assert unchanged == asked_304
    assert runs[0][1] == 32


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_interrupted_crawl_resumes_to_the_same_articles(tmp_path: Path, sig: int) -> None:
    site, _ = start_stateful_site(tmp_path)
    try:
        archive = tmp_path / "archive"
        slow = ["-s", "DOWNLOAD_DELAY=0.05", "-s", "AUTOTHROTTLE_ENABLED=False",
                "-s", "CONCURRENT_REQUESTS=2", *NOW_FEEDS]
        proc = subprocess.Popen([sys.executable, "-m", "archiver", "crawl", site.url,
                                 "--archive", str(archive), *slow], env=guarded_env(),
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while sum(1 for e in site.requests() if e["path"].startswith("/story/")) < 12:
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.05)
        family = descendants(proc.pid)
        assert family  # the extraction pool's processes
        proc.send_signal(sig)
        proc.wait(timeout=60)
        deadline = time.monotonic() + 10  # none of them outlives the crawl
        while [p for p in family if Path(f"/proc/{p}").exists()
               and "(Z)" not in _state(p)]:
            assert time.monotonic() < deadline, f"left behind: {family}"
            time.sleep(0.2)
        before = Counter(e["path"] for e in site.requests() if e["path"].startswith("/story/"))
        if sig == signal.SIGKILL:
            assert list((archive / "warcs").glob("*.open"))  # the kill left an open file
        else:  # Scrapy shut down gracefully: files closed, the run recorded as "shutdown"
            assert not list((archive / "warcs").glob("*.open"))
        resumed = run_archiver("crawl", site.url, "--archive", str(archive), *FAST, *NOW_FEEDS,
                               check=True)
        assert "Crawl finished" in resumed.stdout
        after = Counter(e["path"] for e in site.requests() if e["path"].startswith("/story/"))
        refetched = [p for p in before if after[p] > before[p]]
        # at most what the kill caught in flight (2 concurrent requests) or half-written
        assert len(refetched) <= 3, refetched
        titles = {t for (t,) in rows(archive / "index.db", "select title from articles")}
        assert titles == {a.title for a in load_site(1).articles}
        assert not list((archive / "warcs").glob("*.open"))
        verify = run_archiver("verify", "--archive", str(archive))
        assert verify.returncode == 0, verify.stdout + verify.stderr
        runs = rows(archive / "index.db", "select finish_reason from crawl_runs")
        first = "interrupted" if sig == signal.SIGKILL else "shutdown"
        assert sorted(r for (r,) in runs) == sorted(["finished", first])
    finally:
        stop(site)


def test_two_runs_at_once(tmp_path: Path, demo_site) -> None:
    archive = tmp_path / "archive"
    args = [sys.executable, "-m", "archiver", "crawl", demo_site.url, "--archive",
            str(archive), *FAST]
    (archive / "logs").mkdir(parents=True)
    first = subprocess.Popen(args, env=guarded_env(), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    time.sleep(0.5)
    second = subprocess.run(args, env=guarded_env(), capture_output=True, text=True, timeout=60)
    out, err = first.communicate(timeout=300)
    assert first.returncode == 0, err
    assert second.returncode == 75
    assert second.stderr.strip().startswith("archiver: another crawl is running on")
    assert len(second.stderr.strip().splitlines()) == 1 and "Crawl finished" not in second.stdout


def test_bounded_runs(tmp_path: Path, demo_site) -> None:
    proc = run_archiver("crawl", demo_site.url, "--archive", str(tmp_path / "a"), *FAST,
                        "--max-pages", "6", "-s", "CONCURRENT_REQUESTS=1")
    assert proc.returncode == 0
    runs = rows(tmp_path / "a" / "index.db", "select finish_reason, pages_fetched from crawl_runs")
    assert runs[0][0] == "closespider_pagecount" and 6 <= runs[0][1] <= 9
    proc = run_archiver("crawl", demo_site.url, "--archive", str(tmp_path / "b"),
                        "--max-duration", "1", "-s", "DOWNLOAD_DELAY=0.5",
                        "-s", "AUTOTHROTTLE_ENABLED=False")
    runs = rows(tmp_path / "b" / "index.db", "select finish_reason from crawl_runs")
    assert proc.returncode == 0 and runs == [("closespider_timeout",)]


def test_feed_polling_adapts(tmp_path: Path, demo_site) -> None:
    archive = tmp_path / "archive"
    run_archiver("crawl", demo_site.url, "--archive", str(archive), *FAST, check=True)
    mark = len(demo_site.requests())
    run_archiver("crawl", demo_site.url, "--archive", str(archive), *FAST, check=True)
    second = [e["path"] for e in demo_site.requests()[mark:]]
    assert "/feed/" not in second  # polled moments ago: not due (default 30 min)
    mark = len(demo_site.requests())
    run_archiver("crawl", demo_site.url, "--archive", str(archive), *FAST, "--force",
                 check=True)
    forced = [e for e in demo_site.requests()[mark:] if e["path"] == "/feed/"]
    assert forced and forced[0]["status"] == 304  # asked conditionally, unchanged
    schedule = rows(archive / "index.db", "select unchanged_polls, polls from feed_schedule "
                                          "where feed_url like '%/feed/'")
    assert schedule == [(1, 2)]
    state = CrawlState.load(archive / "index.db")
    policy = Policy()
    url = demo_site.url + "feed/"
    assert state.feed_interval(url, policy) == 2 * policy.feed_min_interval


def test_feed_interval_bounds(tmp_path: Path) -> None:
    index = Index(tmp_path / "index.db")
    base = {"status": 200, "warc_file": "f", "role": "feed", "url": "http://x/feed/"}
    digests = ["a", "b", "b", "b", "b", "b", "b", "b", "b", "b", "b", "b"]
    index.write(captures=[{**base, "record_id": f"r{i}", "fetched_at": f"2026-01-01T00:{i:02d}Z",
                           "payload_digest": d} for i, d in enumerate(digests)])
    index.close()
    state, policy = CrawlState.load(tmp_path / "index.db"), Policy()
    assert state.feeds["http://x/feed/"][1] == 10  # ten polls since it last changed
    assert state.feed_interval("http://x/feed/", policy) == policy.feed_max_interval
    state.feeds["http://x/feed/"] = (state.feeds["http://x/feed/"][0], 0)
    assert state.feed_interval("http://x/feed/", policy) == policy.feed_min_interval


def test_recheck_and_backfill_flags(tmp_path: Path, demo_site) -> None:
    archive = tmp_path / "archive"
    run_archiver("crawl", demo_site.url, "--archive", str(archive), *FAST, check=True)
    mark = len(demo_site.requests())
    run_archiver("crawl", demo_site.url, "--archive", str(archive), *FAST, "--recheck",
                 check=True)
    log = demo_site.requests()[mark:]
    stories = {e["path"]: e for e in log if e["path"].startswith("/story/")
               and e["path"] != "/story/belarus-digest-turns-one/"}
    assert set(stories) == {a.path for a in load_site(1).articles}  # every one asked again
    assert all(e["status"] == 304 and "if-none-match" in e["headers"] for e in stories.values())
    assert "/page/3/" not in {e["path"] for e in log}  # the listing walk still stops early
    mark = len(demo_site.requests())
    run_archiver("crawl", demo_site.url, "--archive", str(archive), *FAST, "--backfill",
                 check=True)
    paths = {e["path"] for e in demo_site.requests()[mark:]}
    assert {"/page/2/", "/page/3/", "/page/4/"} <= paths  # every listing page walked
    assert not {p for p in paths if p.startswith("/story/")} - {
        "/story/belarus-digest-turns-one/"}  # ...but known articles still not fetched


def test_recent_articles_are_rechecked_on_schedule() -> None:
    from datetime import UTC, datetime, timedelta

    from archiver.incremental import KnownArticle

    now = datetime(2026, 11, 28, 12, tzinfo=UTC)
    policy = Policy()  # re-check for 7 days after publication, at most daily

    def due(published_days_ago: float, fetched_hours_ago: float) -> str:
        state = CrawlState()
        iso = lambda d: d.isoformat()  # noqa: E731
        state.articles["u"] = KnownArticle(
            "u", iso(now - timedelta(hours=fetched_hours_ago)),
            iso(now - timedelta(days=published_days_ago)), None)
        return state.article_due("u", {}, now, policy)

    assert due(2, 30) == "recent article re-check"
    assert due(2, 3) == ""  # checked 3 hours ago
    assert due(30, 300) == ""  # old article: edits are caught through the sitemap
    assert CrawlState().article_due("new", {}, now, policy) == "new"
