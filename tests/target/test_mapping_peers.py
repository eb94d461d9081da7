"""The two rule options the peer taps needed: ``details_value_key`` and ``skip_when`` tests."""

from __future__ import annotations

from typing import Any

import pytest

from target_atlassian_csm.fields import FieldCatalog, FieldDef
from target_atlassian_csm.mapping import Skip, StreamMapper, StreamRule
from target_atlassian_csm.operations import CUSTOMER, ORGANIZATION, Operation

S = {"type": ["null", "string"]}
WRAPPED = {"type": ["null", "object"], "properties": {"value": S, "source": S}}
SCHEMA = {
    "properties": {
        "email": S,
        "name": S,
        "role": S,
        "deleted_at": S,
        "tier": S,
        "props": {"type": "object", "properties": {"region": WRAPPED, "plan": WRAPPED}},
    }
}


def mapper(entity: str = CUSTOMER, **rule: Any) -> StreamMapper:
    """A mapper over ``SCHEMA`` with Region, Plan and Tier fields on the site."""
    identity = {"email": "email"} if entity == CUSTOMER else {"name": "name"}
    site = FieldCatalog(
        entity,
        [FieldDef.build(n, "TEXT", []) for n in ("Region", "Plan", "Tier")],
    )
    config = {"entity": entity, **identity, **rule}
    return StreamMapper("s", StreamRule.from_config("s", config), SCHEMA, site)


def op(result: Operation | Skip) -> Operation:
    """The operation, failing with the skip reason when the record was skipped."""
    assert isinstance(result, Operation), result
    return result


# ------------------------------------------------------------------ details_value_key
def test_value_key_unwraps_matched_properties_of_details_from() -> None:
    m = mapper(details_from=["props"], details_value_key="value")
    record = {
        "email": "a@example.com",
        "props": {"region": {"value": "EMEA", "source": "API"}, "plan": {"value": "Pro"}},
    }
    assert op(m.map(record)).details == {"Region": ["EMEA"], "Plan": ["Pro"]}


def test_without_value_key_the_whole_object_lands() -> None:
    """What the option fixes: without it the field gets the object as JSON text."""
    m = mapper(details_from=["props"])
    record = {"email": "a@example.com", "props": {"region": {"value": "EMEA"}}}
    assert op(m.map(record)).details == {"Region": ['{"value":"EMEA"}']}


def test_value_key_passes_plain_values_and_nulls_through() -> None:
    """A property that is already a scalar (or missing) is read as is."""
    m = mapper(details_from=["props"], details_value_key="value")
    record = {"email": "a@example.com", "props": {"region": "APAC", "plan": None}}
    assert op(m.map(record)).details == {"Region": ["APAC"]}


def test_value_key_respects_a_path_the_rule_already_uses() -> None:
    """``props.plan.value`` used as the name keeps ``plan`` out of the details."""
    m = mapper(ORGANIZATION, name="props.plan.value", details_from=["props"],
               details_value_key="value")  # fmt: skip
    record = {"props": {"plan": {"value": "Acme"}, "region": {"value": "EMEA"}}}
    result = op(m.map(record))
    assert result.identity == "Acme"
    assert result.details == {"Region": ["EMEA"]}


# --------------------------------------------------------------------------- skip_when
def test_skip_when_in_skips_any_listed_value() -> None:
    m = mapper(skip_when={"role": {"in": ["admin", "agent"]}})
    for role in ("admin", "agent"):
        skipped = m.map({"email": "a@example.com", "role": role})
        assert isinstance(skipped, Skip)
        assert skipped.reason == "role is one of ['admin', 'agent']"
    assert op(m.map({"email": "a@example.com", "role": "end-user"})).identity == "a@example.com"
    assert op(m.map({"email": "a@example.com"})).identity == "a@example.com"


def test_skip_when_present_true_skips_set_values_only() -> None:
    m = mapper(ORGANIZATION, skip_when={"deleted_at": {"present": True}})
    assert isinstance(m.map({"name": "A", "deleted_at": "2025-01-01T00:00:00Z"}), Skip)
    for record in (
        {"name": "A", "deleted_at": None},
        {"name": "A"},
        {"name": "A", "deleted_at": ""},
    ):
        assert op(m.map(record)).identity == "A"


def test_skip_when_present_false_skips_missing_values() -> None:
    m = mapper(skip_when={"tier": {"present": False}})
    skipped = m.map({"email": "a@example.com", "tier": None})
    assert isinstance(skipped, Skip)
    assert skipped.reason == "tier is not set"
    assert op(m.map({"email": "a@example.com", "tier": "gold"})).identity == "a@example.com"


def test_skip_when_equality_is_unchanged() -> None:
    """A plain value (list and multi-key object included) is still compared for equality."""
    m = mapper(skip_when={"role": "admin", "tier": ["a", "b"], "name": {"in": 1, "x": 2}})
    assert isinstance(m.map({"email": "a@example.com", "role": "admin"}), Skip)
    assert isinstance(m.map({"email": "a@example.com", "tier": ["a", "b"]}), Skip)
    assert isinstance(m.map({"email": "a@example.com", "name": {"in": 1, "x": 2}}), Skip)
    assert op(m.map({"email": "a@example.com", "tier": "a"})).identity == "a@example.com"


@pytest.mark.parametrize(
    ("test", "message"),
    [({"in": "admin"}, "`in` takes a list"), ({"present": "yes"}, "`present` takes true")],
)
def test_malformed_skip_tests_are_refused_when_the_rule_is_read(test, message) -> None:
    with pytest.raises(ValueError, match=message) as caught:
        StreamRule.from_config(
            "users", {"entity": CUSTOMER, "email": "e", "skip_when": {"r": test}}
        )
    assert "mapping.users.skip_when.r" in str(caught.value)
