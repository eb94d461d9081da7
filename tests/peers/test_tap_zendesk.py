"""``meltano run tap-zendesk target-atlassian-csm``: singer-io tap-zendesk 2.8.2, unmodified."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from tests.peers.conftest import (
    add_csm_fields,
    csm_by_email,
    csm_by_name,
    dead_letters,
    profile_items,
)

pytestmark = pytest.mark.e2e

#: What a CSM admin defines before the migration. Dropdowns carry the Zendesk option tags
#: (the tap sends tags, not names); no field for the multiselects, which the tap mangles.
CSM_FIELDS = {
    "customer": [
        ("Plan", "SELECT", ["plan_free", "plan_pro", "plan_enterprise"]),
        ("Seats", "NUMBER", []),
        ("NPS Score", "NUMBER", []),
        ("Signup Date", "DATE", []),
        ("VIP", "BOOLEAN", []),
        ("Customer Code", "TEXT", []),
        ("Job Title", "TEXT", []),
        ("Phone", "PHONE", []),
    ],
    "organization": [
        ("Tier", "SELECT", ["tier_gold", "tier_silver", "tier_bronze"]),
        ("Employees", "NUMBER", []),
        ("Annual Revenue", "NUMBER", []),
        ("Renewal Date", "DATE", []),
        ("Partner", "BOOLEAN", []),
        ("Account Code", "TEXT", []),
        ("Industry", "TEXT", []),
        ("Domain Names", "TEXT", []),
    ],
}


def _number(value: Any) -> str:
    text = f"{value}"
    return text[:-2] if text.endswith(".0") else text


def expected_org(body: dict[str, Any]) -> dict[str, list[str]]:
    """The CSM details an organization of the Zendesk sandbox must end up with."""
    f = body["organization_fields"]
    out = {
        "Employees": [_number(f["employees"])],
        "Annual Revenue": [_number(f["annual_revenue"])],
        "Renewal Date": [f["renewal_date"][:10]],
        "Partner": ["true" if f["partner"] else "false"],
        "Account Code": [f["account_code"]],
        "Industry": [f["industry"]],
        "Domain Names": [", ".join(body["domain_names"])],
    }
    if f["tier"]:
        out["Tier"] = [f["tier"]]
    return out


def expected_customer(body: dict[str, Any]) -> dict[str, list[str]]:
    """The CSM details a user of the Zendesk sandbox must end up with."""
    f = body["user_fields"]
    return {
        "Plan": [f["plan"]],
        "Seats": [_number(f["seats"])],
        "NPS Score": [_number(f["nps_score"])],
        "Signup Date": [f["signup_date"][:10]],
        "VIP": ["true" if f["vip"] else "false"],
        "Customer Code": [f["customer_code"]],
        "Job Title": [f["job_title"]],
        "Phone": [body["phone"]],
    }


@pytest.fixture
def zendesk_flow(sandbox_factory, meltano_proxy, peer_flow) -> dict[str, Any]:
    """Seeded Zendesk (plus an agent and a deleted organization), a CSM site with the
    fields, the proxy and the flow. Records are changed at ``now - 2 min``: outside the
    incremental export's hold-back."""
    zendesk = sandbox_factory("zendesk", seed="default", incremental_rate_per_minute=0)
    csm = sandbox_factory("csm", seed="empty", rate_limit_requests=0)
    add_csm_fields(csm, CSM_FIELDS)
    users = sorted(zendesk.state()["users"].values(), key=lambda u: u["id"])
    agent = [u for u in users if u["email"] and u["active"] and u["role"] == "end-user"][-1]
    zendesk.app.modify("users", agent["id"], {"role": "agent"}, time.time() - 300)
    orgs = sorted(zendesk.state()["organizations"].values(), key=lambda o: o["id"])
    zendesk.app.modify(
        "organizations", orgs[-1]["id"], {"deleted_at": "2025-06-01T00:00:00Z"}, time.time() - 300
    )
    meltano_proxy(zendesk=zendesk)
    return {"zendesk": zendesk, "csm": csm, "flow": peer_flow("tap-zendesk", csm)}


