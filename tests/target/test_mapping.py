"""Stream rules and presets: records become operations, or say why not."""

from __future__ import annotations

import pytest

from target_atlassian_csm.fields import FieldCatalog, FieldDef
from target_atlassian_csm.mapping import MappingError, Skip, StreamMapper, StreamRule
from target_atlassian_csm.operations import Operation, OrgRef
from target_atlassian_csm.presets import PRESETS

CUSTOMER_FIELDS = FieldCatalog(
    "customer",
    [
        FieldDef.build("Region", "SELECT", ["AMER", "EMEA", "APAC"]),
        FieldDef.build("Renewal Date", "DATE"),
        FieldDef.build("Seats", "NUMBER"),
        FieldDef.build("Tier", "SELECT", ["Gold", "Silver"]),
    ],
)


def schema(**props):
    return {"type": "object", "properties": {k: v or {} for k, v in props.items()}}


def test_hubspot_preset_maps_contacts_with_company_ids_and_auto_details():
    contact_schema = schema(
        id=None,
        email=None,
        firstname=None,
        lastname=None,
        region=None,
        renewal_date=None,
        associated_company_ids=None,
        archived=None,
    )
    rule = PRESETS["auto"].rule_for("contacts", contact_schema)
    mapper = StreamMapper("contacts", rule, contact_schema, CUSTOMER_FIELDS)
    op = mapper.map(
        {
            "id": "7",
            "email": "Ann@Example.com",
            "firstname": "Ann",
            "lastname": "Lee",
            "region": "emea",
            "renewal_date": "2025-01-31T10:00:00Z",
            "associated_company_ids": ["11", "12"],
            "archived": False,
        }
    )
    assert isinstance(op, Operation)
    assert op.key == "ann@example.com"
    assert op.display_name == "Ann Lee"
    assert op.details == {"Region": ["EMEA"], "Renewal Date": ["2025-01-31"]}
    assert op.org_refs == (OrgRef("source", "11", "companies"), OrgRef("source", "12", "companies"))
    assert op.source_id == "7"
    assert isinstance(mapper.map({"id": "8", "email": "x@y.io", "archived": True}), Skip)


def test_kustomer_preset_reads_nested_attributes_and_strips_type_suffixes():
    customer_schema = {
        "type": "object",
        "properties": {
            "id": {},
            "company_id": {},
            "deleted": {},
            "attributes": {
                "type": "object",
                "properties": {
                    "displayName": {},
                    "name": {},
                    "emails": {},
                    "custom": {"type": "object", "properties": {"tierStr": {}, "seatsNum": {}}},
                },
            },
        },
    }
    rule = PRESETS["auto"].rule_for("customers", customer_schema)
    mapper = StreamMapper("customers", rule, customer_schema, CUSTOMER_FIELDS)
    op = mapper.map(
        {
            "id": "c1",
            "company_id": "k9",
            "deleted": False,
            "attributes": {
                "name": "Bo",
                "emails": [{"email": "bo@x.io"}],
                "custom": {"tierStr": "gold", "seatsNum": 12},
            },
        }
    )
    assert op.identity == "bo@x.io"
    assert op.display_name == "Bo"
    assert op.details == {"Tier": ["Gold"], "Seats": ["12"]}
    assert op.org_refs == (OrgRef("source", "k9", "companies"),)


def test_generic_preset_recognises_a_customers_table():
    table = schema(id=None, email_address=None, first_name=None, last_name=None, company=None)
    rule = PRESETS["auto"].rule_for("public-customers", table)
    assert rule.entity == "customer"
    op = StreamMapper("public-customers", rule, table, CUSTOMER_FIELDS).map(
        {"id": 1, "email_address": "a@b.co", "first_name": "A", "last_name": "B", "company": "Acme"}
    )
    assert op.display_name == "A B"
    assert op.org_refs == (OrgRef("name", "Acme"),)


@pytest.mark.parametrize(
    ("record", "fragment"),
    [
        ({"mail": None}, "no email"),
        ({"mail": "not-an-email"}, "invalid email 'not-an-email'"),
        ({"mail": "a@b.co", "reg": "Mars"}, "'Mars' is not an option"),
        ({"mail": "a@b.co", "reg": "AMER", "seats": "lots"}, "is not a number"),
    ],
)
def test_invalid_records_raise_with_the_reason(record, fragment):
    rule = StreamRule.from_config(
        "people",
        {
            "entity": "customer",
            "email": "mail",
            "details": {"Region": "reg", "Seats": "seats"},
            "details_auto": False,
        },
    )
    mapper = StreamMapper("people", rule, schema(mail=None, reg=None, seats=None), CUSTOMER_FIELDS)
    with pytest.raises(MappingError) as info:
        mapper.map(record)
    assert fragment in str(info.value)


def test_drop_field_policy_keeps_the_record_and_reports_the_field():
    rule = StreamRule.from_config(
        "people", {"entity": "customer", "email": "mail", "details": {"Region": "reg"}}
    )
    mapper = StreamMapper(
        "people", rule, schema(mail=None, reg=None), CUSTOMER_FIELDS, drop_invalid_details=True
    )
    op = mapper.map({"mail": "a@b.co", "reg": "Mars"})
    assert op.details == {}
    assert "'Mars' is not an option" in op.warnings[0]


def test_rule_config_errors_are_named():
    with pytest.raises(ValueError, match="unknown key"):
        StreamRule.from_config("s", {"entity": "customer", "email": "e", "emial": "x"})
    with pytest.raises(ValueError, match="needs `email`"):
        StreamRule.from_config("s", {"entity": "customer"})
    with pytest.raises(ValueError, match="needs `organization_stream`"):
        StreamRule.from_config("s", {"entity": "customer", "email": "e", "organization_id": "c"})


def test_merging_duplicates_keeps_later_values_and_all_references():
    first = Operation(
        "customer",
        "a@b.co",
        "s",
        details={"Region": ["EMEA"], "Seats": ["1"]},
        org_refs=(OrgRef("name", "Acme"),),
        seqs=[1],
    )
    later = Operation(
        "customer",
        "A@B.co",
        "s",
        details={"Seats": ["2"]},
        org_refs=(OrgRef("name", "ACME"), OrgRef("name", "Beta")),
        seqs=[5],
    )
    merged = first.merged_with(later)
    assert merged.details == {"Region": ["EMEA"], "Seats": ["2"]}
    assert [r.token for r in merged.org_refs] == ["name:acme", "name:beta"]
    assert merged.seqs == [1, 5]
    rebuilt = Operation.from_semantic("customer", merged.semantic(), stream="s", source_id=None)
    assert rebuilt.payload_hash == merged.payload_hash
