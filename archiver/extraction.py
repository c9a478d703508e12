"""Article extraction (pure, CPU-bound): HTML bytes + URL in, an `Extracted` out.

The only module that imports trafilatura. trafilatura finds the main text;
structured metadata is read first from what the page declares (JSON-LD, then
OpenGraph/`article:*` meta tags, then `<time>` and `rel="tag"` inside the
`<article>`), falling back to trafilatura's own heuristics, and each date
records where it came from. Inline "... Read more" teasers and "N reads"
counters that trafilatura keeps are removed from the text.

The bytes are decoded here, not by lxml: a byte-order mark wins, then the
HTTP header's charset and the page's `<meta>` declaration when the bytes agree
with them, else charset-normalizer's guess; the decision is recorded
(`encoding_*` fields). Pages that are not articles raise `ExtractionError` with
the reason: empty, not HTML (PDF, image, feed, sitemap), a block or captcha
page, a soft 404, too short.
"""

from __future__ import annotations

import gc
import json
import multiprocessing
import os
import re
import threading
import time
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from lxml import etree
from lxml import html as lxml_html
from trafilatura import bare_extraction
from trafilatura.settings import set_date_params

from archiver.encoding import decode_html
from archiver.workpool import WorkerPool

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
# Not HTML at all, by its first bytes: (prefix, what it is).
MAGIC = ((b"%PDF-", "a PDF document"), (b"\x89PNG", "a PNG image"), (b"GIF8", "a GIF image"),
         (b"\xff\xd8\xff", "a JPEG image"), (b"RIFF", "a RIFF (WebP/AVI) file"),
         (b"PK\x03\x04", "a ZIP file"), (b"\x1f\x8b", "gzip data"))
XML_ROOTS = {"rss": "an RSS feed", "feed": "an Atom feed", "rdf": "an RSS 1.0 feed",
             "urlset": "a sitemap", "sitemapindex": "a sitemap index"}
# Block, challenge and error pages, recognised by their title or first heading when the
# page has little text; and captcha widgets on a short page.
BLOCKED = re.compile(
    r"^\W*(access denied|access to this page has been denied|403\b|forbidden|"
    r"attention required|just a moment|are you a (robot|human)|verify(ing)? (that )?you are "
    r"(a )?human|captcha|security check|checking your browser|request (unsuccessful|blocked)|"
    r"pardon our interruption|you have been blocked|too many requests|429\b|"
    r"ddos protection|bot (check|protection|detection))", re.IGNORECASE)
SOFT_404 = re.compile(
    r"^\W*((error )?404\b|(page|post|article)s? (was )?not found|not found\b|nothing (was )?found|"
    r"page (does not|doesn't) exist|this page (is )?(no longer available|doesn't exist)|"
    r"oops\b|sorry,? (the|this) page|page unavailable|(50[0-4]|internal server) error)",
    re.IGNORECASE)
CAPTCHA_XPATH = ("//*[contains(@class, 'g-recaptcha') or contains(@class, 'h-captcha') or "
                 "contains(@class, 'cf-turnstile') or contains(@id, 'challenge-form') or "
                 "contains(@id, 'cf-challenge') or contains(@class, 'captcha')]")
# A page whose title says "blocked" or "not found" is one unless it has this many words.
ERROR_PAGE_MAX_WORDS = 150


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
    encoding: str = ""  # the codec the text was decoded with
    encoding_source: str = ""  # bom, header, meta, detected or default
    encoding_header: str = ""  # charset of the HTTP Content-Type, when given
    encoding_meta: str = ""  # charset the page declares (<meta charset>, http-equiv)
    encoding_detected: str = ""  # charset-normalizer's guess, when it was asked

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class ExtractionError(ValueError):
    """The page has no extractable article text."""


def not_html(body: bytes) -> str:
    """What a body is when it is plainly not an HTML page ("" when it may be HTML)."""
    head = body[:1024].lstrip()
    for magic, what in MAGIC:
        if head.startswith(magic):
            return what
    if head.startswith(b"<?xml") or head[:1] == b"<":
        match = re.search(rb"<(?![?!])(?:[\w.-]+:)?([\w.-]+)", head)
        if match and match.group(1).decode("ascii", "replace").lower() in XML_ROOTS:
            return XML_ROOTS[match.group(1).decode("ascii").lower()]
    return ""


def _error_page(tree, text_words: int) -> str:
    """The reason a page is a block, captcha or error page; "" when it is none of them."""
    if text_words >= ERROR_PAGE_MAX_WORDS:
        return ""
    for heading in (tree.xpath("string(//title)"), tree.xpath("string((//h1)[1])")):
        heading = " ".join(heading.split())
        if BLOCKED.search(heading):
            return f"blocked page ({heading[:80]!r})"
        if SOFT_404.search(heading):
            return f"error page served with status 200 ({heading[:80]!r})"
    if tree.xpath(CAPTCHA_XPATH):
        return "blocked page (a captcha challenge)"
    return ""


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


def _parse(text: str):
    """An lxml tree of decoded HTML (fed as UTF-8, so no declaration in it can mislead)."""
    parser = lxml_html.HTMLParser(encoding="utf-8", remove_comments=True)
    try:
        tree = lxml_html.fromstring(text.encode("utf-8", "surrogatepass"), parser=parser)
    except (ValueError, etree.ParserError, etree.XMLSyntaxError) as exc:
        raise ExtractionError(f"unparseable HTML: {exc}") from None
    if tree is None or not isinstance(tree.tag, str):
        raise ExtractionError("unparseable HTML: no element")
    return tree


