"""A fault-injecting fixture site: one route per misbehaviour of the real web (stdlib only).

Run as `python -m tests.faultsite --port 0 --request-log FILE [--crawl-delay S]`: prints
its URL on stdout, then serves on 127.0.0.1 until terminated. Every request is
logged as a JSON line when it arrives (method, path, Host header, User-Agent,
arrival time and how many times that path was asked for), so tests judge the
crawler from the server's side. Behaviours that change over time ("fail once,
then work") count requests per path for the life of the process, so a second
crawl against the same server sees the page recovered.

The home page links to every route; `/robots.txt` disallows `/story/private/`,
names the broken sitemap and, with `--crawl-delay`, asks for a delay.
"""

from __future__ import annotations

import socket
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlsplit

from tests.fixture_server import LoggingServer, serve

HTML = "text/html; charset=utf-8"
BIG = 200_000  # tests crawl with DOWNLOAD_MAXSIZE below this
WORDS = ("The council met on Tuesday to discuss the new budget, the harbour and the "
         "railway line, and the minister answered questions from the press for an hour. ")
CYR = ("Савет сабраўся ў аўторак, каб абмеркаваць новы бюджэт, порт і чыгунку, а "
       "міністр цэлую гадзіну адказваў на пытанні журналістаў. ")


def article(title: str, text: str = WORDS * 6, head: str = "", charset: str = "utf-8",
            extra: str = "") -> str:
    meta = f'<meta charset="{charset}">' if charset else ""
    return (f"<!doctype html><html lang='en'><head>{meta}{head}<title>{title}</title></head>"
            f"<body><article><h1>{title}</h1><p>{text}</p><p>{text}</p>{extra}</article>"
            f"</body></html>")


def page(title: str, body: str) -> str:
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title></head>"
            f"<body>{body}</body></html>")


def links(*hrefs: str) -> str:
    return "".join(f'<a href="{h}">{h}</a> ' for h in hrefs)


HOME_LINKS = [
    # faults
    "/story/flaky/", "/story/busy/", "/story/rate-limited/", "/story/too-busy/",
    "/story/slow/", "/story/slow-once/", "/story/redirect-chain/", "/story/loop-a/",
    "/story/endless/?n=1", "/story/reset-once/",
    # traps
    "/story/private/", "/story/tracked/?utm_source=news&fbclid=abc#comments",
    "/story/tracked/;jsessionid=ABC123", "/story/tracked/?PHPSESSID=42&utm_medium=x",
    "/category/events/2024/01/", "/category/a/b/", "/shop/", "/story/with-form/",
    "/?p=42", "/story/alias-article/", "/story/canonical-article/?utm_campaign=z",
    # content
    "/story/cp1251-meta/", "/story/mislabelled/", "/story/bom/", "/story/report.pdf",
    "/story/photo.png", "/story/feed-here/", "/story/huge/", "/story/empty/",
    "/story/blocked/", "/story/captcha/", "/story/soft-404/", "/story/flip/",
    "/category/deep/1/",
]

BROKEN_FEED = b"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel><title>Broken feed</title>
<item><title>Feed item one</title><link>/story/feed-item-1/</link>
  <pubDate>Mon, 31 Feb 2024 25:61:00 +0000</pubDate><guid>one</guid></item>
<item><title>No link at all</title><guid>nolink</guid></item>
<item><title>Feed item two &amp; more</title><link>/story/feed-item-2/</link>
  <pubDate>not a date</pubDate></item>
