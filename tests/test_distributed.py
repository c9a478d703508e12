"""Distributed crawling on a real redis-server (issue 8): several `archiver worker`
processes share one frontier; judged by the demo site's request log, the WARCs and the
index that `archiver reindex` builds over all workers' WARCs, against a one-process crawl
of the same server."""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import (
    FAST,
    SiteServer,
    guarded_env,
    query,
    run_archiver,
    start_site,
    stop_site,
)
from tests.conftest import table_rows as _table_rows

pytest.importorskip("redis", reason="the `redis` extra is not installed")
pytest.importorskip("scrapy_redis", reason="the `redis` extra is not installed")
REDIS_SERVER = shutil.which("redis-server")
pytestmark = pytest.mark.skipif(
    REDIS_SERVER is None, reason="redis-server is not on PATH (.ci/run installs it from Debian)")

# What a distributed crawl cannot reproduce, and why:
# - the capture behind a row (WARC file, offset, length, record id, fetch time): another
#   process fetched the page at another moment, into its own WARC file;
# - how a page was found first (source_type, via, depth): workers race to discover a URL,
#   and the shared dupefilter keeps whichever link reached it first;
# - times of indexing and of a feed item's first/last sighting (fetch times again);
# - crawl runs: one per worker instead of one, each with its own id (compared apart).
CAPTURE = {"warc_file", "warc_offset", "warc_length", "record_id", "fetched_at",
           "indexed_at", "source_type", "via", "depth", "crawl_run", "first_seen",
           "last_seen", "failed_at"}
TABLES = ["articles", "feed_items", "article_failures", "authors", "article_authors", "tags",
          "article_tags", "categories", "article_categories"]
WORKER_FAST = ["-s", "CONCURRENT_REQUESTS_PER_DOMAIN=8", "-s", "ARCHIVER_REDIS_HOST_DELAY=0",
               "-s", "ARCHIVER_REDIS_HEARTBEAT_TTL=5"]


def table_rows(db_path: Path, table: str) -> list[tuple]:
    """Rows without what a distributed crawl cannot repeat (see CAPTURE)."""
    return _table_rows(db_path, table, CAPTURE)


@dataclass
class Redis:
    port: int
    process: subprocess.Popen[bytes]
    folder: Path

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self):
        import redis

        return redis.Redis(port=self.port, host="127.0.0.1")

    def stop(self) -> None:
        self.process.terminate()  # SIGTERM: Redis saves (with persistence on) and exits
        self.process.wait(timeout=30)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_redis(folder: Path, *, port: int | None = None, persist: bool = False) -> Redis:
    folder.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    args = [REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(folder),
            "--save", ""]
    if persist:  # every write on disk before it is acknowledged
        args += ["--appendonly", "yes", "--appendfsync", "always"]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    server = Redis(port, proc, folder)
    deadline = time.monotonic() + 10
    while True:
        try:
            server.client().ping()
            return server
        except Exception:
            assert proc.poll() is None and time.monotonic() < deadline, "redis did not start"
            time.sleep(0.05)


def worker(redis: Redis, archive: Path, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "archiver", "worker", "--redis", redis.url, "--archive",
         str(archive), *WORKER_FAST, *extra], env=guarded_env(), stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)


def finish(procs: list[subprocess.Popen[str]], timeout: float = 120) -> None:
    for proc in procs:
        out, err = proc.communicate(timeout=timeout)
        assert proc.returncode == 0, out + err
        assert "Worker finished" in out, out


def paths(site: SiteServer, start: int = 0) -> Counter[str]:
    return Counter(e["path"] for e in site.requests()[start:])


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Iterator[SiteServer]:
    server = start_site(tmp_path_factory.mktemp("dsite"))
    yield server
    stop_site(server)


@pytest.fixture(scope="module")
def single(tmp_path_factory, site) -> tuple[Path, Counter[str]]:
    """The reference: one `archiver crawl` of the same server, one process."""
    archive = tmp_path_factory.mktemp("single") / "archive"
    mark = len(site.requests())
    run_archiver("crawl", site.url, "--archive", str(archive), *FAST, check=True)
    return archive / "index.db", paths(site, mark)


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory) -> Iterator[Redis]:
    server = start_redis(tmp_path_factory.mktemp("redis"))
    yield server
    server.stop()


def assert_same_index(db: Path, reference: Path, reasons: frozenset[str] = frozenset({"finished"})
                      ) -> None:
    for table in TABLES:
        assert table_rows(db, table) == table_rows(reference, table), table
    # every capture of the reference, once each; robots.txt also once per worker
    # (Scrapy's RobotsTxtMiddleware fetches it in each process, outside the scheduler)
    sql = ("select url, status, mime_type, length_bytes, payload_digest, site, role, "
           "record_type from captures")
    ours, theirs = Counter(query(db, sql)), Counter(query(reference, sql))
    robots = [k for k in ours if k[0].endswith("/robots.txt")]
    for key in robots:
        assert ours.pop(key) >= theirs.pop(key)
    assert ours == theirs
    runs = query(db, "select finish_reason, pages_fetched from crawl_runs")
    assert {r for r, _ in runs} == reasons
    assert sum(p for _, p in runs) == query(db, "select count(*) from captures")[0][0]


