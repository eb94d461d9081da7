"""Field provisioning against the CSM sandbox (seed "empty"): fields from the source's metadata.

The messages mimic each tap: HubSpot and Kustomer metadata are built from the HubSpot and
Kustomer sandboxes' own definitions with our taps' schemas; Zendesk's follow tap-zendesk's
``user_fields`` / ``users`` shapes (zendesk-api.md §1.4). Like the real taps, the metadata
streams come *after* the record streams, so the target has to hold the records.
"""

from __future__ import annotations

from typing import Any

import pytest

from sandbox.hubspot.properties import company_properties, contact_properties
from sandbox.kustomer.store import CUSTOM_METADATA
from tap_hubspot_contacts.streams import PROPERTY_SCHEMA
from tap_kustomer import schemas as kustomer_schemas
from tap_kustomer import streams as kustomer_streams
from target_atlassian_csm.metadata import regexp_type
from tests.target.conftest import FAST, record_msg, run_target, state_msg, target_config


# ----------------------------------------------------------------------------- helpers
def schema(stream: str, properties: dict[str, Any], key: str = "id") -> dict[str, Any]:
    return {
        "type": "SCHEMA",
        "stream": stream,
        "key_properties": [key],
        "schema": {"type": "object", "properties": properties},
    }


def fields_of(sandbox: Any, entity: str) -> dict[str, dict[str, Any]]:
    return {f["name"]: f for f in sandbox.state()["fields"][entity]}


def customer(sandbox: Any, email: str) -> dict[str, Any]:
    found = sandbox.app.customer_by_email(email)
    assert found is not None, email
    return found


def definition_posts(sandbox: Any) -> list[dict[str, Any]]:
    return [
        r
        for r in sandbox.requests()
        if r["method"] == "POST" and "/details" in r["path"] and "/profile" not in r["path"]
    ]


STR = {"type": ["string", "null"]}
NUM = {"type": ["number", "null"]}
BOOL = {"type": ["boolean", "null"]}
DT = {"type": ["string", "null"], "format": "date-time"}


# ----------------------------------------------------------------------------- HubSpot
HUBSPOT_CONTACT_PROPS = {
    "email": STR,
    "firstname": STR,
    "lastname": STR,
    "phone": STR,
    "jobtitle": STR,
    "hs_lead_status": STR,
    "cf_multi": STR,
    "cf_bool": BOOL,
    "cf_number": NUM,
    "cf_date": STR,
    "cf_phone": STR,
    "cf_calc": NUM,
    "hs_email_domain": STR,
    "hs_internal_flag": STR,
}


def hubspot_definitions(stream: str, defs: list[dict[str, Any]], synced: set[str]) -> list[dict]:
    keys = set(PROPERTY_SCHEMA["properties"])
    out = [schema(stream, PROPERTY_SCHEMA["properties"], key="name")]
    for d in defs:
        row = {k: d.get(k) for k in keys if k in d}
        row["synced"] = d["name"] in synced
        out.append(record_msg(stream, row))
    return out


