"""digest-archiver benchmark (issue 7): throughput against ceilings and peers, search, memory.

    .venv/bin/python benchmarks/bench.py [--articles N] [--quick] [--skip-peers] [--no-write]

In one run: generate a synthetic digest site of N articles (synthsite.py),
serve it on 127.0.0.1 (siteserver.py, no delay), and measure F (bare Scrapy
fetch, bare_crawl.py), E (extraction on one core), the ceiling
min(F, cores / (1/F + 1/E)), `archiver crawl` and `archiver reindex` (in
rounds: E is measured before the first round and after each, and each round's
ratios use the E measured just before and just after it, so a shared machine
slowing down or speeding up moves both sides; the median round is reported),
trafilatura's and wget's crawlers over the same URLs, search latency over a
synthetic index (searchbench.py), and the crawl's peak RSS for N and 4×N
(procmon.py). Prints the table and writes benchmarks/RESULTS.md (report.py).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import report  # noqa: E402
import searchbench  # noqa: E402
import synthsite  # noqa: E402
from procmon import TreeMonitor, machine_busy  # noqa: E402

CORES = os.cpu_count() or 1
# `archiver crawl` and the bare crawl run with the same engine settings (bare_crawl.SETTINGS).
CRAWL_SETTINGS = {"DOWNLOAD_DELAY": "0", "AUTOTHROTTLE_ENABLED": "False",
                  "CONCURRENT_REQUESTS": "16", "CONCURRENT_REQUESTS_PER_DOMAIN": "16"}
PARALLEL = 16  # the same parallelism for trafilatura's --parallel
PROXY_VARS = {"http_proxy", "https_proxy", "all_proxy", "no_proxy"}


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def child_env() -> dict[str, str]:
    """Our environment minus proxies (everything here talks to 127.0.0.1)."""
    return {k: v for k, v in os.environ.items() if k.lower() not in PROXY_VARS}


class Site:
    """A generated site served by siteserver.py in a subprocess."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.proc = subprocess.Popen([sys.executable, str(HERE / "siteserver.py"), str(folder)],
                                     stdout=subprocess.PIPE, text=True, env=child_env(),
                                     stdin=subprocess.DEVNULL)
        assert self.proc.stdout is not None
        self.url = self.proc.stdout.readline().strip()
        if not self.url.startswith("http://127.0.0.1:"):
            self.stop()
            raise RuntimeError(f"site server did not start: {self.url!r}")
        self.base = self.url.rstrip("/")
        meta = json.loads((folder / "meta.json").read_text())
        self.paths: list[str] = meta["article_paths"]
        self.urls_file = folder / f"urls-{self.proc.pid}.txt"
        self.urls_file.write_text("".join(f"{self.base}{p}\n" for p in self.paths))

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()

    def __enter__(self) -> Site:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def make_site(work: Path, n: int, seed: int) -> Path:
    folder = work / f"site-{n}"
    started = time.perf_counter()
    meta = synthsite.write_site(n, folder, seed)
    log(f"site of {n} articles ready in {time.perf_counter() - started:.1f} s "
        f"({meta['article_bytes'] / n / 1000:.0f} KB per article page on average)")
    return folder


# -- measurements ----------------------------------------------------------------
def measure_fetch(site: Site) -> dict[str, Any]:
    """F: bare Scrapy, fetch only, same engine settings as the archiver crawl."""
    started = time.perf_counter()
    out = subprocess.run([sys.executable, str(HERE / "bare_crawl.py"), str(site.urls_file)],
                         capture_output=True, text=True, env=child_env(), check=True,
                         stdin=subprocess.DEVNULL)
    wall = time.perf_counter() - started
    stats = json.loads(out.stdout.strip().splitlines()[-1])
    if stats["status_200"] != len(site.paths):
        raise RuntimeError(f"bare crawl got {stats['status_200']} of {len(site.paths)} pages")
    return {"pages": stats["status_200"], "seconds": stats["elapsed"], "wall": wall,
            "rate": stats["status_200"] / stats["elapsed"]}


_SHARED: list[tuple[bytes, str]] = []  # pages for the forked processes of measure_extract


def _extract_share(i: int) -> int:
    return _extract_all(_SHARED[i::CORES])


def _extract_all(bodies: list[tuple[bytes, str]]) -> int:
    from archiver.extraction import extract_article

    failed = 0
    for body, url in bodies:
        try:
            extract_article(body, url)
        except Exception:  # counted: a failure costs time too
            failed += 1
    return failed


