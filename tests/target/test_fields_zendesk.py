"""Values as singer-io tap-zendesk 2.8.2 writes them: multiselects as a Python list repr, dates
with ``format: datetime`` in the SCHEMA (see tests/peers/test_tap_zendesk_fields.py)."""

from __future__ import annotations

import pytest

from target_atlassian_csm.fields import FieldDef, InvalidValue, python_list_text
from target_atlassian_csm.metadata import schema_field

INTERESTS = FieldDef.build("Interests", "MULTISELECT", ["Billing", "API", "Reporting"])


@pytest.mark.parametrize(
    ("text", "items"),
    [
        ("['interest_billing', 'interest_api']", ["interest_billing", "interest_api"]),
        ('["Billing"]', ["Billing"]),
        ("[]", []),
        ("['a', ]", ["a"]),
    ],
)
def test_python_list_repr_is_read_as_its_items(text: str, items: list[str]) -> None:
    assert python_list_text(text) == items


@pytest.mark.parametrize(
    "text",
    [
        "Billing;API",
        "[draft] notes",
        "[1, 2]",
        "['a'] and more",
        "['a' + 'b']",
        "[__import__('os')]",
    ],
)
def test_other_text_is_not_a_list(text: str) -> None:
    assert python_list_text(text) is None


def test_multiselect_reads_the_tap_zendesk_repr() -> None:
    assert INTERESTS.format("['billing', 'API']") == ["Billing", "API"]
    assert INTERESTS.format("Billing;Reporting") == ["Billing", "Reporting"]  # unchanged
    with pytest.raises(InvalidValue):
        INTERESTS.format("['billing', 'unknown']")  # items still checked against the options


def test_text_joins_a_repr_list_like_a_real_list() -> None:
    text = FieldDef.build("Interests", "TEXT")
    assert text.format("['interest_billing', 'interest_api']") == ["interest_billing, interest_api"]
    assert text.format("[draft] notes") == ["[draft] notes"]


def test_tap_zendesk_datetime_format_is_a_date_field() -> None:
    spec = schema_field("users", "signup_date", {"type": ["string", "null"], "format": "datetime"})
    assert spec is not None
    assert spec.csm_type == "DATE"