def hubspot_messages(contacts: int = 3, *, extra_props: int = 0) -> list[dict[str, Any]]:
    """contacts, companies, then contact_properties / company_properties (the tap's order)."""
    contact_schema = {
        "id": {"type": "string"},
        **HUBSPOT_CONTACT_PROPS,
        **{f"cf_extra_{i:04d}": STR for i in range(extra_props)},
        "associated_company_ids": {"type": "array", "items": {"type": "string"}},
        "primary_company_id": STR,
        "hs_object_id": NUM,
        "archived": {"type": "boolean"},
    }
    company_schema = {
        "id": {"type": "string"},
        "name": STR,
        "industry": STR,
        "numberofemployees": NUM,
        "hs_merged_object_ids": {"type": "array", "items": {"type": "string"}},
        "hs_object_id": NUM,
        "archived": {"type": "boolean"},
    }
    msgs: list[dict[str, Any]] = [schema("contacts", contact_schema)]
    for i in range(contacts):
        msgs.append(
            record_msg(
                "contacts",
                {
                    "id": str(100 + i),
                    "email": f"hs{i}@example.com",
                    "firstname": "Hub",
                    "lastname": str(i),
                    "phone": "+1 415 555 0100",
                    "jobtitle": "Engineer",
                    "hs_lead_status": ["IN_PROGRESS", "NEW", "OPEN"][i % 3],
                    "cf_multi": "email;chat",
                    "cf_bool": i % 2 == 0,
                    "cf_number": 12.5,
                    "cf_date": "2024-05-06T13:00:00Z",
                    "cf_phone": "+44 20 7946 0958",
                    "cf_calc": 3,
                    "hs_email_domain": "example.com",
                    "associated_company_ids": ["9"],
                    "primary_company_id": "9",
                    "hs_object_id": 100 + i,
                    "archived": False,
                },
            )
        )
    msgs.append(state_msg({"bookmarks": {"contacts": contacts}}))
    msgs.append(schema("companies", company_schema))
    msgs.append(
        record_msg(
            "companies",
            {
                "id": "9",
                "name": "Acme",
                "industry": "SOFTWARE",
                "numberofemployees": 40,
                "hs_merged_object_ids": [],
                "hs_object_id": 9,
                "archived": False,
            },
        )
    )
    msgs += hubspot_definitions(
        "contact_properties", contact_properties(extra_props), set(contact_schema)
    )
    msgs += hubspot_definitions("company_properties", company_properties(), set(company_schema))
    msgs.append(state_msg({"bookmarks": {"done": True}}))
    return msgs


@pytest.fixture
def empty_csm(sandbox_factory):
    return sandbox_factory("csm", seed="empty", **FAST)


def test_hubspot_properties_become_typed_fields_and_values_land(empty_csm, tmp_path):
    config = target_config(empty_csm, tmp_path, create_missing_fields=True)
    result = run_target(config, hubspot_messages())
    assert result.exit_code == 0, result.dead_letters
    fields = fields_of(empty_csm, "customer")
    assert fields["Lead Status"]["type"] == "SELECT"
    assert fields["Lead Status"]["options"] == [
        "New",
        "Open",
        "In Progress",
        "Connected",
        "Unqualified",
    ]
    assert fields["Cf Multi"]["type"] == "MULTISELECT"
    assert fields["Cf Multi"]["options"] == ["Email", "Phone", "Chat", "Sms"]
    cf_bool = fields["Cf Bool"]
    assert (cf_bool["type"], cf_bool["options"]) == ("SELECT", ["true", "false"])
    assert fields["Cf Number"]["type"] == "NUMBER"
    assert fields["Cf Date"]["type"] == "DATE"
    assert fields["Cf Phone"]["type"] == "PHONE"
    assert fields["Phone Number"]["type"] == "PHONE"
    assert fields["Job Title"]["type"] == "TEXT"
    # Identity and display-name sources, calculated, hidden and reference properties: no field.
    for absent in ("Email", "First Name", "Last Name", "Cf Calc", "Email Domain", "Internal"):
        assert absent not in fields
    org_fields = fields_of(empty_csm, "organization")
    assert org_fields["Industry"]["options"] == ["Software", "Retail", "Manufacturing", "Finance"]
    assert org_fields["Numberofemployees"]["type"] == "NUMBER"
    assert "Company name" not in org_fields  # the organization's name is its identity
    # Values: option values translated to labels, multi-selects split, dates reduced.
    c0 = customer(empty_csm, "hs0@example.com")["details"]
    assert c0["Lead Status"] == ["In Progress"]
    assert sorted(c0["Cf Multi"]) == ["Chat", "Email"]
    assert c0["Cf Bool"] == ["true"]
    assert c0["Cf Number"] == ["12.5"]
    assert c0["Cf Date"] == ["2024-05-06"]
    assert c0["Job Title"] == ["Engineer"]
    assert customer(empty_csm, "hs1@example.com")["details"]["Lead Status"] == ["New"]
    acme = empty_csm.app.organization_by_name("Acme")
    assert acme["details"] == {"Industry": ["Software"], "Numberofemployees": ["40"]}
    assert result.summary["fields_created"]["customer"] == len(fields)
    # One all-or-nothing definitions request per stream, before the records it serves.
    requests = empty_csm.requests()
    bulk_defs = [i for i, r in enumerate(requests) if r["path"].endswith("definitions/bulk")]
    first_profile = next(i for i, r in enumerate(requests) if "profile/bulk" in r["path"])
    assert len(bulk_defs) == 2
    assert max(bulk_defs) < first_profile or bulk_defs[0] < first_profile