def measure_extract(site: Site, limit: int | None) -> dict[str, Any]:
    """E: `extract_article` over the same page bytes, serially, in this process; then the
    machine's parallel capacity P: one forked process per core, each extracting its share
    of the pages (no IPC, no crawler), so P / (cores x E) says how far the cores are
    independent of each other on this machine."""
    pages = synthsite.load_pages(site.folder, site.base)
    paths = site.paths[:limit] if limit else site.paths
    bodies = [(pages[p][2], site.base + p) for p in paths]
    del pages
    started = time.perf_counter()
    failed = _extract_all(bodies)
    seconds = time.perf_counter() - started
    _SHARED[:] = bodies  # inherited by the forked processes, not sent to them
    started = time.perf_counter()
    with multiprocessing.get_context("fork").Pool(CORES) as pool:
        pool.map(_extract_share, range(CORES), chunksize=1)
    parallel = len(bodies) / (time.perf_counter() - started)
    _SHARED.clear()
    return {"pages": len(bodies), "seconds": seconds, "rate": len(bodies) / seconds,
            "parallel_rate": parallel,
            "failed": failed}


def _log_stats(archive: Path) -> dict[str, float]:
    """Numbers from the Scrapy stats dump at the end of the crawl log."""
    logs = sorted((archive / "logs").glob("crawl-*.log"), key=lambda p: p.stat().st_mtime)
    text = logs[-1].read_text(errors="replace") if logs else ""
    found = {}
    for key in ("elapsed_time_seconds", "downloader/response_count", "archiver/extract/ok",
                "archiver/extract/failed", "log_count/ERROR", "memusage/max"):
        if m := re.search(rf"'{re.escape(key)}': ([\d.]+)", text):
            found[key] = float(m.group(1))
    return found


def count_articles(archive: Path) -> int:
    db = archive / "index.db"
    if not db.exists():
        return 0
    with sqlite3.connect(db) as conn:
        return conn.execute("select count(*) from articles").fetchone()[0]


def measure_crawl(site: Site, archive: Path, profile: Path | None = None) -> dict[str, Any]:
    """`archiver crawl` of the site's home URL in a subprocess; peak RSS of its process tree."""
    shutil.rmtree(archive, ignore_errors=True)
    argv = [sys.executable] + (["-m", "cProfile", "-o", str(profile)] if profile else [])
    argv += ["-m", "archiver", "crawl", site.url, "--archive", str(archive)]
    for name, value in CRAWL_SETTINGS.items():
        argv += ["-s", f"{name}={value}"]
    started = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=child_env(), stdin=subprocess.DEVNULL)
    with TreeMonitor(proc.pid) as monitor:
        out, err = proc.communicate()
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(f"archiver crawl exited {proc.returncode}: {(out + err)[-800:]}")
    stats = _log_stats(archive)
    articles = count_articles(archive)
    seconds = stats.get("elapsed_time_seconds") or wall
    main_cpu = monitor.cpu.get(proc.pid, ("", 0.0))[1]
    other_cpu = sum(c for pid, (_, c) in monitor.cpu.items() if pid != proc.pid)
    return {"pages": articles, "responses": int(stats.get("downloader/response_count", 0)),
            "seconds": seconds, "wall": wall, "rate": articles / seconds,
            "rate_wall": articles / wall, "peak_rss": monitor.peak_rss,
            "processes": monitor.peak_processes, "main_cpu": main_cpu, "workers_cpu": other_cpu,
            "failed": int(stats.get("archiver/extract/failed", 0)),
            "errors": int(stats.get("log_count/ERROR", 0))}


def reindex_available() -> bool:
    out = subprocess.run([sys.executable, "-m", "archiver", "--help"], capture_output=True,
                         text=True, env=child_env(), stdin=subprocess.DEVNULL)
    return bool(re.search(r"^\s+reindex\b", out.stdout, re.MULTILINE))


def measure_reindex(archive: Path) -> dict[str, Any]:
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "archiver", "reindex", "--archive",
                             str(archive)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=child_env(), stdin=subprocess.DEVNULL)
    with TreeMonitor(proc.pid) as monitor:
        out, err = proc.communicate()
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(f"archiver reindex exited {proc.returncode}: {(out + err)[-800:]}")
    articles = count_articles(archive)
    return {"pages": articles, "seconds": wall, "rate": articles / wall,
            "main_cpu": monitor.cpu.get(proc.pid, ("", 0.0))[1],
            "workers_cpu": sum(c for p, (_, c) in monitor.cpu.items() if p != proc.pid)}


