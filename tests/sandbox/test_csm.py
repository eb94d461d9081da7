"""The CSM sandbox: every rule of docs/csm-api-choices.md, over HTTP, on a ManualClock."""

from __future__ import annotations

import base64
import json
import re
import subprocess
import sys
import time
import uuid

import pytest
import requests

from sandbox.core import ManualClock
from sandbox.csm import create_app

BASE = "/jsm/csm/cloudid/sandbox/api/v1"
AUTH = {"Authorization": "Bearer sandbox-token"}
HEADERS = {**AUTH, "X-ExperimentalApi": "opt-in"}
LATER = 3600.0  # enough for any default task to end


# ------------------------------------------------------------------------- helpers
@pytest.fixture
def clock():
    return ManualClock()


@pytest.fixture
def csm(sandbox_factory, clock):
    return sandbox_factory("csm", clock=clock, seed="default")


def call(sb, method, path, body=None, *, headers=None, key=None, raw=None):
    sent = dict(HEADERS if headers is None else headers)
    if key is not None:
        sent["Idempotency-Key"] = key
    data = raw if raw is not None else (None if body is None else json.dumps(body))
    if data is not None:
        sent.setdefault("Content-Type", "application/json")
    return requests.request(method, f"{sb.url}{BASE}/{path}", data=data, headers=sent, timeout=10)


def submit(sb, endpoint, body, *, key=None, headers=None):
    return call(sb, "POST", endpoint, body, key=key or str(uuid.uuid4()), headers=headers)


def task(sb, task_id):
    response = call(sb, "GET", f"tasks/{task_id}")
    assert response.status_code == 200, response.text
    return response.json()


def run(sb, clock, endpoint, body):
    """Submit, move the clock past the task's end, return the finished task."""
    response = submit(sb, endpoint, body)
    assert response.status_code == 202, response.text
    clock.advance(LATER)
    return task(sb, response.json()["id"])


def upsert(email=None, op="UPSERT", **payload):
    if email is not None:
        payload["email"] = email
    return {"operationType": op, "payload": payload}


def customers(*items):
    return {"customerProfiles": list(items)}


def orgs(*items):
    return {"organizationProfiles": list(items)}


def org(name=None, op="UPSERT", **payload):
    if name is not None:
        payload["name"] = name
    return {"operationType": op, "payload": payload}


# ---------------------------------------------------------------------------- auth
def test_auth_accepts_bearer_and_basic_and_refuses_the_rest(csm):
    basic = base64.b64encode(b"sandbox@example.com:sandbox-api-token").decode()
    wrong = base64.b64encode(b"sandbox@example.com:nope").decode()
    assert call(csm, "GET", "customer/details").status_code == 200
    assert call(csm, "GET", "customer/details", headers={"Authorization": f"Basic {basic}"}).ok
    for header in ({}, {"Authorization": "Bearer nope"}, {"Authorization": f"Basic {wrong}"}):
        response = call(csm, "GET", "customer/details", headers=header)
        assert response.status_code == 401
        assert response.json()["message"]
    assert csm.state()["counters"]["unauthorized"] == 3


def test_another_cloud_id_is_404(csm):
    response = requests.get(
        f"{csm.url}/jsm/csm/cloudid/other/api/v1/customer/details", headers=HEADERS, timeout=5
    )
    assert response.status_code == 404
    assert "message" in response.json()


# ------------------------------------------------------------- experimental header
def test_experimental_header_is_required_on_bulk_and_task_endpoints(csm):
    body = customers(upsert("a@example.com"))
    refused = submit(csm, "customer/profile/bulk", body, headers=AUTH)
    assert refused.status_code == 412
    accepted = submit(csm, "customer/profile/bulk", body)
    assert accepted.status_code == 202
    task_id = accepted.json()["id"]
    assert call(csm, "GET", f"tasks/{task_id}", headers=AUTH).status_code == 412
    assert call(csm, "GET", "customer/details", headers=AUTH).status_code == 200
    csm.knobs(experimental_header_required=False)
    assert call(csm, "GET", f"tasks/{task_id}", headers=AUTH).status_code == 200
    assert submit(csm, "customer/profile/bulk", body, headers=AUTH).status_code == 202


# -------------------------------------------------------------------- idempotency
def test_idempotency_key_is_required(csm):
    response = call(csm, "POST", "customer/profile/bulk", customers(upsert("a@example.com")))
    assert response.status_code == 400
    assert "Idempotency-Key" in response.json()["message"]
    assert csm.state()["tasks"] == []


def test_same_key_same_body_is_the_same_task_and_another_body_clashes(csm):
    body = customers(upsert("a@example.com"))
    first = submit(csm, "customer/profile/bulk", body, key="k1")
    # the same JSON with other spacing is the same request
    again = call(csm, "POST", "customer/profile/bulk", key="k1", raw=json.dumps(body, indent=2))
    assert first.status_code == again.status_code == 202
    assert first.json() == again.json()
    assert len(csm.state()["tasks"]) == 1
    clash = submit(csm, "customer/profile/bulk", customers(upsert("b@example.com")), key="k1")
    assert clash.status_code == 400
    assert "can only be retried with the same request data" in clash.json()["message"]
    other_endpoint = submit(csm, "organization/profile/bulk", body, key="k1")
    assert other_endpoint.status_code == 400
    counters = csm.state()["counters"]
    assert (counters["replays"], counters["idempotency_clashes"]) == (1, 2)


