"""``meltano run tap-hubspot-contacts target-atlassian-csm``, end to end, as a user runs it.

The HubSpot sandbox holds its ``default`` seed (100 contacts, 20 companies, with the ugly
cases: contacts without email, one archived contact, one email repeated in another case,
contacts in several companies); the CSM sandbox holds the ``flows`` fields. Everything
expected is derived from what the HubSpot sandbox holds, never from the target's output.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from tests.e2e.conftest import Flow, FlowFactory, csm_bulk_identities, csm_holdings

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

TAP = "tap-hubspot-contacts"
NEW_TITLE = "Head of Support"


def hubspot_expected(
    state: dict[str, Any],
) -> tuple[dict[str, dict[str, Any]], dict[str, list[tuple[dict[str, Any], set[str]]]]]:
    """Live companies by name; live contacts with an email by lower-cased email.

    Each email maps to every contact carrying it (in id order) with the names of its companies.
    """
    companies = {cid: o for cid, o in state["companies"].items() if not o["archived"]}
    orgs = {o["properties"]["name"]: o["properties"] for o in companies.values()}
    customers: dict[str, list[tuple[dict[str, Any], set[str]]]] = {}
    for cid, contact in sorted(state["contacts"].items(), key=lambda item: int(item[0])):
        email = contact["properties"].get("email")
        if contact["archived"] or not email:
            continue
        links = {
            companies[link["companyId"]]["properties"]["name"]
            for link in state["associations"].get(cid, [])
            if link["companyId"] in companies
        }
        customers.setdefault(email.casefold(), []).append((contact["properties"], links))
    return orgs, customers


def check_contact_details(details: dict[str, list[str]], p: dict[str, Any]) -> None:
    """The CSM detail values of one customer against its HubSpot contact's properties."""
    assert details["Job Title"] == [p["jobtitle"]]
    assert details["Phone"] == [p["phone"]]
    assert details["Lifecycle Stage"][0].casefold() == p["lifecyclestage"]
    assert details["Cf Select"][0].casefold() == p["cf_select"]
    if p["cf_multi"]:
        assert sorted(v.casefold() for v in details["Cf Multi"]) == sorted(p["cf_multi"].split(";"))
    else:
        assert "Cf Multi" not in details  # a cleared value is not sent
    if p["cf_number"]:
        assert Decimal(details["Cf Number"][0]) == Decimal(p["cf_number"])
    else:
        assert "Cf Number" not in details
    if p["cf_date"]:
        assert details["Cf Date"] == [p["cf_date"][:10]]
    else:
        assert "Cf Date" not in details


def check_company_details(details: dict[str, list[str]], p: dict[str, Any]) -> None:
    """The CSM detail values of one organization against its HubSpot company's properties."""
    assert details["Industry"][0].casefold() == p["industry"].casefold()
    assert details["Domain"] == [f"https://{p['domain']}"]
    assert Decimal(details["Number Of Employees"][0]) == Decimal(p["numberofemployees"])
    assert Decimal(details["Annual Revenue"][0]) == Decimal(p["annualrevenue"])
    assert details["Cf Select"][0].casefold() == p["cf_select"]


def check_csm_matches_hubspot(csm_state: dict[str, Any], hubspot_state: dict[str, Any]) -> None:
    """Every organization, customer, detail value and association HubSpot implies, once."""
    want_orgs, want_customers = hubspot_expected(hubspot_state)
    orgs, customers = csm_holdings(csm_state)
    assert set(orgs) == set(want_orgs)
    for name, props in want_orgs.items():
        check_company_details(orgs[name]["details"], props)
    assert set(customers) == set(want_customers)
    for email, sources in want_customers.items():
        got = customers[email]
        if len(sources) > 1:  # the same email in another case: merged into one customer
            assert got["organizations"] <= set().union(*(links for _, links in sources))
            continue
        props, links = sources[0]
        assert got["displayName"] == f"{props['firstname']} {props['lastname']}"
        assert got["organizations"] == links, email
        check_contact_details(got["details"], props)


@pytest.fixture
def hubspot_flow(sandbox_factory: Any, flow_factory: FlowFactory) -> tuple[Flow, Any, Any]:
    """Seeded sandboxes and the flow pointed at them."""
    csm = sandbox_factory("csm", seed="flows")
    hubspot = sandbox_factory("hubspot", seed="default")
    return flow_factory(TAP, {"csm": csm.url, "hubspot": hubspot.url}), csm, hubspot


