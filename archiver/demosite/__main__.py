"""``python -m archiver.demosite``: serve the demo site until SIGTERM/SIGINT."""
from __future__ import annotations

import argparse
import signal
import sys
import threading

from .server import DemoServer


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m archiver.demosite", description=__doc__)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--request-log", default=None, metavar="FILE")
    ap.add_argument("--state-file", default=None, metavar="FILE",
                    help="a file holding 1 or 2: which state of the site to serve")
    ap.add_argument("--latency", type=float, default=0.0, metavar="SECONDS",
                    help="wait this long before answering each request")
    args = ap.parse_args(argv)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    server = DemoServer(args.host, args.port, args.request_log, args.state_file,
                        args.latency).start()
    print(server.url, flush=True)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