def extract_article(html: bytes, url: str, content_type: str | None = None) -> Extracted:
    """Extract an article's text and metadata from a page's HTML bytes.

    `content_type` is the response's Content-Type header, when known: its
    charset is one input of the encoding decision (recorded in the result).
    Raises `ExtractionError`, with the reason, for anything that is not an
    article; nothing else.
    """
    if not html or not html.strip():
        raise ExtractionError("empty page")
    if what := not_html(html):
        raise ExtractionError(f"not HTML: {what}")
    decoded = decode_html(html, content_type)
    if not decoded.text.strip():
        raise ExtractionError("empty page")
    tree = _parse(decoded.text)
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
    declared = (_norm_date(ld.get("datePublished")),
                _norm_date((meta.get("article:published_time") or [""])[0]),
                _norm_date(article_time))

    try:
        doc = bare_extraction(
            tree, url=url, with_metadata=True, include_comments=False, include_tables=True,
            favor_precision=True, deduplicate=False, prune_xpath=PRUNE_XPATH,
            # trafilatura's date is only the last resort: when the page declares its date,
            # htmldate's slow search of the text (and dateparser's 2 s set-up) is skipped.
            date_extraction_params=set_date_params(extensive=not any(declared)),
        )
    except (ValueError, TypeError, AttributeError, IndexError, etree.LxmlError) as exc:
        # trafilatura on a pathological tree: not an article we can read, say why
        raise ExtractionError(f"no article text found ({type(exc).__name__} in "
                              f"trafilatura: {str(exc)[:200]})") from None
    if doc is None or not (doc.text or "").strip():
        raise ExtractionError(_error_page(tree, 0) or "no article text found")

    title = " ".join((ld.get("headline") or tree.xpath("string(//article//h1)")
                      or (meta.get("og:title") or [""])[0] or doc.title or "").split())
    published, p_src = _first(*declared, _norm_date(doc.date))
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
    if reason := _error_page(tree, len(text.split())):
        raise ExtractionError(reason)
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
        encoding=decoded.encoding,
        encoding_source=decoded.source,
        encoding_header=decoded.header,
        encoding_meta=decoded.meta,
        encoding_detected=decoded.detected,
    )


HTML_TYPES = ("text/html", "application/xhtml+xml")


def is_html(content_type: str | None) -> bool:
    """Is this Content-Type an HTML page (an article candidate)? Missing: assume so."""
    mime = (content_type or "").split(";")[0].strip().lower()
    return not mime or mime in HTML_TYPES


def try_extract(html: bytes, url: str,
                content_type: str | None = None) -> tuple[dict[str, Any] | None, str]:
    """(fields, "") for an article, or (None, reason): the same reasons live and in reindex."""
    try:
        return extract_article(html, url, content_type).to_dict(), ""
    except ExtractionError as exc:
        return None, f"no article: {exc}"
    except Exception as exc:  # a parser bug must not stop a crawl or a rebuild
        return None, f"extraction error: {exc!r}"[:500]


def extraction_pool(workers: int) -> ProcessPoolExecutor:
    """Worker processes for `try_extract` in reindex (the crawl uses `crawl_pool`).

    forkserver: never fork a process holding a reactor, threads or open
    databases; workers import trafilatura once and are reused. Each worker
    watches the process that made the pool and exits when it is gone, so a
    crawl killed with SIGKILL (or by the OOM killer) leaves no idle workers.
    """
    context = multiprocessing.get_context("forkserver")
    # the fork server imports trafilatura once; every worker starts with it loaded. (Also
    # warming up dateparser there, 2 s of CPU that a worker pays when a page first needs
    # it, stalled every small crawl by those 2 s: left lazy.)
    context.set_forkserver_preload([__name__])
    return ProcessPoolExecutor(workers, mp_context=context,
                               initializer=_worker_init, initargs=(os.getpid(),))


def _worker_init(parent: int) -> None:
    """ProcessPoolExecutor initializer: cheap garbage collection, and exit with the parent."""
    worker_gc()
    _exit_with(parent)


def worker_gc() -> None:
    """Cheap garbage collection for an extraction worker.

    Extraction makes many short-lived objects; with the default thresholds the
    collector ran a full pass every few pages over every module object, about
    5 % of a worker's time. Frozen imports are skipped; collections are rarer.
    """
    gc.freeze()
    gc.set_threshold(10_000, 50, 100)


def crawl_pool(workers: int) -> WorkerPool:
    """Worker processes for `try_extract` in the crawl, fed by the event loop itself.

    The fork server imports this module (and trafilatura) once; every worker starts
    with it loaded. (Also warming up dateparser there, 2 s of CPU that a worker pays
    when a page first needs it, stalled every small crawl by those 2 s: left lazy.)
    """
    return WorkerPool(workers, initializer=worker_gc, preload=[__name__])


def _exit_with(pid: int, interval: float = 1.0) -> None:
    """A daemon thread that ends this worker when `pid` has died."""
    def watch() -> None:
        while True:
            time.sleep(interval)
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                os._exit(0)
            except PermissionError:  # alive, someone else's now (pid reuse): keep going
                pass

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()
