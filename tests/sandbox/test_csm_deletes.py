"""Single-record deletes of the CSM sandbox (reference §4), for a rollback (issue 14).

``DELETE customer/account/{customerId}`` (Customer Accounts only) and
``DELETE organization/{organizationId}``: no Idempotency-Key, no task, 204, rate-limited like
every request; the record goes with its details and memberships, and a later reference to a
deleted organization fails with the reference's failure shape (issue 11 item 7).
"""

from __future__ import annotations

import pytest

from sandbox.csm.calls import (
    AUTH,
    CsmCalls,
    customers,
    detail,
    organization,
    organizations,
    profile,
)


def seed_members(csm):
    """Acme ("1") and Globex ("2"); a@x.io in both, b@x.io in Acme; details on all."""
    csm.run(
        "organization/profile/bulk",
        organizations(
            organization("Acme", details=[detail("Tier", "Gold")]), organization("Globex")
        ),
    )
    csm.run(
        "customer/profile/bulk",
        customers(
            profile(
                "a@x.io",
                details=[detail("Region", "EMEA")],
                associateOrganizations={"organizationIds": ["1", "2"]},
            ),
            profile("b@x.io", associateOrganizations={"organizationIds": ["1"]}),
        ),
    )
    return csm.app.customer_by_email("a@x.io")["id"], csm.app.customer_by_email("b@x.io")["id"]


def test_deleting_a_customer_account_removes_it_its_details_and_memberships(csm):
    a_id, b_id = seed_members(csm)
    response = csm.call("DELETE", f"customer/account/{a_id}", headers=AUTH)  # no key, no opt-in
    assert (response.status_code, response.content) == (204, b"")
    assert csm.call("GET", f"customer/profile/{a_id}").status_code == 404
    assert csm.app.customer_by_email("a@x.io") is None
    for org_id in ("1", "2"):
        members = [
            c["id"] for c in csm.call("GET", f"organization/profile/{org_id}").json()["customers"]
        ]
        assert a_id not in members
    assert csm.app.organization_by_name("Acme")["customerIds"] == [b_id]
    assert csm.app.state_snapshot()["counters"]["customers_deleted"] == 1


def test_a_deleted_customer_is_gone_for_good_and_its_email_makes_a_new_one(csm):
    a_id, _ = seed_members(csm)
    assert csm.call("DELETE", f"customer/account/{a_id}").status_code == 204
    again = csm.call("DELETE", f"customer/account/{a_id}")
    assert again.status_code == 404
    assert again.json()["message"]
    csm.run("customer/profile/bulk", customers(profile("A@x.io")))
    fresh = csm.app.customer_by_email("a@x.io")
    assert fresh["id"] != a_id
    assert (fresh["details"], fresh["organizationIds"]) == ({}, [])
    update_by_old_id = csm.run("customer/profile/bulk", customers(profile(customerId=a_id)))
    assert update_by_old_id["failures"][0]["error"] == "Customer not found"


def test_only_customer_accounts_can_be_deleted(csm):
    seed_members(csm)
    atlassian_account = "5b10ac8d82e05b22cc7d4ef5"
    for customer_id in (atlassian_account, "qm:nope:nope"):
        response = csm.call("DELETE", f"customer/account/{customer_id}")
        assert response.status_code == 404, customer_id
        assert response.json()["message"]
    csm.app.set_knobs(account_other_ids_status=400)
    assert csm.call("DELETE", f"customer/account/{atlassian_account}").status_code == 400
    assert csm.call("DELETE", "customer/account/qm:nope:nope").status_code == 404
    assert len(csm.app.state_snapshot()["customers"]) == 2
    with pytest.raises(ValueError, match="account_other_ids_status"):
        csm.app.set_knobs(account_other_ids_status=500)


