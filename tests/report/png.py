"""Just enough PNG decoding to tell a rendered page from a blank one (no imaging library).

Chromium writes 8-bit RGB or RGBA, non-interlaced PNGs. Rows are unfiltered per the PNG
spec (filters 0-4); the None, Sub and Up filters run on whole rows as big integers (bytewise
additions without carries between bytes), Average and Paeth byte by byte.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

SIGNATURE = b"\x89PNG\r\n\x1a\n"
CHANNELS = {2: 3, 6: 4}  # colour type -> bytes per pixel at 8 bits


@dataclass(frozen=True)
class Image:
    width: int
    height: int
    channels: int
    rows: list[bytes]

    def pixel(self, x: int, y: int) -> tuple[int, ...]:
        start = x * self.channels
        return tuple(self.rows[y][start : start + self.channels])


def _add_bytes(a: bytes, b: bytes) -> bytes:
    """(a[i] + b[i]) mod 256 for every i, on whole rows (SWAR on Python ints)."""
    n = len(a)
    x, y = int.from_bytes(a, "big"), int.from_bytes(b, "big")
    low = int.from_bytes(b"\x7f" * n, "big")
    high = int.from_bytes(b"\x80" * n, "big")
    return (((x & low) + (y & low)) ^ ((x ^ y) & high)).to_bytes(n, "big")


def _unsub(raw: bytes, bpp: int) -> bytes:
    """Sub filter: a prefix sum with stride ``bpp``, by doubling shifts."""
    row = raw
    shift = bpp
    while shift < len(row):
        row = _add_bytes(row, b"\x00" * shift + row[:-shift])
        shift *= 2
    return row


def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def decode(path: str | Path) -> Image:
    data = Path(path).read_bytes()
    assert data[:8] == SIGNATURE, "not a PNG file"
    pos, idat, header = 8, bytearray(), None
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        elif kind == b"IEND":
            break
    assert header is not None, "no IHDR chunk"
    width, height, depth, colour, _, _, interlace = header
    assert depth == 8, f"unsupported PNG {header}"
    assert colour in CHANNELS, f"unsupported PNG {header}"
    assert interlace == 0, f"unsupported PNG {header}"
    bpp = CHANNELS[colour]
    stride = width * bpp
    raw = zlib.decompress(bytes(idat))
    rows: list[bytes] = []
    previous = b"\x00" * stride
    for y in range(height):
        start = y * (stride + 1)
        kind, line = raw[start], raw[start + 1 : start + 1 + stride]
        if kind == 0:
            row = line
        elif kind == 1:
            row = _unsub(line, bpp)
        elif kind == 2:
            row = _add_bytes(line, previous)
        elif kind in (3, 4):
            out = bytearray(stride)
            for i in range(stride):
                left = out[i - bpp] if i >= bpp else 0
                up = previous[i]
                if kind == 3:
                    out[i] = (line[i] + ((left + up) >> 1)) & 0xFF
                else:
                    corner = previous[i - bpp] if i >= bpp else 0
                    out[i] = (line[i] + _paeth(left, up, corner)) & 0xFF
            row = bytes(out)
        else:
            raise AssertionError(f"unknown PNG filter {kind} on row {y}")
        rows.append(row)
        previous = row
    return Image(width, height, bpp, rows)


def luminance_stats(image: Image, top: int, bottom: int, step: int = 4) -> tuple[float, int]:
    """Variance of luminance and number of distinct colours, sampled over rows [top, bottom)."""
    values, colours = [], set()
    for y in range(top, min(bottom, image.height), step):
        for x in range(0, image.width, step):
            r, g, b = image.pixel(x, y)[:3]
            colours.add((r, g, b))
            values.append(0.2126 * r + 0.7152 * g + 0.0722 * b)
    if not values:
        return 0.0, 0
    mean = sum(values) / len(values)
    return sum((v - mean) ** 2 for v in values) / len(values), len(colours)