def test_second_run_creates_nothing_and_reuses_the_fields(empty_csm, tmp_path):
    config = target_config(empty_csm, tmp_path, create_missing_fields=True)
    assert run_target(config, hubspot_messages()).exit_code == 0
    before = empty_csm.state()["fields"]
    empty_csm.app.journal.clear()
    result = run_target(config, hubspot_messages())
    assert result.exit_code == 0
    assert empty_csm.state()["fields"] == before
    assert definition_posts(empty_csm) == []
    assert result.summary["fields_created"] == {}
    reused = [f for f in result.summary["provisioning"]["fields"] if f["action"] == "reuse"]
    assert {f["name"] for f in reused} >= {"Lead Status", "Cf Multi", "Industry"}
    assert result.summary["entities"]["customer"]["unchanged"] == 3


def test_include_exclude_and_rename(empty_csm, tmp_path):
    config = target_config(
        empty_csm,
        tmp_path,
        create_missing_fields=True,
        field_include=["hs_lead_status", "cf_number", "Job Title", "hs_email_domain", "industry"],
        field_exclude=["cf_number"],
        field_rename={"hs_lead_status": "Lead state", "organization:industry": "Sector"},
    )
    result = run_target(config, hubspot_messages())
    assert result.exit_code == 0
    # Include is a whitelist that also brings back a calculated property; exclusion wins.
    assert set(fields_of(empty_csm, "customer")) == {"Lead state", "Job Title", "Email Domain"}
    assert set(fields_of(empty_csm, "organization")) == {"Sector"}
    details = customer(empty_csm, "hs2@example.com")["details"]
    assert details == {
        "Lead state": ["Open"],
        "Job Title": ["Engineer"],
        "Email Domain": ["example.com"],
    }
    skipped = {
        f["source"].split(" ")[0]: f["note"]
        for f in result.summary["provisioning"]["fields"]
        if f["action"] == "skip"
    }
    assert skipped["hubspot:contacts.cf_number"] == "field_exclude"
    assert skipped["hubspot:contacts.cf_phone"] == "not in field_include"


def test_existing_field_of_the_same_name_is_reused_and_mismatch_reported(sandbox_factory, tmp_path):
    csm = sandbox_factory("csm", seed="empty", **FAST)
    csm.app.store.add_field("customer", "Job Title", "SELECT", ["Engineer", "Manager"])
    csm.app.store.add_field("customer", "Lead Status", "SELECT", ["New", "Open"])
    config = target_config(csm, tmp_path, create_missing_fields=True)
    result = run_target(config, hubspot_messages())
    fields = fields_of(csm, "customer")
    assert fields["Job Title"]["type"] == "SELECT"  # not changed
    assert fields["Lead Status"]["options"] == ["New", "Open"]
    notes = {
        f["name"]: f["note"]
        for f in result.summary["provisioning"]["fields"]
        if f["action"] == "reuse"
    }
    assert "type mismatch: SELECT on the site, TEXT proposed" in notes["Job Title"]
    assert "3 source option(s) missing on the site: In Progress" in notes["Lead Status"]
    # hs0 has IN_PROGRESS, not an option on the site: dead-lettered; hs1 (NEW) lands.
    assert customer(csm, "hs1@example.com")["details"]["Lead Status"] == ["New"]
    assert [d["source_id"] for d in result.dead_letters] == ["100"]


