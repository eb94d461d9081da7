"""``meltano run tap-kustomer target-atlassian-csm``, end to end, as a user runs it.

The Kustomer sandbox holds its ``default`` seed (5 companies, 20 customers, a quarter of them
older than the two-year search window, a few deleted, emails shared between customers); the
CSM sandbox holds the ``flows`` fields. Everything expected is derived from what the Kustomer
sandbox holds.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from tests.e2e.conftest import Flow, FlowFactory, csm_bulk_identities, csm_holdings

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

TAP = "tap-kustomer"


def kustomer_expected(
    state: dict[str, Any],
) -> tuple[dict[str, dict[str, Any]], dict[str, tuple[dict[str, Any], set[str]]]]:
    """Live companies by name; live customers by lower-cased first email, with their company."""
    objects = state["objects"]
    companies = {
        o["id"]: o["attributes"] for o in objects["company"] if not o["attributes"]["deleted"]
    }
    orgs = {attrs["name"]: attrs for attrs in companies.values()}
    customers: dict[str, tuple[dict[str, Any], set[str]]] = {}
    for customer in objects["customer"]:
        attrs = customer["attributes"]
        if attrs["deleted"]:
            continue
        company = attrs.get("company")
        links = {companies[company]["name"]} if company in companies else set()
        email = attrs["emails"][0]["email"].casefold()
        assert email not in customers, "the seed's first emails are unique"
        customers[email] = (attrs, links)
    return orgs, customers


def check_csm_matches_kustomer(csm_state: dict[str, Any], kustomer_state: dict[str, Any]) -> None:
    """Every organization, customer, detail value and association Kustomer implies, once."""
    want_orgs, want_customers = kustomer_expected(kustomer_state)
    orgs, customers = csm_holdings(csm_state)
    assert set(orgs) == set(want_orgs)
    for name, attrs in want_orgs.items():
        details, custom = orgs[name]["details"], attrs["custom"]
        assert details["Industry"][0].casefold() == custom["industryStr"]
        assert Decimal(details["Employees"][0]) == Decimal(str(custom["employeesNum"]))
        assert details["Website"] == [custom["websiteUrl"]]
    assert set(customers) == set(want_customers)
    for email, (attrs, links) in want_customers.items():
        got, custom = customers[email], attrs["custom"]
        assert got["displayName"] == (attrs.get("displayName") or attrs["name"])
        assert got["organizations"] == links, email
        details = got["details"]
        assert details["Tier"][0].casefold() == custom["tierStr"]
        assert Decimal(details["Lifetime Value"][0]) == Decimal(str(custom["lifetimeValueNum"]))
        assert details["First Order"] == [custom["firstOrderAt"][:10]]
        assert details["Profile"] == [custom["profileUrl"]]


@pytest.fixture
def kustomer_flow(sandbox_factory: Any, flow_factory: FlowFactory) -> tuple[Flow, Any, Any]:
    """Seeded sandboxes and the flow pointed at them."""
    csm = sandbox_factory("csm", seed="flows")
    kustomer = sandbox_factory("kustomer", seed="default")
    return flow_factory(TAP, {"csm": csm.url, "kustomer": kustomer.url}), csm, kustomer


def test_kustomer_flow_loads_then_moves_only_changes(kustomer_flow: tuple[Flow, Any, Any]) -> None:
    """First run loads the org (old records too); the next run sends only what was edited."""
    flow, csm, kustomer = kustomer_flow
    source = kustomer.state()
    objects = source["objects"]

    first = flow.run()
    check_csm_matches_kustomer(csm.state(), source)
    deleted = sum(1 for c in objects["customer"] if c["attributes"]["deleted"])
    customers = first.entity("customer")
    assert customers["received"] == len(objects["customer"])  # archive search included
    assert customers["skipped"] == deleted
    assert customers["failed"] == 0
    assert first.entity("organization")["received"] == len(objects["company"])
    first_mark = flow.state()["singer_state"]["bookmarks"]["customers"]["replication_key_value"]

    # A user edits three customers' tier and one company's industry in Kustomer.
    live = [c for c in objects["customer"] if not c["attributes"]["deleted"]]
    edited = live[2:5]
    for customer in edited:
        tier = {"gold": "silver"}.get(customer["attributes"]["custom"]["tierStr"], "gold")
        kustomer.app.modify(
            "customer", ids=[customer["id"]], attributes={"custom": {"tierStr": tier}}
        )
    company = next(c for c in objects["company"] if not c["attributes"]["deleted"])
    industry = "travel" if company["attributes"]["custom"]["industryStr"] != "travel" else "saas"
    kustomer.app.modify(
        "company", ids=[company["id"]], attributes={"custom": {"industryStr": industry}}
    )
    before = csm.state()
    csm.app.journal.clear()

    second = flow.run()
    assert second.entity("customer")["received"] == len(edited)  # read incrementally
    assert second.entity("organization")["received"] == 1
    sent = csm_bulk_identities(csm.requests())
    edited_emails = {c["attributes"]["emails"][0]["email"].casefold() for c in edited}
    assert {e.casefold() for e in sent["customer"]} == edited_emails
    assert len(sent["customer"]) == len(edited)
    assert sent["organization"] == [company["attributes"]["name"]]
    after = csm.state()
    check_csm_matches_kustomer(after, kustomer.state())
    _, old_customers = csm_holdings(before)
    _, new_customers = csm_holdings(after)
    for email, customer in new_customers.items():
        if email not in edited_emails:
            assert customer == old_customers[email]  # untouched
    second_mark = flow.state()["singer_state"]["bookmarks"]["customers"]["replication_key_value"]
    assert second_mark > first_mark  # state continued from the stored one


def test_kustomer_full_refresh_creates_no_duplicates(kustomer_flow: tuple[Flow, Any, Any]) -> None:
    """``--full-refresh`` re-reads the whole org; with or without the ledger CSM holds each once."""
    flow, csm, kustomer = kustomer_flow
    source = kustomer.state()
    first = flow.run()
    loaded = csm.state()

    csm.app.journal.clear()
    refresh = flow.run("--full-refresh")
    assert refresh.entity("customer")["received"] == first.entity("customer")["received"]
    assert refresh.entity("organization")["received"] == first.entity("organization")["received"]
    assert csm_bulk_identities(csm.requests()) == {"customer": [], "organization": []}
    assert csm.state()["customers"] == loaded["customers"]

    flow.ledger.unlink()
    csm.app.journal.clear()
    flow.run("--full-refresh")
    sent = csm_bulk_identities(csm.requests())
    _, want_customers = kustomer_expected(source)
    assert {e.casefold() for e in sent["customer"]} == set(want_customers)
    again = csm.state()
    assert len(again["customers"]) == len(loaded["customers"])
    assert len(again["organizations"]) == len(loaded["organizations"])
    check_csm_matches_kustomer(again, source)
