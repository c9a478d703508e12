"""Tests of the bundled demo site (archiver.demosite)."""
from __future__ import annotations

import gzip
import json
import os
import re
import signal
import subprocess
import sys
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import pytest

from archiver.demosite import DemoServer, load_site, slugify

SEED_TEXT = Path("/work/shared/seed/belarus-digest-article.txt")
SEED_SLUG_PREFIX = "belarus-engages-with-the-us-improves-ties-with-europe-and-post-soviet-countries"
SEED_TITLE = ("Belarus Engages with the US, Improves Ties with Europe and Post-Soviet Countries"
              " – Foreign Policy Digest")
SEED_CAPTION = "Alexander Lukashenka greets a US diplomat in his residence"
SEED_HEADINGS = {"Lukashenka Disregards Protocol", "Belarus – EU: A Bilateral Track",
                 "Belarus – EU: An Institutional Track",
                 "Post-Soviet Relations: Emphasis on Bilateral Component"}

_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


_raw_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect())


def fetch(url: str, headers: dict | None = None, method: str = "GET", follow: bool = True):
    """Return (status, headers, body) without raising on HTTP errors."""
    req = urllib.request.Request(url, headers=headers or {}, method=method)
    try:
        with (_opener if follow else _raw_opener).open(req, timeout=10) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as err:
        with err:
            return err.code, err.headers, err.read()


