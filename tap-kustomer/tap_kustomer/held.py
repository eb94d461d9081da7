"""Records held only to be ordered, kept out of memory.

The ways of reading that order on the client (``pieces``: a time piece read whole, up to a
query's 10,000 hits; ``scan``/``list``: a whole object type) must see every record of what
they order before emitting the first. Decoded, a Kustomer record is ~5 kB of Python objects,
so a piece held ~45 MB and a company listing grew with the org. :class:`Held` writes each
record's JSON to an unnamed temporary file (deleted by the system when closed, or when the
process ends) and keeps in memory only what ordering needs: ``(timestamp, id, offset,
length)``, packed in 48 bytes (:mod:`tap_kustomer.packed`), and the ids held (12 bytes each,
:mod:`tap_kustomer.ids`) so that the last record stored for an id wins. Records are decoded
again one at a time, as they are emitted.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterable, Iterator
from typing import IO, Any

from tap_kustomer.ids import IdSet
from tap_kustomer.packed import Entry, Index

__all__ = ["Entry", "Held", "decoded_hook"]

#: Called with each record decoded back from a spill (tests count decoded records with it).
decoded_hook: list[Any] = []


class Held:
    """Records by id, in a temporary file; the last one stored for an id wins."""

    def __init__(self) -> None:
        self._file: IO[bytes] | None = None
        self._end = 0
        self._index = Index()
        self._ids = IdSet()
        #: offset of the last record of each id stored more than once
        self._latest: dict[Any, int] = {}

    def __len__(self) -> int:
        return len(self._ids)

    def put(self, key: str, record: dict[str, Any]) -> None:
        """Hold ``record`` (its id is ``record["id"]``) at timestamp ``key``."""
        # ASCII escapes: a lone surrogate (valid as a JSON escape) cannot be encoded as UTF-8
        data = json.dumps(record, separators=(",", ":")).encode("ascii")
        if self._file is None:
            self._file = tempfile.TemporaryFile()  # noqa: SIM115 - closed by close()
        self._file.seek(self._end)
        self._file.write(data)
        obj_id = record["id"]
        if obj_id in self._ids:
            self._latest[obj_id] = self._end
        else:
            self._ids.add_new(obj_id)
        self._index.add((key, obj_id, self._end, len(data)))
        self._end += len(data)

    def keys(self) -> set[str]:
        """The timestamps held."""
        return {entry[0] for entry in self.ordered()}

    def ordered(self) -> Iterator[Entry]:
        """The entries by (timestamp, id), one at a time (each id's last one)."""
        latest = self._latest
        for entry in self._index.ordered():
            if not latest or latest.get(entry[1], entry[2]) == entry[2]:
                yield entry

    def load(self, entry: Entry) -> dict[str, Any]:
        """The record of ``entry``, decoded afresh."""
        assert self._file is not None
        self._file.seek(entry[2])
        record = json.loads(self._file.read(entry[3]))
        for hook in decoded_hook:
            hook(record)
        return record

    def records(self, entries: Iterable[Entry]) -> Iterator[tuple[str, dict[str, Any]]]:
        """``(timestamp, record)`` of each entry, one decoded at a time."""
        for entry in entries:
            yield entry[0], self.load(entry)

    def close(self) -> None:
        """Drop the file and the entries."""
        if self._file is not None:
            self._file.close()
            self._file = None
        self._index = Index()
        self._ids = IdSet()
        self._latest = {}
        self._end = 0
