"""HTTP server of the demo site (stdlib ``http.server``, HTTP/1.1 keep-alive)."""
from __future__ import annotations

import gzip
import hashlib
import json
import threading
import time
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from .model import Site, load_site
from .routes import Response, resolve

COMPRESSIBLE = ("text/", "application/rss+xml", "application/atom+xml", "application/xml",
                "application/javascript")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def version_string(self) -> str:
        return "Apache"

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - silence stderr logging
        pass

    def do_GET(self) -> None:
        self._serve(head=False)

    def do_HEAD(self) -> None:
        self._serve(head=True)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        self._send(Response(405, "text/plain; charset=UTF-8", b"Method Not Allowed\n",
                            None, {"Allow": "GET, HEAD"}), head=False)

    def _serve(self, head: bool) -> None:
        srv: DemoHTTPServer = self.server  # type: ignore[assignment]
        self.started = time.time()
        if srv.latency:  # a slow server, for tests of concurrency limits
            time.sleep(srv.latency)
        host = self.headers.get("Host") or srv.default_host
        self._send(resolve(srv.site, f"http://{host}", self.path), head)

    def _not_modified(self, etag: str, resp: Response) -> bool:
        inm = self.headers.get("If-None-Match")
        if inm is not None:
            tags = {t.strip().removeprefix("W/") for t in inm.split(",")}
            return "*" in tags or etag in tags or etag.replace("-gzip", "") in tags
        ims = self.headers.get("If-Modified-Since")
        if ims and resp.last_modified is not None:
            try:
                return resp.last_modified.replace(microsecond=0) <= parsedate_to_datetime(ims)
            except (TypeError, ValueError):
                return False
        return False

    def _send(self, resp: Response, head: bool) -> None:
        body = resp.body
        headers = dict(resp.headers)
        headers["Content-Type"] = resp.ctype
        compress = resp.ctype.startswith(COMPRESSIBLE)
        status = resp.status
        gz = compress and body and "gzip" in (self.headers.get("Accept-Encoding") or "").lower()
        if compress:
            headers["Vary"] = "Accept-Encoding"
        if status == 200:
            etag = '"' + hashlib.sha1(body).hexdigest()[:20] + ('-gzip"' if gz else '"')
            headers["ETag"] = etag
            if resp.last_modified is not None:
                headers["Last-Modified"] = _http_date(resp.last_modified)
            if self._not_modified(etag, resp):
                status, body, gz = 304, b"", False
                headers.pop("Content-Type", None)
        if gz:
            body = gzip.compress(body, mtime=0)
            headers["Content-Encoding"] = "gzip"
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        if status != 304:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head and status != 304:
            self.wfile.write(body)
        self.server.log_request_line(self, status)  # type: ignore[attr-defined]


def _http_date(dt: datetime) -> str:
    return format_datetime(dt.astimezone(UTC), usegmt=True)


class DemoHTTPServer(ThreadingHTTPServer):
    """ThreadingHTTPServer carrying the site and an optional JSON-lines request log."""
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, addr, site: Site, request_log: str | None = None,
                 state_file: str | None = None, latency: float = 0.0):
        super().__init__(addr, _Handler)
        self.latency = latency
        self._site = site
        self.state_file = state_file
        self.default_host = f"{str(self.server_address[0])}:{self.server_address[1]}"
        self._log_lock = threading.Lock()
        self._log = open(request_log, "a", encoding="utf-8") if request_log else None

    @property
    def site(self) -> Site:
        """The site as of the state file's number (1 or 2), read at every request."""
        if self.state_file is None:
            return self._site
        try:
            with open(self.state_file, encoding="utf-8") as fh:
                return load_site(int(fh.read().strip() or 1))
        except (OSError, ValueError):
            return self._site

    def handle_error(self, request, client_address) -> None:
        """Stay quiet on client disconnects (no tracebacks on stderr)."""

    def log_request_line(self, handler: BaseHTTPRequestHandler, status: int) -> None:
        if self._log is None:
            return
        rec = {"t": time.time(), "t0": getattr(handler, "started", None),
               "method": handler.command, "path": handler.path, "status": status,
               "headers": {k.lower(): v for k, v in handler.headers.items()}}
        with self._log_lock:
            self._log.write(json.dumps(rec, ensure_ascii=False) + "\n")
            self._log.flush()

    def server_close(self) -> None:
        super().server_close()
        with self._log_lock:
            if self._log is not None:
                self._log.close()
                self._log = None


class DemoServer:
    """Run the demo site in a daemon thread: ``with DemoServer() as s: urlopen(s.url)``."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, request_log: str | None = None,
                 state_file: str | None = None, latency: float = 0.0):
        self.host, self._port, self.request_log = host, port, request_log
        self.state_file, self.latency = state_file, latency
        self.httpd: DemoHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> DemoServer:
        self.httpd = DemoHTTPServer((self.host, self._port), load_site(), self.request_log,
                                    self.state_file, self.latency)
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.1},
                                        name="demosite", daemon=True)
        self._thread.start()
        return self

    @property
    def port(self) -> int:
        return self.httpd.server_address[1] if self.httpd else self._port

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.host in ("", "0.0.0.0") else self.host
        return f"http://{host}:{self.port}/"

    def stop(self) -> None:
        if self.httpd is not None:
            self.httpd.shutdown()
            self.httpd.server_close()
            if self._thread is not None:
                self._thread.join(timeout=5)
            self.httpd = None

    def __enter__(self) -> DemoServer:
        return self.start() if self.httpd is None else self

    def __exit__(self, *exc) -> None:
        self.stop()
