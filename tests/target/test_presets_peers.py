"""Presets for the popular peer taps: detection in ``auto`` and the records they map.

Schemas and records are trimmed copies of what each tap emitted against the sandboxes
(see tests/peers for the runs that produce them).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from target_atlassian_csm.fields import FieldCatalog, FieldDef
from target_atlassian_csm.mapping import IGNORE, Skip, StreamMapper
from target_atlassian_csm.operations import CUSTOMER, ORGANIZATION
from target_atlassian_csm.presets import PRESETS


def obj(**props: Any) -> dict[str, Any]:
    return {"type": ["null", "object"], "properties": props}


S = {"type": ["null", "string"]}
I = {"type": ["null", "integer"]}  # noqa: E741
N = {"type": ["null", "number"]}
B = {"type": ["null", "boolean"]}

ZENDESK_USERS = obj(
    id=I, name=S, email=S, role=S, active=B, organization_id=I, phone=S, updated_at=S,
    user_fields=obj(plan=S, seats=I, nps_score=N, signup_date=S, vip=B, interests=S),
)  # fmt: skip
ZENDESK_ORGS = obj(
    id=I, name=S, domain_names={"type": ["null", "array"], "items": S}, updated_at=S,
    organization_fields=obj(tier=S, employees=I),
)  # fmt: skip
SINGER_HS_CONTACTS = obj(
    id=S, updatedAt=S, archived=B,
    properties=obj(email=S, firstname=S, lastname=S, associatedcompanyid=N, jobtitle=S),
    property_email=S, property_firstname=S,
)  # fmt: skip
V2_VALUE = obj(value=S, timestamp=S, source=S, sourceId=S)
SINGER_HS_COMPANIES = obj(
    portalId=I, companyId={"type": ["integer"]},
    properties=obj(name=V2_VALUE, hs_object_id=V2_VALUE, domain=V2_VALUE, industry=V2_VALUE),
    property_name=V2_VALUE,
)  # fmt: skip
MELTANO_HS_CONTACTS = obj(
    id=S, archived=B, lastmodifieddate=S,
    properties=obj(email=S, firstname=S, lastname=S, associatedcompanyid=S, jobtitle=S,
                   hs_object_id=S),
)  # fmt: skip
MELTANO_HS_COMPANIES = obj(
    id=S, archived=B, hs_lastmodifieddate=S, properties=obj(name=S, industry=S, hs_object_id=S)
)  # fmt: skip


def catalog(entity: str, *defs: tuple[str, str, list[str]]) -> FieldCatalog:
    return FieldCatalog(entity, [FieldDef.build(n, t, o) for n, t, o in defs])


@pytest.mark.parametrize(
    ("stream", "schema", "entity", "preset"),
    [
        ("users", ZENDESK_USERS, CUSTOMER, "singer-io/tap-zendesk"),
        ("organizations", ZENDESK_ORGS, ORGANIZATION, "singer-io/tap-zendesk"),
        ("contacts", SINGER_HS_CONTACTS, CUSTOMER, "singer-io/tap-hubspot"),
        ("companies", SINGER_HS_COMPANIES, ORGANIZATION, "singer-io/tap-hubspot"),
        ("contacts", MELTANO_HS_CONTACTS, CUSTOMER, "meltanolabs/tap-hubspot"),
        ("companies", MELTANO_HS_COMPANIES, ORGANIZATION, "meltanolabs/tap-hubspot"),
    ],
)
def test_auto_detects_each_peer_tap_like_its_own_preset(stream, schema, entity, preset) -> None:
    """``auto`` gives the same rule as the tap's named preset."""
    auto = PRESETS["auto"].rule_for(stream, schema)
    named = PRESETS[preset].rule_for(stream, schema)
    assert auto is not None
    assert named is not None
    assert auto.entity == entity
    assert auto == named


@pytest.mark.parametrize(
    "preset", ["singer-io/tap-zendesk", "singer-io/tap-hubspot", "meltanolabs/tap-hubspot"]
)
def test_a_peer_preset_ignores_the_taps_other_streams(preset) -> None:
    """Tickets, deals, contacts_by_company...: not CSM data, ignored rather than guessed."""
    rule = PRESETS[preset].rule_for("tickets", obj(id=I, subject=S))
    assert rule is not None
    assert rule.entity == IGNORE


