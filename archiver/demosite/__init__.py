"""Bundled demo site: a deterministic WordPress-style clone of Belarus Digest for demos and tests."""
from __future__ import annotations

from .model import Article, Site, load_site, slugify
from .server import DemoServer

__all__ = ["Article", "DemoServer", "Site", "load_site", "slugify"]
