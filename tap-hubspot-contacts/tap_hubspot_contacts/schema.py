"""From HubSpot property definitions to JSON Schema, and from HubSpot's strings to values.

Every value HubSpot returns is a string (hubspot-api.md §2). The definition's ``type`` and
``fieldType`` decide the record type:

=====================================  ==============================================
``number``                             number (unparseable text → null, counted)
``bool``, ``enumeration``+``booleancheckbox``  boolean (``"true"``/``"false"``)
``datetime``                           date-time string, ``YYYY-MM-DDTHH:MM:SS.mmmZ``
``date``                               date-time string at midnight UTC (ISO date or epoch ms in)
``enumeration``+``checkbox``           array of strings (split on ``;``)
anything else                          string
=====================================  ==============================================
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import math
import re
from collections.abc import Iterable, Mapping
from typing import Any

NUMBER, BOOLEAN, DATETIME, DATE, MULTI, STRING = (
    "number",
    "boolean",
    "datetime",
    "date",
    "multi",
    "string",
)
_INT_RE = re.compile(r"^[+-]?\d+$")
_EPOCH_RE = re.compile(r"^-?\d{9,}$")

#: Properties every record carries whatever the include/exclude lists say.
REQUIRED_PROPERTIES = {
    "contacts": (
        "email",
        "firstname",
        "lastname",
        "createdate",
        "lastmodifieddate",
        "hs_object_id",
        "hs_merged_object_ids",
        "associatedcompanyid",
    ),
    "companies": (
        "name",
        "domain",
        "createdate",
        "hs_lastmodifieddate",
        "hs_object_id",
        "hs_merged_object_ids",
    ),
}
#: Top-level record fields that are not HubSpot properties.
TOP_LEVEL = {
    "contacts": (
        "id",
        "archived",
        "archivedAt",
        "createdAt",
        "updatedAt",
        "associated_company_ids",
        "primary_company_id",
    ),
    "companies": ("id", "archived", "archivedAt", "createdAt", "updatedAt"),
}


def kind_of(definition: Mapping[str, Any]) -> str:
    """How a property's string values are read."""
    type_ = definition.get("type")
    field_type = definition.get("fieldType")
    if definition.get("name") == "hs_merged_object_ids":
        return MULTI
    if type_ == "number":
        return NUMBER
    if type_ == "bool" or (type_ == "enumeration" and field_type == "booleancheckbox"):
        return BOOLEAN
    if type_ == "datetime":
        return DATETIME
    if type_ == "date":
        return DATE
    if type_ == "enumeration" and field_type == "checkbox":
        return MULTI
    return STRING


def json_schema_for(kind: str) -> dict[str, Any]:
    """The JSON Schema of one property's values (always nullable)."""
    if kind == NUMBER:
        return {"type": ["number", "null"]}
    if kind == BOOLEAN:
        return {"type": ["boolean", "null"]}
    if kind in (DATETIME, DATE):
        return {"type": ["string", "null"], "format": "date-time"}
    if kind == MULTI:
        return {"type": ["array", "null"], "items": {"type": "string"}}
    return {"type": ["string", "null"]}


def _matches(name: str, patterns: Iterable[str]) -> bool:
    return any(fnmatch.fnmatchcase(name, p) for p in patterns)


def select_properties(
    definitions: Iterable[Mapping[str, Any]],
    object_type: str,
    *,
    include: list[str] | None = None,
    exclude: list[str] | None = None,
    include_hidden: bool = False,
    include_calculated: bool = False,
) -> dict[str, str]:
    """Name → kind of the properties records carry, in the API's order.

    Required properties always; then, if ``include`` is given, only names matching it (an
    explicit include also brings in hidden and calculated properties); otherwise all but
    hidden/calculated ones (unless switched on). ``exclude`` (glob patterns) wins last.
    """
    required = set(REQUIRED_PROPERTIES[object_type])
    reserved = set(TOP_LEVEL[object_type])
    chosen: dict[str, str] = {}
    seen: set[str] = set()
    for definition in definitions:
        name = definition["name"]
        seen.add(name)
        if name in reserved:
            continue
        if name in required:
            chosen[name] = kind_of(definition)
            continue
        if include:
            keep = _matches(name, include)
        else:
            keep = (include_hidden or not definition.get("hidden")) and (
                include_calculated or not definition.get("calculated")
            )
        if keep and exclude and _matches(name, exclude):
            keep = False
        if keep:
            chosen[name] = kind_of(definition)
    for name in REQUIRED_PROPERTIES[object_type]:
        if name not in seen:  # e.g. a portal without hs_merged_object_ids
            chosen[name] = MULTI if name == "hs_merged_object_ids" else STRING
    return chosen


def record_schema(object_type: str, kinds: Mapping[str, str]) -> dict[str, Any]:
    """The stream schema: top-level fields plus one flat field per property."""
    date_time = {"type": ["string", "null"], "format": "date-time"}
    props: dict[str, Any] = {
        "id": {"type": "string"},
        "archived": {"type": "boolean"},
        "archivedAt": date_time,
        "createdAt": date_time,
        "updatedAt": date_time,
    }
    if object_type == "contacts":
        props["associated_company_ids"] = {"type": "array", "items": {"type": "string"}}
        props["primary_company_id"] = {"type": ["string", "null"]}
    for name, kind in kinds.items():
        props[name] = json_schema_for(kind)
    return {"type": "object", "properties": props, "required": ["id"]}


# ------------------------------------------------------------------- values
def format_ms(ms: int) -> str:
    """Epoch milliseconds as ``YYYY-MM-DDTHH:MM:SS.mmmZ`` (sortable as text)."""
    stamp = dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{int(ms) % 1000:03d}Z"


def to_ms(value: Any) -> int | None:
    """Epoch ms from epoch-ms text, an ISO datetime, an ISO date or a datetime."""
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        stamp = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
        return round(stamp.timestamp() * 1000)
    text = str(value).strip()
    if _EPOCH_RE.match(text):
        return int(text)
    try:
        if len(text) == 10:
            day = dt.date.fromisoformat(text)
            return round(
                dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp() * 1000
            )
        stamp = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=dt.UTC)
    return round(stamp.timestamp() * 1000)


class Coercer:
    """Turns HubSpot strings into typed values; counts what it could not read."""

    def __init__(self) -> None:
        self.unreadable: dict[str, int] = {}

    def _bad(self, name: str) -> None:
        self.unreadable[name] = self.unreadable.get(name, 0) + 1

    def value(self, name: str, kind: str, raw: Any) -> Any:
        """One property value."""
        if kind == STRING:
            return raw
        if kind == MULTI:
            if raw is None:
                return None
            if isinstance(raw, list):
                return [str(v) for v in raw]
            return [part for part in str(raw).split(";") if part]
        if raw is None or raw == "":
            return None
        text = str(raw).strip()
        if kind == NUMBER:
            try:
                if _INT_RE.match(text):
                    return int(text)
                number = float(text)
            except ValueError:
                self._bad(name)
                return None
            if math.isnan(number) or math.isinf(number):
                self._bad(name)
                return None
            return number
        if kind == BOOLEAN:
            lowered = text.lower()
            if lowered in ("true", "false"):
                return lowered == "true"
            self._bad(name)
            return None
        ms = to_ms(text)
        if ms is None:
            self._bad(name)
            return None
        if kind == DATE:
            ms -= ms % 86_400_000
        return format_ms(ms)