def test_peer_presets_do_not_claim_each_others_streams() -> None:
    """A singer-io contacts schema is not read as MeltanoLabs' (and the reverse)."""
    assert (
        PRESETS["meltanolabs/tap-hubspot"].rule_for("contacts", SINGER_HS_CONTACTS).entity == IGNORE
    )
    assert (
        PRESETS["singer-io/tap-hubspot"].rule_for("contacts", MELTANO_HS_CONTACTS).entity == IGNORE
    )
    assert (
        PRESETS["singer-io/tap-zendesk"].rule_for("contacts", MELTANO_HS_CONTACTS).entity == IGNORE
    )


def test_existing_auto_detection_is_unchanged() -> None:
    """This project's own taps are still recognised first."""
    ours = obj(id=S, email=S, associated_company_ids={"type": "array"}, archived=B)
    rule = PRESETS["auto"].rule_for("contacts", ours)
    assert rule is not None
    assert rule.organization_id == "associated_company_ids"
    generic = PRESETS["auto"].rule_for("customers", obj(id=S, email=S, name=S))
    assert generic is not None
    assert generic.email == "email"


def test_zendesk_user_maps_custom_then_standard_fields_and_org() -> None:
    """Custom values from ``user_fields``, phone from the top level, default org by id."""
    rule = PRESETS["singer-io/tap-zendesk"].rule_for("users", ZENDESK_USERS)
    site = catalog(
        CUSTOMER,
        ("Plan", "SELECT", ["plan_free", "plan_pro"]),
        ("Seats", "NUMBER", []),
        ("VIP", "BOOLEAN", []),
        ("Phone", "PHONE", []),
        ("Role", "TEXT", []),
    )
    mapper = StreamMapper("users", rule, ZENDESK_USERS, site)
    op = mapper.map(
        {
            "id": 7, "name": "Ada", "email": "ada@example.com", "role": "end-user",
            "active": True, "organization_id": 360000000002, "phone": "+4570000001",
            "user_fields": {"plan": "plan_pro", "seats": 3, "vip": False, "interests": "x"},
        }
    )  # fmt: skip
    assert not isinstance(op, Skip)
    assert op.details == {
        "Plan": ["plan_pro"],
        "Seats": ["3"],
        "VIP": ["false"],
        "Phone": ["+4570000001"],
    }
    assert [(r.kind, r.value, r.stream) for r in op.org_refs] == [
        ("source", "360000000002", "organizations")
    ]
    assert op.source_id == "7"


@pytest.mark.parametrize(
    ("changes", "reason"),
    [({"active": False}, "active"), ({"role": "admin"}, "role"), ({"role": "agent"}, "role")],
)
def test_zendesk_deleted_users_admins_and_agents_are_skipped(changes, reason) -> None:
    """Deleted users and the account's staff (admins, agents) are not customers."""
    rule = PRESETS["singer-io/tap-zendesk"].rule_for("users", ZENDESK_USERS)
    mapper = StreamMapper("users", rule, ZENDESK_USERS, catalog(CUSTOMER))
    record = {"id": 1, "email": "a@example.com", "role": "end-user", "active": True, **changes}
    result = mapper.map(record)
    assert isinstance(result, Skip)
    assert reason in result.reason


def test_singer_hubspot_contact_and_company_share_the_company_key() -> None:
    """The contact's float-typed company id equals the company's ``hs_object_id`` key."""
    contacts = PRESETS["singer-io/tap-hubspot"].rule_for("contacts", SINGER_HS_CONTACTS)
    companies = PRESETS["singer-io/tap-hubspot"].rule_for("companies", SINGER_HS_COMPANIES)
    site = catalog(CUSTOMER, ("Job Title", "TEXT", []))
    contact = StreamMapper("contacts", contacts, SINGER_HS_CONTACTS, site).map(
        {
            "id": "1001", "archived": False,
            "properties": {"email": "ada@example.com", "firstname": "Ada", "lastname": "L",
                           "associatedcompanyid": Decimal("5000001.0"), "jobtitle": "CTO"},
        }
    )  # fmt: skip
    company = StreamMapper("companies", companies, SINGER_HS_COMPANIES, catalog(ORGANIZATION)).map(
        {
            "companyId": 5000001,
            "properties": {
                "name": {"value": "Acme", "timestamp": "2025-01-01T00:00:00Z"},
                "hs_object_id": {"value": Decimal("5000001.0")},
            },
        }
    )
    assert not isinstance(contact, Skip)
    assert not isinstance(company, Skip)
    assert company.identity == "Acme"
    assert contact.display_name == "Ada L"
    assert contact.details == {"Job Title": ["CTO"]}
    assert contact.org_refs[0].value == company.source_id == "5000001"


