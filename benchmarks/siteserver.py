"""Serve a site written by `synthsite.write_site` from memory, on 127.0.0.1, no delay.

Run as `python benchmarks/siteserver.py SITE_DIR`: binds an ephemeral port,
loads every page into memory with its absolute URLs on the real base URL,
gzips the text bodies once (so the server spends no CPU compressing while the
crawlers run on the same cores), then prints the base URL on stdout and
serves until killed. HTTP/1.1 keep-alive, `gzip` when the client asks for it,
`/?p=ID` shortlinks answered with a 301, unknown paths with a 404 page.
"""

from __future__ import annotations

import gzip
import hashlib
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))
import synthsite  # noqa: E402

LAST_MODIFIED = "Fri, 01 Jan 2016 00:00:00 GMT"


class Page:
    __slots__ = ("status", "ctype", "body", "gz", "etag")

    def __init__(self, status: int, ctype: str, body: bytes) -> None:
        self.status, self.ctype, self.body = status, ctype, body
        self.gz = gzip.compress(body, 6, mtime=0) if not ctype.startswith("image/") else None
        self.etag = '"' + hashlib.sha1(body).hexdigest()[:20] + '"'


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in one write with TCP_NODELAY: no Nagle/delayed-ACK stalls.
    disable_nagle_algorithm = True
    server: SiteServer

    def version_string(self) -> str:
        return "Apache"

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - quiet
        pass

    def do_HEAD(self) -> None:
        self.respond(head=True)

    def do_GET(self) -> None:
        self.respond(head=False)

    def respond(self, head: bool) -> None:
        parts = urlsplit(self.path)
        path = parts.path or "/"
        if path == "/" and parts.query:
            target = self.server.shortlinks.get((parse_qs(parts.query).get("p") or [""])[0])
            if target:
                self.send_response(301)
                self.send_header("Location", self.server.base + target)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
        page = self.server.pages.get(path) or self.server.not_found
        use_gz = page.gz is not None and "gzip" in (self.headers.get("Accept-Encoding") or "")
        body = page.gz if use_gz else page.body
        assert body is not None
        self.send_response(page.status)
        self.send_header("Content-Type", page.ctype)
        self.send_header("Content-Length", str(len(body)))
        if page.status == 200:
            self.send_header("ETag", page.etag)
            self.send_header("Last-Modified", LAST_MODIFIED)
        if use_gz:
            self.send_header("Content-Encoding", "gzip")
        if page.gz is not None:
            self.send_header("Vary", "Accept-Encoding")
        self._headers_buffer.append(b"\r\n")  # end_headers() without its flush
        if not head:
            self._headers_buffer.append(body)
        self.flush_headers()


class SiteServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def __init__(self, folder: Path) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server_address[1]}"
        raw = synthsite.load_pages(folder, self.base)
        self.pages = {path: Page(*entry) for path, entry in raw.items()}
        self.not_found = self.pages["/404"]
        self.shortlinks = synthsite.shortlinks(folder)

    def handle_error(self, request: object, client_address: object) -> None:
        """Clients hanging up mid-response are normal here; stay quiet."""


def main() -> None:
    server = SiteServer(Path(sys.argv[1]))
    print(server.base + "/", flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
