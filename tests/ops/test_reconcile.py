"""``reconcile`` against a CSM sandbox: it finds exactly what was corrupted by hand, no more.

One load of a CRM set into a sandbox per module; each example restores the site's store to
what the load left, corrupts some of it (deletes customers and organizations, changes detail
values and display names, drops associations: through the store, or the sandbox's HTTP API),
and checks the differences reconcile reports against the corruption, with its exit status,
the limits of every read it sent, and that it sent no write.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.ops.conftest import customer_fetch_requests, run_ops, writes
from tests.target.conftest import (
    crm_messages,
    record_msg,
    run_target,
    schema_msg,
    started_csm,
    target_config,
)

ORGS, CUSTOMERS = 4, 40


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    """A sandbox loaded with the CRM set; the store as the load left it; the settings."""
    tmp = tmp_path_factory.mktemp("reconcile")
    with started_csm() as csm:
        config = target_config(csm, tmp)
        result = run_target(config, crm_messages(ORGS, CUSTOMERS))
        assert result.exit_code == 0, result.dead_letters
        with csm.app.lock:
            csm.app.advance()
            base = copy.deepcopy(csm.app.store)
        yield csm, config, base


def restore(csm, base) -> None:
    with csm.app.lock:
        csm.app.store = copy.deepcopy(base)
    csm.app.journal.clear()


def reconcile(config: dict[str, Any], *args: str) -> tuple[int, dict[str, Any], str]:
    report = Path(config["ledger_path"]).with_name("reconcile.json")
    code, out = run_ops(config, "reconcile", "--json", str(report), *args)
    return code, json.loads(report.read_text()), out


def found(data: dict[str, Any]) -> set[tuple[Any, ...]]:
    return {(d["entity"], d["identity"], d["kind"], d["field"]) for d in data["differences"]}


def email(i: int) -> str:
    return f"user{i}@example.com"


def test_an_untouched_site_has_no_difference(loaded):
    csm, config, base = loaded
    restore(csm, base)
    code, data, out = reconcile(config)
    assert code == 0, out
    assert data["ok"] is True
    assert data["differences"] == []
    assert data["checked"] == {"customer": CUSTOMERS, "organization": ORGS}
    assert "no difference" in out.splitlines()[-1]
    assert writes(csm) == []


corruption = st.fixed_dictionaries(
    {
        "deleted": st.sets(st.integers(0, CUSTOMERS - 1), max_size=4),
        "plan": st.sets(st.integers(0, CUSTOMERS - 1), max_size=4),
        "products": st.sets(st.integers(0, CUSTOMERS - 1), max_size=3),
        "renamed": st.sets(st.integers(0, CUSTOMERS - 1), max_size=3),
        "dropped": st.sets(st.integers(0, CUSTOMERS - 1), max_size=4),
        "org_values": st.sets(st.integers(0, ORGS - 1), max_size=2),
        "org_deleted": st.sets(st.integers(0, ORGS - 1), max_size=1),
    }
)


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(corrupt=corruption)
def test_reconcile_finds_exactly_what_was_corrupted(loaded, corrupt):
    csm, config, base = loaded
    restore(csm, base)
    expected: set[tuple[Any, ...]] = set()
    with csm.app.lock:
        store = csm.app.store
        for o in corrupt["org_deleted"]:
            store.delete_organization(store.organization_by_name(f"Org {o}"))
            expected.add(("organization", f"Org {o}", "missing", None))
            for i in range(CUSTOMERS):
                if i % ORGS == o and i not in corrupt["deleted"]:
                    expected.add(("customer", email(i), "association", None))
        for o in corrupt["org_values"] - corrupt["org_deleted"]:
            store.organization_by_name(f"Org {o}").details["Industry"] = ["Healthcare"]
            expected.add(("organization", f"Org {o}", "value", "Industry"))
        for i in corrupt["deleted"]:
            store.delete_customer(store.customer_by_email(email(i)))
            expected.add(("customer", email(i), "missing", None))
        alive = {i: store.customer_by_email(email(i)) for i in range(CUSTOMERS)}
        for i in corrupt["plan"] - corrupt["deleted"]:
            alive[i].details["Plan"] = ["Enterprise"]  # the load sent Free or Standard
            expected.add(("customer", email(i), "value", "Plan"))
        for i in corrupt["products"] - corrupt["deleted"]:
            alive[i].details["Products"] = ["Trello"]
            expected.add(("customer", email(i), "value", "Products"))
        for i in corrupt["renamed"] - corrupt["deleted"]:
            store.rename_customer(alive[i], "Someone Else")
            expected.add(("customer", email(i), "display_name", None))
        for i in corrupt["dropped"] - corrupt["deleted"]:
            organization = store.organization_by_name(f"Org {i % ORGS}")
            if organization is not None:
                store.dissociate(alive[i], organization)
                expected.add(("customer", email(i), "association", None))

    code, data, out = reconcile(config)

    assert found(data) == expected, out
    assert code == (1 if expected else 0)
    assert data["ok"] is (not expected)
    assert writes(csm) == []


def test_a_customer_deleted_through_the_api_is_missing(loaded):
    csm, config, base = loaded
    restore(csm, base)
    customer = csm.app.customer_by_email(email(7))
    response = requests.delete(
        f"{csm.url}/jsm/csm/cloudid/{config['cloud_id']}/api/v1/customer/account/{customer['id']}",
        headers={"Authorization": f"Bearer {config['access_token']}"},
        timeout=10,
    )
    assert response.status_code == 204
    code, data, out = reconcile(config)
    assert code == 1
    assert found(data) == {("customer", email(7), "missing", None)}
    assert "1 difference in 1 record (missing 1)" in out.splitlines()[-1]


@settings(
    max_examples=6,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(size=st.integers(1, CUSTOMERS + ORGS + 5), seed=st.integers(0, 2**31 - 1))
def test_a_sample_reads_at_most_n_records_within_the_fetch_limits(loaded, size, seed):
    csm, config, base = loaded
    restore(csm, base)
    # Every customer deleted: every sampled customer is looked up by email too.
    with csm.app.lock:
        store = csm.app.store
        for i in range(CUSTOMERS):
            store.delete_customer(store.customer_by_email(email(i)))
    csm.app.journal.clear()

    code, data, _ = reconcile(config, "--sample", str(size), "--seed", str(seed))

    n = min(size, CUSTOMERS + ORGS)
    assert sum(data["checked"].values()) == n
    sampled = data["sample"]["records"] if data["sample"] else None
    if size < CUSTOMERS + ORGS:
        assert len(sampled) == n
        assert data["sample"]["seed"] == seed
    customers = data["checked"]["customer"]
    assert code == (1 if customers else 0)
    fetches = customer_fetch_requests(csm)
    by_id = [r["body"]["customerIds"] for r in fetches if "customerIds" in r["body"]]
    by_email = [r["body"]["emails"] for r in fetches if "emails" in r["body"]]
    assert all(len(ids) <= 25 for ids in by_id)
    assert all(len(emails) <= 25 for emails in by_email)
    assert sum(len(ids) for ids in by_id) <= customers
    searches = [r for r in csm.requests() if r["path"].endswith("/user/search")]
    assert len(searches) <= customers
    org_fetches = [r for r in csm.requests() if r["path"].endswith("/organization/fetch")]
    assert all(len(r["body"].get("organizationNames", [])) <= 50 for r in org_fetches)
    assert sum(len(r["body"].get("organizationNames", [])) for r in org_fetches) <= n
    org_profiles = [r for r in csm.requests() if r["path"].endswith("/organization/profile/fetch")]
    assert all(len(r["body"]["organizationIds"]) <= 25 for r in org_profiles)
    assert writes(csm) == []


def test_the_same_seed_draws_the_same_sample(loaded):
    csm, config, base = loaded
    restore(csm, base)
    first = reconcile(config, "--sample", "7", "--seed", "11")[1]["sample"]["records"]
    again = reconcile(config, "--sample", "7", "--seed", "11")[1]["sample"]["records"]
    other = reconcile(config, "--sample", "7", "--seed", "12")[1]["sample"]["records"]
    assert first == again
    assert first != other


def test_large_reads_are_split_at_the_limits(loaded):
    csm, config, base = loaded
    restore(csm, base)
    code, _, _ = reconcile(config)
    assert code == 0
    fetches = [
        r["body"]["customerIds"] for r in customer_fetch_requests(csm) if "customerIds" in r["body"]
    ]
    assert sorted(len(ids) for ids in fetches) == [15, 25]  # 40 customers, 25 at most


def source_file(tmp_path: Path, messages: list[dict[str, Any]]) -> Path:
    path = tmp_path / "source.singer"
    path.write_text("".join(json.dumps(m) + "\n" for m in messages))
    return path


def test_a_singer_file_is_the_truth_when_given(loaded, tmp_path):
    csm, config, base = loaded
    restore(csm, base)
    same = source_file(tmp_path, crm_messages(ORGS, CUSTOMERS))
    code, data, out = reconcile(config, "--source", str(same))
    assert code == 0, out
    assert data["expected_from"] == "source"
    assert data["checked"] == {"customer": CUSTOMERS, "organization": ORGS}

    # The source moved on: customers 3 and 5 are now Premium; CSM still holds the load.
    changed = source_file(tmp_path, crm_messages(ORGS, CUSTOMERS, changed=[3, 5]))
    code, data, out = reconcile(config, "--source", str(changed))
    assert code == 1
    assert found(data) == {
        ("customer", email(3), "value", "Plan"),
        ("customer", email(5), "value", "Plan"),
    }
    assert writes(csm) == []


def test_a_taps_output_on_stdin_is_mapped_as_the_target_would(loaded):
    csm, config, base = loaded
    restore(csm, base)
    messages = crm_messages(ORGS, CUSTOMERS)
    for message in messages:
        if message["type"] == "RECORD" and message["record"]["id"] == "c9":
            message["record"]["email"] = "new9@example.com"  # never loaded
        if message["type"] == "RECORD" and message["record"]["id"] == "c10":
            message["record"]["email"] = None  # cannot load: not expected in CSM
    text = "".join(json.dumps(m) + "\n" for m in messages)
    code, out = run_ops(config, "reconcile", "--source", "-", stdin=text)
    assert code == 1
    assert out.splitlines()[0].startswith("missing")
    assert "new9@example.com" in out.splitlines()[0]
    assert "1 difference in 1 record" in out.splitlines()[-1]
    assert "rejected 1" in out


def test_deferred_associations_are_not_differences(sandbox_factory, tmp_path):
    csm = sandbox_factory("csm", seed="default", rate_limit_requests=0)
    config = target_config(
        csm,
        tmp_path,
        mapping={
            "people": {
                "entity": "customer",
                "email": "email",
                "source_id": "id",
                "organization_id": "company_id",
                "organization_stream": "companies",
            }
        },
    )
    props = {"id": "string", "email": "string", "company_id": ["string", "null"]}
    messages = [
        schema_msg("people", props),
        record_msg("people", {"id": "p1", "email": "a@example.com", "company_id": "k1"}),
    ]
    assert run_target(config, messages).exit_code == 0
    code, out = run_ops(config, "reconcile")
    assert code == 0, out
    assert "1 association the ledger defers" in out
