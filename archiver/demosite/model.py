"""Content model of the demo site: load articles, authors and categories from package data."""
from __future__ import annotations

import functools
import json
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import resources

#: Tags shown in the site-wide tag line under the header (exactly as on the real site).
SITE_TAGS = ["Belarus-Russia relations", "Belarusian language", "Belarusian military", "travel to Belarus"]

#: Extra tags that always appear in the tag cloud (padding when the articles carry few tags).
CLOUD_FILLER = [
    "Belarus-EU relations", "Belarus-US relations", "Belarus-China relations", "Belarus-Ukraine relations",
    "Alexander Lukashenka", "Belarusian economy", "Belarusian opposition", "civil society", "elections",
    "Eastern Partnership", "human rights", "Lithuania", "Poland", "Russia", "Ukraine", "Minsk",
    "Ostrogorski Centre", "Belarusian culture", "IT sector", "sanctions", "Eurasian Economic Union",
]

EXCERPT_WORDS = 40

_MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December"]
_DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]


def slugify(text: str) -> str:
    """Tag/category slug: ASCII-fold diacritics, lowercase, non-alphanumerics to single dashes."""
    folded = unicodedata.normalize("NFKD", text)
    folded = "".join(c for c in folded if not unicodedata.combining(c))
    folded = folded.encode("ascii", "ignore").decode("ascii").lower()
    return re.sub(r"-+", "-", re.sub(r"[^a-z0-9]", "-", folded)).strip("-")


def format_date(dt: datetime, fmt: str) -> str:
    """Locale-independent strftime (English names; supports %-d / %-m / %-I)."""
    repl = {
        "%B": _MONTHS[dt.month - 1], "%b": _MONTHS[dt.month - 1][:3],
        "%A": _DAYS[dt.weekday()], "%a": _DAYS[dt.weekday()][:3],
        "%-d": str(dt.day), "%-m": str(dt.month), "%-I": str(dt.hour % 12 or 12),
        "%p": "AM" if dt.hour < 12 else "PM",
    }
    def sub(m: re.Match) -> str:
        tok = m.group(0)
        return repl[tok] if tok in repl else dt.strftime(tok)

    return re.sub(r"%-?[A-Za-z%]", sub, fmt)


def excerpt_paragraphs(paragraphs: list[str], words: int = EXCERPT_WORDS) -> list[str]:
    """First ``words`` words of the body, keeping paragraph breaks, cut with '...'."""
    out: list[str] = []
    left = words
    for para in paragraphs:
        toks = para.split()
        if len(toks) <= left:
            out.append(para)
            left -= len(toks)
            if left == 0:
                break
            continue
        out.append(" ".join(toks[:left]) + "...")
        return out
    return out


@dataclass
class Article:
    """One post of the demo site (ground truth for crawler tests)."""
    id: int
    slug: str
    title: str
    authors: list[str]
    author_slugs: list[str]
    published: datetime
    modified: datetime | None
    category: str
    category_name: str
    tags: list[str]
    summary: str
    paragraphs: list[str]
    headings: list[str]
    path: str
    metadata_style: str
    reads: int
    body: list[dict] = field(default_factory=list, repr=False)
    image: dict | None = None
    date_format: str = "%d %B %Y"
    comments: list[dict] = field(default_factory=list, repr=False)

    @property
    def lastmod(self) -> datetime:
        """Modified date if any, else published."""
        return self.modified or self.published

    @property
    def tag_slugs(self) -> list[str]:
        return [slugify(t) for t in self.tags]

    @property
    def lead(self) -> list[str]:
        """Lead/teaser paragraphs shown above the image (WordPress-style excerpt)."""
        return excerpt_paragraphs(self.paragraphs)


