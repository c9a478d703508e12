"""Figures, targets and RESULTS.md for bench.py: derived numbers, the table, the write-up.

`derive` adds the ceiling, ratios and the issue 7 targets to the raw
measurements; `table` renders the Markdown table printed and written;
`results_md` the whole RESULTS.md. A hand-written block between the
`<!-- notes -->` markers of an existing RESULTS.md is carried over, so
regenerating the file keeps the analysis that explains the figures.
"""

from __future__ import annotations

import platform
import pstats
import re
import sqlite3
import subprocess
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

TARGET_CRAWL = 0.8
TARGET_REINDEX = 0.85
TARGET_SEARCH = 1.5
TARGET_RSS = 1.25  # peak RSS at 4×N at most this many times the peak at N
NOTES_START, NOTES_END = "<!-- notes:start -->", "<!-- notes:end -->"


def ok(entry: Any) -> bool:
    return isinstance(entry, dict) and "rate" in entry or (
        isinstance(entry, dict) and "peak_rss" in entry) or (
        isinstance(entry, dict) and "archiver_p95" in entry)


def _mean_rate(*entries: Any) -> float | None:
    rates = [e["rate"] for e in entries if ok(e)]
    return sum(rates) / len(rates) if rates else None


def _median_index(values: list[float | None]) -> int | None:
    """Index of the median value (the lower middle one of an even count); None if none."""
    ranked = sorted((v, i) for i, v in enumerate(values) if v is not None)
    return ranked[(len(ranked) - 1) // 2][1] if ranked else None


def derive(r: dict[str, Any]) -> None:
    """Ceilings and ratios of each round (E from just before and just after it), the
    median round's crawl and reindex as `r["crawl"]` / `r["reindex"]`, and the targets."""
    cores, f = r["cores"], r.get("fetch", {})
    rounds = r.get("rounds") or []
    d: dict[str, Any] = {"rounds": []}
    for rd in rounds:
        row: dict[str, Any] = {"e": _mean_rate(rd["e_before"], rd["e_after"])}
        parallel = [e["parallel_rate"] for e in (rd["e_before"], rd["e_after"])
                    if ok(e) and "parallel_rate" in e]
        if parallel and row["e"]:
            row["p"] = sum(parallel) / len(parallel)
            row["p_efficiency"] = row["p"] / (cores * row["e"])
        if ok(f) and row["e"]:
            row["ceiling"] = min(f["rate"], cores / (1 / f["rate"] + 1 / row["e"]))
            row["reindex_ceiling"] = cores * row["e"]
            if ok(rd["crawl"]):
                row["crawl_ratio"] = rd["crawl"]["rate"] / row["ceiling"]
            if ok(rd["reindex"]):
                row["reindex_ratio"] = rd["reindex"]["rate"] / row["reindex_ceiling"]
                if "p" in row:
                    row["reindex_of_p"] = rd["reindex"]["rate"] / row["p"]
        d["rounds"].append(row)
    extracts = [e for e in r.get("extracts", [r.get("extract")]) if ok(e)]
    if extracts:
        d["e_rates"] = [e["rate"] for e in extracts]
        d["e_mean"] = sum(d["e_rates"]) / len(d["e_rates"])
        d["p_rates"] = [e["parallel_rate"] for e in extracts if "parallel_rate" in e]
    for kind, key, ceiling in (("crawl", "crawl_ratio", "ceiling"),
                               ("reindex", "reindex_ratio", "reindex_ceiling")):
        i = _median_index([row.get(key) for row in d["rounds"]])
        if i is not None:
            r[kind] = rounds[i][kind]
            d[ceiling], d[f"{kind}_e"], d[f"{kind}_round"] = (
                d["rounds"][i][ceiling], d["rounds"][i]["e"], i + 1)
        elif rounds:
            r[kind] = rounds[0][kind]
    targets: dict[str, dict[str, Any]] = {}
    crawl, traf = r.get("crawl", {}), r.get("trafilatura", {})
    if ok(crawl) and "ceiling" in d:
        ratio = crawl["rate"] / d["ceiling"]
        targets["crawl"] = {"ratio": ratio, "met": ratio >= TARGET_CRAWL,
                            "goal": f">= {TARGET_CRAWL} of the ceiling"}
    else:
        targets["crawl"] = {"met": None, "goal": f">= {TARGET_CRAWL} of the ceiling"}
    if ok(crawl) and ok(traf) and traf["rate"] > 0:
        ratio = crawl["rate_wall"] / traf["rate"]
        targets["crawl_vs_trafilatura"] = {"ratio": ratio, "met": ratio > 1,
                                           "goal": "faster than trafilatura's crawler"}
    rx = r.get("reindex", {})
    if ok(rx) and "reindex_ceiling" in d:
        ratio = rx["rate"] / d["reindex_ceiling"]
        targets["reindex"] = {"ratio": ratio, "met": ratio >= TARGET_REINDEX,
                              "goal": f">= {TARGET_REINDEX} of cores x E"}
    s = r.get("search", {})
    if ok(s):
        ratio = s["archiver_p95"] / s["plain_p95"]
        targets["search"] = {"ratio": ratio, "met": ratio <= TARGET_SEARCH,
                             "goal": f"p95 <= {TARGET_SEARCH} x plain FTS5"}
    c4 = r.get("crawl_4n", {})
    if ok(crawl) and ok(c4):
        ratio = c4["peak_rss"] / crawl["peak_rss"]
        targets["rss"] = {"ratio": ratio, "met": ratio <= TARGET_RSS,
                          "goal": f"peak RSS at 4xN <= {TARGET_RSS} x at N"}
    r["derived"], r["targets"] = d, targets


def _rate(entry: dict[str, Any], unit: str = "pages/s") -> str:
    if "na" in entry:
        return f"n/a ({entry['na']})"
    if "error" in entry:
        return f"failed: {entry['error'][:120]}"
    if "rate" not in entry:
        return "not run"
    return f"{entry['rate']:.1f} {unit} ({entry['pages']} in {entry['seconds']:.1f} s)"


def _met(t: dict[str, Any] | None) -> str:
    if not t or t.get("met") is None:
        return "–"
    if t["met"]:
        return "yes"
    return "**NO**"


def _num(x: float | None) -> str:
    return "–" if x is None else f"{x:.2f}"


def _ratio(t: dict[str, Any] | None) -> str:
    return f"{t['ratio']:.2f}" if t and "ratio" in t else "–"


def table(r: dict[str, Any]) -> str:
    d, t, n, cores = r.get("derived", {}), r.get("targets", {}), r["args"]["articles"], r["cores"]
    f, e = r.get("fetch", {}), r.get("extract", {})
    crawl, c4 = r.get("crawl", {}), r.get("crawl_4n", {})
    e_txt = _rate(e)
    if len(d.get("e_rates", [])) > 1:
        e_txt = (f"{d['e_mean']:.1f} pages/s (mean of {len(d['e_rates'])} runs over "
                 f"{e['pages']} pages: " + ", ".join(f"{x:.1f}" for x in d["e_rates"]) + ")")
    rows: list[tuple[str, ...]] = [
        ("F: bare Scrapy fetch (fetch ceiling)", _rate(f), "", "", "", ""),
        ("E: extraction alone, one core", e_txt, "", "", "", ""),
    ]
    if d.get("p_rates") and d.get("e_rates"):
        p_mean = sum(d["p_rates"]) / len(d["p_rates"])
        rows.append((f"P: extraction on {cores} cores at once ({cores} forked processes, no "
                     "IPC, no crawler)",
                     f"{p_mean:.1f} pages/s (" + ", ".join(f"{x:.1f}" for x in d["p_rates"]) + ")",
                     f"{cores} x E = {cores * d['e_mean']:.1f}",
                     f"{p_mean / (cores * d['e_mean']):.2f}", "", ""))
    rows += [
        (f"ceiling min(F, {cores}/(1/F+1/E))",
         f"{d['ceiling']:.1f} pages/s (E {d['crawl_e']:.1f}, measured just before and after "
         f"the crawl of round {d['crawl_round']})" if "ceiling" in d else "–", "", "", "", ""),
    ]
    ceiling = f"ceiling {d['ceiling']:.1f}" if "ceiling" in d else ""
    crawl_txt = _rate(crawl, "articles/s")
    if ok(crawl):
        crawl_txt += f"; {crawl['responses']} responses in all"
    rows.append(("archiver crawl", crawl_txt, ceiling, _ratio(t.get("crawl")),
                 f">= {TARGET_CRAWL}", _met(t.get("crawl"))))
    traf = r.get("trafilatura", {})
    if ok(crawl) and ok(traf):
        rows.append(("archiver crawl vs trafilatura (wall clock)",
                     f"{crawl['rate_wall']:.1f} articles/s ({crawl['wall']:.1f} s)",
                     f"trafilatura {traf['rate']:.1f}", _ratio(t.get("crawl_vs_trafilatura")),
                     "> 1", _met(t.get("crawl_vs_trafilatura"))))
    rx = r.get("reindex", {})
    rows.append(("archiver reindex", _rate(rx),
                 f"{cores} x E = {d['reindex_ceiling']:.1f}" if "reindex_ceiling" in d else "",
                 _ratio(t.get("reindex")), f">= {TARGET_REINDEX}", _met(t.get("reindex"))))
    if len(d.get("rounds", [])) > 1:
        rows.append((f"ratios of each round ({len(d['rounds'])} rounds; the median is above)",
                     "crawl " + ", ".join(_num(x.get("crawl_ratio")) for x in d["rounds"]),
                     "reindex " + ", ".join(_num(x.get("reindex_ratio")) for x in d["rounds"]),
                     "", "", ""))
    if any("reindex_of_p" in x for x in d.get("rounds", [])):
        rows.append(("archiver reindex / P of the same round",
                     ", ".join(_num(x.get("reindex_of_p")) for x in d["rounds"]),
                     "P / (cores x E): " + ", ".join(_num(x.get("p_efficiency"))
                                                     for x in d["rounds"]), "", "", ""))
    if "trafilatura" in r:
        rows.append((f"trafilatura CLI (--parallel {16}, no WARC)", _rate(traf), "", "", "", ""))
    if "wget" in r:
        rows.append(("wget --warc-file", _rate(r["wget"] or {"na": "wget not installed"}),
                     "", "", "", ""))
    s = r.get("search", {})
    if ok(s):
        rows.append((f"search p50 / p95, Index.search in-process ({s['rows']:,} articles, "
                     f"{s['queries']} queries)",
                     f"{s['archiver_p50'] * 1e3:.2f} / {s['archiver_p95'] * 1e3:.2f} ms",
                     f"plain FTS5 {s['plain_p50'] * 1e3:.2f} / {s['plain_p95'] * 1e3:.2f} ms",
                     _ratio(t.get("search")), f"p95 <= {TARGET_SEARCH}x", _met(t.get("search"))))
        rows.append(("search p50 / p95, `archiver search` CLI (subprocess)",
                     f"{s['archiver_cli_p50'] * 1e3:.0f} / {s['archiver_cli_p95'] * 1e3:.0f} ms",
                     f"plain FTS5 in a fresh python {s['plain_cli_p50'] * 1e3:.0f} / "
                     f"{s['plain_cli_p95'] * 1e3:.0f} ms", "", "", ""))
    elif "search" in r:
        rows.append(("search", _rate(s), "", "", "", ""))
    for label, entry, count in (("N", crawl, n), ("4xN", c4, 4 * n)):
        value = (f"{entry['peak_rss'] / 1e6:.0f} MB ({entry['processes']} processes)"
                 if ok(entry) else _rate(entry))
        extra = ("", "", "", "")
        if label == "4xN":
            extra = (f"N: {crawl['peak_rss'] / 1e6:.0f} MB" if ok(crawl) else "",
                     _ratio(t.get("rss")), f"<= {TARGET_RSS}", _met(t.get("rss")))
        rows.append((f"peak RSS of the crawl, {label} = {count} articles", value, *extra))
    if ok(c4):
        rows.append((f"archiver crawl, 4xN = {4 * n} articles", _rate(c4, "articles/s"),
                     "", "", "", ""))
    head = ("measurement", "result", "compared with", "ratio", "target", "met")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


def machine() -> dict[str, str]:
    model, mem = "unknown", "unknown"
    try:
        if m := re.search(r"model name\s*:\s*(.+)", Path("/proc/cpuinfo").read_text()):
            model = m.group(1).strip()
        if m := re.search(r"MemTotal:\s*(\d+) kB", Path("/proc/meminfo").read_text()):
            mem = f"{int(m.group(1)) / 1024 ** 2:.1f} GiB"
    except OSError:
        pass
    try:
        wget = subprocess.run(["wget", "--version"], capture_output=True, text=True,
                              ).stdout.splitlines()[0]
    except (OSError, IndexError):
        wget = "not installed"
    try:
        here = Path(__file__).parent
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True, cwd=here).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "archiver", "spiders"],
                               capture_output=True, text=True, cwd=here).stdout.strip()
        commit += " (with uncommitted changes in archiver/ or spiders/)" if dirty else ""
    except OSError:
        commit = "unknown"
    return {
        "cpu": model, "memory": mem, "os": platform.platform(),
        "python": platform.python_version(), "scrapy": _version("scrapy"),
        "twisted": _version("twisted"), "trafilatura": _version("trafilatura"),
        "lxml": _version("lxml"), "warcio": _version("warcio"), "sqlite": sqlite3.sqlite_version,
        "digest-archiver": f"{_version('digest-archiver')} at {commit}", "wget": wget,
    }


