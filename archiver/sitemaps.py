"""Sitemap parsing (pure, lxml): `<urlset>` entries or `<sitemapindex>` children.

Used by the spider and by `archiver reindex` alike, so the `sitemap_entries`
rows are the same whichever wrote them. Broken XML yields what the
recovering parser still finds; gzip-compressed sitemaps are decompressed
(within a bound, against zip bombs).
"""

from __future__ import annotations

import gzip
import io
import logging

from lxml import etree

logger = logging.getLogger(__name__)
MAX_SITEMAP_BYTES = 50 * 1024 * 1024  # the sitemaps.org limit for one file


def _local(tag: object) -> str:
    return tag.rsplit("}", 1)[-1].lower() if isinstance(tag, str) else ""


def parse_sitemap(body: bytes) -> tuple[str, list[tuple[str, str]]]:
    """("urlset" | "sitemapindex" | "", [(loc, lastmod), ...]) in document order."""
    if body[:2] == b"\x1f\x8b":
        try:
            with gzip.GzipFile(fileobj=io.BytesIO(body)) as fh:
                body = fh.read(MAX_SITEMAP_BYTES + 1)[:MAX_SITEMAP_BYTES]
        except (OSError, EOFError):
            return "", []
    parser = etree.XMLParser(recover=True, resolve_entities=False, no_network=True)
    try:
        root = etree.fromstring(body, parser)
    except (etree.XMLSyntaxError, ValueError):
        root = None
    if root is None:
        return "", []
    kind = _local(root.tag)
    if kind not in ("urlset", "sitemapindex"):
        return "", []
    entries = []
    for child in root:
        if _local(child.tag) not in ("url", "sitemap"):
            continue
        fields = {_local(c.tag): (c.text or "").strip() for c in child}
        if fields.get("loc"):
            entries.append((fields["loc"], fields.get("lastmod", "")))
    return kind, entries
