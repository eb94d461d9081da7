"""What one bulk item does to the store when its task ends, and how it fails.

Items are independent: an item with any failure changes nothing, the others land. Every
failure carries the reference shape (``entity, entityId, operation, operatedOn,
operatedOnIds, error``) plus the item's position for the guide dialect. ``entityId`` is the
identifier the request used: ``customerId`` or else ``email`` for customers, ``id`` or else
``name`` for organizations.

Readings taken where the docs are silent:

* a profile item with neither ``email`` nor ``customerId`` fails ``Invalid email``; an
  organization item with neither ``id`` nor ``name`` fails ``Organization not found``, and
  a CREATE without a name fails ``Invalid organization name``;
* identification never renames: an UPDATE found by ``customerId`` / ``id`` does not change the
  email / name; ``displayName`` is updated when given, and defaults to the email on create;
* an organization name longer than 200 characters cannot be created (``Invalid organization
  name``): CSM organizations are JSM organizations, whose name is 1 to 200 characters (§7);
* profile bulk, a detail with ``values: []`` (§9 q3, unsure): ``profile_empty_values`` says
  whether it is ``ignored`` (the field keeps its value; default), ``clears`` the field, or is
  ``rejected`` (the item fails ``Invalid detail field value``);
* associations (§9 q2): ``additive`` adds memberships; ``replace`` makes the listed ids the
  record's whole membership when the association key is present; with
  ``profile_associations_ignored`` (FIELD S18) they are neither checked nor made;
* details bulk: each detail operation is independent (a bad one fails alone); an entity
  that is not found yields one ``Customer not found`` / ``Organization not found`` failure
  with the first operation's type; a MULTISELECT keeps each value once; UPDATE with
  ``values: []`` clears the field, as DELETE does;
* definitions bulk applies all or nothing: a clash that appeared while the task waited fails
  every definition of the request.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sandbox.csm.store import Customer, FieldDef, Organization, Store
from sandbox.csm.validate import (
    ASSOCIATION_KEYS,
    INVALID_VALUE,
    MAX_DETAILS_PER_PAYLOAD,
    MAX_FIELDS_PER_ENTITY,
    BulkSpec,
    valid_email,
    value_error,
)

CUSTOMER_NOT_FOUND = "Customer not found"
ORGANIZATION_NOT_FOUND = "Organization not found"
INVALID_ORGANIZATION_NAME = "Invalid organization name"
MAX_ORGANIZATION_NAME = 200


@dataclass(frozen=True)
class Readings:
    """The knobs that decide what an item does, read when its task ends."""

    at: float = 0.0
    empty_values: str = "ignored"
    association_mode: str = "additive"
    associations_ignored: bool = False
    details_by_email: bool = False


@dataclass
class Failure:
    """One failed item (or detail operation) of a task."""

    index: int
    entity: str
    entity_id: str | None
    operation: str
    operated_on: str
    error: str
    operated_on_ids: list[str] = field(default_factory=list)

    def reference(self, *, with_entity_id: bool = True) -> dict[str, Any]:
        """The reference dialect's failure object."""
        out: dict[str, Any] = {"entity": self.entity}
        if with_entity_id and self.entity_id is not None:
            out["entityId"] = self.entity_id
        out.update(
            operation=self.operation,
            operatedOn=self.operated_on,
            operatedOnIds=list(self.operated_on_ids),
            error=self.error,
        )
        return out

    def guide(self) -> dict[str, Any]:
        """The guide dialect's ``{index, message}``."""
        suffix = f": {', '.join(self.operated_on_ids)}" if self.operated_on_ids else ""
        return {"index": self.index, "message": f"{self.error}{suffix}"}

    def state(self) -> dict[str, Any]:
        """Everything, for the read-back."""
        return {"index": self.index, **self.reference()}


class _Failures(list[Failure]):
    """Failures of one item, with what they have in common filled in once."""

    def __init__(self, index: int, entity: str, entity_id: str | None, operation: str) -> None:
        super().__init__()
        self.base = (index, entity, entity_id, operation)

    def add(self, operated_on: str, error: str, ids: list[str] | None = None) -> None:
        index, entity, entity_id, operation = self.base
        self.append(Failure(index, entity, entity_id, operation, operated_on, error, ids or []))


def apply_item(
    store: Store, spec: BulkSpec, index: int, item: dict[str, Any], readings: Readings
) -> list[Failure]:
    """Apply one item of a profile, account or details bulk; return its failures."""
    if spec.kind == "details":
        return _apply_details_item(store, spec, index, item, readings)
    if spec.entity == "customer":
        return _apply_customer(store, index, item, readings, full=spec.kind == "profile")
    return _apply_organization(store, index, item, readings, full=spec.kind == "profile")


