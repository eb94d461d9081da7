"""The target against the CSM sandbox: what lands, what is resent, what is dead-lettered."""

from __future__ import annotations

import pytest

from target_atlassian_csm.fields import FieldCatalog, FieldDef
from tests.target.conftest import (
    CUSTOMER_PROPS,
    FAST,
    bulk_requests,
    crm_messages,
    items_sent,
    record_msg,
    run_target,
    schema_msg,
    state_msg,
    target_config,
)


def _by_email(state):
    return {c["email"].casefold(): c for c in state["customers"]}


def _by_name(state):
    return {o["name"].casefold(): o for o in state["organizations"]}


def test_full_load_lands_every_record_with_details_and_association(csm, config):
    result = run_target(config, crm_messages(100, 1000))
    assert result.exit_code == 0
    state = csm.state()
    customers, orgs = _by_email(state), _by_name(state)
    assert len(orgs) == 100
    assert len(customers) == 1000
    org_ids = {o["id"]: o["name"] for o in state["organizations"]}
    for i in range(1000):
        c = customers[f"user{i}@example.com"]
        assert c["displayName"] == f"User {i}"
        assert c["details"]["Region"] == [["AMER", "EMEA", "APAC"][i % 3]]
        assert c["details"]["Plan"] == [["Free", "Standard"][i % 2]]
        assert c["details"]["Seats"] == [str(i)]
        assert sorted(c["details"]["Products"]) == sorted(
            ["Jira", "Loom"] if i % 2 else ["Confluence"]
        )
        assert [org_ids[x] for x in c["organizationIds"]] == [f"Org {i % 100}"]
    assert orgs["org 7"]["details"]["Industry"] == ["Retail"]
    assert orgs["org 7"]["details"]["Employees"] == ["17"]
    assert orgs["org 7"]["details"]["Website"] == ["https://org7.example.com"]
    counts = result.summary["entities"]
    assert counts["customer"]["created"] == 1000
    assert counts["organization"]["created"] == 100
    assert counts["customer"]["failed"] == 0
    # Profile bulk at 100 per request: the minimum number of submits.
    assert len(bulk_requests(csm, "customer")) == 10
    assert len(bulk_requests(csm, "organization")) == 1
    # Organizations were all confirmed before the first customer was sent.
    requests = csm.requests()
    first_customer = next(
        i for i, r in enumerate(requests) if r["path"].endswith("customer/profile/bulk")
    )
    org_submit = next(
        i for i, r in enumerate(requests) if r["path"].endswith("organization/profile/bulk")
    )
    assert org_submit < first_customer
    # The last STATE passed on is the tap's last one.
    assert result.states[-1] == {"bookmarks": {"customers": 1000, "done": True}}


def test_rerun_with_same_input_sends_no_bulk_request(csm, config):
    messages = crm_messages(10, 200)
    run_target(config, messages)
    csm.app.journal.clear()
    again = run_target(config, messages)
    assert bulk_requests(csm, "customer") == []
    assert bulk_requests(csm, "organization") == []
    assert again.summary["entities"]["customer"]["unchanged"] == 200
    assert again.summary["entities"]["organization"]["unchanged"] == 10
    assert again.states[-1] == {"bookmarks": {"customers": 200, "done": True}}


def test_rerun_with_ten_changed_records_sends_only_those(csm, config):
    run_target(config, crm_messages(10, 300))
    csm.app.journal.clear()
    changed = [3, 50, 51, 99, 120, 150, 201, 250, 298, 299]
    again = run_target(config, crm_messages(10, 300, changed=changed))
    sent = items_sent(csm, "customer")
    assert sorted(item["payload"]["email"] for item in sent) == sorted(
        f"user{i}@example.com" for i in changed
    )
    assert again.summary["entities"]["customer"]["updated"] == 10
    assert again.summary["entities"]["customer"]["unchanged"] == 290
    customers = _by_email(csm.state())
    assert all(customers[f"user{i}@example.com"]["details"]["Plan"] == ["Premium"] for i in changed)