# ------------------------------------------------------------------------------ limits
def test_fifty_field_limit_is_reported_before_anything_is_created(empty_csm, tmp_path):
    config = target_config(empty_csm, tmp_path, create_missing_fields=True)
    result = run_target(config, hubspot_messages(extra_props=45))
    assert result.exit_code == 2
    assert empty_csm.state()["fields"] == {"customer": [], "organization": []}
    assert definition_posts(empty_csm) == []
    assert [r for r in empty_csm.requests() if "profile/bulk" in r["path"]] == []


def test_fifty_field_limit_with_policy_skip_creates_what_fits(empty_csm, tmp_path):
    config = target_config(
        empty_csm, tmp_path, create_missing_fields=True, field_limit_policy="skip"
    )
    result = run_target(config, hubspot_messages(extra_props=45))
    assert result.exit_code == 0
    fields = fields_of(empty_csm, "customer")
    assert len(fields) == 50
    overflow = [f for f in result.summary["provisioning"]["fields"] if f["action"] == "overflow"]
    # 53 proposed (8 typed + 45 fillers): the last three, in the source's order, do not fit.
    assert [f["name"] for f in overflow] == ["Cf Extra 0042", "Cf Extra 0043", "Cf Extra 0044"]
    assert all("past CSM's 50 fields per customer" in f["note"] for f in overflow)
    assert customer(empty_csm, "hs0@example.com")["details"]["Lead Status"] == ["In Progress"]


def test_fifty_option_limit_is_reported_and_field_types_resolves_it(empty_csm, tmp_path):
    msgs = hubspot_messages()
    for m in msgs:
        if m["type"] == "RECORD" and m["record"].get("name") == "cf_select":
            m["record"]["options"] = [{"label": f"Option {i}", "value": f"o{i}"} for i in range(60)]
            m["record"]["synced"] = m["stream"] == "contact_properties"
    for m in msgs:
        if m.get("stream") == "contacts" and m["type"] == "SCHEMA":
            m["schema"]["properties"]["cf_select"] = STR
    config = target_config(empty_csm, tmp_path, create_missing_fields=True)
    result = run_target(config, msgs)
    assert result.exit_code == 2
    assert definition_posts(empty_csm) == []
    config["field_types"] = {"cf_select": "TEXT"}
    result = run_target(config, msgs)
    assert result.exit_code == 0
    assert fields_of(empty_csm, "customer")["Cf Select"]["type"] == "TEXT"


# ----------------------------------------------------------------------------- Kustomer
def kustomer_metadata_rows() -> list[dict[str, Any]]:
    """custom_attribute_metadata records, as tap-kustomer builds them from /v1/metadata."""
    rows = []
    for resource, props in CUSTOM_METADATA.items():
        for name, meta in sorted(props.items()):
            rows.append(
                {
                    "resource": resource,
                    "name": name,
                    "display_name": meta.get("displayName"),
                    "type": meta.get("type"),
                    "suffix": kustomer_schemas.suffix_of(name),
                    "multi": bool(meta.get("multi", False)),
                    "enumeration": [str(v) for v in meta.get("enumeration") or []] or None,
                    "target": meta.get("target"),
                    "raw": meta,
                }
            )
    return rows