def test_meltano_hubspot_maps_string_properties_and_skips_archived() -> None:
    """All values are strings under ``properties``; archived records are skipped."""
    rule = PRESETS["meltanolabs/tap-hubspot"].rule_for("companies", MELTANO_HS_COMPANIES)
    site = catalog(ORGANIZATION, ("Industry", "SELECT", ["SOFTWARE", "RETAIL"]))
    mapper = StreamMapper("companies", rule, MELTANO_HS_COMPANIES, site)
    props = {"name": "Acme", "industry": "SOFTWARE", "hs_object_id": "5000001"}
    record = {"id": "5000001", "archived": False, "properties": props}
    op = mapper.map(record)
    assert not isinstance(op, Skip)
    assert (op.identity, op.source_id, op.details) == (
        "Acme",
        "5000001",
        {"Industry": ["SOFTWARE"]},
    )
    assert isinstance(mapper.map({**record, "archived": True}), Skip)


def test_zendesk_end_users_are_loaded() -> None:
    """The staff skip does not catch customers: an active end-user maps."""
    rule = PRESETS["singer-io/tap-zendesk"].rule_for("users", ZENDESK_USERS)
    mapper = StreamMapper("users", rule, ZENDESK_USERS, catalog(CUSTOMER))
    result = mapper.map({"id": 1, "email": "a@example.com", "role": "end-user", "active": True})
    assert not isinstance(result, Skip)
    assert result.identity == "a@example.com"


def test_zendesk_deleted_organizations_are_skipped() -> None:
    """An organization with ``deleted_at`` set is skipped; ``null`` loads."""
    rule = PRESETS["singer-io/tap-zendesk"].rule_for("organizations", ZENDESK_ORGS)
    mapper = StreamMapper("organizations", rule, ZENDESK_ORGS, catalog(ORGANIZATION))
    live = {"id": 3, "name": "Acme", "domain_names": [], "deleted_at": None}
    result = mapper.map(live)
    assert not isinstance(result, Skip)
    gone = mapper.map({**live, "deleted_at": "2025-03-01T00:00:00Z"})
    assert isinstance(gone, Skip)
    assert "deleted_at" in gone.reason


def test_singer_hubspot_company_loads_its_v2_property_values() -> None:
    """v2 ``{value, timestamp, source}`` properties land as their ``value``; name not a detail."""
    rule = PRESETS["singer-io/tap-hubspot"].rule_for("companies", SINGER_HS_COMPANIES)
    site = catalog(
        ORGANIZATION,
        ("Domain", "TEXT", []),
        ("Industry", "TEXT", []),
        ("Name", "TEXT", []),
        ("Hs Object Id", "TEXT", []),
    )
    mapper = StreamMapper("companies", rule, SINGER_HS_COMPANIES, site)
    op = mapper.map(
        {
            "companyId": 5000001, "isDeleted": False,
            "properties": {
                "name": {"value": "Acme", "timestamp": 1, "source": "CRM_UI"},
                "hs_object_id": {"value": Decimal("5000001.0"), "source": "CALCULATED"},
                "domain": {"value": "acme.example", "timestamp": 1, "source": "API"},
                "industry": {"value": "SOFTWARE", "timestamp": 1, "source": "API"},
            },
        }
    )  # fmt: skip
    assert not isinstance(op, Skip)
    assert op.details == {"Domain": ["acme.example"], "Industry": ["SOFTWARE"]}
    assert isinstance(mapper.map({"isDeleted": True, "properties": {}}), Skip)
