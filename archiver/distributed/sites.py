"""Site profiles in Redis as JSON (no Scrapy): what `archiver enqueue TARGET...` pushes.

`P:sites` maps a profile's name to its JSON (patterns as their source strings);
`P:seeds` lists the names whose seed requests (home, feeds, sitemaps, robots.txt)
no worker has scheduled yet: the first worker to pop a name schedules them, once.
"""

from __future__ import annotations

import json
import re
from dataclasses import fields
from typing import Any

from archiver.distributed.frontier import Frontier
from archiver.profiles import SiteProfile

PATTERNS = ("article_patterns", "listing_patterns")


def profile_to_json(site: SiteProfile) -> str:
    data: dict[str, Any] = {}
    for f in fields(site):
        value = getattr(site, f.name)
        if f.name in PATTERNS:
            value = [p.pattern for p in value]
        elif isinstance(value, tuple):
            value = list(value)
        data[f.name] = value
    return json.dumps(data, sort_keys=True)


def profile_from_json(text: str | bytes) -> SiteProfile:
    data = json.loads(text)
    kwargs: dict[str, Any] = {}
    for f in fields(SiteProfile):
        if f.name not in data:
            continue
        value = data[f.name]
        if f.name in PATTERNS:
            value = tuple(re.compile(p) for p in value)
        elif isinstance(value, list):
            value = tuple(value)
        kwargs[f.name] = value
    return SiteProfile(**kwargs)


def push_sites(frontier: Frontier, sites: list[SiteProfile]) -> None:
    """Make the profiles known to every worker and queue their seeds."""
    pipe = frontier.client.pipeline()
    for site in sites:
        pipe.hset(frontier.key("sites"), site.name, profile_to_json(site))
        pipe.rpush(frontier.key("seeds"), site.name)
    pipe.execute()


def load_sites(frontier: Frontier) -> list[SiteProfile]:
    stored = frontier.client.hgetall(frontier.key("sites"))
    return [profile_from_json(stored[name]) for name in sorted(stored)]


def pop_seeds(frontier: Frontier) -> list[str]:
    """Names of the sites whose seeds this worker now owns (each given to one worker)."""
    names = []
    while (name := frontier.client.lpop(frontier.key("seeds"))) is not None:
        names.append(name.decode())
    return names