def _short(path: str) -> str:
    for marker in ("site-packages/", "/lib/python3.11/", "/work/main/"):
        if marker in path:
            return path.split(marker, 1)[1]
    return path


def profile_summary(path: Path, top: int = 15) -> dict[str, Any]:
    """Top entries of a cProfile dump: by own time, and the project's own frames by total time."""
    stats = pstats.Stats(str(path)).stats  # type: ignore[attr-defined]
    total = max((ct for (_, _, _, ct, _) in stats.values()), default=0.0)

    def fmt(key: tuple[str, int, str], value: tuple[Any, ...]) -> dict[str, Any]:
        return {"func": f"{_short(key[0])}:{key[1]}({key[2]})", "calls": value[1],
                "tottime": value[2], "cumtime": value[3]}

    by_own = sorted(stats.items(), key=lambda kv: kv[1][2], reverse=True)[:top]
    ours = [kv for kv in stats.items() if "/archiver/" in kv[0][0] or "/spiders/" in kv[0][0]]
    ours.sort(key=lambda kv: kv[1][3], reverse=True)
    return {"total": total, "own": [fmt(k, v) for k, v in by_own],
            "project": [fmt(k, v) for k, v in ours[:top]]}


def _profile_md(p: dict[str, Any]) -> str:
    out = [f"Main crawler process under cProfile, {p['total']:.1f} s in all (profiling slows "
           "it; proportions are what count). Top entries by own time:", "",
           "| calls | own s | total s | function |", "|---:|---:|---:|---|"]
    out += [f"| {e['calls']} | {e['tottime']:.1f} | {e['cumtime']:.1f} | `{e['func']}` |"
            for e in p["own"]]
    out += ["", "The project's own functions by total (inclusive) time:", "",
            "| calls | own s | total s | function |", "|---:|---:|---:|---|"]
    out += [f"| {e['calls']} | {e['tottime']:.1f} | {e['cumtime']:.1f} | `{e['func']}` |"
            for e in p["project"]]
    return "\n".join(out)


