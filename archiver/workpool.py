"""A process pool driven by the event loop: one socket per worker, no helper threads.

`concurrent.futures.ProcessPoolExecutor` hands each task to its workers through a
feeder thread (which pickles it into a pipe shared by all workers) and collects
results in a manager thread. In the benchmark crawl those two threads cost the
crawler ~0.45 ms of CPU per page and four thread switches, on a machine whose
cores are already full. Here the event loop writes each task to its worker's
socket itself (what the socket cannot take yet is kept and sent when it can, so
a large page never blocks the reactor) and reads results as they arrive.

- Each worker holds at most `depth` tasks (default 2: the one it works on and the
  next, waiting in its socket), so it never waits for the crawler between pages.
  Other tasks wait in the pool, not yet pickled; the caller bounds how many
  (Scrapy's scraper slot, in the crawl).
- A worker that dies (out of memory, a crash in a C parser) fails its own tasks
  only, with `WorkerCrashed`; a new worker takes over.
- Workers exit when their socket closes: when the pool is closed, and when the
  process that made it dies, even by SIGKILL (an interpreter that exits without
  closing the pool ends them too: they are daemon processes). They ignore SIGINT
  (a Ctrl-C reaches the whole process group): the crawler's graceful shutdown
  still needs them, and closes the pool when done.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import multiprocessing
import pickle
import signal
import socket
import struct
from collections import deque
from collections.abc import Callable, Iterable
from multiprocessing.connection import Connection
from typing import Any

logger = logging.getLogger(__name__)

# multiprocessing.connection's framing, which the workers read and write with
# Connection.recv_bytes / send_bytes: a 4-byte signed big-endian length, or -1 and
# an 8-byte length for messages over 2 GiB.
_SMALL = struct.Struct("!i")
_LARGE = struct.Struct("!Q")


def _frame(payload: bytes) -> bytes:
    if len(payload) > 0x7FFFFFFF:
        return _SMALL.pack(-1) + _LARGE.pack(len(payload)) + payload
    return _SMALL.pack(len(payload)) + payload


class WorkerCrashed(RuntimeError):
    """The worker process running a task died before it answered."""


def _serve(conn: Connection, initializer: Callable[..., Any] | None,
           initargs: tuple[Any, ...]) -> None:
    """A worker's life: read a task, run it, send back the outcome, until EOF."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if initializer is not None:
        initializer(*initargs)
    while True:
        try:
            task_id, fn, args = pickle.loads(conn.recv_bytes())
        except (EOFError, OSError):
            return  # the pool was closed, or the process that made it is gone
        try:
            outcome: tuple[bool, Any] = (True, fn(*args))
        except Exception as exc:  # the caller gets what fn raised
            outcome = (False, exc)
        try:
            data = pickle.dumps((task_id, outcome), protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:  # an unpicklable result or exception
            data = pickle.dumps((task_id, (False, RuntimeError(
                f"{getattr(fn, '__name__', fn)}: result cannot be sent back: {exc!r}"))))
        try:
            conn.send_bytes(data)
        except OSError:
            return


class _Worker:
    def __init__(self, process: multiprocessing.process.BaseProcess, sock: socket.socket) -> None:
        self.process = process
        self.sock = sock
        self.tasks: dict[int, asyncio.Future] = {}
        self.outgoing = bytearray()  # what its socket could not take yet
        self.incoming = bytearray()  # a result not wholly read yet


class WorkerPool:
    """`await pool.run(fn, *args)` runs `fn(*args)` in a worker process.

    `fn` and its arguments are pickled (`fn` by reference: a module-level function).
    Workers are started by the fork server, which imports `preload` once, and each
    runs `initializer(*initargs)` first. Use from one event loop.
    """

    def __init__(self, workers: int, *, initializer: Callable[..., Any] | None = None,
                 initargs: tuple[Any, ...] = (), preload: Iterable[str] = (),
                 depth: int = 2) -> None:
        self.size = max(1, workers)
        self.depth = max(1, depth)
        self.initializer, self.initargs = initializer, initargs
        self._context = multiprocessing.get_context("forkserver")
        if preload:
            self._context.set_forkserver_preload(list(preload))
        self._loop: asyncio.AbstractEventLoop | None = None
        self._workers: list[_Worker] = []
        self._waiting: deque[tuple[int, Callable[..., Any], tuple[Any, ...], asyncio.Future]] = (
            deque())
        self._ids = itertools.count()
        self._closed = False

    @property
    def pids(self) -> list[int]:
        return [w.process.pid for w in self._workers if w.process.pid is not None]

    async def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        if self._closed:
            raise RuntimeError("the worker pool is closed")
        self._loop = asyncio.get_running_loop()
        future = self._loop.create_future()
        self._waiting.append((next(self._ids), fn, args, future))
        if len(self._workers) < self.size:
            self._start_workers()
        self._dispatch()
        return await future

    def _start_workers(self) -> None:
        assert self._loop is not None
        while len(self._workers) < self.size and not self._closed:
            ours, theirs = socket.socketpair()
            child_end = Connection(theirs.detach())
            process = self._context.Process(
                target=_serve, args=(child_end, self.initializer, self.initargs),
                name="archiver-worker", daemon=True)
            try:
                process.start()
            except BaseException:
                ours.close()
                raise
            finally:
                # the worker has its own copy now; ours would hide its death from us
                child_end.close()
            ours.setblocking(False)
            worker = _Worker(process, ours)
            self._workers.append(worker)
            self._loop.add_reader(ours.fileno(), self._readable, worker)

    def _dispatch(self) -> None:
        for worker in self._workers:
            while len(worker.tasks) < self.depth and self._waiting:
                task_id, fn, args, future = self._waiting.popleft()
                if future.done():  # cancelled while it waited
                    continue
                try:
                    payload = pickle.dumps((task_id, fn, args), protocol=pickle.HIGHEST_PROTOCOL)
                except Exception as exc:
                    future.set_exception(exc)
                    continue
                worker.tasks[task_id] = future
                self._send(worker, _frame(payload))

    # -- the sockets (called by the event loop) -------------------------------------
    def _send(self, worker: _Worker, data: bytes) -> None:
        if not worker.outgoing:
            try:
                sent = worker.sock.send(data)
            except BlockingIOError:
                sent = 0
            except OSError:
                return  # the worker is gone: its socket reads EOF, and _lost says so
            if sent == len(data):
                return
            assert self._loop is not None
            self._loop.add_writer(worker.sock.fileno(), self._writable, worker)
            data = memoryview(data)[sent:]
        worker.outgoing += data

    def _writable(self, worker: _Worker) -> None:
        try:
            sent = worker.sock.send(worker.outgoing)
        except BlockingIOError:
            return
        except OSError:
            sent = len(worker.outgoing)
        del worker.outgoing[:sent]
        if not worker.outgoing and self._loop is not None:
            self._loop.remove_writer(worker.sock.fileno())

    def _readable(self, worker: _Worker) -> None:
        try:
            data = worker.sock.recv(1 << 18)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._lost(worker)
            return
        buffer = worker.incoming
        buffer += data
        while len(buffer) >= 4:
            (size,), start = _SMALL.unpack_from(buffer), 4
            if size == -1:
                if len(buffer) < 12:
                    break
                (size,), start = _LARGE.unpack_from(buffer, 4), 12
            if len(buffer) < start + size:
                break
            message = bytes(buffer[start:start + size])
            del buffer[:start + size]
            self._answered(worker, message)

    def _answered(self, worker: _Worker, message: bytes) -> None:
        try:
            task_id, (ok, value) = pickle.loads(message)
        except Exception as exc:  # e.g. an exception class this process cannot import
            # a worker answers its tasks in order: this is the oldest one's answer
            task_id = next(iter(worker.tasks), -1)
            ok, value = False, RuntimeError(f"unreadable answer from a worker: {exc!r}")
        future = worker.tasks.pop(task_id, None)
        if future is not None and not future.done():
            if ok:
                future.set_result(value)
            else:
                future.set_exception(value)
        self._dispatch()

    def _unwatch(self, worker: _Worker) -> None:
        if self._loop is not None and not self._loop.is_closed():
            self._loop.remove_reader(worker.sock.fileno())
            self._loop.remove_writer(worker.sock.fileno())
        worker.sock.close()

    def _lost(self, worker: _Worker) -> None:
        """A worker's socket reads EOF: the worker has died."""
        self._workers.remove(worker)
        self._unwatch(worker)
        worker.process.join(timeout=1.0)  # its socket closes as it exits
        why = f"worker {worker.process.pid} exited ({worker.process.exitcode})"
        if worker.tasks:
            logger.error("%s with %d task(s) unanswered", why, len(worker.tasks))
        for future in worker.tasks.values():
            if not future.done():
                future.set_exception(WorkerCrashed(why))
        worker.tasks.clear()
        if self._waiting and not self._closed:
            self._start_workers()
            self._dispatch()

    def close(self, timeout: float = 10.0) -> None:
        """Stop the workers: they finish the task in hand and exit; killed after `timeout`."""
        if self._closed:
            return
        self._closed = True
        while self._waiting:
            self._waiting.popleft()[3].cancel()
        workers, self._workers = self._workers, []
        for worker in workers:
            for future in worker.tasks.values():
                future.cancel()
            worker.tasks.clear()
            self._unwatch(worker)  # the worker reads EOF
        for worker in workers:
            worker.process.join(timeout)
            if worker.process.is_alive():
                logger.warning("worker %s did not stop; killing it", worker.process.pid)
                worker.process.kill()
                worker.process.join()