def test_validation_400_is_remembered_under_the_key(csm):
    bad = {"customerProfiles": [{"payload": {}}]}
    first = submit(csm, "customer/profile/bulk", bad, key="k2")
    second = submit(csm, "customer/profile/bulk", bad, key="k2")
    assert first.status_code == second.status_code == 400
    assert first.json() == second.json()
    fixed = submit(csm, "customer/profile/bulk", customers(upsert("a@example.com")), key="k2")
    assert fixed.status_code == 400
    assert "same request data" in fixed.json()["message"]
    assert csm.state()["counters"]["replays"] == 1


def test_refusals_without_a_task_are_not_remembered(csm, clock):
    body = customers(upsert("a@example.com"))
    assert submit(csm, "customer/profile/bulk", body, key="k3", headers=AUTH).status_code == 412
    assert submit(csm, "customer/profile/bulk", body, key="k3", headers={}).status_code == 401
    csm.knobs(task_cap=0)
    capped = submit(csm, "customer/profile/bulk", body, key="k3")
    assert capped.status_code == 400
    csm.knobs(task_cap=5, rate_limit_requests=1)
    clock.advance(10)
    assert submit(csm, "customer/profile/bulk", body, key="k4").status_code == 202
    assert submit(csm, "customer/profile/bulk", body, key="k3").status_code == 429
    csm.knobs(rate_limit_requests=100)
    assert submit(csm, "customer/profile/bulk", body, key="k3").status_code == 202


# ------------------------------------------------------------------ structural 400s
def _items(n, make):
    return [make(i) for i in range(n)]


STRUCTURAL = [
    ("customer/profile/bulk", {}),
    ("customer/profile/bulk", {"customerProfiles": "x"}),
    ("customer/profile/bulk", {"customerProfiles": []}),
    ("customer/profile/bulk", {"customerProfiles": [{"payload": {"email": "a@example.com"}}]}),
    ("customer/profile/bulk", {"customerProfiles": [{"operationType": "UPSERT"}]}),
    ("customer/profile/bulk", customers(upsert("a@example.com", op="DELETE"))),
    (
        "customer/profile/bulk",
        customers(upsert("a@example.com", details=[{"name": "Seats", "values": [3]}])),
    ),
    (
        "customer/profile/bulk",
        customers(upsert("a@example.com", details=[{"name": "Seats", "values": "3"}])),
    ),
    (
        "customer/profile/bulk",
        customers(upsert("a@example.com", associateOrganizations={"organizationIds": [1]})),
    ),
    (
        "customer/profile/bulk",
        customers(*_items(101, lambda i: upsert(f"u{i}@example.com"))),
    ),
    ("organization/profile/bulk", {"customerProfiles": [org("Acme")]}),
    ("organization/profile/bulk", orgs(*_items(101, lambda i: org(f"O{i}")))),
    ("customer/bulk", {"customers": _items(51, lambda i: upsert(f"u{i}@example.com"))}),
    ("organization/bulk", {"organizations": _items(51, lambda i: org(f"O{i}"))}),
    (
        "customer/details/bulk",
        {"customers": [{"customerId": "x", "operations": [upsert(op="UPSERT", name="Seats")]}]},
    ),
    (
        "customer/details/bulk",
        {
            "customers": [
                {
                    "customerId": "x",
                    "operations": [{"operationType": "UPDATE", "payload": {"name": "Seats"}}],
                }
            ]
        },
    ),
    (
        "customer/details/bulk",
        {
            "customers": _items(
                101,
                lambda i: {
                    "customerId": f"c{i}",
                    "operations": [{"operationType": "DELETE", "payload": {"name": "Seats"}}],
                },
            )
        },
    ),
    (
        "organization/details/bulk",
        {
            "organizations": _items(
                11,
                lambda i: {
                    "organizationId": str(i),
                    "operations": [
                        {"operationType": "DELETE", "payload": {"name": "Tier"}} for _ in range(100)
                    ],
                },
            )
        },
    ),
]


@pytest.mark.parametrize(("endpoint", "body"), STRUCTURAL)
def test_structural_problems_are_400_before_any_task(csm, endpoint, body):
    response = submit(csm, endpoint, body)
    assert response.status_code == 400, response.text
    assert response.json()["message"]
    assert csm.state()["tasks"] == []


def test_malformed_json_is_400(csm):
    response = call(csm, "POST", "customer/profile/bulk", key="m", raw="{not json")
    assert response.status_code == 400


# ----------------------------------------------------------------------- task cap
def test_task_cap_refuses_new_tasks_until_one_ends_or_times_out(sandbox_factory, clock):
    sb = sandbox_factory("csm", clock=clock, seed="default", queue_delay_seconds=100)
    for i in range(5):
        assert submit(sb, "customer/profile/bulk", customers(upsert(f"u{i}@x.io"))).ok
    refused = submit(sb, "customer/profile/bulk", customers(upsert("late@x.io")))
    assert refused.status_code == 400
    assert refused.json() == {"message": "Maximum number of tasks reached"}
    clock.advance(100.5)  # all five start and end
    assert submit(sb, "customer/profile/bulk", customers(upsert("late@x.io"))).status_code == 202


