"""The HubSpot sandbox's records, indexes and search evaluation.

Records keep HubSpot's storage rule: every property value is a string (or absent).
Times are kept twice, as epoch milliseconds for filtering and as the ISO strings the API
returns. Two sorted indexes (ids, and ``(last modified ms, id)``) keep list paging and
search windows fast at tens of thousands of records.
"""

from __future__ import annotations

import bisect
import datetime as dt
import fnmatch
import functools
from dataclasses import dataclass, field
from typing import Any

from sandbox.core.app import ApiError

OPERATORS = frozenset(
    {
        "EQ",
        "NEQ",
        "LT",
        "LTE",
        "GT",
        "GTE",
        "BETWEEN",
        "IN",
        "NOT_IN",
        "HAS_PROPERTY",
        "NOT_HAS_PROPERTY",
        "CONTAINS_TOKEN",
        "NOT_CONTAINS_TOKEN",
    }
)
RANGE_OPERATORS = frozenset({"EQ", "LT", "LTE", "GT", "GTE", "BETWEEN"})


DAY_MS = 86_400_000


@functools.lru_cache(maxsize=4096)
def _iso_day(day: int) -> str:
    """``YYYY-MM-DDT`` of a day since the epoch (one ``strftime`` per day, not per value)."""
    return dt.datetime.fromtimestamp(day * 86_400, tz=dt.UTC).strftime("%Y-%m-%dT")


def iso_ms(ms: int) -> str:
    """Epoch milliseconds to HubSpot's ISO form (``2024-09-11T13:27:39.356Z``).

    The time of day is plain arithmetic and the date is cached per day: seeding 1,000,000
    contacts formats ~3,000,000 of these, and ``strftime`` for each was a third of the seed.
    """
    day, rest = divmod(ms, DAY_MS)
    seconds, millis = divmod(rest, 1000)
    minutes, second = divmod(seconds, 60)
    hour, minute = divmod(minutes, 60)
    return f"{_iso_day(day)}{hour:02d}:{minute:02d}:{second:02d}.{millis:03d}Z"


def parse_time_ms(value: str) -> int:
    """Read a datetime filter or stored value: epoch ms digits, ISO datetime or ISO date."""
    text = str(value).strip()
    if text.lstrip("-").isdigit():
        return int(text)
    if len(text) == 10:
        day = dt.date.fromisoformat(text)
        return int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp() * 1000)
    stamp = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=dt.UTC)
    return round(stamp.timestamp() * 1000)


@dataclass(slots=True)
class CrmObject:
    """One contact or company."""

    id: int
    properties: dict[str, str]
    created_ms: int
    updated_ms: int
    archived: bool = False
    archived_ms: int | None = None


