"""Article extraction (pure, CPU-bound): HTML bytes + URL in, an `Extracted` out.

The only module that imports trafilatura. trafilatura finds the main text;
structured metadata is read first from what the page declares (JSON-LD, then
OpenGraph/`article:*` meta tags, then `<time>` and `rel="tag"` inside the
`<article>`), falling back to trafilatura's own heuristics, and each date
records where it came from. Inline "... Read more" teasers and "N reads"
counters that trafilatura keeps are removed from the text.
"""

from __future__ import annotations

import json
import multiprocessing
import re
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from lxml import html as lxml_html
from trafilatura import bare_extraction

# Fewer words than this is a stub, an error or a navigation page, not an article.
MIN_WORDS = 20
ARTICLE_TYPES = {"article", "newsarticle", "blogposting", "reportagenewsarticle",
                 "analysisnewsarticle", "opinionnewsarticle", "scholarlyarticle", "report"}
# Page furniture that trafilatura sometimes keeps; pruned before extraction.
PRUNE_XPATH = [
    "//*[contains(concat(' ', normalize-space(@class), ' '), ' related-inline ')]",
    "//*[contains(@class, 'read-more') or contains(@class, 'post-views')]",
    "//*[contains(@class, 'author-box') or contains(@class, 'author-bio')]",
    "//*[@id='comments' or contains(@class, 'comments-area')]",
    "//*[contains(@class, 'cookie')]",
    "//*[contains(@class, 'preloader')]",
    "//figure",
]
READ_MORE = re.compile(r"(?:\.\.\.|…)?\s*Read more\s*$", re.IGNORECASE)
NAME_SEP = re.compile(r"\s*(?:[,;|]|\band\b|&)\s*")
READS = re.compile(r"^\s*[\d.,\s]+\s+(reads?|views?)\s*$", re.IGNORECASE)


@dataclass
class Extracted:
    url: str
    canonical_url: str = ""
    title: str = ""
    authors: list[str] = field(default_factory=list)
    date_published: str = ""
    date_published_source: str = ""
    date_modified: str = ""
    date_modified_source: str = ""
    site_name: str = ""
    description: str = ""
    categories: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    language: str = ""
    image: str = ""
    text: str = ""
    word_count: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class ExtractionError(ValueError):
    """The page has no extractable article text."""


def _norm_date(value: Any) -> str:
    """ISO-8601 as declared (offset kept), or YYYY-MM-DD; "" if unreadable."""
    text = str(value or "").strip()
    if not text:
        return ""
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        match = re.match(r"\d{4}-\d{2}-\d{2}", text)
        return match.group(0) if match else ""
    if len(text) <= 10:
        return moment.date().isoformat()
    return moment.isoformat()


def _names(value: Any) -> list[str]:
    """Person names from a JSON-LD author value (object, list or string)."""
    items = value if isinstance(value, list) else [value]
    names = []
    for item in items:
        name = item.get("name") if isinstance(item, dict) else item
        if isinstance(name, str) and name.strip() and "://" not in name:
            names.append(" ".join(name.split()))
    return names


def _split_names(values: Iterable[str]) -> list[str]:
    """'A, B and C' / 'A; B' → ['A', 'B', 'C']."""
    names = []
    for value in values:
        names += [n for n in (" ".join(p.split()) for p in NAME_SEP.split(value)) if n]
    return names


def _split_list(value: Any) -> list[str]:
    if isinstance(value, list):
        return [str(v).strip() for v in value if str(v).strip()]
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    return []


def _jsonld_article(tree) -> dict[str, Any]:
    for script in tree.xpath("//script[@type='application/ld+json']/text()"):
        try:
            data = json.loads(script)
        except ValueError:
            continue
        stack = data if isinstance(data, list) else [data]
        while stack:
            node = stack.pop(0)
            if not isinstance(node, dict):
                continue
            stack.extend(node.get("@graph", []) if isinstance(node.get("@graph"), list) else [])
            types = node.get("@type", [])
            types = types if isinstance(types, list) else [types]
            if any(str(t).lower() in ARTICLE_TYPES for t in types):
                return node
    return {}


def _meta(tree) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for el in tree.xpath("//head//meta[@content]"):
        key = (el.get("property") or el.get("name") or "").strip().lower()
        if key:
            found.setdefault(key, []).append(el.get("content", "").strip())
    return found


def _first(*values: Any) -> tuple[str, int]:
    """First non-empty value and its position (used to name the source)."""
    for i, value in enumerate(values):
        if value:
            return value, i
    return "", -1


