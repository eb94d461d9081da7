"""Where an ascending read stands, in Kustomer's timestamp format, and what STATE stores.

Kustomer timestamps are ISO-8601 UTC with milliseconds (``2016-11-09T04:23:01.925Z``); once
normalised, string order is time order, so keys compare as strings. Time pieces are cut in
whole milliseconds (:func:`to_ms`, :func:`from_ms`), the API's own precision.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any


def iso(value: dt.datetime) -> str:
    """A datetime in Kustomer's format (UTC, milliseconds, ``Z``)."""
    value = value.astimezone(dt.UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def normalize(value: str) -> str:
    """Any ISO timestamp string to Kustomer's format, so string order is time order."""
    text = value.replace("Z", "+00:00")
    parsed = dt.datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return iso(parsed)


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_MS = dt.timedelta(milliseconds=1)


def to_ms(value: str) -> int:
    """A normalised timestamp as epoch milliseconds (exact, no float rounding)."""
    parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return (parsed - _EPOCH) // _MS


def from_ms(value: int) -> str:
    """Epoch milliseconds as a normalised timestamp."""
    return iso(_EPOCH + value * _MS)


@dataclass
class Cursor:
    """Position in an ascending read.

    Everything before ``ts`` is read, and at ``ts`` the ``ids`` (all of them when ``done``).
    """

    ts: str | None = None
    ids: list[str] = field(default_factory=list)
    done: bool = False
    _set: set[str] = field(default_factory=set, repr=False)

    def __post_init__(self) -> None:
        self._set = set(self.ids)

    def seen(self, key: str, obj_id: str) -> bool:
        """Whether the record (``key`` = its timestamp) is at or before the cursor."""
        if self.ts is None or key > self.ts:
            return False
        if key < self.ts:
            return True
        return self.done or obj_id in self._set

    def advance(self, key: str, obj_id: str) -> None:
        """Record that the record has been read (call in ascending order)."""
        if self.ts is None or key > self.ts:
            self.ts, self.ids, self.done, self._set = key, [], False, set()
        if obj_id not in self._set:
            self._set.add(obj_id)
            self.ids.append(obj_id)

    def move_to(self, ts: str) -> None:
        """Everything before ``ts`` is read, nothing at it (a piece or region ended there)."""
        if self.ts is None or ts > self.ts:
            self.ts, self.ids, self.done, self._set = ts, [], False, set()

    def finish_instant(self) -> None:
        """Every record at ``ts`` is read (the next query may use ``gt``)."""
        self.done = True

    def set_to(self, other: Cursor) -> None:
        """Take ``other``'s position (a fallback re-reads from an earlier one)."""
        self.ts, self.ids, self.done = other.ts, list(other.ids), other.done
        self._set = set(self.ids)

    def copy(self) -> Cursor:
        """An independent copy."""
        return Cursor(self.ts, list(self.ids), self.done)

    def to_state(self) -> dict[str, Any]:
        """JSON for STATE (shares the id list; no copy per record)."""
        return {"ts": self.ts, "ids": self.ids, "done": self.done}

    @classmethod
    def from_state(cls, value: Any) -> Cursor | None:
        """Read :meth:`to_state` output back, or None."""
        if not isinstance(value, dict) or not value.get("ts"):
            return None
        return cls(
            normalize(str(value["ts"])),
            [str(i) for i in value.get("ids") or []],
            bool(value.get("done")),
        )