@dataclass
class ObjectStore:
    """All records of one object type, with lazily rebuilt sorted indexes."""

    object_type: str
    modified_property: str
    definitions: dict[str, dict[str, Any]] = field(default_factory=dict)
    objects: dict[int, CrmObject] = field(default_factory=dict)
    _active: list[int] | None = None
    _archived: list[int] | None = None
    _by_modified: list[tuple[int, int]] | None = None

    def invalidate(self) -> None:
        """Forget the indexes (after any write)."""
        self._active = self._archived = self._by_modified = None

    def add(self, obj: CrmObject) -> None:
        """Store a record (new or replaced)."""
        self.objects[obj.id] = obj
        self.invalidate()

    def touch(self, obj: CrmObject, at_ms: int) -> None:
        """Stamp a write: HubSpot bumps the last-modified property and ``updatedAt``."""
        obj.updated_ms = at_ms
        obj.properties[self.modified_property] = iso_ms(at_ms)
        self.invalidate()

    def active_ids(self) -> list[int]:
        """Ids of live records, ascending."""
        if self._active is None:
            self._active = sorted(i for i, o in self.objects.items() if not o.archived)
        return self._active

    def archived_ids(self) -> list[int]:
        """Ids of archived records, ascending."""
        if self._archived is None:
            self._archived = sorted(i for i, o in self.objects.items() if o.archived)
        return self._archived

    def by_modified(self) -> list[tuple[int, int]]:
        """``(last modified ms, id)`` of live records, ascending."""
        if self._by_modified is None:
            self._by_modified = sorted(
                (o.updated_ms, o.id) for o in self.objects.values() if not o.archived
            )
        return self._by_modified

    def page_after(self, *, archived: bool, after_id: int, limit: int) -> list[CrmObject]:
        """The list endpoint's page: records with id > ``after_id``."""
        ids = self.archived_ids() if archived else self.active_ids()
        start = bisect.bisect_right(ids, after_id)
        return [self.objects[i] for i in ids[start : start + limit]]

    def has_more_after(self, *, archived: bool, after_id: int) -> bool:
        """Whether any listed record has an id above ``after_id``."""
        ids = self.archived_ids() if archived else self.active_ids()
        return bisect.bisect_right(ids, after_id) < len(ids)

    # ----------------------------------------------------------------- search
    def value_kind(self, name: str) -> str:
        """How to compare a property: number, time, multi or text."""
        if name == "hs_object_id":
            return "number"
        definition = self.definitions.get(name) or {}
        type_ = definition.get("type")
        if type_ == "number":
            return "number"
        if type_ in ("date", "datetime"):
            return "time"
        if type_ == "enumeration" and definition.get("fieldType") == "checkbox":
            return "multi"
        return "text"

    def _typed(self, kind: str, raw: Any) -> Any:
        if raw is None or raw == "":
            return None
        try:
            if kind == "number":
                return float(raw)
            if kind == "time":
                return parse_time_ms(raw)
        except (ValueError, TypeError) as exc:
            msg = f"Invalid value {raw!r} for a {kind} property"
            raise ApiError(400, msg, category="VALIDATION_ERROR") from exc
        return str(raw).lower()

    def _candidates(self, group: list[dict[str, Any]], now_visible_ms: int) -> list[CrmObject]:
        """Records that can match a filter group; narrowed by the last-modified index."""
        low, high = None, None
        for flt in group:
            if flt.get("propertyName") != self.modified_property:
                continue
            op = flt.get("operator")
            if op not in RANGE_OPERATORS:
                continue
            value = self._typed("time", flt.get("value"))
            if op in ("GT", "GTE", "EQ", "BETWEEN"):
                low = value if low is None else max(low, value)
            if op in ("LT", "LTE", "EQ"):
                high = value if high is None else min(high, value)
            if op == "BETWEEN":
                top = self._typed("time", flt.get("highValue"))
                high = top if high is None else min(high, top)
        index = self.by_modified()
        lo = 0 if low is None else bisect.bisect_left(index, (low, -1))
        hi_ms = now_visible_ms if high is None else min(high, now_visible_ms)
        hi = bisect.bisect_right(index, (hi_ms, float("inf")))
        return [self.objects[i] for _, i in index[lo:hi]]

    def _raw(self, obj: CrmObject, name: str) -> Any:
        if name == "hs_object_id":
            return obj.id
        if name == self.modified_property:
            return obj.updated_ms
        return obj.properties.get(name)

    def _compile(self, flt: dict[str, Any]) -> Any:
        """Turn one filter into a predicate on a record (values parsed once)."""
        name = flt.get("propertyName")
        op = flt.get("operator")
        kind = self.value_kind(name)
        fast = name in ("hs_object_id", self.modified_property)

        def value_of(obj: CrmObject) -> Any:
            raw = self._raw(obj, name)
            return raw if fast else self._typed(kind, raw)

        if op in ("HAS_PROPERTY", "NOT_HAS_PROPERTY"):
            want = op == "HAS_PROPERTY"
            return lambda o: (self._raw(o, name) not in (None, "")) == want
        if op in ("CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN"):
            token = str(flt.get("value", "")).lower()
            pattern = token if "*" in token else f"*{token}*"
            want = op == "CONTAINS_TOKEN"

            def contains(obj: CrmObject) -> bool:
                raw = self._raw(obj, name)
                found = raw is not None and fnmatch.fnmatchcase(str(raw).lower(), pattern)
                return found == want

            return contains
        if kind == "multi":
            if op in ("IN", "NOT_IN"):
                values = {str(v).lower() for v in flt["values"]}
            else:
                values = {str(flt.get("value", "")).lower()}
            want = op in ("IN", "EQ")
            return lambda o: bool(self._multi(self._raw(o, name)) & values) == want
        if op in ("IN", "NOT_IN"):
            values = {self._typed(kind, v) for v in flt["values"]}
            want = op == "IN"
            return lambda o: (value_of(o) in values) == want
        target = self._typed(kind, flt.get("value"))
        if op == "NEQ":
            return lambda o: value_of(o) != target
        if op == "BETWEEN":
            top = self._typed(kind, flt.get("highValue"))

            def between(obj: CrmObject) -> bool:
                value = value_of(obj)
                return value is not None and target <= value <= top

            return between
        compare = {
            "EQ": lambda a, b: a == b,
            "LT": lambda a, b: a < b,
            "LTE": lambda a, b: a <= b,
            "GT": lambda a, b: a > b,
            "GTE": lambda a, b: a >= b,
        }[op]

        def check(obj: CrmObject) -> bool:
            value = value_of(obj)
            return value is not None and target is not None and compare(value, target)

        return check

    @staticmethod
    def _multi(raw: str | None) -> set[str]:
        return {part.lower() for part in (raw or "").split(";") if part}

    def search(
        self,
        filter_groups: list[dict[str, Any]],
        sorts: list[tuple[str, bool]],
        query: str | None,
        visible_until_ms: int,
    ) -> list[CrmObject]:
        """Every live record matching (groups OR'd, filters AND'd), sorted."""
        for group in filter_groups:
            for flt in group.get("filters") or []:
                if flt.get("operator") not in OPERATORS:
                    msg = f"Unknown operator {flt.get('operator')!r}"
                    raise ApiError(400, msg, category="VALIDATION_ERROR")
                if flt.get("operator") in ("IN", "NOT_IN") and not isinstance(
                    flt.get("values"), list
                ):
                    raise ApiError(400, "IN needs `values`", category="VALIDATION_ERROR")
        if filter_groups:
            seen: dict[int, CrmObject] = {}
            for group in filter_groups:
                filters = group.get("filters") or []
                predicates = [self._compile(f) for f in filters]
                for obj in self._candidates(filters, visible_until_ms):
                    if obj.id not in seen and all(p(obj) for p in predicates):
                        seen[obj.id] = obj
            found = list(seen.values())
        else:
            found = self._candidates([], visible_until_ms)
        if query:
            needle = query.lower()
            found = [
                o for o in found if any(needle in (v or "").lower() for v in o.properties.values())
            ]
        if not sorts:
            return sorted(found, key=lambda o: o.id)
        name, descending = sorts[0]
        kind = self.value_kind(name)
        if name in ("hs_object_id", self.modified_property):
            found.sort(key=lambda o: (self._raw(o, name), o.id), reverse=descending)
            return found

        def key(obj: CrmObject) -> tuple[int, Any, int]:
            raw = str(obj.id) if name == "hs_object_id" else obj.properties.get(name)
            value = self._typed(kind if kind != "multi" else "text", raw)
            # Missing values sort last either way; ties keep id order.
            if value is None:
                return (1, 0, obj.id)
            return (0, value, obj.id)

        found.sort(key=key)
        if descending:
            present = [o for o in found if key(o)[0] == 0]
            missing = [o for o in found if key(o)[0] == 1]
            found = sorted(present, key=lambda o: key(o)[1], reverse=True) + missing
        return found
