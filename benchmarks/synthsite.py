"""A synthetic digest site of N articles for the benchmark, built from the demo site.

The bundled demo site (`archiver.demosite`) supplies the material: its page
templates (`render`, `layout`), its 32 articles' paragraphs, titles, tags,
authors, comments and images. Each synthetic article is a deterministic
(seeded) remix: paragraphs drawn from the whole corpus with words swapped,
a varied title, 2-4 tags, comments, teasers linking to other synthetic
articles, and padding with the boilerplate real WordPress pages carry (a
"related posts" block, inline CSS and an inline JSON/JS blob) up to a page
size drawn between 30 and 120 KB.

`write_site` renders every page (articles, paginated home/category/tag/author
listings, feeds, sitemaps, robots.txt) into `DIR/site.bin` plus an index
`DIR/routes.json`, with absolute URLs written against `PLACEHOLDER`; the
server (`siteserver.py`) substitutes its real base URL when it loads them.
"""

from __future__ import annotations

import json
import random
import re
from datetime import timedelta
from html import escape
from pathlib import Path
from typing import Any

from archiver.demosite import feeds, render
from archiver.demosite.model import Article, Site, load_site, slugify

PLACEHOLDER = "http://bench.invalid"
GENERATOR_VERSION = 4  # bump when the pages change (invalidates cached sites)
PER_PAGE = 100  # listing entries per page (WordPress' "posts per page")
MIN_BYTES, MAX_BYTES = 30_000, 120_000
HTML = "text/html; charset=UTF-8"
WORD = re.compile(r"[A-Za-z]{4,}")


class BenchSite(Site):
    """A demo `Site` whose site-wide widgets are computed once, not per page."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self._cloud = super().tag_cloud(25)
        self._most = super().most_read(5)
        self._date = super().site_date
        self._tags = super().all_tags()

    def tag_cloud(self, size: int = 25) -> list[tuple[str, int]]:
        return self._cloud

    def most_read(self, n: int = 5) -> list[Article]:
        return self._most

    @property
    def site_date(self):  # type: ignore[override]
        return getattr(self, "_date", None) or super().site_date

    def all_tags(self) -> dict[str, str]:
        return self._tags


class Corpus:
    """The demo site's content, as material for remixing."""

    def __init__(self) -> None:
        demo = load_site()
        self.demo = demo
        self.paragraphs = [p for a in demo.articles for p in a.paragraphs if len(p.split()) >= 12]
        self.headings = [h for a in demo.articles for h in a.headings] or ["Analysis"]
        self.titles = [a.title for a in demo.articles]
        self.summaries = [a.summary for a in demo.articles]
        self.tags = sorted({t for a in demo.articles for t in a.tags})
        self.comments = [c for a in demo.articles for c in a.comments]
        self.images = [a.image for a in demo.articles if a.image]
        self.styles = [a.metadata_style for a in demo.articles]
        self.formats = sorted({a.date_format for a in demo.articles})
        self.vocab = sorted({w for p in self.paragraphs for w in WORD.findall(p)})
        self.newest = max(a.published for a in demo.articles)


def vary(text: str, rng: random.Random, vocab: list[str], rate: float = 0.12) -> str:
    """Swap about `rate` of the longer words for other corpus words (deterministic)."""
    words = text.split(" ")
    for i, word in enumerate(words):
        if len(word) > 3 and word.isalpha() and rng.random() < rate:
            new = rng.choice(vocab)
            words[i] = new.capitalize() if word[0].isupper() else new.lower()
    return " ".join(words)


def _titles(corpus: Corpus, n: int, seed: int) -> list[tuple[str, str]]:
    rng = random.Random(f"{seed}:titles")
    out = []
    for i in range(n):
        title = vary(rng.choice(corpus.titles), rng, corpus.vocab, 0.3)
        slug = f"{slugify(title)[:70].strip('-')}-{100000 + i}"
        out.append((title, slug))
    return out