def _targets_md(r: dict[str, Any]) -> str:
    lines = []
    for name, t in r.get("targets", {}).items():
        if t.get("met") is None:
            lines.append(f"- **{name}** ({t['goal']}): not measured")
            continue
        verdict = "met" if t["met"] else "**not met**"
        lines.append(f"- **{name}** ({t['goal']}): {verdict}, ratio {t['ratio']:.2f}")
    crawl = r.get("crawl", {})
    if ok(crawl):
        wall = crawl["seconds"]
        lines.append(
            f"- CPU during the timed crawl ({wall:.0f} s): crawler main process "
            f"{crawl['main_cpu']:.0f} s ({crawl['main_cpu'] / wall:.0%} of one core), forkserver "
            f"and extraction workers {crawl['workers_cpu']:.0f} s "
            f"({crawl['workers_cpu'] / (wall * r['cores']):.0%} of {r['cores']} cores).")
    rx = r.get("reindex", {})
    if ok(rx):
        lines.append(
            f"- CPU during reindex ({rx['seconds']:.0f} s): main process {rx['main_cpu']:.0f} s, "
            f"worker processes {rx['workers_cpu']:.0f} s "
            f"({(rx['main_cpu'] + rx['workers_cpu']) / (rx['seconds'] * r['cores']):.0%} of "
            f"{r['cores']} cores in all).")
    return "\n".join(lines)