def kustomer_messages() -> list[dict[str, Any]]:
    def stream_schema(stream: str, cls: Any, resource: str) -> dict[str, Any]:
        return kustomer_schemas.record_schema(
            stream,
            flat_ids=list(cls.flat_ids),
            custom=kustomer_schemas.custom_schema(CUSTOM_METADATA[resource]),
        )

    companies = stream_schema("companies", kustomer_streams.CompaniesStream, "company")
    customers = stream_schema("customers", kustomer_streams.CustomersStream, "customer")
    msgs: list[dict[str, Any]] = [
        {"type": "SCHEMA", "stream": "companies", "key_properties": ["id"], "schema": companies},
        record_msg(
            "companies",
            {
                "id": "co1",
                "type": "company",
                "updated_at": "2024-02-01T00:00:00Z",
                "created_at": "2024-01-01T00:00:00Z",
                "attributes": {
                    "name": "Kusto Ltd",
                    "custom": {
                        "industryStr": "saas",
                        "employeesNum": 12,
                        "websiteUrl": "https://kusto.example.com",
                    },
                },
            },
        ),
        {"type": "SCHEMA", "stream": "customers", "key_properties": ["id"], "schema": customers},
        record_msg(
            "customers",
            {
                "id": "cu1",
                "type": "customer",
                "updated_at": "2024-02-01T00:00:00Z",
                "created_at": "2024-01-01T00:00:00Z",
                "company_id": "co1",
                "attributes": {
                    "name": "Kay Stomer",
                    "emails": [{"email": "kay@example.com", "type": "home"}],
                    "custom": {
                        "tierStr": "gold",
                        "bioTxt": "Likes tea",
                        "lifetimeValueNum": 1234.5,
                        "firstOrderAt": "2023-11-02T23:30:00-05:00",
                        "vipBool": True,
                        "profileUrl": "https://profiles.example.com/kay",
                        "ordersId": ["o1", "o2"],
                    },
                },
            },
        ),
        {
            "type": "SCHEMA",
            "stream": "custom_attribute_metadata",
            "key_properties": ["resource", "name"],
            "schema": kustomer_schemas.METADATA_SCHEMA,
        },
    ]
    msgs += [record_msg("custom_attribute_metadata", r) for r in kustomer_metadata_rows()]
    return msgs


def test_kustomer_attribute_metadata_becomes_fields_and_values_land(empty_csm, tmp_path):
    config = target_config(empty_csm, tmp_path, create_missing_fields=True)
    result = run_target(config, kustomer_messages())
    assert result.exit_code == 0, result.dead_letters
    fields = {n: (f["type"], f["options"]) for n, f in fields_of(empty_csm, "customer").items()}
    assert fields == {
        "Biography": ("TEXT", []),
        "First order": ("DATE", []),
        "Lifetime value": ("NUMBER", []),
        "Profile": ("URL", []),
        "Tier": ("SELECT", ["gold", "silver", "bronze"]),
        "VIP": ("SELECT", ["true", "false"]),
    }  # ordersId is a KObject relationship: no field
    org_fields = {n: f["type"] for n, f in fields_of(empty_csm, "organization").items()}
    assert org_fields == {"Industry": "SELECT", "Employees": "NUMBER", "Website": "URL"}
    kay = customer(empty_csm, "kay@example.com")
    assert kay["details"] == {
        "Tier": ["gold"],
        "Biography": ["Likes tea"],
        "Lifetime value": ["1234.5"],
        "First order": ["2023-11-03"],  # the UTC date
        "VIP": ["true"],
        "Profile": ["https://profiles.example.com/kay"],
    }
    org = empty_csm.app.organization_by_name("Kusto Ltd")
    assert org["details"]["Industry"] == ["saas"]
    assert kay["organizationIds"] == [org["id"]]


# ------------------------------------------------------------------------------ Zendesk
def zendesk_field(key: str, kind: str, title: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": abs(hash(key)) % 100000,
        "key": key,
        "type": kind,
        "title": title,
        "raw_title": title,
        "active": True,
        "position": 0,
        **extra,
    }


def zendesk_options(*pairs: tuple[str, str]) -> list[dict[str, Any]]:
    return [
        {"id": i, "name": name, "raw_name": name, "value": value, "position": i}
        for i, (name, value) in enumerate(pairs)
    ]