def _clean_text(text: str, title: str) -> str:
    lines = []
    for line in (text or "").splitlines():
        line = line.strip()
        if not line or READS.match(line) or line == title:
            continue
        if READ_MORE.search(line) and len(line.split()) <= 30:
            continue
        lines.append(line)
    return "\n".join(lines)


def extract_article(html: bytes, url: str) -> Extracted:
    """Extract an article's text and metadata from a page's HTML bytes."""
    if not html or not html.strip():
        raise ExtractionError("empty page")
    try:
        tree = lxml_html.fromstring(html)
    except (ValueError, lxml_html.etree.ParserError) as exc:
        raise ExtractionError(f"unparseable HTML: {exc}") from None
    ld = _jsonld_article(tree)
    meta = _meta(tree)
    canonical = tree.xpath("string(//link[@rel='canonical']/@href)").strip()
    article_time = tree.xpath(
        "string((//article//time[@datetime] | //time[@itemprop='datePublished'])[1]/@datetime)")
    # WordPress marks category links rel="category tag": those are not tags.
    own_tags = [" ".join(t.split()) for t in tree.xpath(
        "//article//a[contains(concat(' ', normalize-space(@rel), ' '), ' tag ')"
        " and not(contains(@rel, 'category'))]//text()")]
    lang = tree.xpath("string(/html/@lang)").strip()

    doc = bare_extraction(
        tree, url=url, with_metadata=True, include_comments=False, include_tables=True,
        favor_precision=True, deduplicate=False, prune_xpath=PRUNE_XPATH,
    )
    if doc is None or not (doc.text or "").strip():
        raise ExtractionError("no article text found")

    title = " ".join((ld.get("headline") or tree.xpath("string(//article//h1)")
                      or (meta.get("og:title") or [""])[0] or doc.title or "").split())
    published, p_src = _first(_norm_date(ld.get("datePublished")),
                              _norm_date((meta.get("article:published_time") or [""])[0]),
                              _norm_date(article_time), _norm_date(doc.date))
    modified, m_src = _first(_norm_date(ld.get("dateModified")),
                             _norm_date((meta.get("article:modified_time") or [""])[0]))
    sources = ["json-ld", "meta", "time", "trafilatura"]
    authors = (_names(ld.get("author"))
               or _split_names(a for a in meta.get("article:author", []) if "://" not in a)
               or _split_names(meta.get("author", []))
               or _split_names([doc.author or ""]))
    tags = (_split_list(ld.get("keywords")) or meta.get("article:tag", [])
            or list(dict.fromkeys(t for t in own_tags if t)) or list(doc.tags or []))
    section = ld.get("articleSection") or meta.get("article:section") or doc.categories or []
    text = _clean_text(doc.text, title)
    if len(text.split()) < MIN_WORDS:
        raise ExtractionError(f"only {len(text.split())} words of text: not an article")
    return Extracted(
        url=url,
        canonical_url=canonical or (meta.get("og:url") or [""])[0] or "",
        title=title,
        authors=list(dict.fromkeys(authors)),
        date_published=published,
        date_published_source=sources[p_src] if p_src >= 0 else "",
        date_modified=modified,
        date_modified_source=sources[m_src] if m_src >= 0 else "",
        site_name=(meta.get("og:site_name") or [""])[0] or doc.sitename or "",
        description=(ld.get("description") or (meta.get("og:description") or [""])[0]
                     or doc.description or ""),
        categories=_split_list(section),
        tags=tags,
        language=(ld.get("inLanguage") or lang or doc.language or "").split("-")[0].lower(),
        image=(meta.get("og:image") or [""])[0] or doc.image or "",
        text=text,
        word_count=len(text.split()),
    )


def try_extract(html: bytes, url: str) -> tuple[dict[str, Any] | None, str]:
    """(fields, "") for an article, or (None, reason): the same reasons live and in reindex."""
    try:
        return extract_article(html, url).to_dict(), ""
    except ExtractionError as exc:
        return None, f"no article: {exc}"
    except Exception as exc:  # a parser bug must not stop a crawl or a rebuild
        return None, f"extraction error: {exc!r}"[:500]


def extraction_pool(workers: int) -> ProcessPoolExecutor:
    """Worker processes for `try_extract` (crawl and reindex alike).

    forkserver: never fork a process holding a reactor, threads or open
    databases; workers import trafilatura once and are reused.
    """
    return ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("forkserver"))