def results_md(r: dict[str, Any], table_md: str, previous: Path) -> str:
    notes = ""
    if previous.exists():
        old = previous.read_text()
        if NOTES_START in old and NOTES_END in old:
            notes = old.split(NOTES_START, 1)[1].split(NOTES_END, 1)[0].strip("\n")
    m, a = r["machine"], r["args"]
    flags = " ".join(f for f, on in (("--quick", a["quick"]), ("--skip-peers", a["skip_peers"]))
                     if on)
    if a.get("rounds") and a["rounds"] != (1 if a["quick"] else 3):  # not the default
        flags = f"--rounds {a['rounds']} {flags}"
    versions = ", ".join(f"{k} {m[k]}" for k in ("python", "scrapy", "twisted", "trafilatura",
                                                  "lxml", "warcio", "sqlite", "wget"))
    parts = [
        "# Benchmark results", "",
        f"Measured by `.venv/bin/python benchmarks/bench.py --articles {a['articles']} {flags}`"
        .rstrip() + f" on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC "
        f"(whole run {r.get('total_seconds', 0) / 60:.1f} min). Regenerate it the same way; "
        "the notes at the end are kept.", "",
        "## Machine", "",
        f"- CPU: {m['cpu']}, {r['cores']} cores; memory {m['memory']}; {m['os']}",
        f"- versions: {versions}",
        f"- digest-archiver {m['digest-archiver']}",
        "- the machine is shared: share of its CPU (both cores) that processes outside the "
        "benchmark used during each step, and the 1-min load average before it: " + ", ".join(
            f"{k} {r.get('others_cpu', {}).get(k, float('nan')):.0%} ({v:.1f})"
            for k, v in r.get("loadavg", {}).items()), "",
        "## Results", "", table_md, "",
        "## Targets (issue 7, point 4)", "", _targets_md(r), "",
    ]
    if "profile" in r:
        parts += ["## Where the crawl's time goes", "", _profile_md(r["profile"]), ""]
    parts += [
        "## What is measured", "",
        f"- The site: {a['articles']} synthetic articles remixed from the demo site "
        "(`benchmarks/synthsite.py`), 30-120 KB of HTML per article page with WordPress "
        "boilerplate (menus, tag cloud, related posts, card grid, comments, inline CSS/JS), "
        "listings of 100 entries per page, feed, sitemaps and robots.txt, pre-rendered and "
        "pre-gzipped in memory and served by a stdlib ThreadingHTTPServer on 127.0.0.1 with no "
        "delay (it shares the machine's cores with the crawlers).",
        "- F: `benchmarks/bare_crawl.py`, a Scrapy Spider with the article URLs as start URLs, "
        "no pipelines, same engine settings as the crawl (16 concurrent requests, 16 per "
        "domain, no delay, no AutoThrottle, asyncio reactor); pages / Scrapy's "
        "`elapsed_time_seconds`.",
        "- E: `archiver.extraction.extract_article` over the same page bytes, serially, one "
        "process (the one-time set-up of trafilatura and its date parser included, as in the "
        "crawl). Measured before the first round and after each round; a round's ceilings "
        "use the mean of the E measured just before and just after it, so the machine "
        "drifting during the run moves both sides of the ratio. The round with the median "
        "ratio is the one reported (for an even number of rounds, the lower middle one).",
        "- P: right after each E, the same pages split between one forked process per core, "
        "all extracting at once (warm, no IPC, no crawler): what extraction alone gets from "
        "all the cores together. P / (cores x E) below 1 means the cores slow each other down "
        "(shared caches, or virtual cores sharing physical ones), a limit no pool can beat.",
        "- archiver crawl: `archiver crawl http://127.0.0.1:PORT/ -s DOWNLOAD_DELAY=0 -s "
        "AUTOTHROTTLE_ENABLED=False -s CONCURRENT_REQUESTS=16 -s "
        "CONCURRENT_REQUESTS_PER_DOMAIN=16` in a subprocess: it discovers the site itself "
        "(robots.txt, sitemaps, feed, listings), so it fetches listing pages too. Rate = "
        "articles in index.db / Scrapy's `elapsed_time_seconds`; the wall-clock rate "
        "(interpreter start-up included) is the one compared with trafilatura.",
        "- archiver reindex: `archiver reindex --archive DIR` over the WARCs of that crawl, "
        "articles / wall-clock seconds.",
        "- trafilatura: `trafilatura -i urls.txt -o DIR --parallel 16 --with-metadata --json` "
        "with a config file setting `SLEEP_TIME = 0` (default 5 s between requests to a host) "
        "and `SSRF_PROTECTION = off` (the default refuses 127.0.0.1); pages written / wall "
        "clock. Its download queue hands out one URL per host per round, so on a one-host "
        "site it fetches one page at a time whatever `--parallel` says, and it extracts in its "
        "main process.",
        "- wget: `wget -q -i urls.txt --warc-file=... --delete-after`, one connection, "
        "no extraction; 200 responses in its WARC / wall clock.",
        "- search: a synthetic index built with the project's schema (`Index` migrations, rows "
        "from `article_row`, FTS triggers), and a plain FTS5 table (same columns, tokenizer "
        "and rows) queried with `select rowid, title from fts where fts match ? order by rank "
        "limit 10`; 20 fixed queries (`benchmarks/searchbench.py`), each warmed once then "
        "timed several times; p50/p95 over all timings. `Index.search` also computes bm25 "
        "with column weights, a snippet, and joins `articles`.",
        "- peak RSS: the sum of the resident sizes of the crawl's process tree (crawler, "
        "forkserver, extraction workers), sampled from /proc every 0.2 s.", "",
        "## Notes", "", NOTES_START, notes or "(none yet)", NOTES_END, "",
    ]
    return "\n".join(parts)
