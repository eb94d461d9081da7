"""What the source says about its own fields, turned into proposed CSM detail fields.

Three kinds of sources describe their fields in streams of their own, and each description
is read here into :class:`SourceField` (the source's key, its label, the CSM type
``docs/target-atlassian-csm.md`` chooses for it, and its options as *value in records* →
*option name in CSM*):

* HubSpot property definitions (tap-hubspot-contacts' ``contact_properties`` /
  ``company_properties``: ``name``, ``label``, ``type``, ``fieldType``, ``options``...);
* Kustomer custom-attribute metadata (tap-kustomer's ``custom_attribute_metadata``: one
  record per attribute and resource, with ``suffix``, ``enumeration``, ``multi``, ``target``);
* Zendesk user and organization fields (singer-io tap-zendesk's ``user_fields`` /
  ``organization_fields``: ``key``, ``title``, ``type``, ``custom_field_options``).

A record stream is tied to the metadata of its source object by :func:`record_source`
(HubSpot ``contacts``, Kustomer ``customers``, Zendesk ``users``...), which also says where the
values sit in its records. Streams of any other tap fall back to their Singer schema
(:func:`schema_fields`), which knows JSON types and formats but no options and no labels.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

HUBSPOT = "hubspot"
KUSTOMER = "kustomer"
ZENDESK = "zendesk"
SCHEMA = "schema"

#: A boolean field: SELECT with these options unless the site supports BOOLEAN.
BOOLEAN = "BOOLEAN"
#: A HubSpot property the tap does not emit: nothing to load, never created.
NOT_SYNCED = "not in the tap's records (not selected in the tap)"
BOOLEAN_OPTIONS: tuple[tuple[str, str], ...] = (("true", "true"), ("false", "false"))

HUBSPOT_METADATA_STREAMS = {"contact_properties": "contacts", "company_properties": "companies"}
ZENDESK_METADATA_STREAMS = {"user_fields": "user", "organization_fields": "organization"}
KUSTOMER_METADATA_STREAM = "custom_attribute_metadata"
#: Kustomer resources that feed CSM entities (others, such as conversations, do not).
KUSTOMER_RESOURCES = {"customers": "customer", "companies": "company"}


@dataclass(frozen=True)
class SourceField:
    """One field the source defines, with the CSM field proposed for it."""

    kind: str  # hubspot | kustomer | zendesk | schema
    obj: str  # source object: contacts, customer, user... (schema: the stream name)
    key: str  # the name records use (HubSpot name, Kustomer attribute, Zendesk key)
    label: str  # the proposed CSM name (before field_rename)
    csm_type: str  # TEXT, SELECT, ... or BOOLEAN (resolved by boolean_field_type)
    options: tuple[tuple[str, str], ...] = ()  # (value in records, CSM option name)
    skip: str | None = None  # why it is left out unless field_include names it
    origin: str = ""  # what the source said, for the plan (e.g. "enumeration/select")

    @property
    def source(self) -> str:
        """Where the definition came from, for reports."""
        return f"{self.kind}:{self.obj}.{self.key}" + (f" ({self.origin})" if self.origin else "")


@dataclass(frozen=True)
class RecordSource:
    """Which source object a record stream carries, and where its field values sit."""

    kind: str
    obj: str
    container: str = ""  # dotted path of the object holding the values ("" = top level)

    def path(self, key: str) -> str:
        """The record path of a field's value."""
        return f"{self.container}.{key}" if self.container else key


@dataclass
class MetadataSet:
    """The fields of one source object, as its metadata stream(s) described them."""

    kind: str
    obj: str
    fields: dict[str, SourceField] = field(default_factory=dict)


# ------------------------------------------------------------------------ helpers
_WORDS_RE = re.compile(r"[A-Z]?[a-z0-9]+|[A-Z]+(?![a-z])")
_KUSTOMER_SUFFIX_RE = re.compile(r"^(.*[a-z0-9])(Str|Txt|Num|At|Bool|Url)$")


def humanize(name: str) -> str:
    """``renewal_date`` / ``renewalDate`` → ``Renewal Date`` (names without a label)."""
    words = _WORDS_RE.findall(name.replace("_", " ").replace("-", " "))
    return " ".join(w[:1].upper() + w[1:] for w in words) or name


def _props(schema: Mapping[str, Any]) -> Mapping[str, Any]:
    return schema.get("properties") or {}


def _types(node: Mapping[str, Any]) -> set[str]:
    kind = node.get("type")
    if isinstance(kind, str):
        return {kind}
    if isinstance(kind, list):
        return {k for k in kind if isinstance(k, str)} - {"null"}
    for combo in ("anyOf", "oneOf"):
        if isinstance(node.get(combo), list):
            return set().union(*(_types(n) for n in node[combo] if isinstance(n, Mapping)))
    return set()