def test_bad_records_are_dead_lettered_with_reasons_and_the_rest_land(csm, config):
    messages = [schema_msg("customers", CUSTOMER_PROPS)]
    for i in range(30):
        record = {"id": f"c{i}", "email": f"ok{i}@example.com", "region": "EMEA", "plan": "Free"}
        if i == 3:
            record["email"] = "not-an-email"
        if i == 7:
            record["plan"] = "Platinum"
        if i == 11:
            record["email"] = None
        if i == 13:
            record["seats"] = "many"
        messages.append(record_msg("customers", record))
    messages.append(state_msg({"done": True}))
    result = run_target(config, messages)
    assert result.exit_code == 2  # 4 of 30 failed: above the default 5% bound
    reasons = {d["source_id"]: d["reason"] for d in result.dead_letters}
    assert set(reasons) == {"c3", "c7", "c11", "c13"}
    assert "invalid email" in reasons["c3"]
    assert "Platinum" in reasons["c7"]
    assert "Plan" in reasons["c7"]
    assert "no email" in reasons["c11"]
    assert "many" in reasons["c13"]
    assert all(d["stream"] == "customers" for d in result.dead_letters)
    customers = _by_email(csm.state())
    assert len(customers) == 26
    assert "ok3@example.com" not in customers
    # Nothing was held back by the bad neighbours: the final STATE went out.
    assert result.states[-1] == {"done": True}


def _site_loses_an_option(monkeypatch):
    """The target believes Plan has a "Platinum" option that the site refuses.

    That is what happens when someone edits the field while a load runs: the record passes the
    target's own checks, and only the task's failure report can say what went wrong.
    """
    original = FieldCatalog.from_api.__func__

    def from_api(cls, entity, body):
        catalog = original(cls, entity, body)
        plan = catalog.get("Plan")
        if plan is not None:
            catalog.add(FieldDef.build("Plan", plan.type, [*plan.options, "Platinum"]))
        return catalog

    monkeypatch.setattr(FieldCatalog, "from_api", classmethod(from_api))


def _plan_messages(count, platinum):
    messages = [schema_msg("customers", CUSTOMER_PROPS)]
    for i in range(count):
        plan = "Platinum" if i in platinum else "Free"
        messages.append(
            record_msg("customers", {"id": f"c{i}", "email": f"s{i}@example.com", "plan": plan})
        )
    messages.append(state_msg({"done": True}))
    return messages


@pytest.mark.parametrize("entity_ids", [True, False])
def test_task_failures_are_matched_to_their_record(
    sandbox_factory, tmp_path, monkeypatch, entity_ids
):
    """With entityId the failure names its record; without it the batch is split to find it."""
    _site_loses_an_option(monkeypatch)
    csm = sandbox_factory("csm", seed="default", **FAST, failure_entity_ids=entity_ids)
    config = target_config(csm, tmp_path, max_failure_rate=1)
    result = run_target(config, _plan_messages(40, {6, 33}))
    assert result.exit_code == 0
    assert sorted(d["source_id"] for d in result.dead_letters) == ["c33", "c6"]
    assert all("Invalid detail field value" in d["reason"] for d in result.dead_letters)
    assert all(d.get("task_id") for d in result.dead_letters)
    customers = _by_email(csm.state())
    assert len(customers) == 38
    assert "s6@example.com" not in customers
    assert result.summary["entities"]["customer"]["failed"] == 2
    assert result.summary["entities"]["customer"]["created"] == 38
    if not entity_ids:
        assert result.summary["tasks"].get("split", 0) > 0


@pytest.mark.parametrize("dialect", ["reference", "guide"])
def test_both_response_dialects(sandbox_factory, tmp_path, dialect):
    csm = sandbox_factory("csm", seed="default", **FAST, dialect=dialect)
    result = run_target(target_config(csm, tmp_path), crm_messages(5, 250))
    assert result.exit_code == 0
    assert len(_by_email(csm.state())) == 250
    assert result.summary["entities"]["customer"]["created"] == 250


