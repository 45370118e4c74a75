"""The site's default link-preview image (``og-image.png``, 1200×630) for pages without a
cover: the favicon's mark, an open page, on the site's accent colour.

Drawn here as rectangles and encoded with zlib: the same bytes every build, no imaging
library loaded for one picture. Social sites show PNG and JPEG previews, not SVG.
"""

from __future__ import annotations

import struct
import zlib
from functools import cache

WIDTH, HEIGHT = 1200, 630
ACCENT = (0x0B, 0x62, 0xC4)
PAPER = (0xFD, 0xFD, 0xFC)
INK = (0x9D, 0xC3, 0xEE)
# (left, top, right, bottom, colour): the page, then its lines of text
SHAPES = (
    (450, 135, 750, 495, PAPER),
    *((495, top, 705 if n % 3 else 640, top + 18, INK) for n, top in enumerate(range(190, 450, 40))),
)


@cache
def og_image_png() -> bytes:
    """The image as PNG bytes (8-bit RGB, no interlace)."""
    rows = b"".join(b"\0" + _row(y) for y in range(HEIGHT))  # filter byte 0 per row
    header = struct.pack(">IIBBBBB", WIDTH, HEIGHT, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(rows, 6)) + _chunk(b"IEND", b"")
    )


def _row(y: int) -> bytes:
    return _row_of(tuple(shape for shape in SHAPES if shape[1] <= y < shape[3]))


@cache
def _row_of(shapes: tuple) -> bytes:
    row = bytearray(bytes(ACCENT) * WIDTH)
    for left, _top, right, _bottom, colour in shapes:
        row[left * 3 : right * 3] = bytes(colour) * (right - left)
    return bytes(row)


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