def reindex(archive: Path) -> Path:
    run_archiver("reindex", "--archive", str(archive), check=True)
    return archive / "index.db"


def test_profile_json_round_trip() -> None:
    from archiver.distributed.sites import profile_from_json, profile_to_json
    from archiver.profiles import profile_for_target

    site = profile_for_target("belarusdigest")
    again = profile_from_json(profile_to_json(site))
    assert again == site
    assert again.is_article_url("https://belarusdigest.com/story/some-slug/")


def test_dead_workers_requests_go_back_to_the_queue(redis_server: Redis) -> None:
    from archiver.distributed.frontier import Frontier, connect

    frontier = Frontier(connect(redis_server.url), "unit")
    frontier.reset()
    for n in range(3):
        frontier.push(f"r{n}".encode(), -n)
    frontier.heartbeat("a", 200)
    assert frontier.pop("a") == (b"r2", -2.0)  # the highest priority first
    assert frontier.queued() == 2 and frontier.in_flight() == 1
    assert frontier.recover_dead("b") == 0  # "a" is alive: its request stays its own
    time.sleep(0.3)
    assert frontier.recover_dead("b") == 1  # "a" stopped beating: back in the queue
    assert frontier.queued() == 3 and frontier.in_flight() == 0
    frontier.heartbeat("a", 5000)
    found = frontier.pop("a")
    assert found is not None
    frontier.ack("a", [found[0]])
    assert frontier.queued() == 2 and frontier.in_flight() == 0
    frontier.reset()


def test_three_workers_equal_one_process(tmp_path: Path, site, single, redis_server) -> None:
    reference, reference_paths = single
    archive = tmp_path / "archive"
    run_archiver("enqueue", site.url, "--redis", redis_server.url, "--reset", check=True)
    mark = len(site.requests())
    finish([worker(redis_server, archive) for _ in range(3)])
    fetched = paths(site, mark)
    # each URL fetched once across the workers; robots.txt once per worker besides the
    # spider's own request for it (a one-process crawl asks twice as well)
    robots = fetched.pop("/robots.txt")
    assert 2 <= robots <= 4
    assert set(fetched.values()) == {1}
    assert set(fetched) == set(reference_paths) - {"/robots.txt"}
    warcs = sorted(p.name for p in (archive / "warcs").glob("*.warc.gz"))
    assert len({name.split("-")[3] for name in warcs}) == 3  # one writer pid per worker
    assert not list((archive / "warcs").glob("*.open"))
    assert_same_index(reindex(archive), reference)


def test_sigkilled_worker_restarted_loses_nothing(tmp_path: Path, site, single,
                                                  redis_server) -> None:
    reference, _ = single
    archive = tmp_path / "archive"
    run_archiver("enqueue", site.url, "--redis", redis_server.url, "--reset", check=True)
    mark = len(site.requests())
    slow = ["-s", "CONCURRENT_REQUESTS=2", "-s", "ARCHIVER_REDIS_HOST_DELAY=0.03"]
    victim = worker(redis_server, archive, "--worker-id", "victim", *slow)
    other = worker(redis_server, archive, *slow)
    deadline = time.monotonic() + 60
    while sum(n for p, n in paths(site, mark).items() if p.startswith("/story/")) < 8:
        assert time.monotonic() < deadline and victim.poll() is None
        time.sleep(0.05)
    victim.send_signal(signal.SIGKILL)
    victim.communicate(timeout=30)
    assert list((archive / "warcs").glob("*.open"))  # the kill left its WARC open
    before = paths(site, mark)
    restarted = worker(redis_server, archive, "--worker-id", "victim", *slow)
    finish([other, restarted])
    after = paths(site, mark)
    refetched = [p for p in before if after[p] > before[p] and p != "/robots.txt"]
    # at most what the victim had in flight (2 at once), or had just finished with
    assert len(refetched) <= 3, refetched
    assert not list((archive / "warcs").glob("*.open"))  # the restart repaired it
    verify = run_archiver("verify", "--archive", str(archive))
    assert verify.returncode == 0, verify.stdout + verify.stderr
    db = reindex(archive)
    for table in TABLES:  # nothing lost, nothing twice
        assert table_rows(db, table) == table_rows(reference, table), table
    assert query(db, "select count(*) from articles") == [(32,)]


