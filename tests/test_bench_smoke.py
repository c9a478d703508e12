"""Smoke test of benchmarks/bench.py: a tiny run completes and prints every table row.

Not a timing test: it only checks that the benchmark still runs end to end
(site generation, server, bare crawl, extraction, archiver crawl and reindex,
peak RSS, search) against the current code, with the network guard on.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO, guarded_env

ROWS = [
    "| F: bare Scrapy fetch (fetch ceiling) |",
    "| E: extraction alone, one core |",
    "| P: extraction on ",
    "| ceiling min(F, ",
    "| archiver crawl |",
    "| archiver reindex |",
    "| search p50 / p95, Index.search in-process ",
    "| search p50 / p95, `archiver search` CLI (subprocess) |",
    "| peak RSS of the crawl, N = 20 articles |",
    "| peak RSS of the crawl, 4xN = 80 articles |",
]


def test_bench_quick_prints_the_table(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "bench.py"), "--quick", "--articles", "20",
         "--skip-peers", "--no-write", "--search-articles", "2000", "--workdir", str(tmp_path)],
        env=guarded_env(), capture_output=True, text=True, timeout=110,
        stdin=subprocess.DEVNULL, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    for row in ROWS:
        assert row in proc.stdout, f"missing {row!r} in:\n{proc.stdout}"
    assert "failed:" not in proc.stdout, proc.stdout + proc.stderr[-3000:]