@dataclass
class Site:
    """All site content; ``articles`` sorted newest first."""
    articles: list[Article]
    authors: dict[str, dict]
    categories: dict[str, str]
    by_slug: dict[str, Article] = field(default_factory=dict, repr=False)
    by_id: dict[int, Article] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self.by_slug = {a.slug: a for a in self.articles}
        self.by_id = {a.id: a for a in self.articles}

    @property
    def site_date(self) -> datetime:
        """Last-Modified of non-article pages: newest change on the site."""
        dates = [a.lastmod for a in self.articles]
        return max(dates) if dates else datetime(2016, 1, 1, tzinfo=UTC)

    def all_tags(self) -> dict[str, str]:
        """tag slug -> display name for every tag that has a page."""
        tags: dict[str, str] = {}
        for name in [t for a in self.articles for t in a.tags] + SITE_TAGS + CLOUD_FILLER:
            tags.setdefault(slugify(name), name)
        return tags

    def tag_cloud(self, size: int = 25) -> list[tuple[str, int]]:
        """(tag name, article count) of the ``size`` most used tags, padded with fillers."""
        counts: dict[str, int] = {}
        for a in self.articles:
            for t in a.tags:
                counts[t] = counts.get(t, 0) + 1
        ranked = sorted(counts, key=lambda t: (-counts[t], t.lower()))[: size - 5]
        for t in SITE_TAGS + CLOUD_FILLER:
            if len(ranked) >= size:
                break
            if t not in ranked:
                ranked.append(t)
        return sorted(((t, counts.get(t, 0)) for t in ranked), key=lambda x: x[0].lower())

    def most_read(self, n: int = 5) -> list[Article]:
        return sorted(self.articles, key=lambda a: (-a.reads, a.id))[:n]


def _read_json(*parts: str):
    res = resources.files(__package__).joinpath("data", *parts)
    return json.loads(res.read_text(encoding="utf-8"))


def _article(raw: dict, authors: dict, categories: dict) -> Article:
    body = raw["body"]
    return Article(
        id=int(raw["id"]), slug=raw["slug"], title=raw["title"],
        authors=[authors[s]["name"] for s in raw["authors"]], author_slugs=list(raw["authors"]),
        published=datetime.fromisoformat(raw["published"]),
        modified=datetime.fromisoformat(raw["modified"]) if raw.get("modified") else None,
        category=raw["category"], category_name=categories[raw["category"]],
        tags=list(raw["tags"]), summary=raw["summary"],
        paragraphs=[b["text"] for b in body if b["type"] == "p"],
        headings=[b["text"] for b in body if b["type"] == "h2"],
        path=f"/story/{raw['slug']}/", metadata_style=raw["metadata_style"], reads=int(raw["reads"]),
        body=body, image=raw.get("image"), date_format=raw.get("date_format") or "%d %B %Y",
        comments=list(raw.get("comments") or []),
    )


@functools.lru_cache(maxsize=4)
def load_site(state: int = 1) -> Site:
    """Load (once per state) the bundled site content.

    State 1 is the site as bundled; state 2 is the same site a few weeks later
    (`data/state2.json`: articles edited, added and deleted), for tests of
    scheduled, incremental crawls.
    """
    authors = _read_json("authors.json")
    categories = _read_json("categories.json")
    folder = resources.files(__package__).joinpath("data", "articles")
    names = sorted(p.name for p in folder.iterdir() if p.name.endswith(".json"))
    raws = [_read_json("articles", n) for n in names]
    if state == 2:
        raws = _later(raws, _read_json("state2.json"))
    articles = [_article(raw, authors, categories) for raw in raws]
    articles.sort(key=lambda a: (a.published, a.id), reverse=True)
    return Site(articles=articles, authors=authors, categories=categories)


def _later(raws: list[dict], changes: dict) -> list[dict]:
    """Apply state 2's edits, deletions and new articles to the raw article data."""
    out = []
    for raw in raws:
        if raw["slug"] in changes["deleted"]:
            continue
        edit = changes["edited"].get(raw["slug"])
        if edit:
            raw = {**raw, "title": edit.get("title", raw["title"]),
                   "modified": edit.get("modified", raw["modified"]),
                   "body": raw["body"] + [{"type": "p", "text": t} for t in edit["append"]]}
        out.append(raw)
    return out + list(changes["new"])