def test_tasks_older_than_the_timeout_do_not_count(sandbox_factory, clock):
    sb = sandbox_factory(
        "csm", clock=clock, seed="default", task_cap=2, task_timeout_seconds=60, seconds_per_item=5
    )
    for i in range(2):
        assert submit(sb, "customer/profile/bulk", customers(upsert(f"u{i}@x.io"))).ok
    assert submit(sb, "customer/bulk", {"customers": [upsert("z@x.io")]}).status_code == 400
    clock.advance(60)  # one item runs 5.05 s: both ended
    states = {t["status"] for t in sb.state()["tasks"]}
    assert states == {"FINISHED"}
    sb.knobs(seconds_per_item=1000)
    for i in range(2):
        assert submit(sb, "customer/profile/bulk", customers(upsert(f"v{i}@x.io"))).ok
    assert submit(sb, "customer/bulk", {"customers": [upsert("z@x.io")]}).status_code == 400
    clock.advance(61)
    assert {t["status"] for t in sb.state()["tasks"][2:]} == {"IN_PROGRESS"}
    assert submit(sb, "customer/bulk", {"customers": [upsert("z@x.io")]}).status_code == 202


# -------------------------------------------------------------------- life cycle
def test_task_life_cycle_follows_the_clock_and_applies_at_the_end(sandbox_factory, clock):
    sb = sandbox_factory(
        "csm",
        clock=clock,
        seed="default",
        queue_delay_seconds=1,
        task_overhead_seconds=1,
        seconds_per_item=0.5,
        task_order="fifo",  # the exact queue delay; "random" draws it (test_csm_tasks.py)
    )
    body = customers(*(upsert(f"u{i}@x.io") for i in range(4)))  # runs 1 + 4 * 0.5 = 3 s
    task_id = submit(sb, "customer/profile/bulk", body).json()["id"]
    assert task(sb, task_id)["status"] == "NOT_STARTED"
    clock.advance(1.5)
    assert task(sb, task_id)["status"] == "IN_PROGRESS"
    assert sb.app.customer_by_email("u0@x.io") is None
    clock.advance(2.4)
    assert task(sb, task_id)["status"] == "IN_PROGRESS"
    clock.advance(0.1)
    answer = task(sb, task_id)
    assert answer["status"] == "FINISHED"
    assert answer["failures"] == []
    assert answer["type"] == "BULK_CUSTOMER_PROFILE_CREATE_UPDATE"
    assert answer["createdAt"] == "2026-01-01T00:00:00Z"
    assert answer["updatedAt"] == "2026-01-01T00:00:04Z"
    assert sb.app.customer_by_email("U3@X.IO") is not None
    (state,) = sb.state()["tasks"]
    assert (state["startedAt"] - state["createdAt"], state["endedAt"] - state["createdAt"]) == (
        1.0,
        4.0,
    )
    assert state["items"] == 4


def test_processing_slots_run_tasks_one_at_a_time(sandbox_factory, clock):
    sb = sandbox_factory(
        "csm",
        clock=clock,
        seed="default",
        processing_slots=1,
        task_overhead_seconds=10,
        seconds_per_item=0,
        task_order="fifo",
    )
    first = submit(sb, "customer/profile/bulk", customers(upsert("a@x.io"))).json()["id"]
    second = submit(sb, "customer/profile/bulk", customers(upsert("b@x.io"))).json()["id"]
    clock.advance(5)
    assert (task(sb, first)["status"], task(sb, second)["status"]) == ("IN_PROGRESS", "NOT_STARTED")
    clock.advance(6)
    assert (task(sb, first)["status"], task(sb, second)["status"]) == ("FINISHED", "IN_PROGRESS")
    clock.advance(10)
    tasks = {t["id"]: t for t in sb.state()["tasks"]}
    assert tasks[second]["status"] == "FINISHED"
    assert tasks[second]["startedAt"] == tasks[first]["endedAt"]


def test_items_are_independent(csm, clock):
    body = customers(
        upsert("good@x.io", details=[{"name": "Region", "values": ["EMEA"]}]),
        upsert("bad@x.io", details=[{"name": "Region", "values": ["Mars"]}]),
        upsert("also-good@x.io"),
    )
    answer = run(csm, clock, "customer/profile/bulk", body)
    assert answer["status"] == "FINISHED"
    assert [f["entityId"] for f in answer["failures"]] == ["bad@x.io"]
    assert csm.app.customer_by_email("good@x.io")["details"] == {"Region": ["EMEA"]}
    assert csm.app.customer_by_email("also-good@x.io") is not None
    assert csm.app.customer_by_email("bad@x.io") is None


def test_failed_tasks_apply_nothing_unless_told(sandbox_factory, clock):
    sb = sandbox_factory("csm", clock=clock, seed="default", fail_task_rate=1.0)
    answer = run(sb, clock, "customer/profile/bulk", customers(upsert("a@x.io")))
    assert (answer["status"], answer["failures"]) == ("FAILED", [])
    assert sb.app.customer_by_email("a@x.io") is None
    sb.knobs(fail_task_applies=True)
    answer = run(sb, clock, "customer/profile/bulk", customers(upsert("a@x.io")))
    assert (answer["status"], answer["failures"]) == ("FAILED", [])
    assert sb.app.customer_by_email("a@x.io") is not None


