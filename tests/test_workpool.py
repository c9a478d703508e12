"""archiver.workpool: the crawl's process pool, fed by the event loop without helper threads.

Real worker processes (forkserver) and real sockets; the functions they run are here.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from archiver.workpool import WorkerCrashed, WorkerPool


def echo(value, delay: float = 0.0):
    time.sleep(delay)
    return value, os.getpid()


def size_of(data: bytes) -> int:
    return len(data)


def fail(message: str):
    raise ValueError(message)


def die(code: int):
    os._exit(code)


class TwoArgError(Exception):
    """Pickles fine, but cannot be unpickled (its __init__ wants two arguments)."""

    def __init__(self, a: str, b: str) -> None:
        super().__init__(a)


def raise_two_arg_error():
    raise TwoArgError("a", "b")


def run_then_close(pool: WorkerPool, go):
    """Run `go()` in an event loop, then close the pool in it (as the crawl does)."""
    async def main():
        try:
            return await go()
        finally:
            pool.close()

    return asyncio.run(main())


def test_results_come_back_to_their_callers_and_every_worker_is_used() -> None:
    pool = WorkerPool(2)

    async def go():
        return await asyncio.gather(*[pool.run(echo, n, 0.01) for n in range(40)])

    results = run_then_close(pool, go)
    assert [value for value, _ in results] == list(range(40))
    assert len({pid for _, pid in results}) == 2
    assert os.getpid() not in {pid for _, pid in results}


def test_an_exception_in_the_worker_reaches_the_caller() -> None:
    pool = WorkerPool(1)

    async def go():
        with pytest.raises(ValueError, match="no article here"):
            await pool.run(fail, "no article here")
        return await pool.run(echo, "still serving")

    value, _ = run_then_close(pool, go)
    assert value == "still serving"


def test_an_answer_that_cannot_be_read_fails_its_task_not_the_pool() -> None:
    pool = WorkerPool(1)

    async def go():
        with pytest.raises(RuntimeError, match="unreadable answer"):
            await pool.run(raise_two_arg_error)
        return await pool.run(echo, "next")

    value, _ = run_then_close(pool, go)
    assert value == "next"


def test_a_dead_worker_fails_its_own_task_only_and_is_replaced() -> None:
    pool = WorkerPool(1, depth=1)

    async def go():
        _, first = await pool.run(echo, "before")
        outcomes = await asyncio.gather(pool.run(echo, "a"), pool.run(die, 3),
                                        pool.run(echo, "b"), return_exceptions=True)
        return first, outcomes

    first, outcomes = run_then_close(pool, go)
    assert outcomes[0][0] == "a" and outcomes[0][1] == first
    assert isinstance(outcomes[1], WorkerCrashed) and "(3)" in str(outcomes[1])
    assert outcomes[2][0] == "b" and outcomes[2][1] != first  # a new worker took over


def test_a_large_task_for_a_busy_worker_does_not_block_the_event_loop() -> None:
    """8 MB queued behind a 1 s task: far more than a socket holds; the loop keeps running."""
    pool = WorkerPool(1, depth=2)
    big = b"x" * 8_000_000

    async def go():
        await pool.run(echo, "warm")
        gaps, last = [], time.perf_counter()

        async def heartbeat():
            nonlocal last
            while True:
                await asyncio.sleep(0.01)
                now = time.perf_counter()
                gaps.append(now - last)
                last = now

        beat = asyncio.create_task(heartbeat())
        busy = asyncio.create_task(pool.run(echo, "busy", 1.0))
        await asyncio.sleep(0.05)
        size = await pool.run(size_of, big)
        await busy
        beat.cancel()
        return size, max(gaps)

    size, longest_gap = run_then_close(pool, go)
    assert size == len(big)
    assert longest_gap < 0.5, f"the event loop stalled for {longest_gap:.2f} s"


def test_close_stops_the_workers_and_refuses_more_work() -> None:
    pool = WorkerPool(2)

    async def go():
        await asyncio.gather(*[pool.run(echo, n) for n in range(4)])
        return list(pool.pids)

    pids = asyncio.run(go())
    pool.close()  # outside the loop, after it ended (as a test harness may)
    assert len(pids) == 2
    for pid in pids:
        assert not Path(f"/proc/{pid}").exists() or _zombie(pid)
    with pytest.raises(RuntimeError, match="closed"):
        asyncio.run(pool.run(echo, 1))


def test_workers_ignore_sigint_the_crawler_decides_when_they_stop() -> None:
    pool = WorkerPool(1)

    async def go():
        _, pid = await pool.run(echo, "first")
        os.kill(pid, signal.SIGINT)  # a Ctrl-C reaches the whole process group
        await asyncio.sleep(0.2)
        return pid, await pool.run(echo, "second")

    pid, (value, again) = run_then_close(pool, go)
    assert value == "second" and again == pid


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


@pytest.mark.parametrize("end", ["SIGKILL", "exit without close"])
def test_workers_end_with_the_process_that_made_them(tmp_path: Path, end: str) -> None:
    script = tmp_path / "owner.py"
    script.write_text(textwrap.dedent("""
        import asyncio, os, signal, sys
        sys.path.insert(0, sys.argv[1])
        from archiver.workpool import WorkerPool
        from test_workpool import echo

        pool = WorkerPool(2)  # held to the end, as the crawl's pipeline holds it

        async def main():
            results = await asyncio.gather(*[pool.run(echo, n, 0.05) for n in range(6)])
            print(" ".join(str(p) for p in sorted({pid for _, pid in results})), flush=True)
            if sys.argv[2] == "SIGKILL":
                os.kill(os.getpid(), signal.SIGKILL)

        if __name__ == "__main__":
            asyncio.run(main())
    """))
    proc = subprocess.run([sys.executable, str(script), str(Path(__file__).parent), end],
                          capture_output=True, text=True, timeout=60)  # a hang at exit fails
    assert proc.returncode == (-signal.SIGKILL if end == "SIGKILL" else 0), proc.stderr
    pids = [int(p) for p in proc.stdout.split()]
    assert len(pids) == 2
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(
            Path(f"/proc/{pid}").exists() and not _zombie(pid) for pid in pids):
        time.sleep(0.1)
    alive = [pid for pid in pids if Path(f"/proc/{pid}").exists() and not _zombie(pid)]
    assert not alive, f"workers {alive} outlived their pool's process"
