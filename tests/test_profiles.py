"""Site profiles: the built-in belarusdigest profile, and a user's own profile file."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from archiver.profiles import ProfileError, builtin_profiles, load_profile, profile_for_target
from tests.conftest import FAST, run_archiver


def test_belarusdigest_profile() -> None:
    assert "belarusdigest" in builtin_profiles()
    site = load_profile("belarusdigest")
    assert site.home == ("https://belarusdigest.com/",)
    assert site.feeds == ("https://belarusdigest.com/feed/",)
    assert site.sitemaps and site.hosts == ("belarusdigest.com",)
    assert site.is_article_url("https://belarusdigest.com/story/belarus-engages-with-the-us/")
    assert site.is_article_url("https://belarusdigest.com/?p=22013")
    assert not site.is_article_url("https://belarusdigest.com/category/politics/")
    assert site.is_listing_url("https://belarusdigest.com/category/politics/page/3/")
    assert site.is_listing_url("https://belarusdigest.com/tag/lithuania/")
    assert not site.is_listing_url("https://belarusdigest.com/story/x/")


def test_home_url_target_gets_the_default_patterns() -> None:
    site = profile_for_target("http://127.0.0.1:8080/")
    assert site.hosts == ("127.0.0.1",) and site.discover
    assert site.is_article_url("http://127.0.0.1:8080/2015/04/02/a-post/")
    with pytest.raises(ProfileError, match="unknown profile"):
        profile_for_target("nosuchprofile")


def test_crawl_with_a_profile_file(tmp_path: Path, demo_site) -> None:
    """A user's profile: only the feed, only /story/ pages of one category's listing."""
    profile = tmp_path / "mysite.toml"
    profile.write_text(
        'name = "mysite"\n'
        f'home = ["{demo_site.url}category/economy/"]\n'
        "discover = true\n"
        "article_patterns = ['^/story/[^/]+/$']\n"
        "listing_patterns = ['^/category/economy/(page/\\\\d+/)?$']\n")
    archive = tmp_path / "archive"
    run_archiver("crawl", "--profile", str(profile), "--archive", str(archive), *FAST,
                 check=True)
    db = sqlite3.connect(archive / "index.db")
    sites = {s for (s,) in db.execute("select distinct site from articles")}
    count = db.execute("select count(*) from articles").fetchone()[0]
    db.close()
    assert sites == {"mysite"}
    # the economy listing's articles, plus the articles their pages link to
    assert 6 <= count <= 32