def _options(pairs: Iterable[tuple[Any, Any]]) -> tuple[tuple[str, str], ...]:
    """(value, label) pairs → (value, option name): labels when they are usable, else values.

    CSM options must be unique (case-insensitively), so a field whose labels are empty or
    collide uses its values for every option.
    """
    clean = [(str(v).strip(), str(lab).strip() if lab is not None else "") for v, lab in pairs]
    clean = [(v, lab) for v, lab in clean if v]
    labels = [lab.casefold() for _, lab in clean]
    if all(labels) and len(set(labels)) == len(labels):
        return tuple(clean)
    seen: set[str] = set()
    out = []
    for value, _ in clean:
        if value.casefold() not in seen:
            seen.add(value.casefold())
            out.append((value, value))
    return tuple(out)


# ----------------------------------------------------------------------- HubSpot
def hubspot_field(obj: str, record: Mapping[str, Any]) -> SourceField | None:
    """One HubSpot property definition (hubspot-api.md §2; field-mapping.md)."""
    name = record.get("name")
    if not isinstance(name, str) or not name:
        return None
    kind = str(record.get("type") or "string").lower()
    widget = str(record.get("fieldType") or "text").lower()
    origin = f"{kind}/{widget}"
    label = str(record.get("label") or "").strip() or humanize(name)
    options: tuple[tuple[str, str], ...] = ()
    if kind == "bool" or widget == "booleancheckbox":
        csm_type, options = BOOLEAN, BOOLEAN_OPTIONS
    elif kind == "enumeration":
        csm_type = "MULTISELECT" if widget == "checkbox" else "SELECT"
        options = _options(
            (o.get("value"), o.get("label"))
            for o in record.get("options") or []
            if isinstance(o, Mapping)
        )
        if not options:  # an enumeration without options cannot be a CSM select
            csm_type = "TEXT"
    elif kind in ("date", "datetime"):
        csm_type = "DATE"
    elif kind == "number":
        csm_type = "NUMBER"
    elif kind == "phone_number" or widget == "phonenumber":
        csm_type = "PHONE"
    else:  # string: text, textarea, html, file (file values are not always URLs)
        csm_type = "TEXT"
    skip = None
    if record.get("archived"):
        skip = "archived"
    elif record.get("synced") is False:
        skip = NOT_SYNCED
    elif widget == "calculation_equation" or record.get("calculated"):
        skip = "calculated"
    elif record.get("hidden"):
        skip = "hidden"
    elif record.get("referencedObjectType"):
        skip = f"reference to a {record['referencedObjectType']} id"
    return SourceField(HUBSPOT, obj, name, label, csm_type, options, skip, origin)


# ---------------------------------------------------------------------- Kustomer
def kustomer_field(obj: str, record: Mapping[str, Any]) -> SourceField | None:
    """One Kustomer custom attribute (kustomer-api.md §7; field-mapping.md)."""
    name = record.get("name")
    if not isinstance(name, str) or not name:
        return None
    raw = record.get("raw") if isinstance(record.get("raw"), Mapping) else {}
    suffix = record.get("suffix") or ((m := _KUSTOMER_SUFFIX_RE.match(name)) and m.group(2))
    declared = str(record.get("type") or raw.get("type") or "").lower()
    enumeration = record.get("enumeration") or raw.get("enumeration") or []
    multi = bool(record.get("multi", raw.get("multi", False)))
    stem = m.group(1) if (m := _KUSTOMER_SUFFIX_RE.match(name)) else name
    label = str(record.get("display_name") or raw.get("displayName") or "").strip()
    label = label or humanize(stem)
    origin = "/".join(str(x) for x in (suffix or declared, "multi" if multi else "") if x)
    options: tuple[tuple[str, str], ...] = ()
    if enumeration:
        csm_type = "MULTISELECT" if multi else "SELECT"
        options = _options((v, v) for v in enumeration)
        origin += "/enumeration"
    elif suffix == "Bool" or declared == "boolean":
        csm_type, options = BOOLEAN, BOOLEAN_OPTIONS
    elif suffix == "Num" or declared in ("number", "integer"):
        csm_type = "NUMBER"
    elif suffix == "At" or declared in ("date", "datetime"):
        csm_type = "DATE"
    elif suffix == "Url" or declared == "url":
        csm_type = "URL"
    else:
        csm_type = "TEXT"
    target = record.get("target") or raw.get("target")
    skip = f"relationship to {target} (KObjects are their own stream)" if target else None
    return SourceField(KUSTOMER, obj, name, label, csm_type, options, skip, origin)


