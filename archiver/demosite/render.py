"""HTML pages of the demo site: article, listings, static pages, 404."""
from __future__ import annotations

import hashlib
import json
from html import escape as e

from . import layout
from .layout import SITE_NAME, author_links, breadcrumbs, time_tag
from .model import Article, Site, slugify

STATIC_PAGES = {
    "about": ("About", [
        "Belarus Digest is an online publication about Belarusian politics, economy, society and culture.",
        "It is published by the Ostrogorski Centre, a non-profit organisation registered in the United Kingdom.",
        "Our authors are analysts and researchers from Belarus and abroad.",
    ]),
    "donate": ("Why Support Belarus Digest?", [
        "Belarus Digest is an independent publication that relies on the support of its readers.",
        "Your donation helps us to keep our analysis free and accessible to everyone.",
    ]),
    "contact": ("Contact", ["Write to the editors at editor@belarusdigest.com. We read every message."]),
    "privacy-policy": ("Privacy Policy", [
        "We use cookies to understand how visitors use the site. We do not sell personal data.",
        "Comments are stored together with the name given by the commenter.",
    ]),
}


def _share_count(a: Article, network: str) -> int:
    return int(hashlib.sha1(f"{a.id}:{network}".encode()).hexdigest()[:4], 16) % 120


def _meta(base: str, site: Site, a: Article) -> str:
    """Page metadata according to the article's ``metadata_style``."""
    url = f"{base}{a.path}"
    names = ", ".join(a.authors)
    lines = [f'<link rel="shortlink" href="{base}/?p={a.id}">',
             f'<meta property="og:title" content="{e(a.title)}">',
             f'<meta property="og:site_name" content="{SITE_NAME}">',
             f'<meta name="author" content="{e(names)}">']
    if a.metadata_style == "minimal":
        return "\n".join(lines) + "\n"
    lines += ['<meta property="og:type" content="article">', f'<meta property="og:url" content="{url}">',
              f'<meta property="og:description" content="{e(a.summary)}">',
              '<meta property="og:locale" content="en_US">']
    if a.image:
        lines.append(f'<meta property="og:image" content="{base}/wp-content/uploads/{e(a.image["file"])}">')
    lines.append(f'<meta property="article:published_time" content="{a.published.isoformat()}">')
    lines.append(f'<meta property="article:modified_time" content="{a.lastmod.isoformat()}">')
    lines += [f'<meta property="article:author" content="{base}/author/{s}/">' for s in a.author_slugs]
    lines += [f'<meta property="article:tag" content="{e(t)}">' for t in a.tags]
    lines.append(f'<meta property="article:section" content="{e(a.category_name)}">')
    if a.metadata_style == "jsonld":
        ld = {
            "@context": "https://schema.org", "@type": "NewsArticle",
            "mainEntityOfPage": {"@type": "WebPage", "@id": url}, "headline": a.title,
            "description": a.summary,
            "author": [{"@type": "Person", "name": n, "url": f"{base}/author/{s}/"}
                       for n, s in zip(a.authors, a.author_slugs, strict=True)],
            "datePublished": a.published.isoformat(), "dateModified": a.lastmod.isoformat(),
            "keywords": a.tags, "articleSection": a.category_name,
            "publisher": {"@type": "Organization", "name": SITE_NAME,
                          "logo": {"@type": "ImageObject", "url": f"{base}/wp-content/uploads/logo.png"}},
        }
        if a.image:
            ld["image"] = f"{base}/wp-content/uploads/{a.image['file']}"
        text = json.dumps(ld, ensure_ascii=False, indent=1).replace("</", "<\\/")
        lines.append(f'<script type="application/ld+json">{text}</script>')
    return "\n".join(lines) + "\n"


def _body(a: Article) -> str:
    out = []
    for b in a.body:
        if b["type"] == "p":
            out.append(f"<p>{e(b['text'])}</p>")
        elif b["type"] == "h2":
            out.append(f"<h2>{e(b['text'])}</h2>")
        elif b["type"] == "teaser":
            href = f"/story/{b['slug']}/"
            out.append(f'<div class="related-inline"><a href="{href}">{e(b["text"])}</a> '
                       f'<a class="read-more" href="{href}">Read more</a></div>')
    return "\n".join(out)