TRAFILATURA_CONFIG = """[DEFAULT]
DOWNLOAD_TIMEOUT = 30
MAX_FILE_SIZE = 20000000
MIN_FILE_SIZE = 10
# no politeness pause between requests to one host (the default is 5 s)
SLEEP_TIME = 0
USER_AGENTS =
COOKIE =
MAX_REDIRECTS = 2
# the default refuses loopback addresses; the benchmark site is on 127.0.0.1
SSRF_PROTECTION = off
INSECURE_SSL_FALLBACK = off
MIN_EXTRACTED_SIZE = 250
MIN_OUTPUT_SIZE = 1
MIN_OUTPUT_COMM_SIZE = 1
MAX_TREE_SIZE =
EXTRACTION_TIMEOUT = 30
MIN_DUPLCHECK_SIZE = 100
MAX_REPETITIONS = 2
EXTENSIVE_DATE_SEARCH = on
EXTERNAL_URLS = off
"""


def measure_trafilatura(site: Site, work: Path) -> dict[str, Any]:
    """trafilatura's CLI: download and extract the URL list (no WARC)."""
    exe = Path(sys.executable).with_name("trafilatura")
    out_dir, config = work / "trafilatura-out", work / "trafilatura.cfg"
    shutil.rmtree(out_dir, ignore_errors=True)
    config.write_text(TRAFILATURA_CONFIG)
    argv = [str(exe) if exe.exists() else "trafilatura", "-i", str(site.urls_file),
            "-o", str(out_dir), "--parallel", str(PARALLEL), "--config-file", str(config),
            "--with-metadata", "--json"]
    started = time.perf_counter()
    subprocess.run(argv, capture_output=True, env=child_env(), stdin=subprocess.DEVNULL)
    wall = time.perf_counter() - started
    # More than 1,000 inputs: trafilatura writes into numbered subdirectories.
    done = sum(1 for p in out_dir.rglob("*") if p.is_file()) if out_dir.exists() else 0
    return {"pages": done, "seconds": wall, "rate": done / wall, "argv": argv[1:]}


def measure_wget(site: Site, work: Path) -> dict[str, Any] | None:
    exe = shutil.which("wget") or ("/usr/bin/wget" if Path("/usr/bin/wget").exists() else None)
    if exe is None:
        return None
    folder = work / "wget"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    argv = [exe, "-q", "-i", str(site.urls_file), f"--warc-file={folder / 'bench'}",
            "--delete-after", "-nd", "-P", str(folder / "files")]
    started = time.perf_counter()
    subprocess.run(argv, capture_output=True, env=child_env(), stdin=subprocess.DEVNULL)
    wall = time.perf_counter() - started
    from warcio.archiveiterator import ArchiveIterator

    responses = 0
    with open(folder / "bench.warc.gz", "rb") as stream:
        for record in ArchiveIterator(stream):
            if record.rec_type == "response" and record.http_headers and \
                    record.http_headers.get_statuscode() == "200":
                responses += 1
    return {"pages": responses, "seconds": wall, "rate": responses / wall,
            "argv": ["wget"] + argv[1:]}


def measure_search(work: Path, n: int, quick: bool) -> dict[str, Any]:
    folder = work / f"search-{n}"
    started = time.perf_counter()
    meta = searchbench.build_index(folder, n)
    log(f"search index of {meta['rows']} articles ready in {time.perf_counter() - started:.1f} s")
    times = searchbench.time_queries(folder, reps=3 if quick else 5, cli_reps=1 if quick else 2,
                                     env=child_env())
    times.pop("hits", None)
    pct = searchbench.percentile
    return {"rows": meta["rows"], "index_mb": meta["index_mb"],
            **{f"{k}_p50": pct(v, 50) for k, v in times.items()},
            **{f"{k}_p95": pct(v, 95) for k, v in times.items()},
            "queries": len(searchbench.QUERIES)}


