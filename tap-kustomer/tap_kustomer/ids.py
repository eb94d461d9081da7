"""An exact set of record ids in little memory: the ids a window has emitted or counted.

A Python set of str ids costs ~115 bytes an id (~82 as ints); a window remembers up to
200,000 (``search.DEDUPE_LIMIT``), so that set grew with the org. :class:`IdSet` keeps
Kustomer ObjectIds (exactly 24 lowercase hex digits) as 12 bytes each in sorted runs (a
binary counter of runs: a new run of :data:`RUN` ids merges with the runs no larger than it),
the newest ids and any other spelling in a small Python set. Membership is exact. A run is
searched in C: ``bisect`` on every :data:`STEP`-th id of it (its fence) finds the block that
may hold an id, ``bytes.find`` the id in that block (a binary search in Python slices cost
~15 µs an id); two runs merge into one buffer the size of both, not copied again.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from typing import Any

#: A Kustomer ObjectId: exactly 24 lowercase hex digits, packed here in WIDTH bytes.
OBJECT_ID = re.compile(r"[0-9a-f]{24}")
WIDTH = 12
#: Ids kept in the Python set before they are packed into a run.
RUN = 4096
#: Ids in a block of a run: its fence keeps the first id of each block.
STEP = 64


def compact_id(obj_id: Any) -> Any:
    """An id in the form a set keeps in less memory.

    A Kustomer ObjectId (exactly 24 lowercase hex digits) becomes its int, anything else stays
    as it is: an int never equals a str, and only one spelling maps to each int, so two
    different ids never compare equal. An id that is not a str (not seen from Kustomer) is
    kept in a tuple, apart from both.
    """
    if not isinstance(obj_id, str):
        return ("id", obj_id)
    return int(obj_id, 16) if OBJECT_ID.fullmatch(obj_id) else obj_id


def fence(run: bytes | bytearray) -> list[bytes]:
    """The first id of each block of :data:`STEP` ids of ``run``."""
    return [bytes(run[at : at + WIDTH]) for at in range(0, len(run), STEP * WIDTH)]


def _find(run: bytes | bytearray, marks: list[bytes], item: bytes) -> bool:
    """Whether the sorted ``run`` holds ``item`` (``marks``: its :func:`fence`)."""
    block = bisect_right(marks, item) - 1
    if block < 0:
        return False
    start = block * STEP * WIDTH
    end = min(len(run), start + STEP * WIDTH)
    at = run.find(item, start, end)
    while at != -1 and (at - start) % WIDTH:  # a match across two ids
        at = run.find(item, at + 1, end)
    return at != -1


def _merge(a: bytes | bytearray, b: bytes | bytearray) -> bytearray:
    """Two sorted runs (no id in both) as one, without a list of either."""
    out = bytearray(len(a) + len(b))
    i = j = k = 0
    na, nb = len(a), len(b)
    while i < na and j < nb:
        x, y = a[i : i + WIDTH], b[j : j + WIDTH]
        if x < y:
            out[k : k + WIDTH] = x
            i += WIDTH
        else:
            out[k : k + WIDTH] = y
            j += WIDTH
        k += WIDTH
    rest = a[i:] if i < na else b[j:]
    out[k : k + len(rest)] = rest
    return out


class IdSet:
    """An exact set of str ids (``in``, ``add``, ``len``)."""

    def __init__(self) -> None:
        self._recent: set[Any] = set()
        self._ints = 0  # ints in _recent
        self._runs: list[bytes | bytearray] = []  # sorted, packed; sizes strictly decreasing
        self._fences: list[list[bytes]] = []  # each run's fence
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def __contains__(self, obj_id: Any) -> bool:
        compact = compact_id(obj_id)
        if compact in self._recent:
            return True
        if not isinstance(compact, int) or not self._runs:
            return False
        packed = compact.to_bytes(WIDTH, "big")
        return any(
            _find(run, marks, packed) for run, marks in zip(self._runs, self._fences, strict=True)
        )

    def add(self, obj_id: Any) -> None:
        """Add ``obj_id`` (nothing if it is in already)."""
        if obj_id not in self:
            self.add_new(obj_id)

    def add_new(self, obj_id: Any) -> None:
        """Add ``obj_id``, known not to be in (``in`` answered False)."""
        compact = compact_id(obj_id)
        self._recent.add(compact)
        self._count += 1
        if isinstance(compact, int):
            self._ints += 1
            if self._ints >= RUN:
                self._pack()

    def _pack(self) -> None:
        ints = sorted(c for c in self._recent if isinstance(c, int))
        self._recent = {c for c in self._recent if not isinstance(c, int)}
        self._ints = 0
        run: bytes | bytearray = b"".join(c.to_bytes(WIDTH, "big") for c in ints)
        while self._runs and len(self._runs[-1]) <= len(run):
            self._fences.pop()
            run = _merge(self._runs.pop(), run)
        self._runs.append(run)
        self._fences.append(fence(run))
