"""Site chrome shared by every HTML page: head, header, sidebar, footer."""
from __future__ import annotations

from html import escape as e

from .model import SITE_TAGS, Article, Site, format_date, slugify

SITE_NAME = "Belarus Digest"
TAGLINE = "News and analysis about Belarus"


def time_tag(a: Article, cls: str = "entry-date published") -> str:
    """Visible date by the article's ``date_format``; a few minimal pages carry a plain-date datetime."""
    if a.metadata_style == "minimal" and a.id % 2 == 0:
        attr = a.published.date().isoformat()
    else:
        attr = a.published.isoformat()
    return f'<time class="{cls}" datetime="{attr}">{e(format_date(a.published, a.date_format))}</time>'


def author_links(site: Site, slugs: list[str]) -> str:
    links = [f'<a class="url fn n" rel="author" href="/author/{s}/">{e(site.authors[s]["name"])}</a>'
             for s in slugs]
    return " and ".join(links)


def head(base: str, title: str, canonical: str, description: str, extra: str = "") -> str:
    """The ``<head>`` element; ``extra`` holds page-specific metadata."""
    return f"""<head>
<meta charset="UTF-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{e(title)}</title>
<meta name="description" content="{e(description)}">
<link rel="canonical" href="{base}{canonical}">
<link rel="alternate" type="application/rss+xml" title="{SITE_NAME} &raquo; Feed" href="{base}/feed/">
<link rel="alternate" type="application/atom+xml" title="{SITE_NAME} &raquo; Atom Feed" href="{base}/feed/atom/">
<link rel="stylesheet" id="bd-style-css" href="/wp-content/themes/belarusdigest/style.css?ver=4.1.1" type="text/css" media="all">
<link rel="icon" href="/wp-content/uploads/favicon.png" sizes="32x32">
{extra}</head>"""


def header(site: Site) -> str:
    cats = "\n".join(
        f'<li class="menu-item menu-item-type-taxonomy"><a href="/category/{s}/">{e(n)}</a></li>'
        for s, n in site.categories.items())
    tags = " ".join(f'<a href="/tag/{slugify(t)}/">{e(t)}</a>' for t in SITE_TAGS)
    return f"""<div id="preloader" class="preloader"><div class="loader-inner">Loading...</div></div>
<header id="masthead" class="site-header" role="banner">
<div class="site-branding"><p class="site-title"><a href="/" rel="home">{SITE_NAME}</a></p>
<p class="site-description">{TAGLINE}</p></div>
<nav id="site-navigation" class="main-navigation" role="navigation">
<ul id="primary-menu" class="menu">
<li class="menu-item menu-item-home"><a href="/">Home</a></li>
{cats}
<li class="menu-item"><a href="/about/">About</a></li>
<li class="menu-item menu-item-donate"><a href="/donate/">Donate</a></li>
</ul>
<a class="rss-link" href="/feed/" title="Subscribe to RSS">RSS</a>
</nav>
<div class="header-tags tagline-tags">{tags}</div>
<div class="donate-banner"><a href="/donate/">Why Support Belarus Digest?</a></div>
</header>"""


def breadcrumbs(items: list[tuple[str, str | None]]) -> str:
    parts = [f'<a href="{h}">{e(t)}</a>' if h else f'<span class="breadcrumb_last">{e(t)}</span>'
             for t, h in [("Home", "/")] + items]
    return f'<nav class="breadcrumbs" aria-label="breadcrumbs">{" &raquo; ".join(parts)}</nav>'


def sidebar(site: Site) -> str:
    most = "\n".join(
        # This widget links by WordPress shortlink (/?p=ID), answered with a 301.
        f'<li><a href="/?p={a.id}">{e(a.title)}</a> <span class="post-views">{a.reads} reads</span></li>'
        for a in site.most_read(5))
    cloud = site.tag_cloud(25)
    top = max([c for _, c in cloud] + [1])
    tags = "\n".join(
        f'<a href="/tag/{slugify(t)}/" class="tag-cloud-link tag-link-{slugify(t)}" '
        f'style="font-size: {8 + round(14 * c / top)}pt;" aria-label="{e(t)} ({c} item{"" if c == 1 else "s"})">{e(t)}</a>'
        for t, c in cloud)
    cats = "\n".join(f'<li class="cat-item"><a href="/category/{s}/">{e(n)}</a></li>'
                     for s, n in site.categories.items())
    return f"""<aside id="secondary" class="widget-area sidebar" role="complementary">
<section id="most-read" class="widget widget_most_read"><h2 class="widget-title">Most read</h2>
<ul class="most-read-list">
{most}
</ul></section>
<section id="tag_cloud-2" class="widget widget_tag_cloud"><h2 class="widget-title">Tags</h2>
<div class="tagcloud">
{tags}
</div></section>
<section id="archives-2" class="widget widget_archive"><h2 class="widget-title">From the archive</h2>
<ul><li><a href="/story/belarus-digest-turns-one/">Belarus Digest turns one</a></li></ul></section>
<section id="categories-2" class="widget widget_categories"><h2 class="widget-title">Categories</h2>
<ul>
{cats}
</ul></section>
</aside>"""


def footer() -> str:
    return f"""<div id="cookie-notice" class="cookie-notice" role="banner">
<span class="cn-text">We use cookies to ensure that we give you the best experience on our website. If you continue to use this site we will assume that you are happy with it.</span>
<a href="#" id="cn-accept-cookie" class="cn-button button">Accept</a> <a href="/privacy-policy/" class="cn-more-info">Privacy policy</a>
</div>
<footer id="colophon" class="site-footer" role="contentinfo">
<nav class="footer-navigation"><a href="/about/">About</a> | <a href="/contact/">Contact</a> | <a href="/privacy-policy/">Privacy Policy</a> | <a href="/feed/">RSS</a></nav>
<div class="social-links"><a href="https://www.facebook.com/belarusdigest" rel="nofollow">Facebook</a> <a href="https://twitter.com/BelarusDigest" rel="nofollow">Twitter</a> <a href="https://t.me/belarusdigest" rel="nofollow">Telegram</a></div>
<div class="site-info">&copy; 2011&ndash;2016 {SITE_NAME}. All rights reserved. Published by the Ostrogorski Centre.</div>
</footer>"""


def page(site: Site, head_html: str, main: str, body_class: str) -> str:
    """Assemble a complete HTML5 document."""
    return f"""<!DOCTYPE html>
<html lang="en">
{head_html}
<body class="{body_class}">
<div id="page" class="site">
{header(site)}
<div id="content" class="site-content">
<div id="primary" class="content-area">
<main id="main" class="site-main" role="main">
{main}
</main>
</div>
{sidebar(site)}
</div>
{footer()}
</div>
<script type="text/javascript" src="/wp-includes/js/jquery/jquery.js?ver=1.11.1"></script>
</body>
</html>
"""
