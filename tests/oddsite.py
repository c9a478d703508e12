"""A fixture site of odd HTTP behaviours, for WARC conformance tests (stdlib only).

Run as `python -m tests.oddsite --port 0 --request-log FILE`: prints its URL on
stdout, then serves on 127.0.0.1 until terminated, logging every request as a
JSON line. Responses are written byte for byte (status line, header case and
order, chunk framing), so the tests know exactly what was on the wire.
Every page sits under `/story/` so the default profile treats it as an
article; `/sitemap.xml` lists them all.
"""

from __future__ import annotations

import gzip
import random
import socket
import zlib
from http.server import BaseHTTPRequestHandler
from urllib.parse import quote

from tests.fixture_server import LoggingServer, serve

BIG = 300_000  # bytes; tests crawl with DOWNLOAD_MAXSIZE below this


def page(title: str, text: str = "") -> bytes:
    para = text or f"{title}: a page of the odd fixture site, served to test the WARC writer."
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title></head>"
            f"<body><article><h1>{title}</h1><p>{para}</p><p>{para}</p></article></body>"
            f"</html>").encode()


def binary() -> bytes:
    return bytes(random.Random(7).randrange(256) for _ in range(20_000))


def chunked(body: bytes, size: int = 1000) -> bytes:
    parts = [body[i:i + size] for i in range(0, len(body), size)]
    return b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in parts) + b"0\r\n\r\n"


HTML = b"text/html; charset=UTF-8"
CYRILLIC = "мінск"
# path -> (status line, [(header, value)], body, transfer)  transfer: "length"|"chunked"|"drop"
ROUTES: dict[str, tuple[bytes, list[tuple[bytes, bytes]], bytes, str]] = {
    "/story/gzip/": (b"HTTP/1.1 200 OK", [(b"Content-Type", HTML), (b"Content-Encoding", b"gzip")],
                     gzip.compress(page("Gzip page"), mtime=0), "length"),
    "/story/deflate/": (b"HTTP/1.1 200 OK", [(b"Content-Type", HTML),
                                             (b"Content-Encoding", b"deflate")],
                        zlib.compress(page("Deflate page")), "length"),
    "/story/chunked/": (b"HTTP/1.1 200 OK", [(b"Content-Type", HTML)],
                        page("Chunked page", "chunked " * 400), "chunked"),
    "/story/chunked-gzip/": (b"HTTP/1.1 200 OK", [(b"Content-Type", HTML),
                                                  (b"Content-Encoding", b"gzip")],
                             gzip.compress(page("Chunked gzip page", "zip " * 900), mtime=0),
                             "chunked"),
    "/story/headers/": (b"HTTP/1.1 200 Everything Is Fine", [
        (b"content-type", HTML), (b"Set-Cookie", b"a=1; Path=/"), (b"X-Odd-CASE", b"kept"),
        (b"Set-Cookie", b"b=2; Path=/; HttpOnly"), (b"x-repeat", b"one"),
        (b"Cache-Control", b"no-cache"), (b"X-Repeat", b"two"), (b"Set-Cookie", b"c=3")],
        page("Headers page"), "length"),
    "/story/redirect-1/": (b"HTTP/1.1 302 Found", [(b"Location", b"/story/redirect-2/")],
                           b"", "length"),
    "/story/redirect-2/": (b"HTTP/1.1 301 Moved Permanently",
                           [(b"Location", b"/story/redirected/")], b"", "length"),
    "/story/redirected/": (b"HTTP/1.1 200 OK", [(b"Content-Type", HTML)],
                           page("Redirect target"), "length"),
    "/story/missing/": (b"HTTP/1.1 404 Gone Fishing", [(b"Content-Type", HTML)],
                        page("Not here"), "length"),
    "/story/error/": (b"HTTP/1.1 500 Internal Server Error", [(b"Content-Type", b"text/plain")],
                      b"boom\n", "length"),
    "/story/file.bin": (b"HTTP/1.1 200 OK", [(b"Content-Type", b"application/octet-stream")],
                        binary(), "length"),
    "/story/big/": (b"HTTP/1.1 200 OK", [(b"Content-Type", HTML)],
                    page("Big page", "big " * (BIG // 4)), "length"),
    "/story/big-chunked/": (b"HTTP/1.1 200 OK", [(b"Content-Type", HTML)],
                            page("Big chunked page", "huge " * (BIG // 5)), "chunked"),
    "/story/drop/": (b"HTTP/1.1 200 OK", [(b"Content-Type", HTML)],
                     page("Dropped page", "lost " * 2000), "drop"),
    "/story/q?a=1&b=two": (b"HTTP/1.1 200 OK", [(b"Content-Type", HTML)],
                           page("Query page"), "length"),
    f"/story/{quote(CYRILLIC)}/": (b"HTTP/1.1 200 OK", [(b"Content-Type", HTML)],
                                   page("Мінск page", "Мінск горад"), "length"),
    f"/story/search?q={quote(CYRILLIC)}": (b"HTTP/1.1 200 OK", [(b"Content-Type", HTML)],
                                           page("Search page"), "length"),
}


def sitemap(base: str) -> bytes:
    locs = "".join(f"<url><loc>{base}{path.replace('&', '&amp;')}</loc></url>"
                   for path in ROUTES if path not in ("/story/redirect-2/", "/story/redirected/"))
    return (f'<?xml version="1.0" encoding="UTF-8"?><urlset xmlns="http://www.sitemaps.org/'
            f'schemas/sitemap/0.9">{locs}</urlset>').encode()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args) -> None:  # noqa: A002
        pass

    def do_GET(self) -> None:
        base = f"http://{self.headers.get('Host')}"
        if self.path == "/robots.txt":
            route = (b"HTTP/1.1 200 OK", [(b"Content-Type", b"text/plain")],
                     b"User-agent: *\nAllow: /\n", "length")
        elif self.path == "/sitemap.xml":
            route = (b"HTTP/1.1 200 OK", [(b"Content-Type", b"application/xml")],
                     sitemap(base), "length")
        else:
            route = ROUTES.get(self.path, (b"HTTP/1.1 404 Not Found",
                                           [(b"Content-Type", b"text/plain")], b"no\n", "length"))
        status_line, headers, body, transfer = route
        head = [status_line, b"Server: oddsite"] + [k + b": " + v for k, v in headers]
        if transfer == "chunked":
            head.append(b"Transfer-Encoding: chunked")
            payload = chunked(body)
        elif transfer == "drop":
            head.append(b"Content-Length: %d" % len(body))
            payload = body[: len(body) // 3]
        else:
            head.append(b"Content-Length: %d" % len(body))
            payload = body
        self.wfile.write(b"\r\n".join(head) + b"\r\n\r\n" + payload)
        self.wfile.flush()
        self.server.log({"method": self.command, "path": self.path,  # type: ignore[attr-defined]
                         "status": int(status_line.split()[1]),
                         "headers": {k.lower(): v for k, v in self.headers.items()}})
        if transfer == "drop":
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)


class Server(LoggingServer):
    def __init__(self, addr: tuple[str, int], request_log: str | None) -> None:
        super().__init__(addr, Handler, request_log)


def main() -> None:
    serve(lambda args: Server(("127.0.0.1", args.port), args.request_log))


if __name__ == "__main__":
    main()
