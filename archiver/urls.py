"""URL canonicalisation (pure): one URL per resource before a request is made.

Tracking parameters (utm_*, fbclid, gclid, ...), session ids and fragments are
dropped; the rest goes through w3lib's canonicalize_url (sorted query, escaped
path), so the dupefilter and the index see one URL per article.
"""

from __future__ import annotations

import re
from functools import lru_cache
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from w3lib.url import canonicalize_url

TRACKING_PARAMS = re.compile(
    r"^(utm_[a-z_]+|fbclid|gclid|dclid|gbraid|wbraid|msclkid|yclid|mc_cid|mc_eid|igshid|"
    r"_ga|_gl|_hsenc|_hsmi|mkt_tok|ref_src|share|amp|phpsessid|jsessionid|sid|sessionid|"
    r"s_cid|cmpid|spm)$",
    re.IGNORECASE,
)


@lru_cache(maxsize=1 << 16)
def clean_url(url: str) -> str:
    """Drop fragments, tracking and session parameters; canonicalise the rest.

    Cached: every page of a site repeats the same navigation and sidebar links, and
    w3lib's canonicalisation is the crawler's most expensive pure-Python step.
    """
    parts = urlsplit(url.strip())
    path = re.sub(r";jsessionid=[^/?#]*", "", parts.path, flags=re.IGNORECASE)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
             if not TRACKING_PARAMS.match(k)]
    rebuilt = urlunsplit((parts.scheme.lower(), parts.netloc.lower(), path or "/",
                          urlencode(query), ""))
    return canonicalize_url(rebuilt, keep_fragments=False)


@lru_cache(maxsize=1 << 16)
def host_of(url: str) -> str:
    return (urlsplit(url).hostname or "").lower()