ZENDESK_USER_FIELDS = [
    zendesk_field(
        "plan_tier",
        "dropdown",
        "Plan tier",
        custom_field_options=zendesk_options(("Gold plan", "gold_plan"), ("Free plan", "free")),
    ),
    zendesk_field(
        "products",
        "multiselect",
        "Products",
        custom_field_options=zendesk_options(("Jira", "prod_jira"), ("Loom", "prod_loom")),
    ),
    zendesk_field("vip", "checkbox", "VIP"),
    zendesk_field("seats", "integer", "Seats"),
    zendesk_field("score", "decimal", "Health score"),
    zendesk_field("renewal", "date", "Renewal"),
    zendesk_field(
        "direct_line", "regexp", "Direct line", regexp_for_validation=r"^\+?[0-9 ()\-]{7,20}$"
    ),
    zendesk_field("homepage", "regexp", "Homepage", regexp_for_validation=r"^https?://\S+$"),
    zendesk_field("badge", "regexp", "Badge", regexp_for_validation=r"^[A-Z]{3}-\d{4}$"),
    zendesk_field("notes", "textarea", "Notes"),
    zendesk_field("manager", "lookup", "Manager", relationship_target_type="zen:user"),
    zendesk_field("legacy", "text", "Legacy", active=False),
]
ZENDESK_FIELD_SCHEMA = {
    "id": {"type": "integer"},
    "key": STR,
    "type": STR,
    "title": STR,
    "raw_title": STR,
    "active": BOOL,
    "position": {"type": ["integer", "null"]},
    "regexp_for_validation": STR,
    "relationship_target_type": STR,
    "custom_field_options": {
        "type": ["array", "null"],
        "items": {"type": "object", "properties": {"name": STR, "value": STR}},
    },
}


def zendesk_messages(users: int = 2) -> list[dict[str, Any]]:
    """users (with user_fields values) then user_fields, as tap-zendesk syncs them."""
    user_schema = {
        "id": {"type": "integer"},
        "email": STR,
        "name": STR,
        "role": STR,
        "user_fields": {"type": ["object", "null"], "additionalProperties": True},
    }
    msgs: list[dict[str, Any]] = [schema("users", user_schema)]
    for i in range(users):
        msgs.append(
            record_msg(
                "users",
                {
                    "id": 500 + i,
                    "email": f"zd{i}@example.com",
                    "name": f"Zen User {i}",
                    "role": "end-user",
                    "user_fields": {
                        "plan_tier": ["gold_plan", "free"][i % 2],
                        "products": ["prod_jira", "prod_loom"],
                        "vip": i == 0,
                        "seats": 12 + i,
                        "score": 4.75,
                        "renewal": "2025-07-01T00:00:00Z",
                        "direct_line": "+1 415 555 0100",
                        "homepage": "https://zen.example.com",
                        "badge": "ABC-1234",
                        "notes": "line one\nline two",
                        "manager": 77,
                        "legacy": "old",
                    },
                },
            )
        )
    msgs.append(state_msg({"bookmarks": {"users": users}}))
    msgs.append(schema("user_fields", ZENDESK_FIELD_SCHEMA))
    msgs += [record_msg("user_fields", f) for f in ZENDESK_USER_FIELDS]
    msgs.append(state_msg({"bookmarks": {"users": users, "user_fields": "done"}}))
    return msgs


def test_zendesk_user_fields_land_as_the_mapped_types_with_values(empty_csm, tmp_path):
    config = target_config(empty_csm, tmp_path, create_missing_fields=True)
    result = run_target(config, zendesk_messages())
    assert result.exit_code == 0, result.dead_letters
    fields = {n: (f["type"], f["options"]) for n, f in fields_of(empty_csm, "customer").items()}
    assert fields == {
        "Plan tier": ("SELECT", ["Gold plan", "Free plan"]),
        "Products": ("MULTISELECT", ["Jira", "Loom"]),
        "VIP": ("SELECT", ["true", "false"]),  # the site refuses BOOLEAN
        "Seats": ("NUMBER", []),
        "Health score": ("NUMBER", []),
        "Renewal": ("DATE", []),
        "Direct line": ("PHONE", []),
        "Homepage": ("URL", []),
        "Badge": ("TEXT", []),
        "Notes": ("TEXT", []),
    }  # lookup and inactive fields left out
    zd0 = customer(empty_csm, "zd0@example.com")["details"]
    assert zd0 == {
        "Plan tier": ["Gold plan"],  # the tag value turned into the option name
        "Products": ["Jira", "Loom"],
        "VIP": ["true"],
        "Seats": ["12"],
        "Health score": ["4.75"],
        "Renewal": ["2025-07-01"],
        "Direct line": ["+1 415 555 0100"],
        "Homepage": ["https://zen.example.com"],
        "Badge": ["ABC-1234"],
        "Notes": ["line one\nline two"],
    }
    zd1 = customer(empty_csm, "zd1@example.com")["details"]
    assert zd1["Plan tier"] == ["Free plan"]
    assert zd1["VIP"] == ["false"]
    # STATE: the users' bookmark was held with the records, then released once they landed.
    assert result.states[-1] == {"bookmarks": {"users": 2, "user_fields": "done"}}