# --------------------------------------------------------------------- details
def _check_details(
    store: Store,
    entity: str,
    details: list[dict[str, Any]],
    failures: _Failures,
    empty_values: str,
) -> None:
    if len(details) > MAX_DETAILS_PER_PAYLOAD:
        failures.add("DETAIL_FIELD", "Too many detail fields")
        return
    for detail in details:
        definition = store.field_named(entity, detail["name"])
        if definition is None:
            failures.add("DETAIL_FIELD", "Invalid detail field", [detail["name"]])
            continue
        error = value_error(definition, detail["values"])
        if not detail["values"] and empty_values == "rejected":
            error = INVALID_VALUE
        if error:
            failures.add("DETAIL_FIELD", error, [detail["name"]])


def _profile_details(details: list[dict[str, Any]], empty_values: str) -> list[dict[str, Any]]:
    """The details a profile item writes: ``values: []`` is dropped unless it clears."""
    if empty_values == "clears":
        return details
    return [d for d in details if d["values"]]


def _set_values(details: dict[str, list[str]], definition: FieldDef, values: list[str]) -> None:
    unique = list(dict.fromkeys(values))
    if unique:
        details[definition.name] = unique
    else:
        details.pop(definition.name, None)


def _write_details(
    store: Store, entity: str, target: dict[str, list[str]], details: list[dict[str, Any]]
) -> None:
    for detail in details:
        definition = store.field_named(entity, detail["name"])
        if definition is not None:
            _set_values(target, definition, detail["values"])


# ------------------------------------------------------------------- customers
def _find_customer(store: Store, customer_id: str | None, email: str | None) -> Customer | None:
    if customer_id:
        found = store.customer(customer_id)
        if found is not None:
            return found
    if email:
        return store.customer_by_email(email)
    return None


def _apply_customer(
    store: Store, index: int, item: dict[str, Any], readings: Readings, *, full: bool
) -> list[Failure]:
    operation = item["operationType"]
    payload = item["payload"]
    email, customer_id = payload.get("email"), payload.get("customerId")
    failures = _Failures(index, "CUSTOMER", customer_id or email, operation)
    needs_email = email is not None or not customer_id or operation == "CREATE"
    if needs_email and not valid_email(email):
        failures.add("CUSTOMER_ACCOUNT", "Invalid email")
        return failures
    # an UPSERT by id alone never creates; with an email it falls back to the email
    lookup_email = email if (operation != "UPDATE" or not customer_id) else None
    existing = _find_customer(store, customer_id, lookup_email)
    if operation == "CREATE" and existing is not None:
        failures.add("CUSTOMER_ACCOUNT", "Customer already exists")
    elif existing is None and (operation == "UPDATE" or not email):
        failures.add("CUSTOMER_ACCOUNT", CUSTOMER_NOT_FOUND)
    details = (payload.get("details") or []) if full else []
    _check_details(store, "customer", details, failures, readings.empty_values)
    org_ids = _association_ids(payload, "customer", readings) if full else None
    for org_id in org_ids or []:
        if store.organization(org_id) is None:
            failures.add("ORGANIZATION_ASSOCIATION", ORGANIZATION_NOT_FOUND, [org_id])
    if failures:
        return failures
    customer = existing or store.create_customer(
        email, payload.get("displayName") or email, at=readings.at
    )
    if existing is not None and payload.get("displayName"):
        store.rename_customer(customer, payload["displayName"])
    _write_details(
        store, "customer", customer.details, _profile_details(details, readings.empty_values)
    )
    if org_ids is not None:
        if readings.association_mode == "replace":
            for org_id in [o for o in customer.organization_ids if o not in org_ids]:
                store.dissociate(customer, store.organizations[org_id])
        for org_id in org_ids:
            store.associate(customer, store.organizations[org_id])
    return failures


def _association_ids(payload: dict[str, Any], entity: str, readings: Readings) -> list[str] | None:
    """The ids to associate; None when the payload says nothing (or the FIELD reading)."""
    outer, inner = ASSOCIATION_KEYS[entity]
    if readings.associations_ignored or payload.get(outer) is None:
        return None
    return list(dict.fromkeys(payload[outer].get(inner) or []))


# --------------------------------------------------------------- organizations
def _find_organization(
    store: Store, organization_id: str | None, name: str | None
) -> Organization | None:
    if organization_id:
        found = store.organization(organization_id)
        if found is not None:
            return found
    if name and name.strip():
        return store.organization_by_name(name)
    return None