def test_429_5xx_and_dropped_connections_are_absorbed(sandbox_factory, tmp_path):
    csm = sandbox_factory(
        "csm", seed="default", **FAST, rate_429=0.15, rate_5xx=0.1, rate_drop_after=0.05
    )
    config = target_config(csm, tmp_path, max_retries=20)
    result = run_target(config, crm_messages(10, 400))
    assert result.exit_code == 0
    customers = _by_email(csm.state())
    assert len(customers) == 400
    assert result.summary["entities"]["customer"]["created"] == 400
    faults = [r for r in csm.requests() if r["fault"]]
    assert faults, "the sandbox injected no fault: the test proves nothing"
    # A dropped answer is retried with the same key: no record was loaded twice.
    assert len(csm.state()["customers"]) == 400


def test_task_cap_is_waited_for(sandbox_factory, tmp_path):
    csm = sandbox_factory("csm", seed="default", **FAST, task_cap=2, seconds_per_item=0.004)
    config = target_config(csm, tmp_path, max_tasks_in_flight=5)
    result = run_target(config, crm_messages(5, 700))
    assert result.exit_code == 0
    assert len(_by_email(csm.state())) == 700
    refused = [r for r in csm.requests() if r["status"] == 400]
    assert refused, "the cap was never reached: the test proves nothing"


def test_tasks_ending_failed_with_empty_failures_are_resubmitted(sandbox_factory, tmp_path):
    csm = sandbox_factory(
        "csm", seed="default", **FAST, fail_task_rate=0.3, fail_task_applies=False
    )
    config = target_config(csm, tmp_path, max_task_attempts=10)
    result = run_target(config, crm_messages(5, 300))
    assert result.exit_code == 0
    assert len(_by_email(csm.state())) == 300
    assert result.summary["tasks"].get("failed", 0) > 0


def test_state_waits_for_confirmation(sandbox_factory, tmp_path):
    """No STATE is passed on before the records before it are confirmed."""
    csm = sandbox_factory("csm", seed="default", **FAST, seconds_per_item=0.002)
    result = run_target(target_config(csm, tmp_path), crm_messages(3, 300, state_every=50))
    # Every STATE passed on was the tap's, in order, none invented or reordered.
    expected = [{"bookmarks": {"organizations": 3}}] + [
        {"bookmarks": {"customers": n}} for n in range(50, 301, 50)
    ]
    expected.append({"bookmarks": {"customers": 300, "done": True}})
    seen = [s for s in result.states]
    assert all(s in expected for s in seen)
    assert seen == sorted(seen, key=expected.index)
    assert seen[-1] == expected[-1]


def test_duplicate_emails_merge_and_a_rerun_sends_nothing(csm, config):
    """The same customer twice (email in another case): one CSM customer, associations added."""
    messages = crm_messages(4, 20)
    duplicate = {
        "id": "c-dup",
        "email": "USER3@EXAMPLE.COM",
        "company": "Org 2",
        "plan": "Premium",
    }
    messages.insert(-1, record_msg("customers", duplicate))
    first = run_target(config, messages)
    customers = _by_email(csm.state())
    assert len(customers) == 20
    merged = customers["user3@example.com"]
    names = {o["id"]: o["name"] for o in csm.state()["organizations"]}
    assert sorted(names[i] for i in merged["organizationIds"]) == ["Org 2", "Org 3"]
    assert merged["details"]["Plan"] == ["Premium"]
    counts = first.summary["entities"]["customer"]
    # Every record ends in exactly one outcome; the duplicate was folded into user3, either in
    # the buffer ("merged", and counted with user3's outcome) or after user3 was confirmed
    # (sent again as an "update").
    outcomes = ("created", "updated", "unchanged", "skipped", "failed")
    assert sum(counts[k] for k in outcomes) == counts["received"] == 21
    assert counts["merged"] + counts["updated"] == 1
    csm.app.journal.clear()
    again = run_target(config, messages)
    assert bulk_requests(csm, "customer") == []
    assert again.summary["entities"]["customer"]["failed"] == 0
