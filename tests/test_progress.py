"""A crawl on a terminal shows a live progress line (stderr is a pty here)."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from pathlib import Path

from archiver.progress import progress_line
from tests.conftest import FAST, guarded_env


def test_progress_line_format() -> None:
    line = progress_line({"downloader/response_count": 10, "archiver/index/articles": 4,
                          "log_count/ERROR": 1, "archiver/warc/bytes": 2_500_000}, 5.0)
    assert line == "pages 10 · articles 4 · errors 1 · WARC 2.5 MB · 2.0 pages/s"


def test_progress_shown_on_a_terminal(tmp_path: Path, demo_site) -> None:
    primary, secondary = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "archiver", "crawl", demo_site.url, "--archive",
         str(tmp_path / "a"), *FAST, "-s", "ARCHIVER_PROGRESS_INTERVAL=0.2",
         "-s", "CONCURRENT_REQUESTS=2"],
        env=guarded_env(), stdout=subprocess.PIPE, stderr=secondary, text=True)
    os.close(secondary)
    screen = b""
    while True:
        try:
            chunk = os.read(primary, 4096)
        except OSError:  # the pty closes when the crawl exits
            break
        if not chunk:
            break
        screen += chunk
    out, _ = proc.communicate(timeout=120)
    os.close(primary)
    assert proc.returncode == 0
    text = screen.decode("utf-8", "replace")
    assert "\r\x1b[K" in text and "pages/s" in text
    assert "articles 32" in text  # the final line, after the spider closed
    assert "Crawl finished" in out