def test_fail_task_rate_is_seeded(sandbox_factory, clock):
    def statuses(seed):
        sb = sandbox_factory(
            "csm", clock=ManualClock(), seed="default", fail_task_rate=0.5, random_seed=seed
        )
        out = []
        for i in range(12):
            task_id = submit(sb, "customer/bulk", {"customers": [upsert(f"u{i}@x.io")]}).json()
            sb.app.clock.advance(LATER)
            out.append(sb.app.task_state(task_id["id"])["status"])
        return out

    first, second = statuses(3), statuses(3)
    assert first == second
    assert {"FAILED", "FINISHED"} == set(first)


# ------------------------------------------------------------------ per-item failures
def _seed_member_records(sb, clock):
    run(sb, clock, "organization/profile/bulk", orgs(org("Acme")))
    run(sb, clock, "customer/profile/bulk", customers(upsert("exists@x.io")))
    return sb.app.customer_by_email("exists@x.io")["id"]


def _detail(name, *values):
    return {"details": [{"name": name, "values": list(values)}]}


CUSTOMER_FAILURES = [
    (upsert("not-an-email"), "Invalid email", "CUSTOMER_ACCOUNT", [], "not-an-email"),
    (upsert(), "Invalid email", "CUSTOMER_ACCOUNT", [], None),
    (upsert("a@x.io", **_detail("Shoe Size", "9")), "Invalid detail field", "DETAIL_FIELD",
     ["Shoe Size"], "a@x.io"),
    (upsert("a@x.io", **_detail("Region", "emea")), "Invalid detail field value", "DETAIL_FIELD",
     ["Region"], "a@x.io"),
    (upsert("a@x.io", **_detail("Products", "Jira", "Slack")), "Invalid detail field value",
     "DETAIL_FIELD", ["Products"], "a@x.io"),
    (upsert("a@x.io", **_detail("Renewal Date", "2026-02-30")), "Invalid detail field value",
     "DETAIL_FIELD", ["Renewal Date"], "a@x.io"),
    (upsert("a@x.io", **_detail("Renewal Date", "01/02/2026")), "Invalid detail field value",
     "DETAIL_FIELD", ["Renewal Date"], "a@x.io"),
    (upsert("a@x.io", **_detail("Seats", "twelve")), "Invalid detail field value",
     "DETAIL_FIELD", ["Seats"], "a@x.io"),
    (upsert("a@x.io", **_detail("Phone", "call me")), "Invalid detail field value",
     "DETAIL_FIELD", ["Phone"], "a@x.io"),
    (upsert("a@x.io", **_detail("Plan", "Free", "Standard")), "Invalid detail field value",
     "DETAIL_FIELD", ["Plan"], "a@x.io"),
    (upsert("a@x.io", details=[{"name": "Region", "values": ["AMER"]}] * 51),
     "Too many detail fields", "DETAIL_FIELD", [], "a@x.io"),
    (upsert("a@x.io", **_detail("Products", *(["Jira"] * 51))), "Too many values",
     "DETAIL_FIELD", ["Products"], "a@x.io"),
    (upsert("missing@x.io", op="UPDATE"), "Customer not found", "CUSTOMER_ACCOUNT", [],
     "missing@x.io"),
    (upsert(customerId="qm:nope:nope"), "Customer not found", "CUSTOMER_ACCOUNT", [],
     "qm:nope:nope"),
    (upsert("EXISTS@x.io", op="CREATE"), "Customer already exists", "CUSTOMER_ACCOUNT", [],
     "EXISTS@x.io"),
    (upsert("a@x.io", associateOrganizations={"organizationIds": ["99"]}),
     "Organization not found", "ORGANIZATION_ASSOCIATION", ["99"], "a@x.io"),
]  # fmt: skip


@pytest.mark.parametrize("case", CUSTOMER_FAILURES)
def test_customer_item_failures(csm, clock, case):
    item, error, on, ids, entity_id = case
    _seed_member_records(csm, clock)
    answer = run(csm, clock, "customer/profile/bulk", customers(item))
    assert answer["status"] == "FINISHED"
    (failure,) = answer["failures"]
    expected = {
        "entity": "CUSTOMER",
        "operation": item["operationType"],
        "operatedOn": on,
        "operatedOnIds": ids,
        "error": error,
    }
    if entity_id is not None:
        expected["entityId"] = entity_id
    assert failure == expected
    assert len(csm.state()["customers"]) == 1  # nothing landed


