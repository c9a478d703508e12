"""Sample a process tree from /proc (Linux): peak RSS of the whole tree and CPU per process.

`TreeMonitor(pid)` runs a thread that, every `interval` seconds, finds the
process and all its descendants (the crawler, its forkserver and extraction
workers) and sums their resident set sizes; `peak_rss` is the largest sum
seen, `cpu` the CPU seconds each process had used when last seen.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

PAGE = os.sysconf("SC_PAGE_SIZE")
TICKS = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> tuple[int, float, str] | None:
    """(parent pid, CPU seconds, command name) of a process, None if it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    name = raw[raw.index("(") + 1: raw.rindex(")")]
    fields = raw[raw.rindex(")") + 2:].split()
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / TICKS, name


def _rss(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE
    except (OSError, IndexError, ValueError):
        return 0


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()[:120]
    except OSError:
        return ""


def machine_busy() -> float:
    """CPU seconds all processes of the machine have used since boot (/proc/stat)."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
        user, nice, system, _idle, _iowait, irq, softirq = (int(f) for f in fields[:7])
    except (OSError, ValueError):
        return 0.0
    return (user + nice + system + irq + softirq) / TICKS


def descendants(root: int) -> list[int]:
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (st := _stat(int(entry))) is not None:
            parents[int(entry)] = st[0]
    tree, frontier = [root], [root]
    while frontier:
        frontier = [p for p, pp in parents.items() if pp in frontier]
        tree += frontier
    return tree


class TreeMonitor:
    def __init__(self, pid: int, interval: float = 0.2) -> None:
        self.pid = pid
        self.interval = interval
        self.peak_rss = 0
        self.peak_processes = 0
        self.cpu: dict[int, tuple[str, float]] = {}
        self.first_cpu: dict[int, float] = {}  # CPU seconds of the processes already there
        self._first = True
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="treemonitor", daemon=True)

    def __enter__(self) -> TreeMonitor:
        self.sample()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()

    def sample(self) -> None:
        pids = descendants(self.pid)
        total = 0
        for pid in pids:
            total += _rss(pid)
            st = _stat(pid)
            if st is not None:
                label = self.cpu[pid][0] if pid in self.cpu else _cmdline(pid) or st[2]
                self.cpu[pid] = (label, st[1])
                if self._first:
                    self.first_cpu[pid] = st[1]
        self._first = False
        self.peak_rss = max(self.peak_rss, total)
        self.peak_processes = max(self.peak_processes, len(pids))

    @property
    def cpu_used(self) -> float:
        """CPU seconds the tree used while watched."""
        return sum(c - self.first_cpu.get(pid, 0.0) for pid, (_, c) in self.cpu.items())

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval)