def _article(corpus: Corpus, i: int, seed: int, titles: list[tuple[str, str]]) -> Article:
    rng = random.Random(f"{seed}:article:{i}")
    title, slug = titles[i]
    target = rng.randint(MIN_BYTES, MAX_BYTES)
    words = int(target / 1000 * rng.uniform(8, 16))  # 240-1900 words of article text
    body: list[dict[str, Any]] = []
    count = 0
    while count < words:
        para = vary(rng.choice(corpus.paragraphs), rng, corpus.vocab)
        body.append({"type": "p", "text": para})
        count += len(para.split())
        if rng.random() < 0.15:
            body.append({"type": "h2", "text": vary(rng.choice(corpus.headings), rng,
                                                    corpus.vocab, 0.3)})
        if rng.random() < 0.06 and len(titles) > 1:
            j = rng.randrange(len(titles))
            body.append({"type": "teaser", "slug": titles[j][1], "text": titles[j][0]})
    authors = rng.sample(sorted(corpus.demo.authors), 2 if rng.random() < 0.2 else 1)
    category = rng.choice(sorted(corpus.demo.categories))
    published = corpus.newest - timedelta(hours=7 * i, minutes=rng.randint(0, 300))
    modified = published + timedelta(hours=rng.randint(1, 48)) if rng.random() < 0.5 else None
    comments = [{**c, "text": vary(c["text"], rng, corpus.vocab)}
                for c in rng.sample(corpus.comments, min(len(corpus.comments),
                                                          rng.choice([0, 0, 2, 5, 12, 30])))]
    paragraphs = [b["text"] for b in body if b["type"] == "p"]
    return Article(
        id=100000 + i, slug=slug, title=title, authors=[corpus.demo.authors[s]["name"]
                                                       for s in authors],
        author_slugs=authors, published=published, modified=modified, category=category,
        category_name=corpus.demo.categories[category],
        tags=rng.sample(corpus.tags, rng.randint(2, 4)),
        summary=paragraphs[0].split(". ")[0].rstrip(".") + ".",
        paragraphs=paragraphs, headings=[b["text"] for b in body if b["type"] == "h2"],
        path=f"/story/{slug}/", metadata_style=rng.choice(corpus.styles),
        reads=rng.randint(40, 25000), body=body,
        image=rng.choice(corpus.images) if rng.random() < 0.6 else None,
        date_format=rng.choice(corpus.formats), comments=comments,
    )


def _related(site: BenchSite, rng: random.Random) -> str:
    picks = rng.sample(site.articles, min(len(site.articles), rng.randint(6, 12)))
    items = "\n".join(
        f'<li class="related-post"><a class="related-thumb" href="{a.path}" rel="bookmark">'
        f'<img src="/wp-content/uploads/thumb-{a.id}.jpg" width="150" height="100" alt=""></a>'
        f'<div class="related-body"><a href="{a.path}" rel="bookmark">{escape(a.title)}</a>'
        f'<p class="related-excerpt">{escape(a.summary)}</p>'
        f'<span class="related-date">{a.published.date().isoformat()}</span></div></li>'
        for a in picks)
    return (f'<section class="related-posts yarpp-related"><h3 class="related-title">You may also '
            f'like</h3>\n<ul class="related-list">\n{items}\n</ul></section>\n')


def _cards(site: BenchSite, rng: random.Random, size: int) -> str:
    """'More from Belarus Digest' card grid: DOM-heavy boilerplate (~1 element per 45 bytes)."""
    cards, total = [], 0
    while total < size:
        a = rng.choice(site.articles)
        card = (f'<div class="card card-{a.id}"><div class="card-media"><a href="{a.path}">'
                f'<img src="/wp-content/uploads/thumb-{a.id}.jpg" alt="" width="300" height="200">'
                f'</a></div><div class="card-body"><span class="card-cat"><a href="/category/'
                f'{a.category}/">{escape(a.category_name)}</a></span><h4 class="card-title">'
                f'<a href="{a.path}">{escape(a.title)}</a></h4><div class="card-meta"><span>'
                f'{a.published.date().isoformat()}</span> <span>{a.reads} reads</span> <span>'
                f'{len(a.comments)} comments</span></div></div></div>')
        cards.append(card)
        total += len(card)
    return ('<section class="more-posts widget"><h3 class="widget-title">More from '
            'Belarus Digest</h3><div class="card-grid">' + "\n".join(cards) + "</div></section>\n")


def _css(rng: random.Random, size: int) -> str:
    rules, total = [], 0
    while total < size:
        rule = (f".bd-w{rng.randint(1, 999)} .c{rng.randint(1, 99)}>li:nth-child("
                f"{rng.randint(1, 9)}){{margin:{rng.randint(0, 40)}px {rng.randint(0, 40)}px;"
                f"color:#{rng.randrange(16**6):06x};"
                f"font:{rng.randint(10, 24)}px/1.{rng.randint(1, 9)} Georgia,serif}}")
        rules.append(rule)
        total += len(rule)
    return '<style id="bd-inline-css" type="text/css">' + "".join(rules) + "</style>\n"


def _script(site: BenchSite, rng: random.Random, size: int) -> str:
    data, total = [], 0
    while total < size:
        a = rng.choice(site.articles)
        entry = {"id": a.id, "u": a.path, "t": a.title, "s": rng.randint(0, 999),
                 "k": f"{rng.getrandbits(64):016x}"}
        data.append(entry)
        total += len(json.dumps(entry)) + 1
    blob = json.dumps({"nonce": f"{rng.getrandbits(40):010x}", "posts": data}).replace("</", "<\\/")
    return (f'<script type="text/javascript">/* <![CDATA[ */ var bdData = {blob}; /* ]]> */'
            '</script>\n')


def article_html(site: BenchSite, a: Article) -> str:
    """The article page, padded with boilerplate up to its drawn size."""
    rng = random.Random(f"pad:{a.id}")
    target = rng.randint(MIN_BYTES, MAX_BYTES)
    html = render.article_page(site, a, PLACEHOLDER)
    html = html.replace("</main>", _related(site, rng) + "</main>", 1)
    missing = target - len(html.encode())
    if missing > 400:
        dom, css = int(missing * 0.5), int(missing * 0.2)
        html = html.replace('<footer id="colophon"', _cards(site, rng, dom)
                            + '<footer id="colophon"', 1)
        html = html.replace("</head>", _css(rng, css) + "</head>", 1)
        html = html.replace("</body>", _script(site, rng, missing - dom - css - 300)
                            + "</body>", 1)
    return html