def _comments(a: Article) -> str:
    items = "\n".join(
        f'<li class="comment" id="comment-{a.id}{i}"><div class="comment-body">'
        f'<footer class="comment-meta"><div class="comment-author vcard"><b class="fn">{e(c["author"])}</b> '
        f'<span class="says">says:</span></div><div class="comment-metadata">{e(c["date"][:10])}</div></footer>'
        f'<div class="comment-content"><p>{e(c["text"])}</p></div></div></li>'
        for i, c in enumerate(a.comments, 1))
    n = len(a.comments)
    title = f'<h2 class="comments-title">{n} comment{"s" if n != 1 else ""}</h2>' if n else ""
    return f"""<div id="comments" class="comments-area">
{title}
<ol class="comment-list">
{items}
</ol>
<div id="respond" class="comment-respond">
<h3 id="reply-title" class="comment-reply-title">Leave a comment</h3>
<form action="/wp-comments-post.php" method="post" id="commentform" class="comment-form">
<p class="comment-form-comment"><label for="comment">Comment</label><textarea id="comment" name="comment" cols="45" rows="8"></textarea></p>
<p class="comment-form-author"><label for="author">Name</label><input id="author" name="author" type="text" value=""></p>
<p class="comment-form-email"><label for="email">Email</label><input id="email" name="email" type="email" value=""></p>
<p class="form-submit"><input name="submit" type="submit" id="submit" class="submit" value="Post Comment">
<input type="hidden" name="comment_post_ID" value="{a.id}" id="comment_post_ID"></p>
</form>
</div>
</div>"""


def article_page(site: Site, a: Article, base: str) -> str:
    """Full article page with all the boilerplate of a real WordPress post."""
    lead = "\n".join(f"<p>{e(p)}</p>" for p in a.lead)
    fig = ""
    if a.image:
        src = f"/wp-content/uploads/{e(a.image['file'])}"
        fig = (f'<figure class="wp-caption featured-image"><a class="image-link" href="{src}">'
               f'<img src="{src}" alt="{e(a.image["caption"])}" width="640" height="360">'
               f'<span class="image-file">{e(a.image["file"])}</span></a>'
               f'<figcaption class="wp-caption-text">{e(a.image["caption"])}</figcaption></figure>')
    tags = " ".join(f'<a href="/tag/{slugify(t)}/" rel="tag">{e(t)}</a>' for t in a.tags)
    enc = f"{base}{a.path}"
    share = " ".join(
        f'<a class="share-{n.lower()}" href="{h}" rel="nofollow">{n} <span class="share-count">'
        f'{_share_count(a, n)}</span></a>' for n, h in [
            ("Facebook", f"https://www.facebook.com/sharer/sharer.php?u={enc}"),
            ("Twitter", f"https://twitter.com/intent/tweet?url={enc}"),
            ("Telegram", f"https://t.me/share/url?url={enc}"),
            ("Email", f"mailto:?subject=Belarus%20Digest&amp;body={enc}")])
    boxes = "\n".join(
        f'<div class="author-box"><a class="author-avatar" href="/author/{s}/">{e(site.authors[s]["name"])}</a>'
        f'<h4 class="author-name">{e(site.authors[s]["name"])}</h4>'
        f'<p class="author-bio">{e(site.authors[s]["bio"])}</p></div>' for s in a.author_slugs)
    main = f"""{breadcrumbs([(a.category_name, f"/category/{a.category}/"), (a.title, None)])}
<article id="post-{a.id}" class="post-{a.id} post type-post status-publish format-standard hentry category-{a.category}">
<header class="entry-header"><h1 class="entry-title">{e(a.title)}</h1></header>
<div class="entry-lead excerpt">
{lead}
</div>
{fig}
<div class="entry-content">
{_body(a)}
</div>
{boxes}
<div class="post-meta entry-meta"><span class="byline">By {author_links(site, a.author_slugs)}</span>
<span class="posted-on">{time_tag(a)}</span>
<span class="cat-links"><a href="/category/{a.category}/" rel="category tag">{e(a.category_name)}</a></span>
<span class="post-views">{a.reads} reads</span>
<span class="comments-link"><a href="{a.path}#comments">{len(a.comments)} comments</a></span></div>
<footer class="entry-footer"><span class="tags-links">Tags: {tags}</span>
<div class="share-buttons">Share: {share}</div></footer>
</article>
{_comments(a)}"""
    head = layout.head(base, f"{a.title} | {SITE_NAME}", a.path, a.summary, _meta(base, site, a))
    return layout.page(site, head, main, f"post-template-default single single-post postid-{a.id}")


