"""Raw HTTP heads as received, turned into what a WARC response record stores (no Scrapy).

The download handler (`archiver/handler.py`) keeps the status line and header
lines byte for byte: original reason phrase, header-name case, order and every
repeated header. One change is needed before they go into the WARC: Twisted
has already removed the chunked transfer framing from the body, so the
`Transfer-Encoding` header is dropped with it (WARC.md C3, the consistent
option); everything else stays as received.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

HOP_BY_HOP_REMOVED = (b"transfer-encoding",)


@dataclass(frozen=True)
class ParsedHead:
    protocol: str
    status: int
    reason: str
    headers: list[tuple[bytes, bytes]]  # (name, value) in order, as received
    raw: bytes  # the head as the WARC stores it, ending with the empty line


def _fields(lines: Sequence[bytes]) -> list[list[bytes]]:
    """Header lines grouped with their obs-fold continuation lines."""
    groups: list[list[bytes]] = []
    for line in lines:
        if line[:1] in (b" ", b"\t") and groups:
            groups[-1].append(line)
        else:
            groups.append([line])
    return groups


def stored_head(lines: Sequence[bytes]) -> ParsedHead:
    """Status line + header lines (without "\\n", the last one empty) -> ParsedHead."""
    if not lines:
        raise ValueError("empty HTTP head")
    status_line = lines[0].rstrip(b"\r")
    parts = status_line.split(b" ", 2)
    protocol = parts[0].decode("latin-1")
    status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
    reason = parts[2].decode("latin-1") if len(parts) > 2 else ""
    body_lines = [ln for ln in lines[1:] if ln.rstrip(b"\r")]
    kept: list[bytes] = [lines[0]]
    headers: list[tuple[bytes, bytes]] = []
    for group in _fields(body_lines):
        name, _, value = b" ".join(ln.strip() for ln in group).partition(b":")
        if name.strip().lower() in HOP_BY_HOP_REMOVED:
            continue
        kept.extend(group)
        headers.append((name.strip(), value.strip()))
    last = lines[-1] if lines[-1] in (b"", b"\r") else b"\r"
    raw = b"".join(line + b"\n" for line in [*kept, last])
    return ParsedHead(protocol=protocol, status=status, reason=reason, headers=headers, raw=raw)