def test_discovery_types_custom_fields_from_the_sandbox_definitions(zendesk_flow) -> None:
    """The tap builds ``user_fields`` from GET /api/v2/user_fields (the sandbox's keys)."""
    done = zendesk_flow["flow"].meltano("invoke", "--dump=catalog", "tap-zendesk")
    assert done.returncode == 0, done.stderr[-3000:]
    users = next(s for s in json.loads(done.stdout)["streams"] if s["tap_stream_id"] == "users")
    custom = users["schema"]["properties"]["user_fields"]["properties"]
    assert custom["seats"]["type"] == ["integer", "null"]
    assert custom["nps_score"]["type"] == ["number", "null"]
    assert custom["vip"]["type"] == ["boolean", "null"]
    assert set(custom) == {
        "plan", "seats", "nps_score", "signup_date", "interests", "vip", "customer_code",
        "job_title",
    }  # fmt: skip


def test_meltano_run_lands_everything_then_moves_only_what_changed(zendesk_flow) -> None:
    """First run: every live org and every end-user with details and organization; agents,
    admins, deleted users and deleted orgs skipped. Second run, from Meltano's stored state:
    only the edited user and organization are sent."""
    zendesk, csm, flow = zendesk_flow["zendesk"], zendesk_flow["csm"], zendesk_flow["flow"]
    first = flow.run()
    state = zendesk.state()
    live_orgs = [o for o in state["organizations"].values() if not o["deleted_at"]]
    assert len(live_orgs) == len(state["organizations"]) - 1
    orgs = csm_by_name(csm)
    assert set(orgs) == {o["name"] for o in live_orgs}
    for body in live_orgs:
        assert orgs[body["name"]]["details"] == expected_org(body), body["name"]
    org_name = {int(o["id"]): o["name"] for o in live_orgs}

    users = list(state["users"].values())
    loadable = [u for u in users if u["email"] and u["active"] and u["role"] == "end-user"]
    assert len(loadable) == 17
    customers = csm_by_email(csm)
    assert set(customers) == {u["email"] for u in loadable}
    org_ids = {o["name"]: o["id"] for o in csm.state()["organizations"]}
    for user in loadable:
        got = customers[user["email"]]
        assert got["displayName"] == user["name"]
        assert got["details"] == expected_customer(user), user["email"]
        name = org_name.get(user["organization_id"])
        assert got["organizationIds"] == ([org_ids[name]] if name else []), user["email"]
    assert any(u["organization_id"] and u["organization_id"] not in org_name for u in loadable)
    # skipped, not failed: the agent, the admin, the deleted user and the deleted org
    assert first.entity("customer")["skipped"] == 3
    assert first.entity("organization")["skipped"] == 1
    errors = [d for d in dead_letters(flow) if d["severity"] == "error"]
    assert [d["record"]["id"] for d in errors] == [u["id"] for u in users if not u["email"]]
    assert all("Interests" not in c["details"] for c in customers.values())
    bookmark = flow.state()["singer_state"]["bookmarks"]["users"]["updated_at"]
    assert bookmark == max(u["updated_at"] for u in users)

    user = next(u for u in sorted(loadable, key=lambda u: u["id"]))
    org = sorted(live_orgs, key=lambda o: o["id"])[1]
    edited_at = time.time() - 120
    zendesk.app.modify("users", user["id"], {"user_fields": {"plan": "plan_enterprise"}}, edited_at)
    zendesk.app.modify("organizations", org["id"], {"organization_fields": {"employees": 999}},
                       edited_at)  # fmt: skip
    csm.app.journal.clear()
    zendesk.app.journal.clear()

    flow.run()

    export = [r for r in zendesk.requests() if "/incremental/users/cursor" in r["path"]]
    epoch = int(time.mktime(time.strptime(bookmark, "%Y-%m-%dT%H:%M:%SZ")) - time.timezone)
    assert export[0]["query"]["start_time"] == [str(epoch)]
    assert [p["email"] for p in profile_items(csm, "customer")] == [user["email"]]
    assert [p["name"] for p in profile_items(csm, "organization")] == [org["name"]]
    assert csm_by_email(csm)[user["email"]]["details"]["Plan"] == ["plan_enterprise"]
    assert csm_by_name(csm)[org["name"]]["details"]["Employees"] == ["999"]
    assert flow.state()["singer_state"]["bookmarks"]["users"]["updated_at"] > bookmark