class _Text(HTMLParser):
    """Visible text of a page (script/style/head skipped)."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style", "head"):
            self._skip += 1

    def handle_endtag(self, tag):
        if tag in ("script", "style", "head"):
            self._skip -= 1

    def handle_data(self, data):
        if not self._skip and data.strip():
            self.parts.append(data)


def visible_text(html: str) -> str:
    p = _Text()
    p.feed(html)
    return re.sub(r"\s+", " ", " ".join(p.parts))


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    log = tmp_path_factory.mktemp("demosite") / "requests.jsonl"
    with DemoServer(request_log=str(log)) as srv:
        srv.log_path = log
        yield srv


@pytest.fixture(scope="module")
def site():
    return load_site()


def seed_article(site):
    return next(a for a in site.articles if a.slug.startswith(SEED_SLUG_PREFIX))


def test_site_model(site):
    assert site.articles
    dates = [a.published for a in site.articles]
    assert dates == sorted(dates, reverse=True)
    assert len({a.id for a in site.articles}) == len(site.articles)
    assert len({a.slug for a in site.articles}) == len(site.articles)
    for a in site.articles:
        assert a.published.tzinfo is not None
        assert a.path == f"/story/{a.slug}/"
        assert a.metadata_style in ("jsonld", "opengraph", "minimal")
        assert a.category in site.categories and a.paragraphs
        assert set(a.author_slugs) <= set(site.authors)
    assert site.authors["aliaksandr-filipau"]["name"] == "Aliaksandr Filipaŭ"


def test_slugify():
    assert slugify("Belarus-EU relations") == "belarus-eu-relations"
    assert slugify("  Filipaŭ & Co.  ") == "filipau-co"
    assert slugify("travel to Belarus") == "travel-to-belarus"


def test_basic_routes(server):
    cases = {
        "": "text/html; charset=UTF-8",
        "feed/": "application/rss+xml; charset=UTF-8",
        "feed/atom/": "application/atom+xml; charset=UTF-8",
        "sitemap.xml": "application/xml",
        "robots.txt": "text/plain",
        "about/": "text/html; charset=UTF-8",
        "private/secret/": "text/html; charset=UTF-8",
        "wp-admin/": "text/html; charset=UTF-8",
    }
    for path, ctype in cases.items():
        status, headers, body = fetch(server.url + path)
        assert status == 200, path
        assert headers["Content-Type"].startswith(ctype), path
        assert int(headers["Content-Length"]) == len(body)
        assert headers["ETag"].startswith('"') and headers["Last-Modified"]
    _, _, robots = fetch(server.url + "robots.txt")
    text = robots.decode()
    for line in ("User-agent: *", "Disallow: /wp-admin/", "Disallow: /private/",
                 "Allow: /wp-admin/admin-ajax.php", f"Sitemap: {server.url}sitemap.xml"):
        assert line in text.splitlines()
    assert "Crawl-delay" not in text


def test_home_and_head(server, site):
    status, headers, body = fetch(server.url)
    html = body.decode()
    assert '<html lang="en">' in html
    if len(site.articles) > 10:
        assert 'href="/page/2/">Older posts' in html
        assert fetch(server.url + "page/2/")[0] == 200
    assert f'href="{server.url}feed/"' in html and f'href="{server.url}feed/atom/"' in html
    for a in site.articles[:10]:
        assert f'href="{a.path}"' in html
    status, headers, body = fetch(server.url, method="HEAD")
    assert status == 200 and body == b"" and int(headers["Content-Length"]) > 0


def test_feeds(server, site):
    _, _, body = fetch(server.url + "feed/")
    root = ET.fromstring(body)
    items = root.findall("./channel/item")
    assert len(items) == min(20, len(site.articles))
    expected = site.articles[:20]
    for item, a in zip(items, expected, strict=True):
        assert item.findtext("title") == a.title
        assert item.findtext("link") == f"{server.url[:-1]}{a.path}?utm_source=rss&utm_medium=rss"
        assert item.findtext("guid") == f"{server.url}?p={a.id}"
    _, _, body = fetch(server.url + "feed/atom/")
    ns = {"a": "http://www.w3.org/2005/Atom"}
    entries = ET.fromstring(body).findall("a:entry", ns)
    links = [e.find("a:link", ns).get("href") for e in entries]
    assert links == [server.url[:-1] + a.path for a in expected]


def test_sitemaps(server, site):
    ns = {"s": "http://www.sitemaps.org/schemas/sitemap/0.9"}
    _, _, body = fetch(server.url + "sitemap.xml")
    locs = [e.text for e in ET.fromstring(body).findall("s:sitemap/s:loc", ns)]
    assert locs == [server.url + "sitemap-posts.xml", server.url + "sitemap-pages.xml"]
    _, _, body = fetch(locs[0])
    urls = {e.text for e in ET.fromstring(body).findall("s:url/s:loc", ns)}
    assert urls == {server.url[:-1] + a.path for a in site.articles}


def test_shortlink_redirect_and_404(server, site):
    a = site.articles[0]
    status, headers, _ = fetch(f"{server.url}?p={a.id}", follow=False)
    assert status == 301 and headers["Location"] == server.url[:-1] + a.path
    for path in ("story/no-such-article/", "no/such/page", "?p=999999999", "category/nope/"):
        status, headers, body = fetch(server.url + path)
        assert status == 404 and headers["Content-Type"] == "text/html; charset=UTF-8"
        assert b"Page not found" in body


def test_tracking_query_same_page(server, site):
    a = site.articles[-1]
    _, _, clean = fetch(server.url[:-1] + a.path)
    for q in ("?utm_source=rss&utm_medium=feed", "?fbclid=IwAR0abc"):
        _, _, body = fetch(server.url[:-1] + a.path + q)
        assert body == clean
    assert f'<link rel="canonical" href="{server.url[:-1]}{a.path}">'.encode() in clean


def test_gzip_and_conditional(server, site):
    url = server.url[:-1] + site.articles[0].path
    status, headers, plain = fetch(url)
    assert headers.get("Content-Encoding") is None and headers["Vary"] == "Accept-Encoding"
    status, gzh, packed = fetch(url, {"Accept-Encoding": "gzip, deflate"})
    assert gzh["Content-Encoding"] == "gzip" and int(gzh["Content-Length"]) == len(packed)
    assert gzip.decompress(packed) == plain
    assert fetch(url, {"Accept-Encoding": "gzip"})[2] == packed  # deterministic bytes
    status, _, body = fetch(url, {"If-None-Match": headers["ETag"]})
    assert status == 304 and body == b""
    status, _, _ = fetch(url, {"If-Modified-Since": headers["Last-Modified"]})
    assert status == 304
    status, _, _ = fetch(url, {"If-None-Match": '"something-else"'})
    assert status == 200


def test_category_pagination_reaches_every_article(server, site):
    seen: set[str] = set()
    for slug in site.categories:
        url, pages = f"{server.url}category/{slug}/", 0
        while url:
            status, _, body = fetch(url)
            assert status == 200
            html = body.decode()
            assert "<article" not in html
            seen |= set(re.findall(r'<h2 class="entry-title"><a href="(/story/[^"]+/)"', html))
            m = re.search(r'<div class="nav-previous"><a href="([^"]+)">Older posts</a>', html)
            url = server.url[:-1] + m.group(1) if m else None
            pages += 1
            assert pages < 50
    assert seen == {a.path for a in site.articles}


def test_article_boilerplate(server, site):
    for a in site.articles:
        status, headers, body = fetch(server.url[:-1] + a.path)
        assert status == 200 and headers["Content-Type"] == "text/html; charset=UTF-8"
        html = body.decode()
        text = visible_text(html)
        for s in ("Loading...", "Why Support Belarus Digest?", "Most read", f"{a.reads} reads",
                  "Leave a comment", "We use cookies", "Accept", a.title):
            assert s in text, (a.slug, s)
        if any(b["type"] == "teaser" for b in a.body):
            assert "Read more" in text
        assert 'content="Belarus Digest"' in html and 'property="og:site_name"' in html
        assert ('application/ld+json' in html) == (a.metadata_style == "jsonld")
        assert ('article:published_time' in html) == (a.metadata_style != "minimal")
        entry = html.split('<div class="entry-content">', 1)[1]
        entry = entry.split('</div>\n<div class="author-box', 1)[0]
        assert " reads" not in entry
        for t in a.tags:
            assert f'href="/tag/{slugify(t)}/" rel="tag"' in html
        cloud = re.findall(r'class="tag-cloud-link tag-link-([^ "]+)', html)
        assert len(cloud) >= 20 and set(cloud) - {slugify(t) for t in a.tags}


def test_seed_page(server, site):
    a = seed_article(site)
    assert a.title == SEED_TITLE
    assert a.authors == ["Igar Gubarevich"] and a.reads == 549 and a.category == "foreign-policy"
    _, _, body = fetch(server.url[:-1] + a.path)
    text = visible_text(body.decode())
    lines = [ln.strip() for ln in SEED_TEXT.read_text(encoding="utf-8").splitlines() if ln.strip()]
    body_lines = lines[lines.index(SEED_CAPTION) + 1:]
    body_lines = body_lines[:body_lines.index("Igar Gubarevich")]
    for ln in body_lines:
        if ln.endswith(" Read more"):
            continue
        assert ln in (a.headings if ln in SEED_HEADINGS else a.paragraphs), ln
    # every seed line appears in the rendered page, in order
    pos = 0
    for ln in lines:
        found = text.find(re.sub(r"\s+", " ", ln), pos)
        assert found >= 0, ln
        pos = found + 1


def test_images_and_assets(server, site):
    a = next(a for a in site.articles if a.image)
    status, headers, body = fetch(f"{server.url}wp-content/uploads/{a.image['file']}")
    assert status == 200 and headers["Content-Type"] == "image/jpeg"
    assert body.startswith(b"\xff\xd8") and body.endswith(b"\xff\xd9")


def test_request_log(server):
    fetch(server.url + "robots.txt", {"User-Agent": "demosite-test/1.0"})
    records = [json.loads(ln) for ln in server.log_path.read_text().splitlines()]
    rec = [r for r in records
           if r["path"] == "/robots.txt" and r["headers"].get("user-agent") == "demosite-test/1.0"]
    assert rec and rec[-1]["method"] == "GET" and rec[-1]["status"] == 200
    assert isinstance(rec[-1]["t"], float)


def test_module_entry_point(tmp_path):
    log = tmp_path / "log.jsonl"
    here = Path(__file__).resolve().parent  # netguard's sitecustomize blocks non-loopback sockets
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(here / "netguard"), str(here.parent)]))
    cmd = [sys.executable, "-m", "archiver.demosite", "--port", "0", "--request-log", str(log)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        url = proc.stdout.readline().strip()
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/", url)
        assert fetch(url)[0] == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0 and err == "" and out == ""
    assert json.loads(log.read_text().splitlines()[0])["path"] == "/"


def test_every_internal_link_resolves(server, site):
    """Walk of the whole site: the only dead link is the deliberate one; shortlinks redirect."""
    base = server.url[:-1]
    seen, queue, bad = {"/"}, ["/"], []
    while queue:
        path = queue.pop()
        status, headers, body = fetch(base + path, follow=False)
        if status != 200:
            bad.append((path, status))
            continue
        if not headers["Content-Type"].startswith("text/html"):
            continue
        for href in re.findall(r'(?:href|src)="([^"#]*)"', body.decode()):
            href = href.removeprefix(base)
            if href.startswith("/") and href not in seen:
                seen.add(href)
                queue.append(href)
    shortlinks = [(p, st) for p, st in bad if p.startswith("/?p=")]
    assert shortlinks and all(st == 301 for _, st in shortlinks)
    assert [b for b in bad if b not in shortlinks] == [("/story/belarus-digest-turns-one/", 404)]
    assert {a.path for a in site.articles} <= seen
    assert len(seen) < 1000
