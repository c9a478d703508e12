"""Site profiles: data files saying where a site's feeds, sitemaps and articles are.

A profile is a TOML file (built-in ones live beside this module; users pass
their own with `--profile FILE`). A plain home URL gets the `default` profile
with that URL as its home page.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from urllib.parse import urlsplit

from archiver.urls import clean_url, host_of


class ProfileError(ValueError):
    """A profile name, file or target URL the archiver cannot use."""


@dataclass(frozen=True)
class SiteProfile:
    name: str
    description: str = ""
    home: tuple[str, ...] = ()
    feeds: tuple[str, ...] = ()
    sitemaps: tuple[str, ...] = ()
    discover: bool = True
    article_patterns: tuple[re.Pattern[str], ...] = ()
    listing_patterns: tuple[re.Pattern[str], ...] = ()
    extra_hosts: tuple[str, ...] = field(default=())

    @property
    def hosts(self) -> tuple[str, ...]:
        found = {host_of(u) for u in (*self.home, *self.feeds, *self.sitemaps)}
        return tuple(sorted(h for h in found | set(self.extra_hosts) if h))

    def _path(self, url: str) -> str:
        parts = urlsplit(url)
        return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")

    def is_article_url(self, url: str) -> bool:
        path = self._path(url)
        return any(p.search(path) for p in self.article_patterns)

    def is_listing_url(self, url: str) -> bool:
        path = self._path(url)
        return any(p.search(path) for p in self.listing_patterns)


def builtin_profiles() -> list[str]:
    folder = resources.files(__package__)
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".toml"))


def _from_toml(text: str, origin: str) -> SiteProfile:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(f"profile {origin} is not valid TOML: {exc}") from None
    unknown = set(data) - {"name", "description", "home", "feeds", "sitemaps", "discover",
                           "article_patterns", "listing_patterns", "hosts"}
    if unknown:
        raise ProfileError(f"profile {origin} has unknown keys: {', '.join(sorted(unknown))}")
    try:
        return SiteProfile(
            name=str(data.get("name") or Path(origin).stem),
            description=str(data.get("description", "")),
            home=tuple(check_url(u) for u in data.get("home", [])),
            feeds=tuple(check_url(u) for u in data.get("feeds", [])),
            sitemaps=tuple(check_url(u) for u in data.get("sitemaps", [])),
            discover=bool(data.get("discover", True)),
            article_patterns=tuple(re.compile(p) for p in data.get("article_patterns", [])),
            listing_patterns=tuple(re.compile(p) for p in data.get("listing_patterns", [])),
            extra_hosts=tuple(str(h).lower() for h in data.get("hosts", [])),
        )
    except re.error as exc:
        raise ProfileError(f"profile {origin} has a bad pattern: {exc}") from None


def load_profile(name_or_path: str) -> SiteProfile:
    """A built-in profile by name, or a TOML file by path."""
    path = Path(name_or_path)
    if path.suffix == ".toml" or path.exists():
        try:
            return _from_toml(path.read_text(encoding="utf-8"), str(path))
        except OSError as exc:
            raise ProfileError(f"cannot read profile {path}: {exc.strerror}") from None
    if name_or_path not in builtin_profiles():
        raise ProfileError(
            f"unknown profile {name_or_path!r} (built-in: {', '.join(builtin_profiles())})")
    text = resources.files(__package__).joinpath(f"{name_or_path}.toml").read_text("utf-8")
    return _from_toml(text, name_or_path)


def check_url(url: str) -> str:
    parts = urlsplit(str(url).strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ProfileError(f"not an http(s) URL: {url!r}")
    try:
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError:
        raise ProfileError(f"malformed port in URL: {url!r}") from None
    return clean_url(str(url))


def profile_for_target(target: str) -> SiteProfile:
    """A profile name or file, or a site's home URL (with the default profile)."""
    if "://" in target:
        home = check_url(target)
        base = load_profile("default")
        return replace(base, name=host_of(home), home=(home,))
    return load_profile(target)


def profile_for_urls(feeds: list[str], sitemaps: list[str]) -> SiteProfile:
    """A profile for `--feed`/`--sitemap` URLs: no home page, no discovery."""
    base = load_profile("default")
    urls = [check_url(u) for u in (*feeds, *sitemaps)]
    return replace(base, name=host_of(urls[0]) if urls else "feeds", discover=False,
                   feeds=tuple(check_url(u) for u in feeds),
                   sitemaps=tuple(check_url(u) for u in sitemaps))