def test_zendesk_checkbox_as_boolean_where_the_site_supports_it(sandbox_factory, tmp_path):
    csm = sandbox_factory("csm", seed="empty", boolean_type_supported=True, **FAST)
    config = target_config(
        csm,
        tmp_path,
        create_missing_fields=True,
        boolean_field_type="BOOLEAN",
        field_include=["vip", "plan_tier"],
    )
    assert run_target(config, zendesk_messages()).exit_code == 0
    assert fields_of(csm, "customer")["VIP"]["type"] == "BOOLEAN"
    assert customer(csm, "zd0@example.com")["details"]["VIP"] == ["true"]


def test_streams_without_metadata_get_fields_from_their_schema(empty_csm, tmp_path):
    config = target_config(empty_csm, tmp_path, create_missing_fields=True)
    msgs = [
        schema(
            "customers",
            {
                "id": {"type": "string"},
                "email": STR,
                "renewal_date": {"type": ["string", "null"], "format": "date"},
                "seats": {"type": ["integer", "null"]},
                "is_partner": BOOL,
                "homepage": {"type": ["string", "null"], "format": "uri"},
                "address": {"type": ["object", "null"], "properties": {"city": STR}},
            },
        ),
        record_msg(
            "customers",
            {
                "id": "1",
                "email": "plain@example.com",
                "renewal_date": "2026-01-31",
                "seats": 3,
                "is_partner": False,
                "homepage": "https://plain.example.com",
                "address": {"city": "Oslo"},
            },
        ),
    ]
    assert run_target(config, msgs).exit_code == 0
    fields = {n: f["type"] for n, f in fields_of(empty_csm, "customer").items()}
    assert fields == {
        "Renewal Date": "DATE",
        "Seats": "NUMBER",
        "Is Partner": "SELECT",
        "Homepage": "URL",
    }
    assert customer(empty_csm, "plain@example.com")["details"] == {
        "Renewal Date": ["2026-01-31"],
        "Seats": ["3"],
        "Is Partner": ["false"],
        "Homepage": ["https://plain.example.com"],
    }


def test_records_are_held_until_metadata_or_the_bound(empty_csm, tmp_path):
    config = target_config(
        empty_csm, tmp_path, create_missing_fields=True, field_metadata_buffer_records=2
    )
    result = run_target(config, zendesk_messages(users=3))
    assert result.exit_code == 2  # three users held, metadata still to come: stop, say why
    assert definition_posts(empty_csm) == []
    assert [r for r in empty_csm.requests() if "profile/bulk" in r["path"]] == []


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        (r"^\+?[0-9 ()\-]{7,20}$", "PHONE"),
        (r"^https?://.+$", "URL"),
        (r"^[A-Z]{3}-\d{4}$", "TEXT"),
        (r".*", "TEXT"),
        (r"(?<unbalanced", "TEXT"),
        (None, "TEXT"),
    ],
)
def test_zendesk_regexp_fields_are_typed_by_what_their_pattern_accepts(pattern, expected):
    assert regexp_type(pattern) == expected