# ----------------------------------------------------------------------- Zendesk
_PHONE_SAMPLES = ("+14155550123", "+1 415 555 0123", "(415) 555-0123", "415-555-0123")
_URL_SAMPLES = ("https://www.example.com/path", "http://example.com")
_TEXT_SAMPLES = ("hello world", "abc")


def regexp_type(pattern: str | None) -> str:
    """CSM type for a Zendesk ``regexp`` field: PHONE or URL when the pattern is one, else TEXT.

    Zendesk patterns are Ruby regular expressions; a pattern that accepts phone-number (or
    URL) samples and refuses plain words is taken as one. Anything else, or a pattern Python
    cannot read, stays TEXT: CSM has no regex validation.
    """
    if not pattern:
        return "TEXT"
    try:
        compiled = re.compile(pattern)
    except re.error:
        return "TEXT"
    if any(compiled.search(s) for s in _TEXT_SAMPLES):
        return "TEXT"
    if any(compiled.fullmatch(s) or compiled.search(s) for s in _URL_SAMPLES):
        return "URL"
    if any(compiled.fullmatch(s) or compiled.search(s) for s in _PHONE_SAMPLES):
        return "PHONE"
    return "TEXT"


def zendesk_field(obj: str, record: Mapping[str, Any]) -> SourceField | None:
    """One Zendesk user or organization field (zendesk-api.md §1.4; field-mapping.md)."""
    key = record.get("key")
    if not isinstance(key, str) or not key:
        return None
    kind = str(record.get("type") or "text").lower()
    label = str(record.get("title") or record.get("raw_title") or "").strip() or humanize(key)
    options: tuple[tuple[str, str], ...] = ()
    skip = None
    if kind in ("dropdown", "tagger", "multiselect"):
        csm_type = "MULTISELECT" if kind == "multiselect" else "SELECT"
        raw_options = sorted(
            (o for o in record.get("custom_field_options") or [] if isinstance(o, Mapping)),
            key=lambda o: o.get("position") if isinstance(o.get("position"), int) else 0,
        )
        options = _options((o.get("value"), o.get("name")) for o in raw_options)
        if not options:
            csm_type = "TEXT"
    elif kind == "checkbox":
        csm_type, options = BOOLEAN, BOOLEAN_OPTIONS
    elif kind in ("integer", "decimal"):
        csm_type = "NUMBER"
    elif kind == "date":
        csm_type = "DATE"
    elif kind == "regexp":
        csm_type = regexp_type(record.get("regexp_for_validation"))
    elif kind == "lookup":
        csm_type = "TEXT"
        skip = "lookup: records hold the related record's id, not its name"
    else:  # text, textarea and types not known yet
        csm_type = "TEXT"
    if record.get("active") is False:
        skip = "inactive"
    return SourceField(ZENDESK, obj, key, label, csm_type, options, skip, kind)


# --------------------------------------------------------------- recognising streams
def metadata_kind(stream: str, schema: Mapping[str, Any]) -> str | None:
    """Which source's field metadata ``stream`` carries, or None for other streams."""
    props = _props(schema)
    if stream in HUBSPOT_METADATA_STREAMS and "fieldType" in props and "name" in props:
        return HUBSPOT
    if stream == KUSTOMER_METADATA_STREAM and "resource" in props and "name" in props:
        return KUSTOMER
    if stream in ZENDESK_METADATA_STREAMS and "key" in props and "type" in props:
        return ZENDESK
    return None


def fields_from_metadata(kind: str, stream: str, record: Mapping[str, Any]) -> SourceField | None:
    """One metadata record → one proposed field (None: not a field for CSM)."""
    if kind == HUBSPOT:
        return hubspot_field(HUBSPOT_METADATA_STREAMS[stream], record)
    if kind == ZENDESK:
        return zendesk_field(ZENDESK_METADATA_STREAMS[stream], record)
    resource = str(record.get("resource") or "")
    if resource not in KUSTOMER_RESOURCES.values():
        return None  # conversations, messages, KObjects: not CSM entities
    return kustomer_field(resource, record)