def test_redis_restart_with_persistence_loses_no_queued_url(tmp_path: Path, site, single
                                                            ) -> None:
    reference, _ = single
    server = start_redis(tmp_path / "redis", persist=True)
    try:
        archive = tmp_path / "archive"
        run_archiver("enqueue", site.url, "--redis", server.url, check=True)
        proc = worker(server, archive, "-s", "CLOSESPIDER_PAGECOUNT=6",
                      "-s", "CONCURRENT_REQUESTS=2")
        proc.communicate(timeout=60)
        client = server.client()
        queued = client.zrange("archiver:queue", 0, -1, withscores=True)
        seen = client.smembers("archiver:dupefilter")
        assert queued and not client.keys("archiver:inflight:*")  # unfinished went back
        server.stop()
        server = start_redis(server.folder, port=server.port, persist=True)
        client = server.client()
        assert client.zrange("archiver:queue", 0, -1, withscores=True) == queued
        assert client.smembers("archiver:dupefilter") == seen
        finish([worker(server, archive) for _ in range(2)])
        db = reindex(archive)
        for table in TABLES:
            assert table_rows(db, table) == table_rows(reference, table), table
    finally:
        server.stop()


def test_per_host_delay_holds_across_workers(tmp_path: Path, site, redis_server) -> None:
    delay = 0.15
    run_archiver("enqueue", "--feed", site.url + "feed/", "--redis", redis_server.url,
                 "--reset", check=True)
    mark = len(site.requests())
    finish([worker(redis_server, tmp_path / "archive", "-s", f"ARCHIVER_REDIS_HOST_DELAY={delay}")
            for _ in range(3)])
    times = sorted(e["t"] for e in site.requests()[mark:])
    assert len(times) >= 10
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    # the server logs when it answers; small pages on loopback: a few ms of jitter
    assert min(gaps) >= delay - 0.03, gaps


def max_overlap(entries: list[dict]) -> int:
    """Most requests the server was answering at one moment, from [t0, t] of each."""
    events = sorted([(e["t0"], 1) for e in entries] + [(e["t"], -1) for e in entries])
    busy = most = 0
    for _, step in events:  # at equal times an end (-1) sorts before a start (+1)
        busy += step
        most = max(most, busy)
    return most


@pytest.mark.parametrize("limit", [1, 2])
def test_per_host_concurrency_holds_across_workers(tmp_path: Path, redis_server,
                                                   limit: int) -> None:
    log = tmp_path / "requests.jsonl"
    log.touch()
    slow = subprocess.Popen(
        [sys.executable, "-m", "archiver.demosite", "--port", "0", "--request-log", str(log),
         "--latency", "0.1"], env=guarded_env(), stdout=subprocess.PIPE, text=True)
    try:
        assert slow.stdout is not None
        server = SiteServer(url=slow.stdout.readline().strip(), request_log=log, process=slow)
        prefix = f"conc{limit}"
        run_archiver("enqueue", "--feed", server.url + "feed/", "--redis", redis_server.url,
                     "--prefix", prefix, "--reset", check=True)
        finish([worker(redis_server, tmp_path / "archive", "--prefix", prefix,
                       "-s", f"ARCHIVER_REDIS_HOST_CONCURRENCY={limit}") for _ in range(3)])
        entries = [e for e in server.requests() if e["path"] != "/robots.txt"]
        assert len(entries) >= 20
        assert max_overlap(entries) == limit  # never more, and the limit is really used
    finally:
        stop_site(SiteServer(url="", request_log=log, process=slow))


def test_unreachable_redis_is_one_clear_line(tmp_path: Path) -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"
    for args in (["worker", "--archive", str(tmp_path / "a")], ["enqueue", "belarusdigest"]):
        proc = run_archiver(*args, "--redis", url)
        assert proc.returncode == 2, proc.stdout + proc.stderr
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(
            f"archiver: error: cannot reach Redis at {url}"), proc.stderr
        assert "Traceback" not in proc.stderr
    assert not (tmp_path / "a").exists()  # nothing written


def test_crawl_with_redis_runs_one_worker_in_place(tmp_path: Path, site, single,
                                                   redis_server) -> None:
    reference, _ = single
    archive = tmp_path / "archive"
    proc = run_archiver("crawl", site.url, "--redis", redis_server.url, "--archive",
                        str(archive), *WORKER_FAST, "-s", "ARCHIVER_REDIS_PREFIX=solo")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert_same_index(reindex(archive), reference)


def test_keep_alive_worker_waits_for_work(tmp_path: Path, site, single, redis_server) -> None:
    reference, _ = single
    archive = tmp_path / "archive"
    proc = worker(redis_server, archive, "--keep-alive", "--prefix", "waiting")
    try:
        time.sleep(3)  # nothing queued yet: a keep-alive worker does not give up
        assert proc.poll() is None
        mark = len(site.requests())
        run_archiver("enqueue", site.url, "--redis", redis_server.url, "--prefix", "waiting",
                     "--reset", check=True)
        deadline = time.monotonic() + 90
        while sum(1 for p in paths(site, mark) if p.startswith("/story/")) < 33:
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.2)
        time.sleep(2)
        assert proc.poll() is None  # drained, still waiting for more
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, out + err  # stopped by its service manager: a clean end
    assert_same_index(reindex(archive), reference, frozenset({"shutdown"}))
