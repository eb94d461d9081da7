"""The screenshot check decodes PNGs itself: its decoder must give back the pixels encoded.

Images are encoded here with every PNG filter (per the spec's definitions, byte by byte) and
decoded by ``tests/report/png.py``, whose whole-row tricks must agree.
"""

from __future__ import annotations

import struct
import zlib

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.report.png import decode, luminance_stats


def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def encode(rows: list[bytes], width: int, channels: int, filters: list[int]) -> bytes:
    colour = {3: 2, 4: 6}[channels]
    raw = bytearray()
    previous = bytes(width * channels)
    for row, kind in zip(rows, filters, strict=True):
        raw.append(kind)
        for i, value in enumerate(row):
            left = row[i - channels] if i >= channels else 0
            up = previous[i]
            corner = previous[i - channels] if i >= channels else 0
            predictor = [0, left, up, (left + up) >> 1, _paeth(left, up, corner)][kind]
            raw.append((value - predictor) & 0xFF)
        previous = row

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, len(rows), 8, colour, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(bytes(raw)))
        + chunk(b"IEND", b"")
    )


@st.composite
def images(draw):
    width = draw(st.integers(1, 9))
    height = draw(st.integers(1, 6))
    channels = draw(st.sampled_from([3, 4]))
    rows = [draw(st.binary(min_size=width * channels, max_size=width * channels))
            for _ in range(height)]  # fmt: skip
    filters = draw(st.lists(st.integers(0, 4), min_size=height, max_size=height))
    return width, channels, rows, filters


@settings(max_examples=200, deadline=None)
@given(images())
def test_decoding_gives_back_the_encoded_pixels(tmp_path_factory, image):
    width, channels, rows, filters = image
    path = tmp_path_factory.mktemp("png") / "i.png"
    path.write_bytes(encode(rows, width, channels, filters))
    decoded = decode(path)
    assert (decoded.width, decoded.height, decoded.channels) == (width, len(rows), channels)
    assert decoded.rows == rows


def test_a_blank_image_has_no_variance_and_one_colour(tmp_path):
    rows = [bytes([243, 245, 249] * 40) for _ in range(30)]
    path = tmp_path / "blank.png"
    path.write_bytes(encode(rows, 40, 3, [2] * 30))
    variance, colours = luminance_stats(decode(path), 0, 30, step=1)
    assert variance < 1e-9
    assert colours == 1