def test_valid_values_of_every_type_land(csm, clock):
    run(
        csm,
        clock,
        "organization/details/definitions/bulk",
        {"detailFields": [{"name": "Contact", "type": {"name": "EMAIL"}}]},
    )
    details = [
        {"name": "Region", "values": ["APAC"]},
        {"name": "Phone", "values": ["+1 (555) 010-0000"]},
        {"name": "Renewal Date", "values": ["2026-02-28"]},
        {"name": "Seats", "values": ["-12.5"]},
        {"name": "Products", "values": ["Jira", "Loom"]},
    ]
    answer = run(csm, clock, "customer/profile/bulk", customers(upsert("a@x.io", details=details)))
    assert answer["failures"] == []
    org_details = [
        {"name": "Website", "values": ["https://acme.example.com/x"]},
        {"name": "Contact", "values": ["ops@acme.io"]},
    ]
    answer = run(csm, clock, "organization/profile/bulk", orgs(org("Acme", details=org_details)))
    assert answer["failures"] == []
    bad = [{"name": "Website", "values": ["ftp://acme.example.com"]}]
    answer = run(csm, clock, "organization/profile/bulk", orgs(org("Acme", details=bad)))
    assert answer["failures"][0]["error"] == "Invalid detail field value"


ORGANIZATION_FAILURES = [
    (org("acme", op="CREATE"), "Organization already exists", "ORGANIZATION", [], "acme"),
    (org(id="99"), "Organization not found", "ORGANIZATION", [], "99"),
    (org("Nowhere", op="UPDATE"), "Organization not found", "ORGANIZATION", [], "Nowhere"),
    (org("New", associateCustomers={"customerIds": ["qm:x:y"]}), "Customer not found",
     "CUSTOMER_ASSOCIATION", ["qm:x:y"], "New"),
    (org("New", **_detail("Tier", "Platinum")), "Invalid detail field value", "DETAIL_FIELD",
     ["Tier"], "New"),
]  # fmt: skip


@pytest.mark.parametrize("case", ORGANIZATION_FAILURES)
def test_organization_item_failures(csm, clock, case):
    item, error, on, ids, entity_id = case
    _seed_member_records(csm, clock)
    answer = run(csm, clock, "organization/profile/bulk", orgs(item))
    (failure,) = answer["failures"]
    assert failure == {
        "entity": "ORGANIZATION",
        "entityId": entity_id,
        "operation": item["operationType"],
        "operatedOn": on,
        "operatedOnIds": ids,
        "error": error,
    }
    assert [o["name"] for o in csm.state()["organizations"]] == ["Acme"]


def test_failure_entity_ids_knob_leaves_them_out(csm, clock):
    csm.knobs(failure_entity_ids=False)
    answer = run(csm, clock, "customer/profile/bulk", customers(upsert("bad")))
    assert "entityId" not in answer["failures"][0]
    assert answer["failures"][0]["error"] == "Invalid email"


# ------------------------------------------------------------------------ semantics
def test_upsert_by_email_creates_then_updates_case_insensitively(csm, clock):
    run(csm, clock, "customer/profile/bulk", customers(upsert("Jane@Example.com", displayName="J")))
    first = csm.app.customer_by_email("jane@example.com")
    site = csm.app.store.site_uuid
    assert re.fullmatch(rf"qm:{site}:[0-9a-f-]{{36}}", first["id"])
    body = customers(
        upsert("JANE@example.com", displayName="Jane", **_detail("Region", "EMEA")),
    )
    run(csm, clock, "customer/profile/bulk", body)
    body = customers(upsert(customerId=first["id"], **_detail("Plan", "Premium")))
    run(csm, clock, "customer/profile/bulk", body)
    (stored,) = csm.state()["customers"]
    assert stored == {
        "id": first["id"],
        "email": "Jane@Example.com",
        "displayName": "Jane",
        "details": {"Region": ["EMEA"], "Plan": ["Premium"]},
        "organizationIds": [],
    }
    # details replace per field; under the "clears" reading an empty values array clears it
    # (the other readings: tests/sandbox/test_csm_clears.py)
    csm.knobs(profile_empty_values="clears")
    body = customers(upsert("jane@example.com", details=[{"name": "Region", "values": []}]))
    run(csm, clock, "customer/profile/bulk", body)
    assert csm.app.customer_by_email("jane@example.com")["details"] == {"Plan": ["Premium"]}


def test_customer_ids_are_deterministic():
    def ids():
        app = create_app(clock=ManualClock())
        app.seed("default", customers=3)
        return [c["id"] for c in app.state_snapshot()["customers"]]

    assert ids() == ids()


def test_organizations_by_name_with_numeric_ids_and_memberships_both_ways(csm, clock):
    run(csm, clock, "organization/profile/bulk", orgs(org("Acme"), org("Globex"), org("acme")))
    assert [(o["id"], o["name"]) for o in csm.state()["organizations"]] == [
        ("1", "Acme"),
        ("2", "Globex"),
    ]
    body = customers(upsert("a@x.io", associateOrganizations={"organizationIds": ["1"]}))
    run(csm, clock, "customer/profile/bulk", body)
    body = customers(upsert("a@x.io", associateOrganizations={"organizationIds": ["2"]}))
    run(csm, clock, "customer/profile/bulk", body)
    customer = csm.app.customer_by_email("a@x.io")
    assert customer["organizationIds"] == ["1", "2"]  # additive
    body = orgs(org("GLOBEX", associateCustomers={"customerIds": [customer["id"]]}))
    run(csm, clock, "organization/profile/bulk", body)
    assert csm.app.organization_by_name("globex")["customerIds"] == [customer["id"]]
    assert csm.app.organization_by_name("Acme")["customerIds"] == [customer["id"]]

    profile = call(csm, "GET", f"customer/profile/{customer['id']}").json()
    assert profile["organizations"] == [{"id": "1", "name": "Acme"}, {"id": "2", "name": "Globex"}]
    assert profile["email"] == "a@x.io"
    org_profile = call(csm, "GET", "organization/profile/2").json()
    assert org_profile["customers"][0]["id"] == customer["id"]
    assert org_profile["details"] == []
    assert call(csm, "GET", "organization/profile/77").status_code == 404
    assert call(csm, "GET", "customer/profile/qm:a:b").status_code == 404