def test_hubspot_flow_loads_then_moves_only_changes(hubspot_flow: tuple[Flow, Any, Any]) -> None:
    """First run loads everything; after a few edits the next run sends only those."""
    flow, csm, hubspot = hubspot_flow
    source = hubspot.state()

    first = flow.run()
    check_csm_matches_hubspot(csm.state(), source)
    no_email = sum(
        1
        for c in source["contacts"].values()
        if not c["archived"] and not c["properties"].get("email")
    )
    archived = sum(1 for c in source["contacts"].values() if c["archived"])
    customers = first.entity("customer")
    assert customers["received"] == len(source["contacts"])
    assert customers["rejected"] == no_email  # dead-lettered: CSM needs an email
    assert customers["failed"] == 0
    assert customers["skipped"] == archived
    assert first.entity("organization")["received"] == len(source["companies"])
    bookmarks = flow.state()["singer_state"]["bookmarks"]
    first_mark = bookmarks["contacts"]["replication_key_value"]
    assert bookmarks["companies"]["replication_key_value"]

    # A user edits three contacts and one company in HubSpot.
    _, want = hubspot_expected(source)
    single = [
        int(cid)
        for cid, c in source["contacts"].items()
        if not c["archived"]
        and c["properties"].get("email")
        and len(want[c["properties"]["email"].casefold()]) == 1
    ]
    edited = single[3:6]
    hubspot.app.modify("contacts", ids=edited, property="jobtitle", value=NEW_TITLE)
    company_id = next(
        int(cid)
        for cid, c in source["companies"].items()
        if c["properties"]["industry"] != "FINANCE"
    )
    hubspot.app.modify("companies", ids=[company_id], property="industry", value="FINANCE")
    before = csm.state()
    csm.app.journal.clear()

    second = flow.run()
    assert second.entity("customer")["received"] == len(edited)  # read incrementally
    assert second.entity("organization")["received"] == 1
    sent = csm_bulk_identities(csm.requests())
    edited_emails = {source["contacts"][str(i)]["properties"]["email"].casefold() for i in edited}
    company_name = source["companies"][str(company_id)]["properties"]["name"]
    assert {e.casefold() for e in sent["customer"]} == edited_emails
    assert len(sent["customer"]) == len(edited)
    assert sent["organization"] == [company_name]
    after = csm.state()
    check_csm_matches_hubspot(after, hubspot.state())
    _, old_customers = csm_holdings(before)
    orgs, new_customers = csm_holdings(after)
    for email, customer in new_customers.items():
        if email in edited_emails:
            assert customer["details"]["Job Title"] == [NEW_TITLE]
        else:
            assert customer == old_customers[email]  # untouched
    assert orgs[company_name]["details"]["Industry"] == ["Finance"]
    second_mark = flow.state()["singer_state"]["bookmarks"]["contacts"]["replication_key_value"]
    assert second_mark > first_mark  # state continued from the stored one


def test_hubspot_full_refresh_creates_no_duplicates(hubspot_flow: tuple[Flow, Any, Any]) -> None:
    """``--full-refresh`` re-reads everything; with or without the ledger CSM holds each once."""
    flow, csm, hubspot = hubspot_flow
    source = hubspot.state()
    first = flow.run()
    loaded = csm.state()

    csm.app.journal.clear()
    refresh = flow.run("--full-refresh")
    assert refresh.entity("customer")["received"] == first.entity("customer")["received"]
    assert refresh.entity("organization")["received"] == first.entity("organization")["received"]
    assert csm_bulk_identities(csm.requests()) == {"customer": [], "organization": []}
    assert csm.state()["customers"] == loaded["customers"]

    # Without the ledger every record is sent again: CSM's UPSERTs still leave one of each.
    flow.ledger.unlink()
    csm.app.journal.clear()
    flow.run("--full-refresh")
    sent = csm_bulk_identities(csm.requests())
    _, want_customers = hubspot_expected(source)
    assert {e.casefold() for e in sent["customer"]} == set(want_customers)
    again = csm.state()
    assert len(again["customers"]) == len(loaded["customers"])
    assert len(again["organizations"]) == len(loaded["organizations"])
    check_csm_matches_hubspot(again, source)