<item><title>Unclosed <b>item</title><link>/story/feed-item-3/</link>
"""

BROKEN_SITEMAP = (b'<?xml version="1.0" encoding="UTF-8"?>\n'
                  b'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
                  b"<url><loc>/story/sitemap-only/</loc><lastmod>2024-13-45</lastmod></url>"
                  b"<url><lastmod>2024-01-01</lastmod></url>"
                  b"<url><loc></loc></url>"
                  b"<url><loc>/story/sitemap-two/</loc>\x00\x01 garbage <<<")

RSS = (b'<?xml version="1.0"?><rss version="2.0"><channel><title>A feed where an article '
       b'should be</title><item><title>x</title><link>/story/x/</link></item></channel></rss>')


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Server

    def log_message(self, format: str, *args) -> None:  # noqa: A002
        pass

    # -- plumbing --------------------------------------------------------------
    def send(self, status: int, body: bytes | str = b"", ctype: str = HTML,
             headers: dict[str, str] | None = None, reason: str | None = None) -> None:
        data = body.encode("utf-8") if isinstance(body, str) else body
        self.send_response(status, reason)
        if ctype:
            self.send_header("Content-Type", ctype)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def redirect(self, status: int, location: str) -> None:
        self.send(status, b"", ctype="", headers={"Location": location})

    def do_POST(self) -> None:  # noqa: N802 - a crawler must never get here
        self.do_GET()

    def do_HEAD(self) -> None:  # noqa: N802
        self.do_GET()

    def do_GET(self) -> None:  # noqa: N802
        parts = urlsplit(self.path)
        key = parts.path + ("?" + parts.query if parts.query else "")
        hits = self.server.hit(key)
        self.server.log({"method": self.command, "path": self.path, "hits": hits,
                         "host": self.headers.get("Host", ""), "t": time.time(),
                         "user_agent": self.headers.get("User-Agent", "")})
        try:
            self.route(parts.path, parse_qs(parts.query), hits)
        except (BrokenPipeError, ConnectionResetError):
            pass

    # -- routes ------------------------------------------------------------------
    def route(self, path: str, query: dict[str, list[str]], hits: int) -> None:  # noqa: C901
        base = f"http://{self.headers.get('Host')}"
        if path == "/":
            if query.get("p") == ["42"]:  # WordPress shortlink
                return self.redirect(301, "/story/canonical-article/")
            offsite = base.replace("127.0.0.1", "localhost") + "/story/offsite/"
            return self.send(200, page("Fault site", links(*HOME_LINKS, offsite)))
        if path == "/robots.txt":
            delay = self.server.crawl_delay
            text = ("User-agent: *\nDisallow: /story/private/\n"
                    + (f"Crawl-delay: {delay:g}\n" if delay else "")
                    + f"Sitemap: {base}/sitemap.xml\n")
            return self.send(200, text, ctype="text/plain")
        if path == "/feed/":
            return self.send(200, BROKEN_FEED, ctype="application/rss+xml")
        if path == "/sitemap.xml":
            return self.send(200, BROKEN_SITEMAP, ctype="application/xml")
        # -- faults
        if path == "/story/flaky/":  # 500, 502, then fine
            if hits <= 2:
                return self.send(500 if hits == 1 else 502, "oops", ctype="text/plain")
            return self.send(200, article("Flaky article"))
        if path == "/story/busy/":  # 503 + Retry-After (seconds)
            if hits == 1:
                return self.send(503, "busy", ctype="text/plain", headers={"Retry-After": "2"})
            return self.send(200, article("Busy article"))
        if path == "/story/rate-limited/":  # 429 + Retry-After (HTTP date)
            if hits == 1:
                when = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + 3))
                return self.send(429, "slow down", ctype="text/plain",
                                 headers={"Retry-After": when})
            return self.send(200, article("Rate limited article"))
        if path == "/story/too-busy/":  # asks for an hour: not retried
            return self.send(503, "come back tomorrow", ctype="text/plain",
                             headers={"Retry-After": "3600"})
        if path == "/story/slow/":  # slow, but within DOWNLOAD_TIMEOUT
            time.sleep(0.6)
            return self.send(200, article("Slow article"))
        if path == "/story/slow-once/":  # first attempt times out
            if hits == 1:
                time.sleep(3)
            return self.send(200, article("Slow once article"))
        if path == "/story/redirect-chain/":
            return self.redirect(301, "/story/hop-2/")
        if path == "/story/hop-2/":
            return self.redirect(302, "/story/hop-3/")
        if path == "/story/hop-3/":
            return self.redirect(307, "/story/chain-end/")
        if path == "/story/chain-end/":
            return self.send(200, article("Chain end article"))
        if path == "/story/loop-a/":
            return self.redirect(302, "/story/loop-b/")
        if path == "/story/loop-b/":
            return self.redirect(302, "/story/loop-a/")
        if path == "/story/endless/":
            n = int((query.get("n") or ["1"])[0])
            return self.redirect(302, f"/story/endless/?n={n + 1}")
        if path == "/story/reset-once/":  # connection dropped mid-body, then fine
            body = article("Reset once article").encode()
            if hits == 1:
                self.send_response(200)
                self.send_header("Content-Type", HTML)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body[: len(body) // 3])
                self.wfile.flush()
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return None
            return self.send(200, body)
        # -- traps
        if path == "/story/private/":
            return self.send(200, article("Private article"))
        if path == "/story/tracked/":
            return self.send(200, article("Tracked article"))
        if path.startswith("/category/events/"):  # an endless calendar
            y, m = (int(x) for x in path.strip("/").split("/")[2:4])
            nxt = (y + (m == 12), m % 12 + 1)
            return self.send(200, page(f"Events {y}-{m:02d}", links(
                f"/category/events/{nxt[0]}/{nxt[1]:02d}/")))
        if path.startswith("/category/a/"):  # relative links nest forever
            return self.send(200, page("Nest", links("a/b/")))
        if path == "/shop/":  # faceted navigation: every facet links to more facets
            colours = ["red", "blue", "green", "black", "white", "grey"]
            sizes = ["s", "m", "l", "xl"]
            have = {k: v[0] for k, v in query.items()}
            hrefs = [f"/shop/?{'&'.join(f'{k}={v}' for k, v in {**have, 'colour': c}.items())}"
                     for c in colours]
            hrefs += [f"/shop/?{'&'.join(f'{k}={v}' for k, v in {**have, 'size': s}.items())}"
                      for s in sizes]
            return self.send(200, page("Shop", links(*hrefs)))
        if path == "/story/with-form/":
            form = ('<form method="post" action="/story/submit/"><input name="q">'
                    '<button>Send</button></form>')
            return self.send(200, article("Form article", extra=form))
        if path == "/story/submit/":
            return self.send(200, article("Submitted"))
        if path == "/story/canonical-article/":
            return self.send(200, article("Canonical article", head=(
                f'<link rel="canonical" href="{base}/story/canonical-article/">')))
        if path == "/story/alias-article/":
            return self.send(200, article("Canonical article", head=(
                f'<link rel="canonical" href="{base}/story/canonical-article/">')))
        if path.startswith("/category/deep/"):
            n = int(path.strip("/").split("/")[-1])
            return self.send(200, page(f"Deep {n}", links(f"/category/deep/{n + 1}/")))
        # -- content
        if path == "/story/cp1251-meta/":  # windows-1251, declared only in the page
            html = article("Мінск і Вільня", CYR * 6, charset="", head=(
                '<meta http-equiv="Content-Type" content="text/html; charset=windows-1251">'))
            return self.send(200, html.encode("cp1251"), ctype="text/html")
        if path == "/story/mislabelled/":  # the header says UTF-8, the bytes are windows-1251
            html = article("Гомель і Брэст", CYR * 6, charset="")
            return self.send(200, html.encode("cp1251"), ctype="text/html; charset=utf-8")
        if path == "/story/bom/":  # UTF-8 with a BOM, the header says windows-1252
            html = article("Магілёў з BOM", CYR * 6, charset="")
            return self.send(200, b"\xef\xbb\xbf" + html.encode("utf-8"),
                             ctype="text/html; charset=windows-1252")
        if path == "/story/report.pdf":
            pdf = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n" + WORDS.encode() * 5
            return self.send(200, pdf, ctype="application/pdf")
        if path == "/story/photo.png":
            return self.send(200, b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4,
                             ctype="image/png")
        if path == "/story/feed-here/":
            return self.send(200, RSS, ctype="application/rss+xml")
        if path == "/story/huge/":
            return self.send(200, article("Huge article", "huge " * (BIG // 5)))
        if path == "/story/empty/":
            return self.send(200, b"")
        if path == "/story/blocked/":
            return self.send(200, page("Access denied", "<h1>Access denied</h1><p>You don't "
                             "have permission to access this page on this server. Reference "
                             "#18.2f3e4d5c. If you think this is an error, contact the site "
                             "owner.</p>"))
        if path == "/story/captcha/":
            return self.send(200, page("Just a moment...", "<h1>Checking your browser before "
                             "accessing the site.</h1><div class='g-recaptcha' "
                             "data-sitekey='x'></div><p>Please complete the security check "
                             "to access this website.</p>"))
        if path == "/story/soft-404/":
            return self.send(200, page("Page not found – Fault site", "<article><h1>Oops! "
                             "That page can&rsquo;t be found.</h1><p>It looks like nothing was "
                             "found at this location. Maybe try one of the links below or a "
                             "search? The page you are looking for may have been moved or "
                             "deleted.</p></article>"))
        if path == "/story/flip/":  # blocked on the first visit, an article afterwards
            if hits == 1:
                return self.send(200, page("Access denied", "<h1>Access denied</h1>"
                                           "<p>Request blocked by the firewall.</p>"))
            return self.send(200, article("Flip article"))
        if path.startswith("/story/feed-item-") or path.startswith("/story/sitemap-"):
            return self.send(200, article("Listed " + path.strip("/").split("/")[-1]))
        return self.send(404, "no such page", ctype="text/plain")


class Server(LoggingServer):
    def __init__(self, addr: tuple[str, int], request_log: str | None,
                 crawl_delay: float) -> None:
        super().__init__(addr, Handler, request_log)
        self.crawl_delay = crawl_delay
        self._hits: Counter[str] = Counter()

    def hit(self, key: str) -> int:
        with self._lock:
            self._hits[key] += 1
            return self._hits[key]


def main() -> None:
    serve(lambda args: Server(("127.0.0.1", args.port), args.request_log, args.crawl_delay),
          lambda parser: parser.add_argument("--crawl-delay", type=float, default=0.0))


if __name__ == "__main__":
    main()
