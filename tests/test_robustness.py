"""Issue 6, the pure parts: encodings, block pages, URL canonicalisation, trap rules,
Retry-After, Crawl-delay, and property-based tests (hypothesis) that feed random and
mutated HTML, feeds and sitemaps to the extraction and parsing code."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import protego
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from archiver import settings as project
from archiver.encoding import decode_html
from archiver.extraction import Extracted, ExtractionError, extract_article
from archiver.feeds import FeedItem, parse_feed
from archiver.politeness import robots_delay
from archiver.retry import retry_after_seconds
from archiver.sitemaps import parse_sitemap
from archiver.traps import TrapLimits, TrapState, allowed_host
from archiver.urls import clean_url
from tests.faultsite import BROKEN_FEED, BROKEN_SITEMAP, CYR, WORDS, article

ARTICLE = article("A proper article", WORDS * 6).encode()
CYR_PAGE = article("Мінск", CYR * 6, charset="")
FEED = (b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>'
        b"<item><title>One</title><link>http://x.org/story/one/</link>"
        b"<pubDate>Tue, 10 Jun 2025 04:00:00 GMT</pubDate><category>News</category></item>"
        b'</channel></rss>')
ATOM = (b'<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><entry><title>A</title>'
        b'<link href="/story/a/"/><id>urn:a</id><updated>2025-06-10T04:00:00Z</updated></entry>'
        b"</feed>")
SITEMAP = (b'<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
           b"<url><loc>http://x.org/story/a/</loc><lastmod>2025-06-10</lastmod></url></urlset>")


# -- encodings -------------------------------------------------------------------------------

@pytest.mark.parametrize("body, content_type, used, source", [
    (CYR_PAGE.replace("<head>", '<head><meta http-equiv="Content-Type" content="text/html; '
                      'charset=windows-1251">').encode("cp1251"), None, "cp1251", "meta"),
    (CYR_PAGE.replace("<head>", '<head><meta charset="iso-8859-1">').encode("cp1251"), None,
     "cp1251", "detected"),
    (CYR_PAGE.encode("cp1251"), "text/html; charset=utf-8", "cp1251", "detected"),
    (b"\xef\xbb\xbf" + CYR_PAGE.encode(), "text/html; charset=windows-1252", "utf-8", "bom"),
    (CYR_PAGE.encode("koi8-r", "replace"), "text/html; charset=koi8-r", "koi8-r", "header"),
    (ARTICLE, None, "utf-8", "meta"),
])
def test_encoding_decision(body: bytes, content_type: str | None, used: str,
                           source: str) -> None:
    decoded = decode_html(body, content_type)
    assert (decoded.encoding, decoded.source) == (used, source)
    extracted = extract_article(body, "http://x.org/story/a/", content_type)
    assert (extracted.encoding, extracted.encoding_source) == (used, source)
    if content_type:
        assert extracted.encoding_header
    if used == "cp1251":
        assert "Савет сабраўся" in extracted.text and extracted.title == "Мінск"


def test_the_header_is_recorded_beside_what_was_used() -> None:
    body = CYR_PAGE.encode("cp1251")
    got = extract_article(body, "http://x.org/story/a/", "text/html; charset=UTF-8")
    assert (got.encoding_header, got.encoding_meta, got.encoding_detected, got.encoding) == (
        "utf-8", "", "cp1251", "cp1251")


# -- pages that are not articles ---------------------------------------------------------------

@pytest.mark.parametrize("body, reason", [
    (b"", "empty page"),
    (b"   \n", "empty page"),
    (b"%PDF-1.7\n%\xe2\xe3\n1 0 obj", "not HTML: a PDF document"),
    (b"\x89PNG\r\n\x1a\n\0\0", "not HTML: a PNG image"),
    (FEED, "not HTML: an RSS feed"),
    (ATOM, "not HTML: an Atom feed"),
    (SITEMAP, "not HTML: a sitemap"),
    (b"<html><head><title>Access Denied</title></head><body><h1>Access Denied</h1>"
     b"<p>You don't have permission to access this page.</p></body></html>", "blocked page"),
    (b"<html><head><title>Attention Required! | Cloudflare</title></head><body><p>"
     + WORDS.encode() * 3 + b"</p></body></html>", "blocked page"),
    (b"<html><head><title>Welcome</title></head><body><div class='h-captcha'></div>"
     b"<p>" + WORDS.encode() * 2 + b"</p></body></html>", "blocked page (a captcha"),
    (b"<html><head><title>Page not found | Site</title></head><body><article><p>"
     + WORDS.encode() * 4 + b"</p></article></body></html>", "error page served with status 200"),
    (b"<html><body><article><h1>404</h1><p>" + WORDS.encode() * 3 + b"</p></article></body>"
     b"</html>", "error page served with status 200"),
])
def test_pages_that_are_not_articles_say_why(body: bytes, reason: str) -> None:
    with pytest.raises(ExtractionError) as err:
        extract_article(body, "http://x.org/story/a/")
    assert str(err.value).startswith(reason)


def test_a_long_article_about_access_being_denied_is_an_article() -> None:
    body = article("Access denied: journalists kept out of the trial", WORDS * 20).encode()
    assert extract_article(body, "http://x.org/story/a/").word_count > 150


# -- URLs and traps --------------------------------------------------------------------------

@pytest.mark.parametrize("url, clean", [
    ("http://x.org/story/a/?utm_source=t&utm_medium=e&fbclid=1&gclid=2#top",
     "http://x.org/story/a/"),
    ("http://X.org/story/a/;jsessionid=AB12?PHPSESSID=9&b=2&a=1", "http://x.org/story/a/?a=1&b=2"),
    ("http://x.org/?p=42&sid=abc&mc_cid=1", "http://x.org/?p=42"),
    ("http://x.org/story/a/?_ga=1&igshid=2&ref=home", "http://x.org/story/a/?ref=home"),
])
def test_clean_url(url: str, clean: str) -> None:
    assert clean_url(url) == clean


TRACKING = ["utm_source", "utm_campaign", "fbclid", "gclid", "msclkid", "PHPSESSID", "jsessionid",
            "sid", "_hsenc", "mc_eid"]
names = st.one_of(st.sampled_from(TRACKING), st.from_regex(r"[a-z]{1,6}", fullmatch=True))
values = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=8)


@given(path=st.lists(st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")),
                             min_size=1, max_size=6), max_size=4),
       query=st.lists(st.tuples(names, values), max_size=5),
       fragment=st.text(max_size=5))
@settings(max_examples=150, deadline=None)
def test_clean_url_is_idempotent_and_drops_tracking(path, query, fragment) -> None:
    from urllib.parse import parse_qsl, quote, urlencode, urlsplit

    url = ("http://example.org/" + "/".join(quote(p, safe="") for p in path) + "?"
           + urlencode(query) + "#" + fragment)
    once = clean_url(url)
    assert clean_url(once) == once
    parts = urlsplit(once)
    assert not parts.fragment
    left = {k.lower() for k, _ in parse_qsl(parts.query, keep_blank_values=True)}
    assert not left & {t.lower() for t in TRACKING}


def test_hosts_are_matched_exactly() -> None:
    allowed = ["127.0.0.1", "example.org"]
    assert allowed_host("http://127.0.0.1:8080/a", allowed)
    assert allowed_host("https://EXAMPLE.org/", allowed)
    assert not allowed_host("http://localhost:8080/a", allowed)
    assert not allowed_host("http://www.example.org/", allowed)  # Scrapy's would allow it
    assert not allowed_host("http://example.org.evil.net/", allowed)


def test_trap_rules() -> None:
    state = TrapState(TrapLimits(max_path_segments=4, max_segment_repeats=2,
                                 max_query_variants=3, max_shape_urls=3))
    assert state.check("http://x/a/b/c/d/e/") == "path_depth"
    assert state.check("http://x/a/b/a/b/") == ""
    assert state.check("http://x/a/a/a/") == "repeated_segments"
    facets = [state.check(f"http://x/shop/?colour={c}") for c in ("red", "blue", "green", "grey")]
    assert facets == ["", "", "", "query_variants"]
    assert state.check("http://x/shop/?colour=red") == ""  # seen before: not a new variant
    pages = [state.check(f"http://x/?p={n}") for n in range(1, 6)]  # numbers: one variant
    assert pages == ["", "", "", "shape_urls", "shape_urls"]
    months = [state.check(f"http://x/events/2024/{m:02d}/") for m in range(1, 6)]
    assert months == ["", "", "", "shape_urls", "shape_urls"]
    # what the site lists itself (feeds, sitemaps) is not held to the link-following limits
    assert state.check("http://x/events/2025/01/", listed=True) == ""


# -- Retry-After and Crawl-delay ---------------------------------------------------------------

def test_retry_after_values() -> None:
    now = datetime(2025, 6, 10, 4, 0, 0, tzinfo=UTC)
    assert retry_after_seconds(b"120") == 120
    assert retry_after_seconds("Tue, 10 Jun 2025 04:00:30 GMT", now) == 30
    assert retry_after_seconds("Tue, 10 Jun 2025 03:00:00 GMT", now) == 0  # in the past
    for bad in (None, b"", b"soon", b"-5", b"Tue, 99 Jun 2025"):
        assert retry_after_seconds(bad, now) is None


def test_backoff_doubles_up_to_the_cap() -> None:
    from scrapy.settings import Settings

    from archiver.retry import BackoffRetryMiddleware

    mw = BackoffRetryMiddleware(Settings({"RETRY_ENABLED": True}), backoff=0.5, backoff_max=3)
    assert [mw.backoff_for(n) for n in (1, 2, 3, 4, 5)] == [0.5, 1.0, 2.0, 3, 3]


class _Parser:
    def __init__(self, text: str) -> None:
        self.rp = protego.Protego.parse(text)


def test_robots_delay() -> None:
    ua = project.USER_AGENT
    assert robots_delay(_Parser("User-agent: *\nCrawl-delay: 2.5\n"), ua) == 2.5
    assert robots_delay(_Parser("User-agent: *\nRequest-rate: 1/10\n"), ua) == 10
    assert robots_delay(_Parser("User-agent: digest-archiver\nCrawl-delay: 4\n\n"
                                "User-agent: *\nCrawl-delay: 1\n"), ua) == 4
    assert robots_delay(_Parser("User-agent: *\nDisallow: /x\n"), ua) is None
    assert robots_delay(object(), ua) is None


def test_politeness_defaults() -> None:
    assert project.ROBOTSTXT_OBEY is True
    assert project.ARCHIVER_OBEY_CRAWL_DELAY is True
    assert project.AUTOTHROTTLE_ENABLED is True
    assert 1 <= project.CONCURRENT_REQUESTS_PER_DOMAIN <= 4
    assert project.DOWNLOAD_DELAY > 0
    assert "+https://" in project.USER_AGENT
    assert project.DOWNLOADER_MIDDLEWARES["archiver.retry.BackoffRetryMiddleware"]
    assert project.DOWNLOADER_MIDDLEWARES["scrapy.downloadermiddlewares.retry.RetryMiddleware"] \
        is None
    assert project.SPIDER_MIDDLEWARES["archiver.traps.TrapGuard"]


# -- property-based: no crash on anything ------------------------------------------------------

def mutate(seed: bytes):
    """Random edits of a real document: cut, splice random bytes in, drop or repeat a slice."""
    n = len(seed)
    return st.one_of(
        st.integers(0, n).map(lambda i: seed[:i]),
        st.tuples(st.integers(0, n), st.binary(max_size=40)).map(
            lambda t: seed[:t[0]] + t[1] + seed[t[0]:]),
        st.tuples(st.integers(0, n), st.integers(0, 200)).map(
            lambda t: seed[:t[0]] + seed[t[0] + t[1]:]),
        st.tuples(st.integers(0, n), st.integers(0, 200)).map(
            lambda t: seed[:t[0]] + seed[t[0]:t[0] + t[1]] * 3 + seed[t[0]:]),
        st.sampled_from(["utf-8", "cp1251", "latin-1", "utf-16"]).map(
            lambda enc: seed.decode("utf-8", "replace").encode(enc, "replace")),
    )


HTML_SEEDS = [ARTICLE, CYR_PAGE.encode("cp1251"), b"<html><head><meta charset='x-bogus'>"
              b"<title>t</title></head><body><article><p>" + WORDS.encode() * 3 + b"</p>"]
XML_SEEDS = [FEED, ATOM, BROKEN_FEED, SITEMAP, BROKEN_SITEMAP]
anything = st.one_of(
    st.binary(max_size=2000),
    st.text(max_size=500).map(lambda t: t.encode("utf-8", "surrogatepass")),
    *[mutate(s) for s in HTML_SEEDS + XML_SEEDS],
)
QUICK = settings(max_examples=120, deadline=None,
                 suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@given(body=anything, content_type=st.one_of(
    st.none(), st.sampled_from(["text/html", "text/html; charset=utf-8", "text/html; charset=",
                                "text/html; charset=koi8-r", "text/html; charset=nonsense",
                                "application/xhtml+xml; charset=UTF-16"])))
@QUICK
def test_extraction_never_crashes(body: bytes, content_type: str | None) -> None:
    try:
        result = extract_article(body, "http://x.org/story/a/", content_type)
    except ExtractionError as exc:
        assert str(exc)
        return
    assert isinstance(result, Extracted) and result.word_count >= 20 and result.encoding


@given(body=anything)
@QUICK
def test_feed_parsing_never_crashes(body: bytes) -> None:
    items = parse_feed(body, "http://x.org/feed/")
    for item in items:
        assert isinstance(item, FeedItem) and item.link.startswith("http")
        assert item.published == "" or item.published.endswith("Z")


@given(body=anything)
@QUICK
def test_sitemap_parsing_never_crashes(body: bytes) -> None:
    kind, entries = parse_sitemap(body)  # archiver.sitemaps, as the spider and reindex use it
    assert kind in ("", "urlset", "sitemapindex")
    assert all(isinstance(loc, str) and loc and isinstance(lastmod, str)
               for loc, lastmod in entries)
    assert not entries or kind


def test_recovered_items_of_broken_documents() -> None:
    assert [i.link for i in parse_feed(BROKEN_FEED, "http://x.org/feed/")] == [
        "http://x.org/story/feed-item-1/", "http://x.org/story/feed-item-2/"]
    assert [i.published for i in parse_feed(BROKEN_FEED, "http://x.org/feed/")] == ["", ""]
    kind, entries = parse_sitemap(BROKEN_SITEMAP)
    assert kind == "urlset"
    assert [loc for loc, _ in entries] == ["/story/sitemap-only/", "/story/sitemap-two/"]


@given(text=st.text(st.sampled_from("aZ9_ -.łŁøßæıðé\u0301\n")))
@settings(max_examples=300, deadline=None)
def test_fold_terms_finds_the_words_the_plain_pattern_finds(text: str) -> None:
    from archiver.rows import FOLD, fold_terms  # noqa: PLC0415

    plain = re.findall(r"\w*[łŁđĐøØßæÆœŒıħþð]\w*", text)
    assert fold_terms(text) == " ".join(sorted({w.translate(FOLD) for w in plain}))
    # ó, ę, ź decompose: FTS5 folds those itself
    assert fold_terms("Wałęsa and Ørsted, Łódź") == "Lódź Orsted Walęsa"


def test_links_on_other_hosts_are_left_out_before_canonicalisation() -> None:
    from scrapy.http import HtmlResponse  # noqa: PLC0415

    from archiver.urls import host_of  # noqa: PLC0415
    from spiders.digest import page_links  # noqa: PLC0415

    body = """<a href="/story/a/">a</a> <a href='https://Example.org/story/b/?utm_source=x'>b</a>
      <a href="https://www.facebook.com/sharer/sharer.php?u=https://example.org/story/a/">f</a>
      <a href="http://xn--e1afmkfd.xn--p1ai/story/c/">idn</a> <a href=//example.org/story/d/>d</a>
      <a href="https://пример.рф/story/e/">idn</a> <a href="story/f/">f</a>
      <a class=x href="mailto:a@example.org">m</a> <a href="#top">t</a>""".encode()
    response = HtmlResponse("https://example.org/story/z/", body=body, encoding="utf-8")
    hosts = {"example.org", "xn--e1afmkfd.xn--p1ai"}
    every = page_links(response)
    assert "https://example.org/story/b/" in every and len(every) == 7
    assert page_links(response, hosts) == [u for u in every if host_of(u) in hosts]
    assert len(page_links(response, hosts)) == 6
