"""The index of records held in a spill file, in fixed-size entries.

:class:`~tap_kustomer.held.Held` keeps one ``(timestamp, id, offset, length)`` per record it
holds on disk. As a tuple in a dict that costs ~280 bytes an entry, and the company listing
(the ``list`` way: every company of the org, held until the listing ends) grows with the org:
~9 MB at 33,000 companies. :class:`Index` keeps an entry in :data:`WIDTH` bytes: the
timestamp's 24 ASCII characters, the ObjectId's 12 bytes, the offset (8) and the length (4),
big-endian, so that the order of the bytes is the order of the tuples. Entries are sorted in
runs of :data:`RUN` and the runs merged as they are read. An entry of another form (a
timestamp of another length, an id that is not an ObjectId) stays a tuple, merged in by the
same order.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator

from tap_kustomer.ids import OBJECT_ID
from tap_kustomer.ids import WIDTH as ID

#: (timestamp, id, offset, length)
Entry = tuple[str, str, int, int]

TS, OFFSET, LENGTH = 24, 8, 4
WIDTH = TS + ID + OFFSET + LENGTH
#: Entries sorted together into one run.
RUN = 4096


def pack(entry: Entry) -> bytes | None:
    """``entry`` in :data:`WIDTH` bytes ordered as the tuple is, or None if it has another form.

    Timestamps of one length compare as their ASCII bytes do, and lowercase hex ObjectIds of
    24 digits as their 12 bytes do (big-endian).
    """
    ts, obj_id, offset, length = entry
    if not (isinstance(ts, str) and len(ts) == TS and ts.isascii()):
        return None
    if not (isinstance(obj_id, str) and OBJECT_ID.fullmatch(obj_id)):
        return None
    if not (0 <= offset < 1 << (8 * OFFSET) and 0 <= length < 1 << (8 * LENGTH)):
        return None
    return (
        ts.encode("ascii")
        + bytes.fromhex(obj_id)
        + offset.to_bytes(OFFSET, "big")
        + length.to_bytes(LENGTH, "big")
    )


def unpack(data: bytes) -> Entry:
    """The entry :func:`pack` made ``data`` from."""
    at = TS + ID
    return (
        data[:TS].decode("ascii"),
        data[TS:at].hex(),
        int.from_bytes(data[at : at + OFFSET], "big"),
        int.from_bytes(data[at + OFFSET : WIDTH], "big"),
    )


def _slices(run: bytes) -> Iterator[bytes]:
    for at in range(0, len(run), WIDTH):
        yield run[at : at + WIDTH]


class Index:
    """Entries, read back in ascending order (``add``, ``ordered``)."""

    def __init__(self) -> None:
        self._runs: list[bytes] = []  # each sorted
        self._pending: list[bytes] = []
        self._loose: list[Entry] = []  # entries pack() refuses

    def add(self, entry: Entry) -> None:
        """Add ``entry``."""
        packed = pack(entry)
        if packed is None:
            self._loose.append(entry)
            return
        self._pending.append(packed)
        if len(self._pending) >= RUN:
            self._seal()

    def _seal(self) -> None:
        if self._pending:
            self._runs.append(b"".join(sorted(self._pending)))
            self._pending = []

    def ordered(self) -> Iterator[Entry]:
        """Every entry, ascending (as a sorted list of the tuples would be).

        Entries added while this is read are not seen by it.
        """
        self._seal()
        packed = map(unpack, heapq.merge(*(_slices(run) for run in self._runs)))
        if not self._loose:
            return packed
        return heapq.merge(packed, sorted(self._loose))
