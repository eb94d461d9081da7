"""Mapping presets: the default rules for the taps users bring.

A preset recognises a stream by its name and schema and returns a :class:`StreamRule`.
``auto`` tries the presets for this project's taps first, then the generic rules (streams
named like customers or organizations, fields named like email and name). A user's
``mapping.<stream>`` always wins over a preset, key by key.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from target_atlassian_csm.mapping import IGNORE, StreamRule
from target_atlassian_csm.operations import CUSTOMER, ORGANIZATION

Detector = Callable[[str, Mapping[str, Any]], StreamRule | None]


def _props(schema: Mapping[str, Any]) -> Mapping[str, Any]:
    return schema.get("properties") or {}


def _nested(schema: Mapping[str, Any], *path: str) -> Mapping[str, Any]:
    node = schema
    for part in path:
        node = _props(node).get(part) or {}
    return _props(node)


# --------------------------------------------------------------- tap-hubspot-contacts
def hubspot_contacts(stream: str, schema: Mapping[str, Any]) -> StreamRule | None:
    """tap-hubspot-contacts: flat typed properties, ``associated_company_ids`` on contacts."""
    props = _props(schema)
    if stream == "contacts" and "associated_company_ids" in props:
        return StreamRule(
            entity=CUSTOMER,
            email="email",
            display_name=["{firstname} {lastname}"],
            source_id="id",
            organization_id="associated_company_ids",
            organization_stream="companies",
            skip_when={"archived": True},
            exclude_fields=[
                "id",
                "createdAt",
                "updatedAt",
                "archived",
                "archivedAt",
                "primary_company_id",
                "hs_merged_object_ids",
                "hs_object_id",
            ],
        )
    if stream == "companies" and "hs_merged_object_ids" in props and "name" in props:
        return StreamRule(
            entity=ORGANIZATION,
            name="name",
            source_id="id",
            skip_when={"archived": True},
            exclude_fields=[
                "id",
                "createdAt",
                "updatedAt",
                "archived",
                "archivedAt",
                "hs_merged_object_ids",
                "hs_object_id",
            ],
        )
    if stream in ("contact_properties", "company_properties") and "fieldType" in props:
        return StreamRule(entity=IGNORE)
    return None


# ----------------------------------------------------------------------- tap-kustomer
def kustomer(stream: str, schema: Mapping[str, Any]) -> StreamRule | None:
    """tap-kustomer: JSON:API records with ``attributes``; custom attributes typed by suffix."""
    attributes = _nested(schema, "attributes")
    if not attributes:
        return None
    if stream == "customers" and "emails" in attributes:
        return StreamRule(
            entity=CUSTOMER,
            email="attributes.emails[0].email",
            display_name=["attributes.displayName", "attributes.name"],
            source_id="id",
            organization_id="company_id",
            organization_stream="companies",
            skip_when={"deleted": True},
            details_from=["attributes.custom"],
            strip_type_suffixes=True,
        )
    if stream == "companies" and "name" in attributes:
        return StreamRule(
            entity=ORGANIZATION,
            name="attributes.name",
            source_id="id",
            skip_when={"deleted": True},
            details_from=["attributes.custom"],
            strip_type_suffixes=True,
        )
    return StreamRule(entity=IGNORE) if "id" in _props(schema) else None


# ---------------------------------------------------------------------------- generic
CUSTOMER_STREAMS = ("customers", "contacts", "users", "people", "persons", "end_users")
ORGANIZATION_STREAMS = ("organizations", "organisations", "companies", "accounts")
EMAIL_FIELDS = ("email", "email_address", "emailAddress", "primary_email", "mail")
NAME_FIELDS = ("name", "company_name", "companyName", "organization_name", "display_name")


def _stream_base(stream: str) -> str:
    """``public-customers`` (tap-postgres) or ``raw.customers`` → ``customers``."""
    for sep in (".", "-"):
        stream = stream.rsplit(sep, 1)[-1]
    return stream.lower()


def generic(stream: str, schema: Mapping[str, Any]) -> StreamRule | None:
    """Any tap: streams named like customers or organizations with the usual field names."""
    props = _props(schema)
    base = _stream_base(stream)
    if base in CUSTOMER_STREAMS:
        email = next((f for f in EMAIL_FIELDS if f in props), None)
        if email is None:
            return None
        display = [f for f in ("name", "display_name", "displayName", "full_name") if f in props]
        for first, last in (
            ("first_name", "last_name"),
            ("firstname", "lastname"),
            ("firstName", "lastName"),
        ):
            if first in props:
                display.append(f"{{{first}}} {{{last}}}")
        org_name = next(
            (f for f in ("company", "organization", "company_name") if f in props), None
        )
        return StreamRule(
            entity=CUSTOMER,
            email=email,
            display_name=display or None,
            source_id="id" if "id" in props else None,
            organization_name=org_name,
            exclude_fields=["id"],
        )
    if base in ORGANIZATION_STREAMS:
        name = next((f for f in NAME_FIELDS if f in props), None)
        if name is None:
            return None
        return StreamRule(
            entity=ORGANIZATION,
            name=name,
            source_id="id" if "id" in props else None,
            exclude_fields=["id"],
        )
    return None


@dataclass(frozen=True)
class Preset:
    """A named set of detectors, tried in order."""

    name: str
    detectors: tuple[Detector, ...]
    description: str

    def rule_for(self, stream: str, schema: Mapping[str, Any]) -> StreamRule | None:
        """The first detector's rule for this stream, or None."""
        for detect in self.detectors:
            rule = detect(stream, schema)
            if rule is not None:
                return rule
        return None


PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset(
            "auto",
            (hubspot_contacts, kustomer, generic),
            "detect this project's taps by stream name and schema, else generic rules",
        ),
        Preset("tap-hubspot-contacts", (hubspot_contacts,), "this project's HubSpot tap"),
        Preset("tap-kustomer", (kustomer,), "this project's Kustomer tap"),
        Preset("generic", (generic,), "streams named like customers/organizations"),
        Preset("none", (), "only the streams listed in `mapping`"),
    )
}
