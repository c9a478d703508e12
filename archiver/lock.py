"""One crawl at a time per archive: an exclusive, non-blocking lock on `DIR/.lock`.

The lock is an `flock` on an open file, so the kernel releases it when the
process dies however it dies (SIGKILL, power loss): a crashed crawl never
leaves a stale lock behind. The file holds the owner's pid for the message.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

EXIT_LOCKED = 75  # EX_TEMPFAIL: "try again later", what cron wrappers expect


class ArchiveLocked(RuntimeError):
    """Another process holds the archive's lock."""


@contextmanager
def archive_lock(archive: Path) -> Iterator[None]:
    path = Path(archive) / ".lock"
    fh = path.open("a+")
    try:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            owner = fh.read().strip() or "unknown"
            raise ArchiveLocked(f"another crawl is running on {archive} (pid {owner}); "
                                "this run exits without crawling") from None
        fh.seek(0)
        fh.truncate()
        fh.write(f"{os.getpid()}\n")
        fh.flush()
        yield
    finally:
        fh.close()  # closing the descriptor releases the lock
