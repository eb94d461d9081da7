"""``meltano run tap-kustomer--singer-io target-atlassian-csm``: singer-io tap-kustomer 1.1.0.

The tap reads customers through the standard search only (updated within two years: older
customers are the gap this project's tap-kustomer closes), has no companies stream (so no
organizations), and its catalog declares ``custom`` as an object without properties, so the
singer transform empties every customer's custom attributes before they leave the tap: they
cannot become detail fields. What it does carry lands: identity and display name, deleted
customers skipped, and Meltano state for the next run.
"""

from __future__ import annotations

import pytest

from tests.peers.conftest import add_csm_fields, csm_by_email, profile_items

pytestmark = pytest.mark.e2e

TWO_YEARS = 730 * 86_400


def test_meltano_run_lands_recent_customers_then_only_the_changed_one(
    sandbox_factory, meltano_proxy, peer_flow
) -> None:
    kustomer = sandbox_factory("kustomer", seed="default")
    csm = sandbox_factory("csm", seed="empty", rate_limit_requests=0)
    add_csm_fields(csm, {"customer": [("Tier", "SELECT", ["gold", "silver", "bronze"])]})
    meltano_proxy(kustomer=kustomer)
    flow = peer_flow("tap-kustomer--singer-io", csm)
    flow.run()

    now = kustomer.app.clock.now()
    customers = kustomer.app.store.all("customer")
    recent = [
        c
        for c in customers
        if not c["attributes"].get("deleted")
        and _epoch(c["attributes"]["updatedAt"]) > now - TWO_YEARS
    ]
    assert recent, "the seed has no recent customer: the test proves nothing"
    landed = {email.casefold(): c for email, c in csm_by_email(csm).items()}
    expected = {c["attributes"]["emails"][0]["email"].casefold(): c for c in recent}
    assert set(landed) == set(expected)
    for email, source in expected.items():
        got = landed[email]
        attrs = source["attributes"]
        assert got["displayName"] == attrs["displayName"]
        assert got["details"] == {}  # the tap drops custom attributes (see module docstring)
        assert got["organizationIds"] == []
    assert flow.state()["singer_state"]["bookmarks"]

    target = recent[0]
    kustomer.app.modify("customer", ids=[target["id"]], attributes={"displayName": "Changed"})
    csm.app.journal.clear()
    flow.run()
    sent = [p["email"].casefold() for p in profile_items(csm, "customer")]
    assert sent == [target["attributes"]["emails"][0]["email"].casefold()]
    after = {email.casefold(): c for email, c in csm_by_email(csm).items()}
    assert after[sent[0]]["displayName"] == "Changed"


def _epoch(text: str) -> float:
    import datetime as dt

    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
