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

from target_atlassian_csm.mapping import ASSOCIATION_ENTITY, IGNORE, StreamRule
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
            deleted_when={"archived": True},
            merged_ids="hs_merged_object_ids",
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
            deleted_when={"archived": True},
            merged_ids="hs_merged_object_ids",
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
            deleted_when={"deleted": True},
            details_from=["attributes.custom"],
            strip_type_suffixes=True,
        )
    if stream == "companies" and "name" in attributes:
        return StreamRule(
            entity=ORGANIZATION,
            name="attributes.name",
            source_id="id",
            deleted_when={"deleted": True},
            details_from=["attributes.custom"],
            strip_type_suffixes=True,
        )
    return StreamRule(entity=IGNORE) if "id" in _props(schema) else None


def kustomer_singer(stream: str, schema: Mapping[str, Any]) -> StreamRule | None:
    """singer-io tap-kustomer 1.1: flat snake_case records (``attributes`` denested).

    Only customers: 1.1 has no companies stream, so a customer's company cannot be resolved
    to an organization of the same run and no association is made (load companies with this
    project's tap-kustomer for that). ``deleted`` arrives as the text "True"/"False".
    """
    props = _props(schema)
    if stream == "customers" and "emails" in props and "display_name" in props:
        return StreamRule(
            entity=CUSTOMER,
            email="emails[0].email",
            display_name=["display_name", "name"],
            source_id="id",
            deleted_when={"deleted": {"in": [True, "True", "true"]}},
            details_from=["custom"],
            strip_type_suffixes=True,
        )
    return None


# ------------------------------------------------- HubSpot peer taps (singer-io, MeltanoLabs)
#: HubSpot bookkeeping properties: ids, timestamps, merge lists, analytics counters.
HUBSPOT_SYSTEM_PROPERTIES = [
    "hs_object_id", "hs_merged_object_ids", "createdate", "lastmodifieddate",
    "hs_lastmodifieddate", "associatedcompanyid", "hs_email_domain", "hs_internal_flag",
    "hs_analytics_num_visits", "num_associated_contacts", "hubspot_owner_id",
]  # fmt: skip


def _has_property_columns(props: Mapping[str, Any]) -> bool:
    return any(key.startswith("property_") for key in props)


def tap_hubspot_singer(stream: str, schema: Mapping[str, Any]) -> StreamRule | None:
    """singer-io tap-hubspot 4.x: v3 contacts with ``property_*`` copies, v2 companies.

    Contacts link to their primary company through ``associatedcompanyid`` (the tap's schema
    keeps no company associations). The tap types HubSpot numbers as JSON numbers, so that
    id arrives as ``5000001.0``; companies are therefore keyed by ``hs_object_id`` (the same
    id, typed the same way) rather than by the integer ``companyId``. Company properties are
    v2 ``{value, timestamp, source, ...}`` objects: ``details_value_key`` reads their
    ``value``, so they match detail fields like the contacts' flat properties do.
    ``contacts_by_company`` (every company of a contact, one record each) is an association
    stream: it adds the contact's other companies, which ``associatedcompanyid`` lacks.
    """
    props = _props(schema)
    if stream == "contacts_by_company" and {"contact-id", "company-id"} <= set(props):
        return StreamRule(
            entity=ASSOCIATION_ENTITY,
            customer_id="contact-id",
            customer_stream="contacts",
            organization_id="company-id",
            organization_stream="companies",
        )
    if stream == "contacts" and "properties" in props and _has_property_columns(props):
        return _hubspot_contacts_rule()
    if stream == "companies" and "companyId" in props and "portalId" in props:
        return StreamRule(
            entity=ORGANIZATION,
            name="properties.name.value",
            source_id="properties.hs_object_id.value",
            deleted_when={"isDeleted": True},
            details_from=["properties"],
            details_value_key="value",
            exclude_fields=[*HUBSPOT_SYSTEM_PROPERTIES, "name"],
        )
    return None


def _hubspot_contacts_rule() -> StreamRule:
    """Contacts as both HubSpot peer taps send them: properties nested, primary company id."""
    return StreamRule(
        entity=CUSTOMER,
        email="properties.email",
        display_name=["{properties.firstname} {properties.lastname}"],
        source_id="id",
        organization_id="properties.associatedcompanyid",
        organization_stream="companies",
        deleted_when={"archived": True},
        details_from=["properties"],
        exclude_fields=HUBSPOT_SYSTEM_PROPERTIES,
    )


def meltano_tap_hubspot(stream: str, schema: Mapping[str, Any]) -> StreamRule | None:
    """MeltanoLabs tap-hubspot 0.10: v3 objects, every property a string under ``properties``."""
    props = _props(schema)
    nested = _nested(schema, "properties")
    if _has_property_columns(props) or not nested:
        return None
    if stream == "contacts" and "email" in nested and "lastmodifieddate" in props:
        return _hubspot_contacts_rule()
    if stream == "companies" and "name" in nested and "hs_lastmodifieddate" in props:
        return StreamRule(
            entity=ORGANIZATION,
            name="properties.name",
            source_id="id",
            deleted_when={"archived": True},
            details_from=["properties"],
            exclude_fields=HUBSPOT_SYSTEM_PROPERTIES,
        )
    return None


