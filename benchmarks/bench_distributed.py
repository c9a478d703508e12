"""Distributed crawl throughput: 1, 2 and 4 `archiver worker`s on a many-host fixture.

    .venv/bin/python benchmarks/bench_distributed.py [--hosts N] [--workers 1,2,4] [--no-write]

Serves the demo site on N loopback addresses (127.0.0.2, 127.0.0.3, ...: N host names for
the crawler, each with its own per-host politeness slot in Redis), starts a redis-server on
an ephemeral port, and for each worker count: `archiver enqueue --reset` every host, runs
that many workers at once into a fresh archive, and reports pages per second over the wall
time (process start to last exit: includes each worker's start-up) and over the fetch
window (first to last request the servers logged), with the ratio to one worker. Then
`archiver reindex` over the last archive. Writes `benchmarks/RESULTS-distributed.md` (not
part of pytest; needs redis-server on PATH and the `redis` extra).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
FAST = ["-s", "CONCURRENT_REQUESTS=16", "-s", "CONCURRENT_REQUESTS_PER_DOMAIN=4",
        "-s", "ARCHIVER_REDIS_HOST_DELAY=0", "-s", "ARCHIVER_PROGRESS_INTERVAL=0"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_sites(tmp: Path, hosts: int) -> list[tuple[str, Path, subprocess.Popen]]:
    sites = []
    for n in range(hosts):
        log = tmp / f"requests-{n}.jsonl"
        log.touch()
        proc = subprocess.Popen(
            [sys.executable, "-m", "archiver.demosite", "--host", f"127.0.0.{n + 2}",
             "--port", "0", "--request-log", str(log)],
            stdout=subprocess.PIPE, text=True, cwd=REPO)
        assert proc.stdout is not None
        sites.append((proc.stdout.readline().strip(), log, proc))
    return sites


def start_redis(tmp: Path) -> tuple[str, subprocess.Popen]:
    server = shutil.which("redis-server")
    if server is None:
        sys.exit("bench_distributed: redis-server is not on PATH (apt-get install redis-server)")
    port = free_port()
    proc = subprocess.Popen([server, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--dir", str(tmp)], stdout=subprocess.DEVNULL)
    import redis

    client = redis.Redis(port=port)
    for _ in range(200):
        try:
            client.ping()
            break
        except redis.ConnectionError:
            time.sleep(0.05)
    return f"redis://127.0.0.1:{port}/0", proc


def archiver(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "archiver", *args], capture_output=True,
                          text=True, check=True, cwd=REPO)


def request_times(logs: list[Path], marks: list[int]) -> list[float]:
    times = []
    for log, mark in zip(logs, marks, strict=True):
        times += [json.loads(line)["t"] for line in log.read_text().splitlines()[mark:] if line]
    return sorted(times)


def run(workers: int, url: str, sites: list, tmp: Path) -> dict[str, float]:
    archive = tmp / f"archive-{workers}"
    archiver("enqueue", *(s[0] for s in sites), "--redis", url, "--reset")
    logs = [s[1] for s in sites]
    marks = [len(log.read_text().splitlines()) for log in logs]
    started = time.monotonic()
    procs = [subprocess.Popen([sys.executable, "-m", "archiver", "worker", "--redis", url,
                               "--archive", str(archive), *FAST],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              cwd=REPO) for _ in range(workers)]
    for proc in procs:
        out, err = proc.communicate()
        if proc.returncode != 0:
            sys.exit(f"worker failed: {out}{err}")
    wall = time.monotonic() - started
    times = request_times(logs, marks)
    window = times[-1] - times[0] if len(times) > 1 else wall
    return {"workers": workers, "pages": len(times), "wall": wall, "window": window,
            "archive": str(archive)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--hosts", type=int, default=8)
    ap.add_argument("--workers", default="1,2,4")
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    counts = [int(n) for n in args.workers.split(",")]
    tmp = Path(tempfile.mkdtemp(prefix="bench-distributed-"))
    url, redis_proc = start_redis(tmp)
    sites = start_sites(tmp, args.hosts)
    try:
        results = [run(n, url, sites, tmp) for n in counts]
        started = time.monotonic()
        archiver("reindex", "--archive", results[-1]["archive"])
        reindex = time.monotonic() - started
    finally:
        for _, _, proc in sites:
            proc.terminate()
            proc.wait()
        redis_proc.terminate()
        redis_proc.wait()
        shutil.rmtree(tmp, ignore_errors=True)
    base = results[0]
    lines = [
        "# Distributed crawl throughput",
        "",
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.node()}: {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, {platform.system()} {platform.release()}. "
        f"`benchmarks/bench_distributed.py --hosts {args.hosts}`: the demo site on "
        f"{args.hosts} loopback addresses (127.0.0.2-127.0.0.{args.hosts + 1}), every worker "
        "on this machine, one local redis-server, CONCURRENT_REQUESTS=16 per worker, 4 per "
        "host across all workers, no delay.",
        "",
        "| workers | pages | wall s | pages/s (wall) | x one worker | fetch window s | "
        "pages/s (window) | x one worker |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        wall_rate, window_rate = r["pages"] / r["wall"], r["pages"] / r["window"]
        lines.append(
            f"| {r['workers']} | {r['pages']} | {r['wall']:.1f} | {wall_rate:.1f} | "
            f"{wall_rate / (base['pages'] / base['wall']):.2f} | {r['window']:.1f} | "
            f"{window_rate:.1f} | {window_rate / (base['pages'] / base['window']):.2f} |")
    lines += ["", f"`archiver reindex` over the {results[-1]['workers']}-worker archive: "
              f"{reindex:.1f} s.", "",
              "Pages grow by one robots.txt per host per extra worker (each process fetches "
              "its own). All workers, the sites and Redis share this machine's "
              f"{os.cpu_count()} cores, so beyond that many workers the ratio measures "
              "contention, not the design; the wall time includes each worker's start-up "
              "(about a second of imports). Workers on separate machines are what the "
              "scaling is for.", ""]
    text = "\n".join(lines)
    print(text)
    if not args.no_write:
        (REPO / "benchmarks" / "RESULTS-distributed.md").write_text(text)


if __name__ == "__main__":
    main()
