"""JSON schemas: the JSON:API record, flat id columns, and custom attributes typed by suffix.

Custom attribute names end with their type (kustomer-api.md §7): ``Str``, ``Txt``, ``Num``,
``At``, ``Bool``, ``Url``. ``/metadata/{resource}`` adds ``multi`` (a list), ``enumeration``,
``target`` (a KObject relationship, a list of ids) and types for names without a suffix.

What a target needs to create the right field is in the schema itself, not in a description:

* an enumerated attribute carries ``enum`` (its values, and ``null``: the value may be
  absent); a multi-valued one is an array whose ``items`` carry the ``enum``;
* a link to other objects (``target``) carries the JSON Schema extension keyword ``x-link``
  naming what it links to (``kobject:<klass>``): its values are ids, not data.
"""

from __future__ import annotations

from typing import Any

STR: dict[str, Any] = {"type": ["string", "null"]}
DT: dict[str, Any] = {"type": ["string", "null"], "format": "date-time"}
NUM: dict[str, Any] = {"type": ["number", "null"]}
INT: dict[str, Any] = {"type": ["integer", "null"]}
BOOL: dict[str, Any] = {"type": ["boolean", "null"]}
ANY: dict[str, Any] = {"type": ["string", "number", "boolean", "object", "array", "null"]}
FREE_OBJECT: dict[str, Any] = {"type": ["object", "null"], "additionalProperties": True}
STR_LIST: dict[str, Any] = {"type": ["array", "null"], "items": {"type": ["string", "null"]}}

SUFFIX_TYPES: list[tuple[str, dict[str, Any]]] = [
    ("Bool", BOOL),
    ("Str", STR),
    ("Txt", STR),
    ("Num", NUM),
    ("Url", STR),
    ("At", DT),
]
METADATA_TYPES: dict[str, dict[str, Any]] = {
    "string": STR,
    "text": STR,
    "number": NUM,
    "integer": NUM,
    "boolean": BOOL,
    "date": DT,
    "datetime": DT,
    "url": STR,
}


def suffix_of(name: str) -> str | None:
    """The type suffix of a custom attribute name, or None."""
    for suffix, _ in SUFFIX_TYPES:
        if name.endswith(suffix) and len(name) > len(suffix):
            return suffix
    return None


LINK_KEYWORD = "x-link"


def link_name(target: Any) -> str:
    """``x-link`` value for a metadata ``target``: ``kobject.order`` -> ``kobject:order``."""
    kind, _, rest = str(target).partition(".")
    return f"{kind}:{rest}" if rest else kind


def custom_property(name: str, meta: dict[str, Any] | None) -> dict[str, Any]:
    """The JSON schema of one custom attribute (see the module docstring)."""
    meta = meta or {}
    suffix = suffix_of(name)
    if meta.get("target"):
        base: dict[str, Any] = STR
    elif suffix:
        base = dict(SUFFIX_TYPES)[suffix]
    else:
        base = METADATA_TYPES.get(str(meta.get("type", "")).lower(), ANY)
    base = dict(base)
    values = meta.get("enumeration")
    values = [v for v in values if v is not None] if isinstance(values, list) else []
    multi = bool(meta.get("multi") or (meta.get("target") and meta.get("multi") is not False))
    if multi:
        item = dict(base)
        if values:  # each element is one of the values (the list itself may be absent)
            item = {**base, "type": [t for t in base["type"] if t != "null"], "enum": values}
        prop: dict[str, Any] = {"type": ["array", "null"], "items": item}
    else:
        prop = base
        if values:
            prop["enum"] = [*values, None]
    if meta.get("target"):
        prop[LINK_KEYWORD] = link_name(meta["target"])
    if meta.get("displayName"):
        prop["title"] = str(meta["displayName"])
    return prop


def custom_schema(metadata: dict[str, dict[str, Any]] | None) -> dict[str, Any]:
    """``attributes.custom``: known attributes typed; later additions still pass through."""
    props = {name: custom_property(name, meta) for name, meta in sorted((metadata or {}).items())}
    return {"type": ["object", "null"], "properties": props, "additionalProperties": True}


def _obj(props: dict[str, Any]) -> dict[str, Any]:
    return {"type": ["object", "null"], "properties": props, "additionalProperties": True}


