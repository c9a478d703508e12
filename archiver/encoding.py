"""Decide a page's character encoding (pure): BOM, HTTP header, `<meta>`, detection.

The decision and what each source said are kept (`Decoded`), so the index
records why an article's text reads the way it does.
"""

from __future__ import annotations

from dataclasses import dataclass

import charset_normalizer
from charset_normalizer.md import mess_ratio
from w3lib.encoding import (
    html_body_declared_encoding,
    http_content_type_encoding,
    read_bom,
    resolve_encoding,
)

# A declared single-byte charset whose text looks this garbled is taken as mislabelled.
MESS_LIMIT = 0.2
DETECT_BYTES = 65536


@dataclass(frozen=True)
class Decoded:
    """How a page's bytes were turned into text, and what each source said."""

    text: str
    encoding: str
    source: str
    header: str = ""
    meta: str = ""
    detected: str = ""


def _codec(label: str | None) -> str:
    """A charset label as a Python codec name (WHATWG aliases: latin-1 → cp1252); "" if unknown."""
    return resolve_encoding(label) or "" if label else ""


def _decodes(body: bytes, codec: str) -> str | None:
    try:
        return body.decode(codec)
    except (UnicodeDecodeError, LookupError):
        return None


def _detect(body: bytes) -> str:
    """charset-normalizer's best guess over the first 64 KiB; "" if it has none."""
    sample = body[:DETECT_BYTES]
    if len(body) > DETECT_BYTES:  # do not cut the last multi-byte character in half
        sample = sample.rsplit(b"\n", 1)[0] or sample
    best = charset_normalizer.from_bytes(sample).best()
    return _codec(best.encoding) if best is not None else ""


def decode_html(body: bytes, content_type: str | None = None) -> Decoded:
    """Decide a page's encoding and decode it (never raises).

    A byte-order mark wins (as in browsers). Otherwise the HTTP header's
    charset, then the page's own declaration, are used when the bytes decode
    cleanly with them and, for single-byte charsets, the result is not
    garbled (a Cyrillic page labelled ISO-8859-1); failing that,
    charset-normalizer decides, and UTF-8 with replacement characters is the
    last resort.
    """
    header = _codec(http_content_type_encoding(content_type)) if content_type else ""
    meta = _codec(html_body_declared_encoding(body))
    bom, mark = read_bom(body)
    if bom:
        codec = _codec(bom)
        return Decoded(body[len(mark):].decode(codec, "replace"), codec, "bom", header, meta)
    detected = ""
    for codec, source in ((header, "header"), (meta, "meta")):
        if not codec:
            continue
        text = _decodes(body, codec)
        if text is None:
            continue
        if codec.replace("_", "-") in ("utf-8", "ascii") or mess_ratio(
                text[:DETECT_BYTES], maximum_threshold=1.0) < MESS_LIMIT:
            return Decoded(text, codec, source, header, meta)
        detected = detected or _detect(body)
        if detected and detected != codec and (other := _decodes(body, detected)) is not None:
            return Decoded(other, detected, "detected", header, meta, detected)
        return Decoded(text, codec, source, header, meta, detected)
    if (text := _decodes(body, "utf-8")) is not None:
        return Decoded(text, "utf-8", "detected", header, meta, "utf-8")
    detected = _detect(body)
    if detected and (text := _decodes(body, detected)) is not None:
        return Decoded(text, detected, "detected", header, meta, detected)
    return Decoded(body.decode("utf-8", "replace"), "utf-8", "default", header, meta, detected)
