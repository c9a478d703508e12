"""Tiny static assets generated in code: JPEG/PNG images, CSS, JS."""
from __future__ import annotations

import hashlib
import struct
import zlib

STYLE_CSS = b"body{font-family:Georgia,serif;margin:0}.preloader{display:none}.site-header{background:#7b1c1c}\n"
JQUERY_JS = b"/*! demo jQuery stub */ window.jQuery = window.$ = function () { return {}; };\n"


def _segment(marker: int, payload: bytes) -> bytes:
    return struct.pack(">BBH", 0xFF, marker, len(payload) + 2) + payload


def jpeg(name: str) -> bytes:
    """A valid 8x8 grayscale baseline JPEG whose shade depends on ``name``."""
    level = 48 + hashlib.sha1(name.encode()).digest()[0] % 160
    diff = 8 * (level - 128)  # DC coefficient of a flat block (quantisation 1)
    cat = abs(diff).bit_length()
    extra = diff if diff >= 0 else diff + (1 << cat) - 1
    bits = "0" + (format(extra, f"0{cat}b") if cat else "") + "0"  # DC code, magnitude, AC EOB
    bits += "1" * (-len(bits) % 8)
    scan = bytes(int(bits[i:i + 8], 2) for i in range(0, len(bits), 8)).replace(b"\xff", b"\xff\x00")
    one_code = bytes([1] + [0] * 15)  # a Huffman table with a single 1-bit code
    return b"".join([
        b"\xff\xd8",
        _segment(0xE0, b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"),
        _segment(0xDB, b"\x00" + b"\x01" * 64),
        _segment(0xC0, b"\x08\x00\x08\x00\x08\x01\x01\x11\x00"),
        _segment(0xC4, b"\x00" + one_code + bytes([cat])),
        _segment(0xC4, b"\x10" + one_code + b"\x00"),
        _segment(0xDA, b"\x01\x01\x00\x00\x3f\x00"),
        scan,
        b"\xff\xd9",
    ])


def png(width: int = 16, height: int = 16, rgb: tuple[int, int, int] = (123, 28, 28)) -> bytes:
    """A valid solid-colour RGB PNG."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    raw = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
            + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))
