"""Machine-readable documents: RSS 2.0, Atom 1.0, sitemaps, robots.txt."""
from __future__ import annotations

from datetime import UTC, datetime
from email.utils import format_datetime
from html import escape

from .layout import SITE_NAME, TAGLINE
from .model import Article, Site
from .render import STATIC_PAGES, _body

FEED_SIZE = 20
RSS_TRACKING = "utm_source=rss&utm_medium=rss"


def x(text: str) -> str:
    """Escape XML text/attribute content."""
    return escape(text, quote=True)


def cdata(text: str) -> str:
    return "<![CDATA[" + text.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def _utc(dt: datetime) -> datetime:
    return dt.astimezone(UTC)


def _iso(dt: datetime) -> str:
    return _utc(dt).strftime("%Y-%m-%dT%H:%M:%SZ")


def _rss_item(base: str, a: Article) -> str:
    cats = "".join(f"<category>{cdata(t)}</category>" for t in [a.category_name] + a.tags)
    creators = "".join(f"<dc:creator>{cdata(n)}</dc:creator>" for n in a.authors)
    return f"""<item>
<title>{x(a.title)}</title>
<link>{x(f"{base}{a.path}?{RSS_TRACKING}")}</link>
<comments>{base}{a.path}#respond</comments>
<pubDate>{format_datetime(_utc(a.published))}</pubDate>
{creators}
{cats}
<guid isPermaLink="false">{base}/?p={a.id}</guid>
<description>{cdata(a.summary)}</description>
<content:encoded>{cdata(_body(a))}</content:encoded>
<slash:comments>{len(a.comments)}</slash:comments>
</item>"""


def rss(site: Site, base: str) -> str:
    """RSS 2.0 feed of the newest articles (item links carry utm tracking parameters)."""
    items = "\n".join(_rss_item(base, a) for a in site.articles[:FEED_SIZE])
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/" xmlns:wfw="http://wellformedweb.org/CommentAPI/" xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:atom="http://www.w3.org/2005/Atom" xmlns:sy="http://purl.org/rss/1.0/modules/syndication/" xmlns:slash="http://purl.org/rss/1.0/modules/slash/">
<channel>
<title>{SITE_NAME}</title>
<atom:link href="{base}/feed/" rel="self" type="application/rss+xml" />
<link>{base}/</link>
<description>{x(TAGLINE)}</description>
<lastBuildDate>{format_datetime(_utc(site.site_date))}</lastBuildDate>
<language>en-US</language>
<sy:updatePeriod>hourly</sy:updatePeriod>
<sy:updateFrequency>1</sy:updateFrequency>
<generator>https://wordpress.org/?v=4.1.1</generator>
{items}
</channel>
</rss>
"""


def _atom_entry(base: str, a: Article) -> str:
    authors = "".join(f"<author><name>{x(n)}</name><uri>{base}/author/{s}/</uri></author>"
                      for n, s in zip(a.authors, a.author_slugs, strict=True))
    cats = "".join(f'<category scheme="{base}" term="{x(t)}" />' for t in [a.category_name] + a.tags)
    return f"""<entry>
{authors}
<title type="html">{cdata(a.title)}</title>
<link rel="alternate" type="text/html" href="{base}{a.path}" />
<id>{base}/?p={a.id}</id>
<updated>{_iso(a.lastmod)}</updated>
<published>{_iso(a.published)}</published>
{cats}
<summary type="html">{cdata(a.summary)}</summary>
<content type="html" xml:base="{base}{a.path}">{cdata(_body(a))}</content>
</entry>"""


def atom(site: Site, base: str) -> str:
    """Atom 1.0 feed with the same entries as the RSS feed (clean links)."""
    entries = "\n".join(_atom_entry(base, a) for a in site.articles[:FEED_SIZE])
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="en-US" xml:base="{base}/wp-atom.php">
<title type="text">{SITE_NAME}</title>
<subtitle type="text">{x(TAGLINE)}</subtitle>
<updated>{_iso(site.site_date)}</updated>
<link rel="alternate" type="text/html" href="{base}/" />
<id>{base}/feed/atom/</id>
<link rel="self" type="application/atom+xml" href="{base}/feed/atom/" />
<generator uri="https://wordpress.org/" version="4.1.1">WordPress</generator>
{entries}
</feed>
"""


def _urlset(rows: list[tuple[str, datetime]]) -> str:
    urls = "\n".join(f"<url><loc>{x(loc)}</loc><lastmod>{_iso(d)}</lastmod></url>" for loc, d in rows)
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
{urls}
</urlset>
"""


def sitemap_index(site: Site, base: str) -> str:
    latest = site.site_date
    maps = "\n".join(f"<sitemap><loc>{base}/{n}</loc><lastmod>{_iso(latest)}</lastmod></sitemap>"
                     for n in ("sitemap-posts.xml", "sitemap-pages.xml"))
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
{maps}
</sitemapindex>
"""


def sitemap_posts(site: Site, base: str) -> str:
    return _urlset([(f"{base}{a.path}", a.lastmod) for a in site.articles])


def sitemap_pages(site: Site, base: str) -> str:
    rows = [(f"{base}/", site.site_date)]
    rows += [(f"{base}/{slug}/", site.site_date) for slug in STATIC_PAGES]
    rows += [(f"{base}/category/{slug}/", site.site_date) for slug in site.categories]
    return _urlset(rows)


def robots(base: str) -> str:
    return (f"User-agent: *\nDisallow: /wp-admin/\nDisallow: /private/\n"
            f"Allow: /wp-admin/admin-ajax.php\n\nSitemap: {base}/sitemap.xml\n")