CONTACT_LIST = {
    "type": ["array", "null"],
    "items": _obj({"type": STR, "email": STR, "phone": STR, "verified": BOOL}),
}
COMMON_ATTRS: dict[str, Any] = {
    "createdAt": DT,
    "updatedAt": DT,
    "modifiedAt": DT,
    "importedAt": DT,
    "deleted": BOOL,
    "deletedAt": DT,
    "rev": INT,
    "externalId": STR,
}
ATTRIBUTES: dict[str, dict[str, Any]] = {
    "customers": {
        "name": STR,
        "displayName": STR,
        "firstName": STR,
        "lastName": STR,
        "emails": CONTACT_LIST,
        "phones": CONTACT_LIST,
        "company": STR,
        "tags": STR_LIST,
        "locale": STR,
        "timeZone": STR,
        "verified": BOOL,
        "lastActivityAt": DT,
        "lastMessageAt": DT,
        "conversationCounts": FREE_OBJECT,
        "externalIds": ANY,
        "socials": ANY,
        "urls": ANY,
        "locations": ANY,
    },
    "companies": {
        "name": STR,
        "domains": {"type": ["array", "null"], "items": _obj({"domain": STR})},
        "tags": STR_LIST,
        "employeeCount": NUM,
        "emails": ANY,
        "phones": ANY,
    },
    "conversations": {
        "name": STR,
        "status": STR,
        "priority": INT,
        "direction": STR,
        "channels": STR_LIST,
        "assignedUsers": STR_LIST,
        "assignedTeams": STR_LIST,
        "tags": STR_LIST,
        "messageCount": INT,
        "noteCount": INT,
        "preview": STR,
        "lastMessageAt": DT,
        "snooze": ANY,
        "sla": ANY,
        "satisfaction": ANY,
    },
    "messages": {
        "channel": STR,
        "app": STR,
        "direction": STR,
        "directionType": STR,
        "status": STR,
        "subject": STR,
        "preview": STR,
        "size": NUM,
        "lang": STR,
        "auto": BOOL,
        "redacted": BOOL,
        "sentAt": DT,
        "meta": _obj({"from": ANY, "to": ANY, "cc": ANY, "bcc": ANY, "subject": ANY}),
        "assignedUsers": STR_LIST,
        "assignedTeams": STR_LIST,
    },
    "notes": {"body": STR, "userMentions": ANY, "lang": STR},
    "kobjects": {
        "title": STR,
        "description": STR,
        "icon": STR,
        "images": STR_LIST,
        "tags": STR_LIST,
        "status": STR,
    },
}


def record_schema(
    stream: str,
    *,
    flat_ids: list[str],
    custom: dict[str, Any] | None = None,
    attributes: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The schema of a JSON:API record stream (incremental objects)."""
    attrs = {
        **COMMON_ATTRS,
        **(attributes if attributes is not None else ATTRIBUTES.get(stream, {})),
    }
    if custom is not None:
        attrs["custom"] = custom
    props: dict[str, Any] = {
        "id": {"type": "string"},
        "type": STR,
        "updated_at": {"type": "string", "format": "date-time"},
        "created_at": DT,
        "deleted": {"type": "boolean"},
    }
    for col in flat_ids:
        props[col] = STR
    props["attributes"] = {"type": "object", "properties": attrs, "additionalProperties": True}
    props["relationships"] = FREE_OBJECT
    props["links"] = FREE_OBJECT
    return {"type": "object", "properties": props, "required": ["id", "updated_at"]}


def reference_schema(attributes: dict[str, Any]) -> dict[str, Any]:
    """Users, teams, tags, klasses: full-table JSON:API records."""
    return {
        "type": "object",
        "properties": {
            "id": {"type": "string"},
            "type": STR,
            "updated_at": DT,
            "created_at": DT,
            "deleted": {"type": "boolean"},
            "attributes": {
                "type": "object",
                "properties": {**COMMON_ATTRS, **attributes},
                "additionalProperties": True,
            },
            "relationships": FREE_OBJECT,
            "links": FREE_OBJECT,
        },
        "required": ["id"],
    }


METADATA_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "resource": {"type": "string"},
        "name": {"type": "string"},
        "display_name": STR,
        "type": STR,
        "suffix": STR,
        "json_type": STR,
        "multi": BOOL,
        "enumeration": STR_LIST,
        "target": STR,
        "updated_at": DT,
        "raw": FREE_OBJECT,
    },
    "required": ["resource", "name"],
}