def test_account_and_organization_bulk(csm, clock):
    run(csm, clock, "customer/bulk", {"customers": [upsert("a@x.io", displayName="A")]})
    run(csm, clock, "organization/bulk", {"organizations": [org("Acme", op="CREATE")]})
    assert csm.app.customer_by_email("a@x.io")["displayName"] == "A"
    assert csm.app.organization_by_name("ACME")["id"] == "1"


def test_details_bulk_update_patch_delete(csm, clock):
    body = customers(upsert("a@x.io", **_detail("Products", "Jira"), displayName="A"))
    run(csm, clock, "customer/profile/bulk", body)
    customer_id = csm.app.customer_by_email("a@x.io")["id"]

    def ops(*operations, who=None):
        target = who or {"customerId": customer_id}
        return {
            "customers": [
                {
                    **target,
                    "operations": [
                        {"operationType": o, "payload": {"name": n, "values": list(v)}}
                        for o, n, v in operations
                    ],
                }
            ]
        }

    answer = run(
        csm,
        clock,
        "customer/details/bulk",
        ops(("PATCH", "Products", ["Loom", "Jira"]), ("UPDATE", "Region", ["AMER"])),
    )
    assert answer["failures"] == []
    details = csm.app.customer_by_email("a@x.io")["details"]
    assert details == {"Products": ["Jira", "Loom"], "Region": ["AMER"]}
    csm.knobs(details_bulk_by_email=True)  # by email: not the default (test_csm_clears.py)
    run(
        csm,
        clock,
        "customer/details/bulk",
        ops(
            ("UPDATE", "Products", ["Trello"]),
            ("PATCH", "Region", ["APAC"]),
            ("DELETE", "Plan", []),
            ("PATCH", "Seats", ["many"]),
            who={"email": "A@X.IO"},
        ),
    )
    details = csm.app.customer_by_email("a@x.io")["details"]
    assert details == {"Products": ["Trello"], "Region": ["APAC"]}
    answer = run(csm, clock, "customer/details/bulk", ops(("DELETE", "Region", [])))
    assert csm.app.customer_by_email("a@x.io")["details"] == {"Products": ["Trello"]}
    missing = run(
        csm, clock, "customer/details/bulk", ops(("DELETE", "Region", []), who={"customerId": "x"})
    )
    assert missing["failures"][0]["error"] == "Customer not found"
    assert missing["failures"][0]["entityId"] == "x"


def test_organization_details_bulk(csm, clock):
    run(csm, clock, "organization/profile/bulk", orgs(org("Acme")))
    body = {
        "organizations": [
            {
                "organizationId": "1",
                "operations": [
                    {"operationType": "UPDATE", "payload": {"name": "Tier", "values": ["Gold"]}},
                    {"operationType": "UPDATE", "payload": {"name": "Nope", "values": ["x"]}},
                ],
            }
        ]
    }
    answer = run(csm, clock, "organization/details/bulk", body)
    assert [f["operatedOnIds"] for f in answer["failures"]] == [["Nope"]]
    assert csm.app.organization_by_name("acme")["details"] == {"Tier": ["Gold"]}


# ------------------------------------------------------------------------- dialects
def test_guide_dialect(sandbox_factory, clock):
    sb = sandbox_factory("csm", clock=clock, seed="default", dialect="guide")
    body = customers(upsert("ok@x.io"), upsert("bad"), upsert("x@x.io", **_detail("Nope", "1")))
    response = submit(sb, "customer/profile/bulk", body)
    assert response.status_code == 202
    answer = response.json()
    assert set(answer) == {"taskId", "statusUrl"}
    assert answer["statusUrl"] == f"{sb.url}{BASE}/tasks/{answer['taskId']}"
    polled = requests.get(answer["statusUrl"], headers=HEADERS, timeout=5).json()
    assert polled["status"] == "PROCESSING"
    assert polled["completedDate"] is None
    clock.advance(LATER)
    polled = requests.get(answer["statusUrl"], headers=HEADERS, timeout=5).json()
    assert polled["status"] == "COMPLETED"
    assert polled["createdDate"] == "2026-01-01T00:00:00Z"
    assert polled["completedDate"] is not None
    assert [f["index"] for f in polled["failures"]] == [1, 2]
    assert polled["failures"][0]["message"].startswith("Invalid email")
    with pytest.raises(ValueError, match="dialect"):
        sb.knobs(dialect="other")