def test_deleting_an_organization_removes_it_its_details_and_memberships(csm):
    a_id, b_id = seed_members(csm)
    response = csm.call("DELETE", "organization/1", headers=AUTH)
    assert (response.status_code, response.content) == (204, b"")
    assert csm.call("GET", "organization/profile/1").status_code == 404
    fetched = csm.call("POST", "organization/fetch", {"organizationNames": ["Acme"]})
    assert fetched.json() == {"results": []}
    assert csm.app.customer_by_email("a@x.io")["organizationIds"] == ["2"]
    assert csm.app.customer_by_email("b@x.io")["organizationIds"] == []
    orgs_of_a = csm.call("GET", f"customer/profile/{a_id}").json()["organizations"]
    assert orgs_of_a == [{"id": "2", "name": "Globex"}]
    assert csm.call("DELETE", "organization/1").status_code == 404
    csm.run("organization/profile/bulk", organizations(organization("ACME")))
    recreated = csm.app.organization_by_name("acme")
    assert recreated["id"] not in ("1", "2")  # a deleted id is never given again
    assert (recreated["details"], recreated["customerIds"]) == ({}, [])
    assert b_id not in recreated["customerIds"]


def test_a_deleted_organization_referenced_later_fails_the_item_organization_not_found(csm):
    seed_members(csm)
    assert csm.call("DELETE", "organization/1").status_code == 204
    body = customers(
        profile("c@x.io", associateOrganizations={"organizationIds": ["1"]}),
        profile("d@x.io", associateOrganizations={"organizationIds": ["2"]}),
    )
    answer = csm.run("customer/profile/bulk", body)
    assert answer["status"] == "FINISHED"
    assert answer["failures"] == [
        {
            "entity": "CUSTOMER",
            "entityId": "c@x.io",
            "operation": "UPSERT",
            "operatedOn": "ORGANIZATION_ASSOCIATION",
            "operatedOnIds": ["1"],
            "error": "Organization not found",
        }
    ]
    assert csm.app.customer_by_email("c@x.io") is None  # the item changed nothing
    assert csm.app.customer_by_email("d@x.io")["organizationIds"] == ["2"]
    by_id = csm.run("organization/profile/bulk", organizations(organization(id="1")))
    assert by_id["failures"][0]["error"] == "Organization not found"
    details = {
        "organizations": [
            {
                "organizationId": "1",
                "operations": [{"operationType": "DELETE", "payload": {"name": "Tier"}}],
            }
        ]
    }
    by_details = csm.run("organization/details/bulk", details)
    assert by_details["failures"][0]["error"] == "Organization not found"


def test_a_task_submitted_before_the_delete_fails_when_it_ends(csm, clock):
    seed_members(csm)
    csm.app.set_knobs(seconds_per_item=10)
    body = customers(profile("c@x.io", associateOrganizations={"organizationIds": ["2"]}))
    task_id = csm.submit("customer/profile/bulk", body).json()["id"]
    assert csm.call("DELETE", "organization/2").status_code == 204
    clock.advance(60)
    answer = csm.task(task_id).json()
    assert [f["error"] for f in answer["failures"]] == ["Organization not found"]


def test_deletes_are_rate_limited_like_every_request(sandbox_factory, clock):
    running = sandbox_factory("csm", clock=clock, seed="default", rate_limit_requests=3)
    csm = CsmCalls(running.url, clock)
    running.app.seed("default", customers=2, organizations=2)
    ids = [c["id"] for c in running.app.state_snapshot()["customers"]]
    statuses = [
        csm.call("DELETE", f"customer/account/{ids[0]}").status_code,
        csm.call("DELETE", "organization/1").status_code,
        csm.call("DELETE", f"customer/account/{ids[1]}").status_code,
    ]
    refused = csm.call("DELETE", "organization/2")
    assert statuses == [204, 204, 204]
    assert refused.status_code == 429
    assert refused.headers["Retry-After"]
    assert refused.headers["X-RateLimit-Remaining"] == "0"
    assert running.app.organization_by_name("Org 1") is not None  # refused: nothing deleted