def listing_page(site: Site, base: str, title: str, path: str, articles: list[Article],
                 page: int, pages: int, cls: str) -> str:
    """Archive listing (home, category, tag, author): 10 entries and older/newer links."""
    entries = []
    for a in articles:
        entries.append(f"""<div class="post-entry post-{a.id} category-{a.category}">
<h2 class="entry-title"><a href="{a.path}" rel="bookmark">{e(a.title)}</a></h2>
<div class="post-meta entry-meta"><span class="byline">By {author_links(site, a.author_slugs)}</span> <span class="posted-on">{time_tag(a)}</span></div>
<div class="entry-summary"><p>{e(a.summary)}</p></div>
</div>""")
    if not entries:
        entries.append('<p class="no-results">Nothing found.</p>')

    def page_url(n: int) -> str:
        return path if n == 1 else f"{path}page/{n}/"

    nav, rel = [], []
    if page < pages:
        nav.append(f'<div class="nav-previous"><a href="{page_url(page + 1)}">Older posts</a></div>')
        rel.append(f'<link rel="next" href="{base}{page_url(page + 1)}">')
    if page > 1:
        nav.append(f'<div class="nav-next"><a href="{page_url(page - 1)}">Newer posts</a></div>')
        rel.append(f'<link rel="prev" href="{base}{page_url(page - 1)}">')
    heading = "" if path == "/" else f'<header class="page-header"><h1 class="page-title">{e(title)}</h1></header>'
    crumbs = "" if path == "/" else breadcrumbs([(title, None)])
    main = f"""{crumbs}
{heading}
{chr(10).join(entries)}
<nav class="navigation posts-navigation" aria-label="Posts">{"".join(nav)}</nav>"""
    suffix = f" | Page {page} of {pages}" if page > 1 else ""
    full = f"{SITE_NAME} | {layout.TAGLINE}" if path == "/" else f"{title} | {SITE_NAME}"
    extra = (f'<meta property="og:site_name" content="{SITE_NAME}">\n'
             f'<meta property="og:title" content="{e(title)}">\n' + "\n".join(rel) + "\n")
    head = layout.head(base, full + suffix, page_url(page), f"{title} – {SITE_NAME}", extra)
    return layout.page(site, head, main, cls)


def static_page(site: Site, base: str, path: str, title: str, paras: list[str], cls: str = "page") -> str:
    """Simple WordPress page (about, donate, private, ...)."""
    body = "\n".join(f"<p>{e(p)}</p>" for p in paras)
    main = f"""{breadcrumbs([(title, None)])}
<div class="page type-page status-publish hentry">
<header class="entry-header"><h1 class="entry-title">{e(title)}</h1></header>
<div class="entry-content">
{body}
</div></div>"""
    extra = f'<meta property="og:site_name" content="{SITE_NAME}">\n<meta property="og:title" content="{e(title)}">\n'
    head = layout.head(base, f"{title} | {SITE_NAME}", path, paras[0] if paras else title, extra)
    return layout.page(site, head, main, cls)


def not_found_page(site: Site, base: str, path: str) -> str:
    return static_page(site, base, path, "Page not found",
                       ["It looks like nothing was found at this location. Maybe try one of the links below?"],
                       "error404")