def _only(detector: Detector) -> Detector:
    """A preset for one tap: its customer/organization streams load, every other is ignored."""

    def detect(stream: str, schema: Mapping[str, Any]) -> StreamRule | None:
        return detector(stream, schema) or StreamRule(entity=IGNORE)

    detect.__doc__ = f"{detector.__name__}, other streams ignored"
    return detect


# ------------------------------------------------------------ tap-zendesk (singer-io)
#: Zendesk user/org columns that are bookkeeping, flags or identity already mapped: never
#: matched to a detail field even if the site has one with a similar name.
ZENDESK_SYSTEM_FIELDS = [
    "id", "url", "created_at", "updated_at", "deleted_at", "active", "verified", "shared",
    "shared_agent", "shared_phone_number", "shared_tickets", "shared_comments", "suspended",
    "moderator", "only_private_comments", "restricted_agent", "two_factor_auth_enabled",
    "chat_only", "report_csv", "permanently_deleted", "role_type", "custom_role_id",
    "default_group_id", "group_id", "locale_id", "photo", "signature", "last_login_at",
    "ticket_restriction", "iana_time_zone",
]  # fmt: skip

#: Zendesk roles that are the support team, not customers.
ZENDESK_STAFF_ROLES = ["admin", "agent"]


def tap_zendesk(stream: str, schema: Mapping[str, Any]) -> StreamRule | None:
    """singer-io tap-zendesk: custom values nested under ``user_fields``/``organization_fields``.

    Users become customers (default organization from ``organization_id``), organizations
    become organizations; custom fields are tried first, then the standard columns (phone,
    notes, tags, domain_names...), each only where the site has a field of that name.
    Deleted users (``active: false``) and the account's staff (``role`` admin or agent: they
    answer tickets, they are not customers) are skipped, as are deleted organizations
    (``deleted_at`` set). Dropdown values arrive as the option *tag* (``plan_pro``): the tap
    sends no option names.
    """
    props = _props(schema)
    if stream == "users" and "user_fields" in props and "role" in props and "email" in props:
        return StreamRule(
            entity=CUSTOMER,
            email="email",
            display_name="name",
            source_id="id",
            organization_id="organization_id",
            organization_stream="organizations",
            skip_when={"role": {"in": ZENDESK_STAFF_ROLES}},
            deleted_when={"active": False},
            details_from=["user_fields", ""],
            exclude_fields=[*ZENDESK_SYSTEM_FIELDS, "role", "user_fields"],
        )
    if stream == "organizations" and "organization_fields" in props and "domain_names" in props:
        return StreamRule(
            entity=ORGANIZATION,
            name="name",
            source_id="id",
            deleted_when={"deleted_at": {"present": True}},
            details_from=["organization_fields", ""],
            exclude_fields=[*ZENDESK_SYSTEM_FIELDS, "organization_fields"],
        )
    return None


def tap_zendesk_only(stream: str, schema: Mapping[str, Any]) -> StreamRule | None:
    """The ``tap-zendesk`` preset: users and organizations load, every other stream is ignored."""
    return tap_zendesk(stream, schema) or StreamRule(entity=IGNORE)


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
            (
                hubspot_contacts,
                kustomer,
                tap_zendesk,
                kustomer_singer,
                tap_hubspot_singer,
                meltano_tap_hubspot,
                generic,
            ),
            "detect this project's taps and the popular peer taps by stream name and schema, "
            "else generic rules",
        ),
        Preset("tap-hubspot-contacts", (hubspot_contacts,), "this project's HubSpot tap"),
        Preset("csm-connectors/tap-kustomer", (kustomer,), "this project's Kustomer tap"),
        Preset(
            "singer-io/tap-zendesk",
            (tap_zendesk_only,),
            "singer-io tap-zendesk (users, organizations)",
        ),
        Preset("singer-io/tap-hubspot", (_only(tap_hubspot_singer),), "singer-io tap-hubspot 4.x"),
        Preset(
            "meltanolabs/tap-hubspot",
            (_only(meltano_tap_hubspot),),
            "MeltanoLabs tap-hubspot (Meltano Hub's default tap-hubspot)",
        ),
        Preset("singer-io/tap-kustomer", (_only(kustomer_singer),), "singer-io tap-kustomer 1.x"),
        Preset("generic", (generic,), "streams named like customers/organizations"),
        Preset("none", (), "only the streams listed in `mapping`"),
    )
}

#: Names of the first version, which named a tap but not whose: users call both the
#: singer-io and the MeltanoLabs HubSpot taps ``tap-hubspot``. Still accepted, with a warning.
ALIASES = {
    "tap-kustomer": "csm-connectors/tap-kustomer",
    "tap-zendesk": "singer-io/tap-zendesk",
    "tap-hubspot": "singer-io/tap-hubspot",
    "meltano-tap-hubspot": "meltanolabs/tap-hubspot",
    "tap-kustomer--singer-io": "singer-io/tap-kustomer",
}


def preset_named(name: str, warn: Callable[[str], None] | None = None) -> Preset:
    """The preset of a ``mapping_preset`` value (old names accepted, with a warning)."""
    if name in ALIASES:
        if warn is not None:
            warn(
                f"mapping_preset {name!r} is ambiguous and will go away: it means "
                f"{ALIASES[name]!r} (or use 'auto', which tells the taps apart by their streams)"
            )
        name = ALIASES[name]
    return PRESETS[name]
