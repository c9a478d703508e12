"""extract_article over the demo site's pages (pure: no HTTP, no Scrapy)."""

from __future__ import annotations

import pytest

from archiver.demosite import render
from archiver.extraction import ExtractionError, extract_article
from tests.conftest import SEED_TITLE, norm

BASE = "http://127.0.0.1:8080"



@pytest.fixture(scope="module")
def seed(demo_truth):
    article = next(a for a in demo_truth.articles if a.title == SEED_TITLE)
    html = render.article_page(demo_truth, article, BASE).encode("utf-8")
    return article, html, extract_article(html, BASE + article.path)


def test_seed_metadata(seed) -> None:
    article, _, ex = seed
    assert ex.title == SEED_TITLE
    assert ex.authors == ["Igar Gubarevich"]
    assert ex.date_published.startswith("2015-04-02")
    assert ex.canonical_url == BASE + article.path
    assert ex.language == "en"
    assert ex.site_name == "Belarus Digest"


def test_seed_text_has_every_paragraph_and_no_boilerplate(seed) -> None:
    article, html, ex = seed
    text = norm(ex.text)
    for paragraph in article.paragraphs:
        assert norm(paragraph) in text
    for heading in article.headings:
        assert norm(heading) in text
    page = html.decode()
    for junk in ["Loading...", "Why Support Belarus Digest?", "Read more", "549 reads",
                 "senior analyst of the Ostrogorski Centre", "Most read", "Leave a comment",
                 "Post Comment", "We use cookies", "All rights reserved"]:
        assert junk in page or junk.lower() in page.lower(), f"fixture lost {junk!r}"
        assert junk not in ex.text, f"boilerplate {junk!r} leaked into the text"
    for comment in article.comments:
        assert norm(comment["text"]) not in text
    # the inline teasers ("<title> Read more") are gone, not only the words "Read more"
    assert "Lukashenka: No stability is possible without the Americans" not in ex.text


def test_seed_tags_are_its_own(seed, demo_truth) -> None:
    article, _, ex = seed
    assert ex.tags == article.tags
    site_wide = {"Belarusian language", "Belarusian military", "travel to Belarus"}
    assert not site_wide & set(ex.tags)


def test_every_demo_article_extracts_its_metadata(demo_truth) -> None:
    for article in demo_truth.articles:
        html = render.article_page(demo_truth, article, BASE).encode("utf-8")
        ex = extract_article(html, BASE + article.path)
        where = f"{article.slug} ({article.metadata_style})"
        assert ex.title == article.title, where
        assert ex.authors == article.authors, where
        assert ex.date_published[:10] == article.published.date().isoformat(), where
        assert sorted(ex.tags) == sorted(article.tags), where
        assert article.category_name in ex.categories, where
        for paragraph in article.paragraphs:
            assert norm(paragraph) in norm(ex.text), where


@pytest.mark.parametrize("html", [b"", b"   ", b"<html><body></body></html>",
                                  b"<html><body><nav>Home</nav></body></html>"])
def test_empty_pages_raise(html: bytes) -> None:
    with pytest.raises(ExtractionError):
        extract_article(html, "http://127.0.0.1/x")


def _page(head: str, byline: str) -> bytes:
    words = " ".join(f"word{i}" for i in range(120))
    return (f"<html><head><title>Minsk</title>{head}</head><body><article><h1>Minsk</h1>"
            f"<p>{byline}</p><p>{words}.</p><p>{words}.</p></article>"
            "</body></html>").encode()


def test_a_page_without_a_declared_date_gets_the_date_written_in_its_text() -> None:
    """htmldate's thorough search (with dateparser) still runs when nothing is declared."""
    ex = extract_article(_page("", "Posted on 02 August 2016 in Minsk"), BASE + "/story/a/")
    assert (ex.date_published, ex.date_published_source) == ("2016-08-02", "trafilatura")
    declared = _page('<meta property="article:published_time" content="2019-05-01T10:00:00+03:00">',
                     "By Ryhor Astapenia 02 August 2016")
    ex = extract_article(declared, BASE + "/story/b/")
    assert (ex.date_published, ex.date_published_source) == ("2019-05-01T10:00:00+03:00", "meta")