def record_source(stream: str, schema: Mapping[str, Any]) -> RecordSource | None:
    """The source object a record stream carries, when a metadata stream can describe it."""
    props = _props(schema)
    if stream in HUBSPOT_METADATA_STREAMS.values() and (
        "hs_object_id" in props or "hs_merged_object_ids" in props
    ):
        return RecordSource(HUBSPOT, stream)
    attributes = _props(props.get("attributes") or {})
    if stream in KUSTOMER_RESOURCES and "custom" in attributes:
        return RecordSource(KUSTOMER, KUSTOMER_RESOURCES[stream], "attributes.custom")
    for container, obj in (("user_fields", "user"), ("organization_fields", "organization")):
        if container in props and "object" in _types(props[container]):
            return RecordSource(ZENDESK, obj, container)
    return None


#: JSON Schema extension keyword a tap puts on a property that links to another object
#: (tap-kustomer's KObject links): an id, not data of the record, so no field is made for it.
LINK_KEYWORD = "x-link"


def _enum(node: Mapping[str, Any]) -> list[str]:
    """The allowed values of a property (``enum``, in any branch of anyOf/oneOf), nulls out."""
    values: list[Any] = list(node.get("enum") or [])
    for combo in ("anyOf", "oneOf"):
        for branch in node.get(combo) or ():
            if isinstance(branch, Mapping):
                values += list(branch.get("enum") or [])
    return [v for v in dict.fromkeys(values) if v is not None and not isinstance(v, dict | list)]


def _item_schema(node: Mapping[str, Any]) -> Mapping[str, Any]:
    items = node.get("items")
    if isinstance(items, Mapping):
        return items
    for combo in ("anyOf", "oneOf"):
        for branch in node.get(combo) or ():
            if isinstance(branch, Mapping) and isinstance(branch.get("items"), Mapping):
                return branch["items"]
    return {}


def schema_field(stream: str, name: str, node: Mapping[str, Any]) -> SourceField | None:
    """A proposed field from a JSON-schema property (no metadata known), or None.

    ``enum`` makes a SELECT of its values, an array of enum a MULTISELECT; a property marked
    with ``x-link`` (a link to another object) and nested objects make no field.
    """
    if node.get(LINK_KEYWORD):
        return None
    types = _types(node)
    fmt = str(node.get("format") or "")
    label = str(node.get("title") or "").strip() or humanize(name)
    if "object" in types:
        return None  # nested objects are not one value
    enum = _enum(node)
    item_enum = _enum(_item_schema(node)) if "array" in types else []
    if item_enum:
        options = _options((v, v) for v in item_enum)
        return SourceField(SCHEMA, stream, name, label, "MULTISELECT", options, None, "array/enum")
    if enum and "array" not in types and "boolean" not in types:
        options = _options((v, v) for v in enum)
        return SourceField(SCHEMA, stream, name, label, "SELECT", options, None, "enum")
    if "array" in types:
        csm_type = "TEXT"  # a MULTISELECT needs its options before data: joined text instead
    elif "string" in types and fmt in ("date", "date-time", "datetime"):
        # "datetime" is not JSON Schema, but singer-io tap-zendesk writes it for date fields
        csm_type = "DATE"
    elif "string" in types and fmt == "email":
        csm_type = "EMAIL"
    elif "string" in types and fmt in ("uri", "url"):
        csm_type = "URL"
    elif "string" in types or not types:
        csm_type = "TEXT"
    elif types & {"integer", "number"}:
        csm_type = "NUMBER"
    elif "boolean" in types:
        csm_type = BOOLEAN
    else:
        csm_type = "TEXT"
    options = BOOLEAN_OPTIONS if csm_type == BOOLEAN else ()
    origin = "/".join(sorted(types)) + (f"/{fmt}" if fmt else "")
    return SourceField(SCHEMA, stream, name, label, csm_type, options, None, origin)


def schema_fields(
    stream: str,
    schema: Mapping[str, Any],
    containers: Iterable[str],
    value_key: str | None = None,
) -> list[tuple[str, SourceField]]:
    """(record path, proposed field) for every property in the rule's ``details_from``.

    With ``value_key`` (a rule's ``details_value_key``), a property that is an object
    holding that key (singer-io tap-hubspot's v2 ``{value, timestamp, ...}``) is typed by
    the schema of its value: the mapping reads the value, so the field is the value's.
    """
    out: list[tuple[str, SourceField]] = []
    for container in containers:
        node: Mapping[str, Any] = schema
        for part in [p for p in container.split(".") if p]:
            node = _props(node).get(part) or {}
        for name, prop in _props(node).items():
            if not isinstance(prop, Mapping):
                continue
            if value_key and isinstance(_props(prop).get(value_key), Mapping):
                prop = {**_props(prop)[value_key], "title": prop.get("title")}  # noqa: PLW2901
            if spec := schema_field(stream, name, prop):
                out.append((f"{container}.{name}" if container else name, spec))
    return out
