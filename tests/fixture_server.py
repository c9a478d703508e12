"""What the fixture servers of the tests share: a request log and a `main` that prints the URL.

Each server (`tests.oddsite`, `tests.faultsite`) runs as a subprocess on 127.0.0.1 with an
ephemeral port, prints its base URL on the first line, and writes one JSON line per request
to `--request-log`, which the tests read to judge what the crawler asked for.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class LoggingServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, addr: tuple[str, int], handler: type[BaseHTTPRequestHandler],
                 request_log: str | None) -> None:
        super().__init__(addr, handler)
        self._lock = threading.Lock()
        self._log = open(request_log, "a", encoding="utf-8") if request_log else None  # noqa: SIM115

    def handle_error(self, request, client_address) -> None:  # noqa: ANN001
        pass  # clients that hang up early (timeouts, size limits, dropped pages) are expected

    def log(self, record: dict) -> None:
        if self._log is not None:
            with self._lock:
                self._log.write(json.dumps(record, ensure_ascii=False) + "\n")
                self._log.flush()


def serve(make: Callable[[argparse.Namespace], LoggingServer],
          extra: Callable[[argparse.ArgumentParser], None] | None = None) -> None:
    """`python -m tests.<site> [--port N] [--request-log FILE] ...`: print the URL, serve."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--request-log")
    if extra is not None:
        extra(parser)
    server = make(parser.parse_args())
    print(f"http://127.0.0.1:{server.server_address[1]}/", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:  # pragma: no cover
        sys.exit(0)