def _apply_organization(
    store: Store, index: int, item: dict[str, Any], readings: Readings, *, full: bool
) -> list[Failure]:
    operation = item["operationType"]
    payload = item["payload"]
    name, organization_id = payload.get("name"), payload.get("id")
    failures = _Failures(index, "ORGANIZATION", organization_id or name, operation)
    has_name = bool(name and name.strip())
    lookup_name = name if (operation != "UPDATE" or not organization_id) else None
    existing = _find_organization(store, organization_id, lookup_name)
    if operation == "CREATE" and existing is not None:
        failures.add("ORGANIZATION", "Organization already exists")
    elif operation == "CREATE" and not has_name:
        failures.add("ORGANIZATION", INVALID_ORGANIZATION_NAME)
    elif existing is None and (operation == "UPDATE" or not has_name):
        failures.add("ORGANIZATION", ORGANIZATION_NOT_FOUND)
    elif existing is None and len(name.strip()) > MAX_ORGANIZATION_NAME:
        failures.add("ORGANIZATION", INVALID_ORGANIZATION_NAME)
    details = (payload.get("details") or []) if full else []
    _check_details(store, "organization", details, failures, readings.empty_values)
    customer_ids = _association_ids(payload, "organization", readings) if full else None
    for customer_id in customer_ids or []:
        if store.customer(customer_id) is None:
            failures.add("CUSTOMER_ASSOCIATION", CUSTOMER_NOT_FOUND, [customer_id])
    if failures:
        return failures
    organization = existing or store.create_organization(name)
    _write_details(
        store,
        "organization",
        organization.details,
        _profile_details(details, readings.empty_values),
    )
    if customer_ids is not None:
        if readings.association_mode == "replace":
            for customer_id in [c for c in organization.customer_ids if c not in customer_ids]:
                store.dissociate(store.customers[customer_id], organization)
        for customer_id in customer_ids:
            store.associate(store.customers[customer_id], organization)
    return failures


# ---------------------------------------------------------------- details bulk
def _details_target(
    store: Store, spec: BulkSpec, item: dict[str, Any], *, by_email: bool
) -> tuple[str | None, Customer | Organization | None]:
    if spec.entity == "customer":
        email = item.get("email") if by_email else None
        entity_id = item.get("customerId") or email
        return entity_id, _find_customer(store, item.get("customerId"), email)
    name = item.get("organizationName") if by_email else None
    entity_id = item.get("organizationId") or name
    return entity_id, _find_organization(store, item.get("organizationId"), name)


def _apply_details_item(
    store: Store, spec: BulkSpec, index: int, item: dict[str, Any], readings: Readings
) -> list[Failure]:
    entity_name = spec.entity.upper()
    entity_id, target = _details_target(store, spec, item, by_email=readings.details_by_email)
    operations = item["operations"]
    if target is None:
        failures = _Failures(index, entity_name, entity_id, operations[0]["operationType"])
        error = CUSTOMER_NOT_FOUND if spec.entity == "customer" else ORGANIZATION_NOT_FOUND
        failures.add("CUSTOMER_ACCOUNT" if spec.entity == "customer" else "ORGANIZATION", error)
        return failures
    out: list[Failure] = []
    for operation in operations:
        kind, payload = operation["operationType"], operation["payload"]
        failures = _Failures(index, entity_name, entity_id, kind)
        definition = store.field_named(spec.entity, payload["name"])
        if definition is None:
            failures.add("DETAIL_FIELD", "Invalid detail field", [payload["name"]])
        elif kind != "DELETE":
            error = value_error(definition, payload["values"])
            if error:
                failures.add("DETAIL_FIELD", error, [payload["name"]])
        if failures or definition is None:
            out.extend(failures)
            continue
        _apply_detail_operation(target.details, definition, kind, payload.get("values") or [])
    return out


def _apply_detail_operation(
    details: dict[str, list[str]], definition: FieldDef, kind: str, values: list[str]
) -> None:
    if kind == "DELETE":
        details.pop(definition.name, None)
    elif kind == "PATCH" and definition.multi:
        _set_values(details, definition, [*details.get(definition.name, []), *values])
    elif kind == "PATCH" and not values:
        return  # adding nothing to a single-valued field leaves it as it is
    else:
        _set_values(details, definition, values)


# ------------------------------------------------------------ definitions bulk
def apply_definitions(store: Store, spec: BulkSpec, definitions: list[FieldDef]) -> list[Failure]:
    """Create the definitions of a task, all or nothing."""
    failures: list[Failure] = []
    room = MAX_FIELDS_PER_ENTITY - len(store.fields[spec.entity])
    for index, definition in enumerate(definitions):
        error = None
        if store.field_name_taken(spec.entity, definition.name):
            error = "Detail field already exists"
        elif index >= room:
            error = "Too many detail fields"
        if error:
            failures.append(
                Failure(
                    index,
                    spec.entity.upper(),
                    definition.name,
                    "CREATE",
                    "DETAIL_FIELD",
                    error,
                    [definition.name],
                )
            )
    if not failures:
        for definition in definitions:
            store.add_field(spec.entity, definition.name, definition.type, definition.options)
    return failures
