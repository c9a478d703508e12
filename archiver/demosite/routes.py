"""URL routing: map a request path to a (deterministic) response."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import parse_qs, urlsplit

from . import assets, feeds, render
from .model import Article, Site

PER_PAGE = 10
HTML = "text/html; charset=UTF-8"
PRIVATE = {
    "/private/secret/": ("Private area", ["This page is disallowed by robots.txt. Well-behaved crawlers never see it."]),
    "/wp-admin/": ("Log In", ["Username or Email Address", "Password", "Remember Me"]),
}


@dataclass
class Response:
    status: int
    ctype: str = HTML
    body: bytes = b""
    last_modified: datetime | None = None
    headers: dict[str, str] = field(default_factory=dict)


def _redirect(location: str) -> Response:
    return Response(301, HTML, b"", None, {"Location": location})


def _pages(n: int) -> int:
    return max(1, -(-n // PER_PAGE))


def _listing(site: Site, base: str, title: str, path: str, arts: list[Article], page: int, cls: str):
    pages = _pages(len(arts))
    if page < 1 or page > pages:
        return None
    chunk = arts[(page - 1) * PER_PAGE: page * PER_PAGE]
    text = render.listing_page(site, base, title, path, chunk, page, pages, cls)
    return Response(200, HTML, text.encode(), site.site_date)


def _archive(site: Site, base: str, kind: str, slug: str, page: int):
    """Category, tag or author archive (``None`` when unknown)."""
    if kind == "category" and slug in site.categories:
        arts = [a for a in site.articles if a.category == slug]
        return _listing(site, base, site.categories[slug], f"/category/{slug}/", arts, page,
                        f"archive category category-{slug}")
    if kind == "tag" and slug in site.all_tags():
        arts = [a for a in site.articles if slug in a.tag_slugs]
        return _listing(site, base, site.all_tags()[slug], f"/tag/{slug}/", arts, page,
                        f"archive tag tag-{slug}")
    if kind == "author" and slug in site.authors:
        arts = [a for a in site.articles if slug in a.author_slugs]
        return _listing(site, base, site.authors[slug]["name"], f"/author/{slug}/", arts, page,
                        f"archive author author-{slug}")
    return None


def _route(site: Site, base: str, path: str, query: dict[str, list[str]]) -> Response | None:
    if path == "/" and "p" in query:
        a = site.by_id.get(int(query["p"][0])) if query["p"][0].isdigit() else None
        return _redirect(f"{base}{a.path}") if a else None
    if path == "/":
        return _listing(site, base, "Home", "/", site.articles, 1, "home blog")
    if m := re.fullmatch(r"/page/(\d+)/", path):
        n = int(m.group(1))
        return _redirect(f"{base}/") if n == 1 else _listing(
            site, base, "Home", "/", site.articles, n, "home blog paged")
    if m := re.fullmatch(r"/story/([^/]+)/", path):
        a = site.by_slug.get(m.group(1))
        if a is None:
            return None
        return Response(200, HTML, render.article_page(site, a, base).encode(), a.lastmod)
    if m := re.fullmatch(r"/(category|tag|author)/([^/]+)/(?:page/(\d+)/)?", path):
        n = int(m.group(3) or 1)
        if m.group(3) and n == 1:
            return _redirect(f"{base}/{m.group(1)}/{m.group(2)}/")
        return _archive(site, base, m.group(1), m.group(2), n)
    docs = {
        "/feed/": ("application/rss+xml; charset=UTF-8", feeds.rss),
        "/feed/atom/": ("application/atom+xml; charset=UTF-8", feeds.atom),
        "/sitemap.xml": ("application/xml; charset=UTF-8", feeds.sitemap_index),
        "/sitemap-posts.xml": ("application/xml; charset=UTF-8", feeds.sitemap_posts),
        "/sitemap-pages.xml": ("application/xml; charset=UTF-8", feeds.sitemap_pages),
    }
    if path in docs:
        ctype, fn = docs[path]
        return Response(200, ctype, fn(site, base).encode(), site.site_date)
    if path == "/robots.txt":
        return Response(200, "text/plain; charset=UTF-8", feeds.robots(base).encode(), site.site_date)
    if (m := re.fullmatch(r"/([a-z-]+)/", path)) and m.group(1) in render.STATIC_PAGES:
        title, paras = render.STATIC_PAGES[m.group(1)]
        return Response(200, HTML, render.static_page(site, base, path, title, paras).encode(), site.site_date)
    if path in PRIVATE:
        title, paras = PRIVATE[path]
        return Response(200, HTML, render.static_page(site, base, path, title, paras).encode(), site.site_date)
    return _asset(site, path)


def _asset(site: Site, path: str) -> Response | None:
    images = {a.image["file"] for a in site.articles if a.image}
    if (m := re.fullmatch(r"/wp-content/uploads/([^/]+)", path)) and m.group(1) in images:
        return Response(200, "image/jpeg", assets.jpeg(m.group(1)), site.site_date)
    static = {
        "/wp-content/uploads/favicon.png": ("image/png", assets.png()),
        "/wp-content/uploads/logo.png": ("image/png", assets.png(64, 16)),
        "/wp-content/themes/belarusdigest/style.css": ("text/css; charset=UTF-8", assets.STYLE_CSS),
        "/wp-includes/js/jquery/jquery.js": ("application/javascript; charset=UTF-8", assets.JQUERY_JS),
        "/wp-admin/admin-ajax.php": ("text/plain; charset=UTF-8", b"0"),
    }
    if path in static:
        return Response(200, static[path][0], static[path][1], site.site_date)
    return None


def resolve(site: Site, base: str, target: str) -> Response:
    """Answer a request target (path + query); unknown URLs give a 404 HTML page."""
    parts = urlsplit(target)
    path = parts.path or "/"
    query = parse_qs(parts.query)
    resp = _route(site, base, path, query)
    if resp is None and not path.endswith("/") and "." not in path.rsplit("/", 1)[-1]:
        slashed = _route(site, base, path + "/", query)
        if slashed is not None and slashed.status == 200:
            return _redirect(f"{base}{path}/" + (f"?{parts.query}" if parts.query else ""))
    if resp is None:
        text = render.not_found_page(site, base, path)
        return Response(404, HTML, text.encode(), None, {"Cache-Control": "no-cache, must-revalidate"})
    return resp