# ----------------------------------------------------------------------- rate limit
def test_rate_limit_headers_and_429(sandbox_factory, clock):
    sb = sandbox_factory("csm", clock=clock, rate_limit_requests=5, rate_limit_window_seconds=10)
    responses = [call(sb, "GET", "customer/details") for _ in range(6)]
    assert [r.status_code for r in responses] == [200] * 5 + [429]
    first, last_ok, refused = responses[0], responses[4], responses[5]
    assert first.headers["X-RateLimit-Limit"] == "5"
    assert first.headers["X-RateLimit-Remaining"] == "4"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\dZ", first.headers["X-RateLimit-Reset"])
    assert first.headers["X-RateLimit-Reset"] == "2026-01-01T00:01Z"  # window end, rounded up
    assert "X-RateLimit-NearLimit" not in first.headers
    assert last_ok.headers["X-RateLimit-NearLimit"] == "true"
    assert refused.headers["Retry-After"] == "10"
    assert refused.headers["RateLimit-Reason"] == "jira-burst-based"
    assert refused.json()["message"]
    clock.advance(10)
    assert call(sb, "GET", "customer/details").status_code == 200
    # unauthenticated and unknown-path requests count and carry the headers too
    assert call(sb, "GET", "customer/details", headers={}).headers["X-RateLimit-Remaining"] == "3"


def test_injected_429_has_atlassian_headers_and_limit_can_be_disabled(sandbox_factory, clock):
    sb = sandbox_factory("csm", clock=clock, fail_next=[429, 503])
    injected = call(sb, "GET", "customer/details")
    assert injected.status_code == 429
    assert injected.headers["Retry-After"] == "1"
    assert injected.headers["RateLimit-Reason"] == "jira-burst-based"
    assert injected.headers["X-RateLimit-Remaining"] == "0"
    server_error = call(sb, "GET", "customer/details")
    assert server_error.status_code == 503
    assert "X-RateLimit-Limit" in server_error.headers
    sb.knobs(rate_limit_requests=0)
    responses = [call(sb, "GET", "customer/details") for _ in range(120)]
    assert {r.status_code for r in responses} == {200}
    assert "X-RateLimit-Limit" not in responses[-1].headers


# -------------------------------------------------------------------------- fields
def test_detail_fields_list_and_create(csm):
    listed = call(csm, "GET", "customer/details").json()["results"]
    assert listed[0] == {
        "name": "Region",
        "type": {"name": "SELECT", "options": ["AMER", "EMEA", "APAC"]},
        "configuration": {"position": 1},
    }
    assert [f["name"] for f in call(csm, "GET", "organization/details").json()["results"]] == [
        "Industry",
        "Website",
        "Employees",
        "Tier",
        "Founded",
    ]
    created = call(csm, "POST", "customer/details", {"name": "Nickname", "type": {"name": "TEXT"}})
    assert created.status_code == 200
    assert created.json() == {"name": "Nickname", "type": {"name": "TEXT"}}
    bad_bodies = [
        {"name": "region", "type": {"name": "TEXT"}},  # duplicate, case-insensitive
        {"name": "Thing", "type": {"name": "COLOR"}},
        {"name": "Flag", "type": {"name": "BOOLEAN"}},
        {"name": "Many", "type": {"name": "SELECT", "options": [str(i) for i in range(51)]}},
        {"name": "", "type": {"name": "TEXT"}},
    ]
    for body in bad_bodies:
        assert call(csm, "POST", "customer/details", body).status_code == 400, body
    csm.knobs(boolean_type_supported=True)
    flag = {"name": "Flag", "type": {"name": "BOOLEAN"}}
    assert call(csm, "POST", "customer/details", flag).status_code == 200


def test_at_most_50_fields_per_entity(sandbox_factory, clock):
    sb = sandbox_factory("csm", clock=clock, seed="empty")
    for i in range(50):
        body = {"name": f"F{i}", "type": {"name": "TEXT"}}
        assert call(sb, "POST", "organization/details", body).status_code == 200
    body = {"name": "F50", "type": {"name": "TEXT"}}
    assert call(sb, "POST", "organization/details", body).status_code == 400


def test_definitions_bulk(csm, clock):
    body = {
        "detailFields": [
            {"name": "Tier", "type": {"name": "SELECT", "options": ["A", "B"]}},
            {"name": "Since", "type": {"name": "DATE"}},
        ]
    }
    answer = run(csm, clock, "customer/details/definitions/bulk", body)
    assert (answer["status"], answer["failures"]) == ("FINISHED", [])
    names = [f["name"] for f in csm.state()["fields"]["customer"]]
    assert names[-2:] == ["Tier", "Since"]
    text = {"name": "TEXT"}
    clash = {"detailFields": [{"name": "Fresh", "type": text}, {"name": "tier", "type": text}]}
    twice = {"detailFields": [{"name": "X", "type": text}, {"name": "x ", "type": text}]}
    overflow = {"detailFields": [{"name": f"N{i}", "type": text} for i in range(45)]}
    bare_type = {"detailFields": [{"name": "Fresh", "type": "TEXT"}]}
    for body, reason in (
        (clash, "already exists"),
        (twice, "already exists"),
        (overflow, "at most 50"),
        (bare_type, "type.name"),
    ):
        response = submit(csm, "customer/details/definitions/bulk", body)
        assert response.status_code == 400
        assert reason in response.json()["message"]
    assert "Fresh" not in [f["name"] for f in csm.state()["fields"]["customer"]]