# -- orchestration ---------------------------------------------------------------
def loadavg() -> float:
    try:
        return float(Path("/proc/loadavg").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return float("nan")


def others_share(seconds: float = 2.0) -> float:
    """Share of the machine's CPU that processes outside this benchmark use right now."""
    busy = machine_busy()
    with TreeMonitor(os.getpid(), interval=seconds) as ours:
        time.sleep(seconds)
    return max(0.0, machine_busy() - busy - ours.cpu_used) / (seconds * CORES)


def wait_idle(limit: float) -> None:
    """Wait (at most `limit` seconds) until other processes leave the cores alone (< 10%)."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        share = others_share()
        if share < 0.10:
            return
        log(f"other processes use {share:.0%} of the machine; waiting for it to quieten")
        time.sleep(3)


WAIT_IDLE = 0.0  # set from --wait-idle


def step(results: dict[str, Any], name: str, func, *args: Any) -> Any:
    """Run one measurement; record how much CPU other processes took meanwhile."""
    if WAIT_IDLE:
        wait_idle(WAIT_IDLE)
    results.setdefault("loadavg", {})[name] = loadavg()
    log(f"{name} ... (1-min load average {results['loadavg'][name]:.2f})")
    busy, started = machine_busy(), time.perf_counter()
    try:
        with TreeMonitor(os.getpid(), interval=0.5) as ours:
            results[name] = func(*args)
    except Exception as exc:  # one failed measurement must not lose the others
        results[name] = {"error": f"{type(exc).__name__}: {exc}"[:400]}
        log(f"{name} failed: {results[name]['error']}")
    else:
        # CPU that processes outside this benchmark took from the machine meanwhile.
        others = max(0.0, machine_busy() - busy - ours.cpu_used)
        share = others / ((time.perf_counter() - started) * CORES)
        results.setdefault("others_cpu", {})[name] = share
        log(f"{name} done; other processes used {share:.0%} of the machine meanwhile")
    return results[name]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--articles", type=int, help="articles in the site (default 2000; "
                        "--quick: 200)")
    parser.add_argument("--quick", action="store_true",
                        help="small sizes, fewer repetitions, no profile (< 2 minutes)")
    parser.add_argument("--search-articles", type=int,
                        help="rows of the synthetic search index (default 100000; --quick: 10000)")
    parser.add_argument("--rounds", type=int, help="crawl, reindex and E measured this many "
                        "times; the median ratios are reported (default 3; --quick: 1)")
    parser.add_argument("--extract-sample", type=int, default=0,
                        help="measure E on the first K pages only (default: all N)")
    parser.add_argument("--skip-peers", action="store_true", help="skip trafilatura and wget")
    parser.add_argument("--skip-search", action="store_true")
    parser.add_argument("--profile", choices=("auto", "always", "never"), default="auto",
                        help="cProfile a second crawl when the crawl target is missed (auto)")
    parser.add_argument("--no-write", action="store_true", help="do not write RESULTS.md")
    parser.add_argument("--workdir", type=Path, default=HERE / ".cache",
                        help="generated sites, archives, search indexes (reused between runs)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--wait-idle", type=float, default=0.0, metavar="SECONDS",
                        help="before each step, wait up to SECONDS for other processes to "
                        "leave the cores alone (a shared machine)")
    args = parser.parse_args(argv)
    args.articles = args.articles or (200 if args.quick else 2000)
    args.rounds = max(1, args.rounds or (1 if args.quick else 3))
    args.search_articles = args.search_articles or (10_000 if args.quick else 100_000)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    global WAIT_IDLE
    WAIT_IDLE = args.wait_idle
    work = args.workdir.resolve()
    work.mkdir(parents=True, exist_ok=True)
    n, started = args.articles, time.perf_counter()
    results: dict[str, Any] = {"args": vars(args) | {"workdir": str(work)}, "cores": CORES}
    site_n = make_site(work, n, args.seed)
    with Site(site_n) as site:
        step(results, "fetch", measure_fetch, site)
        sample = args.extract_sample or None
        extracts = [step(results, "extract", measure_extract, site, sample)]
        results["rounds"] = []
        for i in range(args.rounds):
            crawl = step(results, f"crawl#{i + 1}", measure_crawl, site, work / "archive-n")
            if not reindex_available():
                reindex: dict[str, Any] = {"na": "archiver reindex not available"}
            elif "error" in crawl:
                reindex = {"error": "no crawl to reindex"}
            else:
                reindex = step(results, f"reindex#{i + 1}", measure_reindex, work / "archive-n")
            extracts.append(step(results, f"extract#{i + 1}", measure_extract, site, sample))
            results["rounds"].append({"crawl": crawl, "reindex": reindex,
                                      "e_before": extracts[-2], "e_after": extracts[-1]})
        results["extracts"] = extracts
        if not args.skip_peers:
            step(results, "trafilatura", measure_trafilatura, site, work)
            step(results, "wget", measure_wget, site, work)
        report.derive(results)
        want_profile = args.profile == "always" or (
            args.profile == "auto" and not args.quick and not results["targets"]["crawl"]["met"])
        if want_profile:
            prof = work / "crawl.prof"
            step(results, "profiled_crawl", measure_crawl, site, work / "archive-prof", prof)
            if prof.exists():
                results["profile"] = report.profile_summary(prof)
    site_4n = make_site(work, 4 * n, args.seed)
    with Site(site_4n) as site:
        step(results, "crawl_4n", measure_crawl, site, work / "archive-4n")
    if not args.skip_search:
        step(results, "search", measure_search, work, args.search_articles, args.quick)
    results["total_seconds"] = time.perf_counter() - started
    report.derive(results)
    results["machine"] = report.machine()
    table = report.table(results)
    print(table)
    (work / "results.json").write_text(json.dumps(results, indent=1, default=str))
    if not args.no_write:
        out = HERE / "RESULTS.md"
        out.write_text(report.results_md(results, table, out))
        log(f"wrote {out}")
    log(f"done in {results['total_seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
