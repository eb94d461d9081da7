"""singer-io tap-zendesk 2.8.2, unmodified, through the proxy into target-atlassian-csm."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from tests.peers.conftest import (
    add_csm_fields,
    csm_by_email,
    csm_by_name,
    discover,
    peer_executable,
    profile_items,
    run_pipe,
    select_streams,
    target_config,
    write_json,
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
def zendesk_setup(sandbox_factory, proxy_factory, tmp_path: Path) -> dict[str, Any]:
    """Seeded Zendesk and CSM sandboxes, the proxy, the tap's config and selected catalog."""
    tap = peer_executable("tap-zendesk")
    zendesk = sandbox_factory("zendesk", seed="default", incremental_rate_per_minute=0)
    csm = sandbox_factory("csm", seed="empty", rate_limit_requests=0)
    add_csm_fields(csm, CSM_FIELDS)
    proxy = proxy_factory(zendesk=zendesk)
    config = write_json(
        tmp_path / "tap.json",
        {
            "subdomain": "acme",
            "access_token": "sandbox-token",
            "start_date": "2020-01-01T00:00:00Z",
        },
    )
    catalog = select_streams(discover(tap, config, proxy.env()), {"users", "organizations"})
    return {
        "tap": tap,
        "zendesk": zendesk,
        "csm": csm,
        "proxy": proxy,
        "config": config,
        "catalog": write_json(tmp_path / "catalog.json", catalog),
        "target": target_config(csm, tmp_path, mapping_preset="tap-zendesk"),
        "workdir": tmp_path,
    }


def _run(setup: dict[str, Any], state: dict[str, Any] | None = None):
    command = [str(setup["tap"]), "--config", str(setup["config"])]
    command += ["--catalog", str(setup["catalog"])]
    if state is not None:
        command += ["--state", str(write_json(setup["workdir"] / "state.json", state))]
    return run_pipe(command, setup["proxy"].env(), setup["target"], setup["workdir"]).check()


def test_discovery_types_custom_fields_from_the_sandbox_definitions(zendesk_setup) -> None:
    """The tap builds ``user_fields`` from GET /api/v2/user_fields (the sandbox's keys)."""
    import json

    catalog = json.loads(Path(zendesk_setup["catalog"]).read_text())
    users = next(s for s in catalog["streams"] if s["tap_stream_id"] == "users")
    custom = users["schema"]["properties"]["user_fields"]["properties"]
    assert custom["seats"]["type"] == ["integer", "null"]
    assert custom["nps_score"]["type"] == ["number", "null"]
    assert custom["vip"]["type"] == ["boolean", "null"]
    assert set(custom) == {
        "plan", "seats", "nps_score", "signup_date", "interests", "vip", "customer_code",
        "job_title",
    }  # fmt: skip


def test_full_load_lands_every_user_and_organization(zendesk_setup) -> None:
    """Every org and every loadable user lands with its details and default organization."""
    zendesk, csm = zendesk_setup["zendesk"], zendesk_setup["csm"]
    run = _run(zendesk_setup)
    state = zendesk.state()
    orgs = csm_by_name(csm)
    assert set(orgs) == {o["name"] for o in state["organizations"].values()}
    for body in state["organizations"].values():
        assert orgs[body["name"]]["details"] == expected_org(body), body["name"]
    org_name = {int(k): v["name"] for k, v in state["organizations"].items()}

    customers = csm_by_email(csm)
    users = list(state["users"].values())
    loadable = [u for u in users if u["email"] and u["active"] and u["role"] != "admin"]
    assert len(loadable) == 18
    assert set(customers) == {u["email"] for u in loadable}
    org_ids = {o["name"]: o["id"] for o in csm.state()["organizations"]}
    for user in loadable:
        got = customers[user["email"]]
        assert got["displayName"] == user["name"]
        assert got["details"] == expected_customer(user), user["email"]
        want_orgs = [org_ids[org_name[user["organization_id"]]]] if user["organization_id"] else []
        assert got["organizationIds"] == want_orgs, user["email"]
    # the user without an email is dead-lettered, the deleted user and the admin skipped
    assert [d["record"]["id"] for d in run.dead_letters] == [
        u["id"] for u in users if not u["email"]
    ]
    assert "admin@sandbox.zendesk.example" not in customers
    # the multiselects came as "['interest_billing']" text: nothing may land from them
    assert all("Interests" not in c["details"] for c in customers.values())
    assert run.last_state()["bookmarks"]["users"]["updated_at"] == max(
        u["updated_at"] for u in users
    )


def test_rerun_with_state_moves_only_what_changed(zendesk_setup) -> None:
    """With the confirmed STATE, only the edited user and organization are submitted again."""
    zendesk, csm = zendesk_setup["zendesk"], zendesk_setup["csm"]
    first = _run(zendesk_setup)
    users = sorted(zendesk.state()["users"].values(), key=lambda u: u["id"])
    user = next(u for u in users if u["email"] and u["active"] and u["role"] == "end-user")
    org = sorted(zendesk.state()["organizations"].values(), key=lambda o: o["id"])[1]
    edited_at = time.time() - 120  # outside the export's last-minute hold-back
    zendesk.app.modify("users", user["id"], {"user_fields": {"plan": "plan_enterprise"}}, edited_at)
    zendesk.app.modify("organizations", org["id"], {"organization_fields": {"employees": 999}},
                       edited_at)  # fmt: skip
    csm.app.journal.clear()
    zendesk.app.journal.clear()

    second = _run(zendesk_setup, first.last_state())

    export = [r for r in zendesk.requests() if "/incremental/users/cursor" in r["path"]]
    bookmark = first.last_state()["bookmarks"]["users"]["updated_at"]
    assert export[0]["query"]["start_time"] == [
        str(int(time.mktime(time.strptime(bookmark, "%Y-%m-%dT%H:%M:%SZ")) - time.timezone))
    ]
    assert [p["email"] for p in profile_items(csm, "customer")] == [user["email"]]
    assert [p["name"] for p in profile_items(csm, "organization")] == [org["name"]]
    assert csm_by_email(csm)[user["email"]]["details"]["Plan"] == ["plan_enterprise"]
    assert csm_by_name(csm)[org["name"]]["details"]["Employees"] == ["999"]
    assert second.last_state()["bookmarks"]["users"]["updated_at"] > bookmark
