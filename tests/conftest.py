"""Shared fixtures: network guard, the demo site on 127.0.0.1, one real crawl of it."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

GUARD_DIR = Path(__file__).parent / "netguard"
sys.path.insert(0, str(GUARD_DIR))
import sitecustomize as netguard  # noqa: E402  (installs the guard in this process)

REPO = Path(__file__).resolve().parent.parent
SEED_TITLE = ("Belarus Engages with the US, Improves Ties with Europe and Post-Soviet Countries "
              "– Foreign Policy Digest")


def norm(text: str) -> str:
    """Whitespace-insensitive text, for "this paragraph is in that text" checks."""
    return " ".join(text.split())


FAST = ["-s", "DOWNLOAD_DELAY=0", "-s", "AUTOTHROTTLE_ENABLED=False",
        "-s", "CONCURRENT_REQUESTS_PER_DOMAIN=8"]


def guarded_env(**extra: str) -> dict[str, str]:
    """Environment for Python subprocesses: the network guard preloaded."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(GUARD_DIR), str(REPO)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy"):
        env.pop(name, None)
    env.update(extra)
    return env


def run_archiver(*args: str, cwd: Path | None = None, timeout: float = 300,
                 check: bool = False) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([sys.executable, "-m", "archiver", *args], cwd=cwd, env=guarded_env(),
                          capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    if check and proc.returncode != 0:
        raise AssertionError(f"archiver {args} failed ({proc.returncode}):\n{proc.stdout}\n"
                             f"{proc.stderr}")
    return proc


@dataclass
class SiteServer:
    url: str
    request_log: Path
    process: subprocess.Popen[str]

    def requests(self) -> list[dict]:
        return [json.loads(line) for line in self.request_log.read_text().splitlines() if line]


def start_site(tmp: Path) -> SiteServer:
    log = tmp / "requests.jsonl"
    log.touch()
    proc = subprocess.Popen(
        [sys.executable, "-m", "archiver.demosite", "--port", "0", "--request-log", str(log)],
        env=guarded_env(), stdout=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)
    assert proc.stdout is not None
    url = proc.stdout.readline().strip()
    assert url.startswith("http://127.0.0.1:"), url
    return SiteServer(url=url, request_log=log, process=proc)


def stop_site(site: SiteServer) -> None:
    site.process.terminate()
    site.process.wait(timeout=10)
    if site.process.stdout is not None:
        site.process.stdout.close()


@pytest.fixture(scope="session")
def demo_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SiteServer]:
    site = start_site(tmp_path_factory.mktemp("site"))
    yield site
    stop_site(site)


@dataclass
class Crawl:
    archive: Path
    site: SiteServer
    result: subprocess.CompletedProcess[str]
    log: list[dict]  # the site's request log right after the crawl (other tests add to it)


@pytest.fixture(scope="session")
def demo_crawl(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Crawl]:
    """One real `archiver crawl` of the demo site, over HTTP, in a subprocess."""
    tmp = tmp_path_factory.mktemp("crawl")
    site = start_site(tmp)
    archive = tmp / "archive"
    result = run_archiver("crawl", site.url, "--archive", str(archive), *FAST, check=True)
    yield Crawl(archive=archive, site=site, result=result, log=site.requests())
    stop_site(site)


@pytest.fixture(scope="session")
def demo_truth():
    from archiver.demosite import load_site

    return load_site()


def query(db_path: Path, sql: str, *params: object) -> list[tuple]:
    """Rows of one SQL query on an index file."""
    db = sqlite3.connect(db_path)
    try:
        return db.execute(sql, params).fetchall()
    finally:
        db.close()


def table_rows(db_path: Path, table: str, ignored: Iterable[str] = ("indexed_at",)
               ) -> list[tuple]:
    """A table's rows, sorted, without the `ignored` columns: for index comparisons."""
    db = sqlite3.connect(db_path)
    try:
        cols = [r[1] for r in db.execute(f"pragma table_info({table})")
                if r[1] not in set(ignored)]
        return sorted(db.execute(f"select {', '.join(cols)} from {table}").fetchall(),
                      key=lambda r: tuple(str(v) for v in r))
    finally:
        db.close()


__all__ = ["netguard", "run_archiver", "guarded_env", "FAST", "query", "table_rows",
           "SEED_TITLE", "norm"]
