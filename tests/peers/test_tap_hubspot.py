"""``meltano run tap-hubspot--singer-io|meltano-tap-hubspot target-atlassian-csm``.

singer-io tap-hubspot 4.5.0 and MeltanoLabs tap-hubspot 0.10.1, unmodified, from PyPI.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.peers.conftest import add_csm_fields, csm_by_email, csm_by_name, profile_items

pytestmark = pytest.mark.e2e

CSM_FIELDS = {
    "customer": [("Job Title", "TEXT", []), ("Lifecycle Stage", "TEXT", [])],
    "organization": [("Domain", "TEXT", []), ("Industry", "TEXT", [])],
}


@pytest.fixture(params=["tap-hubspot--singer-io", "meltano-tap-hubspot"])
def hubspot_flow(request, sandbox_factory, meltano_proxy, peer_flow) -> dict[str, Any]:
    """A small seeded HubSpot, a CSM site with the fields, the proxy and the flow."""
    hubspot = sandbox_factory(
        "hubspot",
        seed={"preset": "default", "contacts": 12, "companies": 4},
        burst_limit=0,
        search_rate_per_second=0,
    )
    csm = sandbox_factory("csm", seed="empty", rate_limit_requests=0)
    add_csm_fields(csm, CSM_FIELDS)
    meltano_proxy(hubspot=hubspot)
    return {"hubspot": hubspot, "csm": csm, "flow": peer_flow(request.param, csm)}


def test_meltano_run_lands_everything_then_moves_only_the_changed_contact(hubspot_flow) -> None:
    """Every live company with its details, every contact with an email, its details and
    primary company; then, from Meltano's stored state, only the edited contact is sent."""
    hubspot, csm, flow = hubspot_flow["hubspot"], hubspot_flow["csm"], hubspot_flow["flow"]
    flow.run()
    state = hubspot.state()
    companies = {k: v for k, v in state["companies"].items() if not v["archived"]}
    orgs = csm_by_name(csm)
    assert set(orgs) == {c["properties"]["name"] for c in companies.values()}
    for company in companies.values():
        assert orgs[company["properties"]["name"]]["details"] == {
            "Domain": [company["properties"]["domain"]],
            "Industry": [company["properties"]["industry"]],
        }
    org_id_by_company = {k: orgs[v["properties"]["name"]]["id"] for k, v in companies.items()}
    customers = csm_by_email(csm)
    contacts = [c for c in state["contacts"].values() if not c["archived"]]
    assert set(customers) == {
        c["properties"]["email"] for c in contacts if c["properties"]["email"]
    }
    for contact in contacts:
        props = contact["properties"]
        if not props["email"]:
            continue
        got = customers[props["email"]]
        assert got["displayName"] == f"{props['firstname']} {props['lastname']}"
        assert got["details"]["Job Title"] == [props["jobtitle"]]
        assert got["details"]["Lifecycle Stage"] == [props["lifecyclestage"]]
        primary = props.get("associatedcompanyid")
        assert got["organizationIds"] == ([org_id_by_company[primary]] if primary else [])
    assert any(c["properties"].get("associatedcompanyid") for c in contacts)
    assert flow.state()["singer_state"]["bookmarks"]

    contact_id = sorted(int(k) for k, c in state["contacts"].items() if c["properties"]["email"])[3]
    hubspot.app.modify("contacts", ids=[contact_id], property="jobtitle", value="Chief Tester")
    csm.app.journal.clear()
    flow.run()
    email = hubspot.state()["contacts"][str(contact_id)]["properties"]["email"]
    assert [p["email"] for p in profile_items(csm, "customer")] == [email]
    assert profile_items(csm, "organization") == []
    assert csm_by_email(csm)[email]["details"]["Job Title"] == ["Chief Tester"]
