"""Detail-field formatting: every CSM type gets arrays of strings, or a reason it cannot."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from target_atlassian_csm.fields import FieldCatalog, FieldDef, InvalidValue

REGION = FieldDef.build("Region", "SELECT", ["AMER", "EMEA", "APAC"])
PRODUCTS = FieldDef.build("Products", "MULTISELECT", ["Jira", "Confluence", "Loom"])


@pytest.mark.parametrize(
    ("definition", "value", "expected"),
    [
        (REGION, "emea", ["EMEA"]),
        (REGION, ["APAC"], ["APAC"]),
        (PRODUCTS, "jira;Loom", ["Jira", "Loom"]),
        (PRODUCTS, ["Confluence", "confluence", "Jira"], ["Confluence", "Jira"]),
        (FieldDef.build("D", "DATE"), "2024-08-23T23:30:00-02:00", ["2024-08-24"]),
        (FieldDef.build("D", "DATE"), "2024-08-23", ["2024-08-23"]),
        (FieldDef.build("D", "DATE"), 1724371200000, ["2024-08-23"]),
        (FieldDef.build("D", "DATE"), dt.date(2020, 1, 2), ["2020-01-02"]),
        (FieldDef.build("N", "NUMBER"), Decimal("42.500"), ["42.5"]),
        (FieldDef.build("N", "NUMBER"), "1e3", ["1000"]),
        (FieldDef.build("N", "NUMBER"), 7, ["7"]),
        (FieldDef.build("B", "BOOLEAN"), True, ["true"]),
        (FieldDef.build("B", "BOOLEAN"), "No", ["false"]),
        (FieldDef.build("U", "URL"), "example.com", ["https://example.com"]),
        (FieldDef.build("P", "PHONE"), "+1 (555) 010-2030 x12", ["+1 (555) 010-2030 x12"]),
        (FieldDef.build("T", "TEXT"), ["a", "b"], ["a, b"]),
        (FieldDef.build("T", "TEXT"), {"k": 1}, ['{"k":1}']),
        (FieldDef.build("T", "TEXT"), None, []),
        (FieldDef.build("T", "TEXT"), "", []),
    ],
)
def test_values_become_strings_in_the_sites_spelling(definition, value, expected):
    assert definition.format(value) == expected


@pytest.mark.parametrize(
    ("definition", "value", "fragment"),
    [
        (REGION, "Mars", "'Mars' is not an option of SELECT field 'Region'"),
        (REGION, ["AMER", "EMEA"], "takes one value"),
        (PRODUCTS, "Jira;Excel", "'Excel' is not an option"),
        (FieldDef.build("D", "DATE"), "next tuesday", "is not a date"),
        (FieldDef.build("N", "NUMBER"), "12 apples", "is not a number"),
        (FieldDef.build("N", "NUMBER"), True, "is not a number"),
        (FieldDef.build("N", "NUMBER"), Decimal("NaN"), "not a finite number"),
        (FieldDef.build("E", "EMAIL"), "no-at-sign", "not an email"),
        (FieldDef.build("U", "URL"), "ftp://x.org", "not an http(s) URL"),
        (FieldDef.build("P", "PHONE"), "call me", "not a phone number"),
        (FieldDef.build("B", "BOOLEAN"), "maybe", "not a boolean"),
    ],
)
def test_values_that_do_not_fit_say_why(definition, value, fragment):
    with pytest.raises(InvalidValue, match=None) as info:
        definition.format(value)
    assert fragment in str(info.value)


def test_multiselect_refuses_more_than_fifty_values():
    many = [f"o{i}" for i in range(60)]
    definition = FieldDef.build("M", "MULTISELECT", many)
    with pytest.raises(InvalidValue, match="CSM allows 50"):
        definition.format(many)


def test_catalog_matches_names_loosely_but_get_is_exact():
    catalog = FieldCatalog.from_api(
        "customer",
        {
            "results": [
                {"name": "Renewal Date", "type": {"name": "DATE"}},
                {"name": "Region", "type": {"name": "SELECT", "options": ["EMEA"]}},
            ]
        },
    )
    assert catalog.match("renewal_date").name == "Renewal Date"
    assert catalog.match("renewalDate").name == "Renewal Date"
    assert catalog.get("region") is None
    assert catalog.get("Region").options == ("EMEA",)
    assert len(catalog) == 2
