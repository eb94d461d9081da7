"""Clearing detail values in the CSM sandbox (issue 11 item 4).

Whether profile bulk clears a field sent with ``values: []`` is unsure (reference §9 q3): the
knob ``profile_empty_values`` has the three readings, ``ignored`` by default (the strictest for
a client that relies on it to clear). The documented way is the details bulk ``DELETE``
operation, which names the entity by ``customerId`` / ``organizationId`` (§2.3) and takes at
most 1000 operations per request (§2 table).
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sandbox.core.app import ApiError
from sandbox.csm.calls import customers, detail, organization, organizations, profile
from sandbox.csm.validate import BULK_SPECS, check_bulk


@pytest.fixture
def csm(csm):
    """The shared site client (conftest.py), seeded for clearing."""
    csm_seed(csm)
    return csm


def csm_seed(csm):
    csm.run(
        "customer/profile/bulk",
        customers(profile("a@x.io", details=[detail("Region", "EMEA"), detail("Plan", "Free")])),
    )
    csm.run("organization/profile/bulk", organizations(organization("Acme", details=[
        detail("Tier", "Gold"), detail("Employees", "12")
    ])))  # fmt: skip


def details_of(csm):
    return csm.app.customer_by_email("a@x.io")["details"]


def emptied(**payload):
    return customers(
        profile("a@x.io", details=[detail("Region"), detail("Plan", "Standard")], **payload)
    )


def test_an_empty_values_array_is_ignored_by_default(csm):
    answer = csm.run("customer/profile/bulk", emptied())
    assert (answer["status"], answer["failures"]) == ("FINISHED", [])
    assert details_of(csm) == {"Region": ["EMEA"], "Plan": ["Standard"]}
    body = organizations(organization("Acme", details=[detail("Tier")]))
    assert csm.run("organization/profile/bulk", body)["failures"] == []
    assert csm.app.organization_by_name("Acme")["details"]["Tier"] == ["Gold"]


def test_an_empty_values_array_clears_under_the_clears_reading(csm):
    csm.app.set_knobs(profile_empty_values="clears")
    assert csm.run("customer/profile/bulk", emptied())["failures"] == []
    assert details_of(csm) == {"Plan": ["Standard"]}
    body = organizations(organization("Acme", details=[detail("Tier")]))
    csm.run("organization/profile/bulk", body)
    assert csm.app.organization_by_name("Acme")["details"] == {"Employees": ["12"]}


def test_an_empty_values_array_fails_the_item_under_the_rejected_reading(csm):
    csm.app.set_knobs(profile_empty_values="rejected")
    answer = csm.run("customer/profile/bulk", emptied())
    assert answer["failures"] == [
        {
            "entity": "CUSTOMER",
            "entityId": "a@x.io",
            "operation": "UPSERT",
            "operatedOn": "DETAIL_FIELD",
            "operatedOnIds": ["Region"],
            "error": "Invalid detail field value",
        }
    ]
    assert details_of(csm) == {"Region": ["EMEA"], "Plan": ["Free"]}  # nothing of the item
    with pytest.raises(ValueError, match="profile_empty_values"):
        csm.app.set_knobs(profile_empty_values="sometimes")


def _details_body(key, entity_id, *operations):
    id_key = "customerId" if key == "customers" else "organizationId"
    return {key: [{id_key: entity_id, "operations": list(operations)}]}


def test_details_bulk_delete_clears_a_field_by_customer_id(csm):
    customer_id = csm.app.customer_by_email("a@x.io")["id"]
    body = _details_body(
        "customers",
        customer_id,
        {"operationType": "DELETE", "payload": {"name": "Region"}},
        {"operationType": "DELETE", "payload": {"name": "Plan", "values": []}},
    )
    answer = csm.run("customer/details/bulk", body)
    assert (answer["status"], answer["failures"]) == ("FINISHED", [])
    assert details_of(csm) == {}
    again = csm.run("customer/details/bulk", body)  # clearing an empty field is no failure
    assert again["failures"] == []


def test_details_bulk_delete_clears_a_field_by_organization_id(csm):
    body = _details_body(
        "organizations", "1", {"operationType": "DELETE", "payload": {"name": "Tier"}}
    )
    assert csm.run("organization/details/bulk", body)["failures"] == []
    assert csm.app.organization_by_name("Acme")["details"] == {"Employees": ["12"]}


def test_details_bulk_names_entities_by_id_unless_told(csm):
    operation = {"operationType": "DELETE", "payload": {"name": "Region"}}
    by_email = {"customers": [{"email": "a@x.io", "operations": [operation]}]}
    refused = csm.submit("customer/details/bulk", by_email)
    assert refused.status_code == 400
    assert "customerId" in refused.json()["message"]
    by_name = {"organizations": [{"organizationName": "Acme", "operations": [operation]}]}
    assert csm.submit("organization/details/bulk", by_name).status_code == 400
    # an unknown id falls back to nothing, even when the email would have found the customer
    both = {"customers": [{"customerId": "qm:x:y", "email": "a@x.io", "operations": [operation]}]}
    assert csm.run("customer/details/bulk", both)["failures"][0]["error"] == "Customer not found"
    csm.app.set_knobs(details_bulk_by_email=True)
    assert csm.run("customer/details/bulk", by_email)["failures"] == []
    assert "Region" not in details_of(csm)


def test_details_bulk_takes_1000_operations_and_refuses_1001(csm):
    def body(total):
        per_customer = [100] * (total // 100) + ([total % 100] if total % 100 else [])
        return {
            "customers": [
                {
                    "customerId": f"qm:x:{n}",
                    "operations": [{"operationType": "DELETE", "payload": {"name": "Region"}}]
                    * count,
                }
                for n, count in enumerate(per_customer)
            ]
        }

    assert csm.submit("customer/details/bulk", body(1000)).status_code == 202
    refused = csm.submit("customer/details/bulk", body(1001))
    assert refused.status_code == 400
    assert "1000" in refused.json()["message"]


@given(st.lists(st.integers(1, 120), min_size=1, max_size=100))
def test_the_operation_limit_counts_operations_across_all_entities(per_entity):
    operation = {"operationType": "UPDATE", "payload": {"name": "Tier", "values": ["Gold"]}}
    body = {
        "organizations": [
            {"organizationId": str(n), "operations": [operation] * count}
            for n, count in enumerate(per_entity)
        ]
    }
    spec = BULK_SPECS["organization/details/bulk"]
    if sum(per_entity) > 1000:
        with pytest.raises(ApiError, match="at most 1000 detail operations"):
            check_bulk(spec, body)
    else:
        assert check_bulk(spec, body) == (body["organizations"], sum(per_entity))