# ------------------------------------------------------------------- organization fetch
def test_organization_fetch(csm, clock):
    run(csm, clock, "organization/profile/bulk", orgs(org("Acme"), org("Globex")))
    body = {"organizationIds": ["2", "404"], "organizationNames": ["ACME", "acme", "Nope"]}
    response = call(csm, "POST", "organization/fetch", body, headers=AUTH)
    assert response.status_code == 200
    assert response.json() == {
        "results": [{"id": "2", "name": "Globex"}, {"id": "1", "name": "Acme"}]
    }
    too_many = {"organizationIds": ["1"] * 25, "organizationNames": ["a"] * 26}
    assert call(csm, "POST", "organization/fetch", too_many).status_code == 400
    assert call(csm, "POST", "organization/fetch", {}).status_code == 400
    assert call(csm, "POST", "organization/fetch", {"organizationIds": [1]}).status_code == 400


# -------------------------------------------------------------------- seed and state
def test_seed_presets(sandbox_factory, clock):
    empty = sandbox_factory("csm", clock=clock, seed="empty")
    assert empty.state()["fields"] == {"customer": [], "organization": []}
    app = create_app(clock=clock)
    summary = app.seed("default", customers=4, organizations=2)
    assert summary == {
        "preset": "default",
        "fields": {"customer": 6, "organization": 5},
        "customers": 4,
        "organizations": 2,
    }
    state = app.state_snapshot()
    assert state["customers"][3]["email"] == "user3@example.com"
    assert state["customers"][3]["organizationIds"] == ["2"]
    assert state["organizations"][0]["customerIds"] == [c["id"] for c in state["customers"][::2]]
    assert app.organization_by_name("org 1")["details"]["Industry"] == ["Retail"]
    products = next(f for f in state["fields"]["customer"] if f["name"] == "Products")
    assert products == {
        "name": "Products",
        "type": "MULTISELECT",
        "options": ["Jira", "Confluence", "Bitbucket", "Trello", "Loom"],
        "position": 6,
    }
    with pytest.raises(Exception, match="preset"):
        app.seed("huge")
    with pytest.raises(Exception, match="parameter"):
        app.seed("default", people=3)


def test_seed_scales_to_100000_customers():
    app = create_app(clock=ManualClock())
    started = time.process_time()  # the work done, not how long a loaded machine queued it
    summary = app.seed("default", customers=100_000, organizations=1_000)
    assert time.process_time() - started < 10
    assert (summary["customers"], summary["organizations"]) == (100_000, 1_000)
    assert app.customer_by_email("user99999@example.com")["organizationIds"] == ["1000"]


def test_seed_over_http_and_state_counters(csm, clock):
    summary = csm.client.seed("default", customers=2)
    assert summary["customers"] == 2
    run(csm, clock, "customer/profile/bulk", customers(upsert("user0@example.com")))
    state = csm.client.state()
    assert set(state) == {"customers", "organizations", "fields", "tasks", "counters"}
    (task_state,) = state["tasks"]
    assert set(task_state) >= {
        "id", "endpoint", "status", "items", "failures", "createdAt", "startedAt", "endedAt"
    }  # fmt: skip
    assert task_state["endpoint"] == "customer/profile/bulk"
    assert state["counters"]["tasks_created"] == 1
    assert state["counters"]["tasks_finished"] == 1
    assert len(state["customers"]) == 2


def test_error_bodies_have_a_message(csm):
    for response in (
        call(csm, "GET", "tasks/nope"),
        call(csm, "GET", "nothing/here"),
        call(csm, "DELETE", "customer/details"),
    ):
        assert response.status_code in (404, 405)
        assert set(response.json()) == {"message"}


# ---------------------------------------------------------------- the target's client
def test_the_targets_client_round_trip(csm, clock):
    from target_atlassian_csm.bulktask import new_key
    from target_atlassian_csm.client import CsmClient, encode_body

    client = CsmClient(
        base_url=csm.url, cloud_id="sandbox", access_token="sandbox-token", max_retries=0
    )
    fields = client.detail_fields("customer")
    assert len(fields["results"]) == 6
    body = encode_body(customers(upsert("a@x.io"), upsert("bad")))
    key = new_key()
    task_id = client.submit("customer/profile/bulk", body, key)
    assert client.submit("customer/profile/bulk", body, key) == task_id
    clock.advance(LATER)
    status = client.task(task_id)
    assert (status.state, [f.entity_id for f in status.failures]) == ("done", ["bad"])
    run(csm, clock, "organization/profile/bulk", orgs(org("Acme")))
    assert client.fetch_organizations(["acme"]) == [{"id": "1", "name": "Acme"}]


def test_sandbox_serve_cli_starts():
    proc = subprocess.Popen(
        [sys.executable, "-m", "sandbox", "serve", "csm", "--port", "0", "--seed", "default"],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = None
        deadline = time.monotonic() + 10
        while url is None and time.monotonic() < deadline:
            line = proc.stderr.readline()
            found = re.search(r"listening on (http://\S+)", line)
            url = found.group(1) if found else None
        assert url, "the server did not report its URL"
        response = requests.get(f"{url}{BASE}/customer/details", headers=AUTH, timeout=5)
        assert len(response.json()["results"]) == 6
    finally:
        proc.terminate()
        proc.wait(timeout=5)
