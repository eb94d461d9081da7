"""Request and value validation: what fails a whole request, and what fails one item.

Two levels, as ``docs/csm-api-choices.md`` lays them out:

* **structural** problems fail the whole request with a 400 before any task exists
  (:func:`check_bulk` raises :class:`ApiError`): a missing top-level key, an item without
  ``operationType``/``payload``, an unknown operation, ``values`` that is not an array of
  strings, too many items;
* **value** problems fail one item inside a task (:func:`value_error` returns the error
  string of the docs' table).

Stricter readings taken where the docs are silent (each is a 400 before any task):
an empty item list; a details-bulk entity without ``customerId`` / ``organizationId`` (the
reference's body names entities by id only; knob ``details_bulk_by_email`` also takes
``email`` / ``organizationName``); a ``details`` entry that is not ``{name: str, values: [str]}``;
``organizationIds`` / ``customerIds`` that are not arrays of strings (the spec models ids as
strings, and the FIELD report of silently dropped associations came with numeric ids); a
details-bulk entity without an ``operations`` array; a field ``type`` that is not an object.
Detail fields are referenced by their exact name (names are unique case-insensitively, so a
near miss is ``Invalid detail field``, never another field). Task ``type`` values other than
``BULK_CUSTOMER_PROFILE_CREATE_UPDATE`` (the only documented one) are named by analogy.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from sandbox.core.app import ApiError
from sandbox.csm.store import BASE_TYPES, SELECT_TYPES, FieldDef

PROFILE_OPS = ("CREATE", "UPDATE", "UPSERT")
DETAIL_OPS = ("UPDATE", "PATCH", "DELETE")
MAX_FIELDS_PER_ENTITY = 50
MAX_OPTIONS = 50
MAX_DETAILS_PER_PAYLOAD = 50
MAX_VALUES = 50
MAX_DETAIL_OPERATIONS = 1000

INVALID_VALUE = "Invalid detail field value"
TOO_MANY_VALUES = "Too many values"

EMAIL_RE = re.compile(r"^[^\s@]+@[^\s@]+\.[^\s@]+$")
DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
NUMBER_RE = re.compile(r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)$")
PHONE_RE = re.compile(r"^\+?[0-9 ().\-/]+(?:\s*(?:x|ext\.?)\s*[0-9]+)?$", re.IGNORECASE)


@dataclass(frozen=True)
class BulkSpec:
    """One bulk endpoint: its entity, body key, item limit, operations and task type."""

    endpoint: str
    entity: str
    key: str
    max_items: int
    kind: str  # "profile", "account", "details" or "definitions"
    task_type: str

    @property
    def operations(self) -> tuple[str, ...]:
        """The operationType values this endpoint takes."""
        return DETAIL_OPS if self.kind == "details" else PROFILE_OPS


BULK_SPECS: dict[str, BulkSpec] = {
    spec.endpoint: spec
    for spec in (
        BulkSpec(
            "customer/profile/bulk",
            "customer",
            "customerProfiles",
            100,
            "profile",
            "BULK_CUSTOMER_PROFILE_CREATE_UPDATE",
        ),
        BulkSpec(
            "organization/profile/bulk",
            "organization",
            "organizationProfiles",
            100,
            "profile",
            "BULK_ORGANIZATION_PROFILE_CREATE_UPDATE",
        ),
        BulkSpec(
            "customer/bulk", "customer", "customers", 50, "account", "BULK_CUSTOMER_CREATE_UPDATE"
        ),
        BulkSpec(
            "organization/bulk",
            "organization",
            "organizations",
            50,
            "account",
            "BULK_ORGANIZATION_CREATE_UPDATE",
        ),
        BulkSpec(
            "customer/details/bulk",
            "customer",
            "customers",
            100,
            "details",
            "BULK_CUSTOMER_DETAILS_UPDATE",
        ),
        BulkSpec(
            "organization/details/bulk",
            "organization",
            "organizations",
            100,
            "details",
            "BULK_ORGANIZATION_DETAILS_UPDATE",
        ),
        BulkSpec(
            "customer/details/definitions/bulk",
            "customer",
            "detailFields",
            50,
            "definitions",
            "BULK_CUSTOMER_DETAIL_FIELDS_CREATE",
        ),
        BulkSpec(
            "organization/details/definitions/bulk",
            "organization",
            "detailFields",
            50,
            "definitions",
            "BULK_ORGANIZATION_DETAIL_FIELDS_CREATE",
        ),
    )
}

#: How a details-bulk entity is identified (the first key wins when both are given).
DETAILS_ID_KEYS = {
    "customer": ("customerId", "email"),
    "organization": ("organizationId", "organizationName"),
}
ASSOCIATION_KEYS = {
    "customer": ("associateOrganizations", "organizationIds"),
    "organization": ("associateCustomers", "customerIds"),
}


def bad(message: str) -> ApiError:
    """A whole-request 400."""
    return ApiError(400, message)


def _is_str_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


# ------------------------------------------------------------------- structural
def check_bulk(
    spec: BulkSpec, body: Any, *, details_by_email: bool = False
) -> tuple[list[dict[str, Any]], int]:
    """Check a bulk body's structure; return its items and the task's work units.

    Work units are items, except for details bulk where each detail operation counts.
    Definitions bulk is checked further by :func:`check_definitions` (it needs the store).
    ``details_by_email`` lets details-bulk entities be named by ``email`` /
    ``organizationName`` instead of the documented ``customerId`` / ``organizationId``.
    """
    if not isinstance(body, dict):
        raise bad("Request body must be a JSON object")
    items = body.get(spec.key)
    if items is None:
        raise bad(f"'{spec.key}' is required")
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise bad(f"'{spec.key}' must be an array of objects")
    if not items:
        raise bad(f"'{spec.key}' must contain at least one item")
    if len(items) > spec.max_items:
        raise bad(f"'{spec.key}' accepts at most {spec.max_items} items, got {len(items)}")
    if spec.kind == "details":
        return items, _check_details_items(spec, items, by_email=details_by_email)
    if spec.kind == "definitions":
        return items, len(items)
    for position, item in enumerate(items):
        _check_profile_item(spec, position, item)
    return items, len(items)


def _check_operation(spec: BulkSpec, where: str, item: dict[str, Any]) -> dict[str, Any]:
    if "operationType" not in item:
        raise bad(f"{where}: 'operationType' is required")
    if item["operationType"] not in spec.operations:
        allowed = ", ".join(spec.operations)
        raise bad(f"{where}: unknown operationType {item['operationType']!r} (use {allowed})")
    payload = item.get("payload")
    if not isinstance(payload, dict):
        raise bad(f"{where}: 'payload' is required and must be an object")
    return payload


def _check_profile_item(spec: BulkSpec, position: int, item: dict[str, Any]) -> None:
    where = f"{spec.key}[{position}]"
    payload = _check_operation(spec, where, item)
    for key in ("email", "displayName", "customerId", "id", "name"):
        if payload.get(key) is not None and not isinstance(payload[key], str):
            raise bad(f"{where}.payload.{key} must be a string")
    if spec.kind == "account":
        return
    details = payload.get("details")
    if details is not None:
        if not isinstance(details, list):
            raise bad(f"{where}.payload.details must be an array")
        for n, detail in enumerate(details):
            _check_detail_entry(f"{where}.payload.details[{n}]", detail, values_required=True)
    outer, inner = ASSOCIATION_KEYS[spec.entity]
    association = payload.get(outer)
    if association is not None and (
        not isinstance(association, dict) or not _is_str_list(association.get(inner, []))
    ):
        raise bad(f"{where}.payload.{outer}.{inner} must be an array of strings")


def _check_detail_entry(where: str, detail: Any, *, values_required: bool) -> None:
    if not isinstance(detail, dict) or not isinstance(detail.get("name"), str):
        raise bad(f"{where} must be an object with a string 'name'")
    values = detail.get("values")
    if values is None and not values_required:
        return
    if not _is_str_list(values):
        raise bad(f"{where}.values must be an array of strings")


def _check_details_items(spec: BulkSpec, items: list[dict[str, Any]], *, by_email: bool) -> int:
    id_keys = DETAILS_ID_KEYS[spec.entity]
    total = 0
    for position, item in enumerate(items):
        where = f"{spec.key}[{position}]"
        for id_key in id_keys:
            if item.get(id_key) is not None and not isinstance(item[id_key], str):
                raise bad(f"{where}.{id_key} must be a string")
        named = [k for k in (id_keys if by_email else id_keys[:1]) if item.get(k)]
        if not named:
            raise bad(f"{where}.{' or '.join(id_keys if by_email else id_keys[:1])} is required")
        operations = item.get("operations")
        if not isinstance(operations, list) or not operations:
            raise bad(f"{where}.operations must be a non-empty array")
        for n, operation in enumerate(operations):
            op_where = f"{where}.operations[{n}]"
            if not isinstance(operation, dict):
                raise bad(f"{op_where} must be an object")
            payload = _check_operation(spec, op_where, operation)
            required = operation["operationType"] != "DELETE"
            _check_detail_entry(f"{op_where}.payload", payload, values_required=required)
        total += len(operations)
    if total > MAX_DETAIL_OPERATIONS:
        raise bad(f"at most {MAX_DETAIL_OPERATIONS} detail operations per request, got {total}")
    return total


# ------------------------------------------------------------ field definitions
def check_definition(
    raw: Any, *, taken: Iterable[str], boolean_supported: bool, where: str = "body"
) -> FieldDef:
    """Check one ``{name, type: {name, options}}`` definition; return it (position unset).

    ``taken`` are the names it must not clash with (trimmed, case-insensitive).
    """
    if not isinstance(raw, dict):
        raise bad(f"{where} must be an object")
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip():
        raise bad(f"{where}.name is required")
    kind = raw.get("type")
    if not isinstance(kind, dict) or not isinstance(kind.get("name"), str):
        raise bad(f"{where}.type.name is required")
    type_name = kind["name"]
    allowed = BASE_TYPES | ({"BOOLEAN"} if boolean_supported else set())
    if type_name not in allowed:
        raise bad(f"{where}: unknown detail field type {type_name!r}")
    options = _check_options(where, type_name, kind.get("options"))
    wanted = name.strip().casefold()
    if any(t.strip().casefold() == wanted for t in taken):
        raise bad(f"{where}: a detail field named {name!r} already exists")
    return FieldDef(name.strip(), type_name, options)


def _check_options(where: str, type_name: str, options: Any) -> list[str]:
    if type_name not in SELECT_TYPES:
        if options:
            raise bad(f"{where}: options are only allowed for SELECT and MULTISELECT")
        return []
    if not _is_str_list(options) or not options:
        raise bad(f"{where}.type.options must be a non-empty array of strings")
    if len(options) > MAX_OPTIONS:
        raise bad(f"{where}: at most {MAX_OPTIONS} options, got {len(options)}")
    if len({o.strip().casefold() for o in options}) != len(options):
        raise bad(f"{where}: options must be unique")
    return list(options)


def check_definitions(
    items: list[dict[str, Any]], *, existing: list[str], boolean_supported: bool
) -> list[FieldDef]:
    """Check a definitions bulk: any clash or overflow refuses the whole request."""
    accepted: list[FieldDef] = []
    for position, raw in enumerate(items):
        taken = [*existing, *(d.name for d in accepted)]
        accepted.append(
            check_definition(
                raw,
                taken=taken,
                boolean_supported=boolean_supported,
                where=f"detailFields[{position}]",
            )
        )
    if len(existing) + len(accepted) > MAX_FIELDS_PER_ENTITY:
        raise bad(f"at most {MAX_FIELDS_PER_ENTITY} detail fields per entity")
    return accepted


# ------------------------------------------------------------------------ values
def value_error(definition: FieldDef, values: list[str]) -> str | None:
    """The per-item error for ``values`` of ``definition``, or None when they are valid."""
    if len(values) > MAX_VALUES:
        return TOO_MANY_VALUES
    if len(values) > 1 and not definition.multi:
        return INVALID_VALUE
    if definition.type in SELECT_TYPES:
        ok = all(v in definition.options for v in values)  # exact spelling
    else:
        check = _CHECKS.get(definition.type)
        ok = check is None or all(check(v) for v in values)
    return None if ok else INVALID_VALUE


def _valid_date(text: str) -> bool:
    if not DATE_RE.match(text):
        return False
    try:
        dt.date.fromisoformat(text)
    except ValueError:
        return False
    return True


def _valid_url(text: str) -> bool:
    if any(c.isspace() for c in text):
        return False
    parts = urlsplit(text)
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def _valid_phone(text: str) -> bool:
    digits = sum(c.isdigit() for c in text)
    return bool(PHONE_RE.match(text.strip())) and 3 <= digits <= 20


_CHECKS: dict[str, Callable[[str], bool]] = {  # TEXT takes any string
    "DATE": _valid_date,
    "NUMBER": lambda v: bool(NUMBER_RE.match(v)),
    "EMAIL": lambda v: bool(EMAIL_RE.match(v)),
    "URL": _valid_url,
    "PHONE": _valid_phone,
    "BOOLEAN": lambda v: v in ("true", "false"),
}


def valid_email(text: str | None) -> bool:
    """The customer email check (the guides' pattern)."""
    return isinstance(text, str) and bool(EMAIL_RE.match(text.strip()))