def build_site(n: int, seed: int = 7) -> BenchSite:
    corpus = Corpus()
    titles = _titles(corpus, n, seed)
    articles = [_article(corpus, i, seed, titles) for i in range(n)]
    return BenchSite(articles=articles, authors=corpus.demo.authors,
                     categories=corpus.demo.categories)


def _listings(site: BenchSite) -> dict[str, str]:
    """path -> HTML of every listing page (home, categories, tags, authors)."""
    groups: list[tuple[str, str, list[Article], str]] = [("Home", "/", site.articles, "home blog")]
    for slug, name in site.categories.items():
        groups.append((name, f"/category/{slug}/",
                       [a for a in site.articles if a.category == slug],
                       f"archive category-{slug}"))
    for slug, name in site.all_tags().items():
        groups.append((name, f"/tag/{slug}/",
                       [a for a in site.articles if slug in a.tag_slugs], f"archive tag-{slug}"))
    for slug, author in site.authors.items():
        groups.append((author["name"], f"/author/{slug}/",
                       [a for a in site.articles if slug in a.author_slugs],
                       f"archive author-{slug}"))
    pages: dict[str, str] = {}
    for title, path, arts, cls in groups:
        total = max(1, -(-len(arts) // PER_PAGE))
        for page in range(1, total + 1):
            chunk = arts[(page - 1) * PER_PAGE: page * PER_PAGE]
            url = path if page == 1 else f"{path}page/{page}/"
            pages[url] = render.listing_page(site, PLACEHOLDER, title, path, chunk, page, total,
                                             cls)
    return pages


def write_site(n: int, folder: Path, seed: int = 7) -> dict[str, Any]:
    """Render the site into `folder` (reused when already there); returns its meta."""
    folder.mkdir(parents=True, exist_ok=True)
    meta_path = folder / "meta.json"
    want = {"articles": n, "seed": seed, "version": GENERATOR_VERSION}
    if meta_path.exists():
        meta = json.loads(meta_path.read_text())
        if {k: meta.get(k) for k in want} == want:
            return meta
    site = build_site(n, seed)
    routes: dict[str, list[Any]] = {}
    offset = 0
    with open(folder / "site.bin", "wb") as out:
        def add(path: str, body: str, ctype: str = HTML, status: int = 200) -> None:
            nonlocal offset
            data = body.encode()
            out.write(data)
            routes[path] = [status, ctype, offset, len(data)]
            offset += len(data)

        article_bytes = 0
        for a in site.articles:
            add(a.path, article_html(site, a))
            article_bytes += routes[a.path][3]
        for path, body in _listings(site).items():
            add(path, body)
        xml = "application/xml; charset=UTF-8"
        add("/feed/", feeds.rss(site, PLACEHOLDER), "application/rss+xml; charset=UTF-8")
        add("/feed/atom/", feeds.atom(site, PLACEHOLDER), "application/atom+xml; charset=UTF-8")
        add("/sitemap.xml", feeds.sitemap_index(site, PLACEHOLDER), xml)
        add("/sitemap-posts.xml", feeds.sitemap_posts(site, PLACEHOLDER), xml)
        add("/sitemap-pages.xml", feeds.sitemap_pages(site, PLACEHOLDER), xml)
        add("/robots.txt", feeds.robots(PLACEHOLDER), "text/plain; charset=UTF-8")
        for slug, (title, paras) in render.STATIC_PAGES.items():
            add(f"/{slug}/", render.static_page(site, PLACEHOLDER, f"/{slug}/", title, paras))
        add("/404", render.not_found_page(site, PLACEHOLDER, "/404"), HTML, 404)
    shortlinks = {str(a.id): a.path for a in site.articles}
    (folder / "routes.json").write_text(json.dumps({"routes": routes, "shortlinks": shortlinks}))
    sizes = [routes[a.path][3] for a in site.articles]
    meta = {**want, "article_paths": [a.path for a in site.articles],
            "article_bytes": article_bytes, "min_bytes": min(sizes), "max_bytes": max(sizes),
            "pages": len(routes)}
    (folder / "article_paths.txt").write_text("\n".join(meta["article_paths"]) + "\n")
    meta_path.write_text(json.dumps(meta))
    return meta


def load_pages(folder: Path, base: str) -> dict[str, tuple[int, str, bytes]]:
    """path -> (status, content type, body with absolute URLs on `base`)."""
    index = json.loads((folder / "routes.json").read_text())
    blob = (folder / "site.bin").read_bytes()
    placeholder, real = PLACEHOLDER.encode(), base.rstrip("/").encode()
    return {path: (status, ctype, blob[off:off + length].replace(placeholder, real))
            for path, (status, ctype, off, length) in index["routes"].items()}


def shortlinks(folder: Path) -> dict[str, str]:
    return json.loads((folder / "routes.json").read_text())["shortlinks"]

