"""An exact set of record ids in little memory: the ids a window has emitted or counted.

A Python set of str ids costs ~115 bytes an id (~82 as ints); a window remembers up to
200,000 (``search.DEDUPE_LIMIT``), so that set grew with the org. :class:`IdSet` keeps
Kustomer ObjectIds (exactly 24 lowercase hex digits) as 12 bytes each in sorted runs (a
binary counter of runs: a new run of :data:`RUN` ids merges with the runs no larger than it),
the newest ids and any other spelling in a small Python set. Membership is exact.
"""

from __future__ import annotations

import re
from typing import Any

_OBJECT_ID = re.compile(r"[0-9a-f]{24}")
WIDTH = 12
#: Ids kept in the Python set before they are packed into a run.
RUN = 4096


def compact_id(obj_id: Any) -> Any:
    """An id in the form a set keeps in less memory.

    A Kustomer ObjectId (exactly 24 lowercase hex digits) becomes its int, anything else stays
    as it is: an int never equals a str, and only one spelling maps to each int, so two
    different ids never compare equal. An id that is not a str (not seen from Kustomer) is
    kept in a tuple, apart from both.
    """
    if not isinstance(obj_id, str):
        return ("id", obj_id)
    return int(obj_id, 16) if _OBJECT_ID.fullmatch(obj_id) else obj_id


def _find(run: bytes, item: bytes) -> bool:
    lo, hi = 0, len(run) // WIDTH
    while lo < hi:
        mid = (lo + hi) // 2
        at = run[mid * WIDTH : mid * WIDTH + WIDTH]
        if at < item:
            lo = mid + 1
        elif at > item:
            hi = mid
        else:
            return True
    return False


def _merge(a: bytes, b: bytes) -> bytes:
    """Two sorted runs (no id in both) as one, without a list of either."""
    out = bytearray()
    i = j = 0
    na, nb = len(a), len(b)
    while i < na and j < nb:
        x, y = a[i : i + WIDTH], b[j : j + WIDTH]
        if x < y:
            out += x
            i += WIDTH
        else:
            out += y
            j += WIDTH
    out += a[i:]
    out += b[j:]
    return bytes(out)


class IdSet:
    """An exact set of str ids (``in``, ``add``, ``len``)."""

    def __init__(self) -> None:
        self._recent: set[Any] = set()
        self._ints = 0  # ints in _recent
        self._runs: list[bytes] = []  # sorted, packed; sizes strictly decreasing
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
        return any(_find(run, packed) for run in self._runs)

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
        run = b"".join(c.to_bytes(WIDTH, "big") for c in ints)
        while self._runs and len(self._runs[-1]) <= len(run):
            run = _merge(self._runs.pop(), run)
        self._runs.append(run)
