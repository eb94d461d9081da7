"""The preset for singer-io tap-kustomer 1.x: flat snake_case customers."""

from __future__ import annotations

from target_atlassian_csm.fields import FieldCatalog, FieldDef
from target_atlassian_csm.mapping import IGNORE, Skip, StreamMapper
from target_atlassian_csm.presets import PRESETS

SCHEMA = {
    "type": "object",
    "properties": {
        "id": {"type": "string"},
        "display_name": {"type": ["null", "string"]},
        "name": {"type": ["null", "string"]},
        "deleted": {"type": ["null", "string"]},
        "emails": {"type": ["null", "array"], "items": {"type": "object"}},
        "custom": {
            "type": ["null", "object"],
            "properties": {"tier_str": {"type": ["null", "string"]}},
        },
    },
}


def _mapper(preset: str) -> StreamMapper:
    rule = PRESETS[preset].rule_for("customers", SCHEMA)
    catalog = FieldCatalog("customer", [FieldDef.build("Tier", "SELECT", ["Gold", "Silver"])])
    return StreamMapper("customers", rule, SCHEMA, catalog)


def test_customers_map_email_name_and_snake_case_custom_attributes():
    for preset in ("auto", "singer-io/tap-kustomer"):
        op = _mapper(preset).map(
            {
                "id": "2c01",
                "display_name": "Ana Ruiz",
                "deleted": "False",
                "emails": [{"type": "home", "email": "ana@example.com"}],
                "custom": {"tier_str": "gold"},
            }
        )
        assert op.identity == "ana@example.com"
        assert op.display_name == "Ana Ruiz"
        assert op.details == {"Tier": ["Gold"]}
        assert op.org_refs == ()


def test_deleted_customers_are_skipped_whatever_the_spelling():
    mapper = _mapper("singer-io/tap-kustomer")
    for flag in ("True", True):
        record = {"id": "x", "deleted": flag, "emails": [{"email": "x@example.com"}]}
        assert isinstance(mapper.map(record), Skip)


def test_other_streams_of_the_tap_are_ignored():
    rule = PRESETS["singer-io/tap-kustomer"].rule_for("conversations", {"properties": {}})
    assert rule.entity == IGNORE
