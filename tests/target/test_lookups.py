"""Organization look-ups carry spare names: ids of organizations this run created, asked for
in a look-up made anyway, so a customer naming one later needs no request of its own."""

from __future__ import annotations

from target_atlassian_csm.flow import Ticket
from target_atlassian_csm.ledger import Ledger
from target_atlassian_csm.limits import ORGANIZATION_FETCH_MAX
from target_atlassian_csm.operations import CUSTOMER, Operation
from target_atlassian_csm.references import Lookups, Needs, org_need


def _lookups(tmp_path) -> tuple[Lookups, Needs]:
    needs = Needs()
    ledger = Ledger(tmp_path / "l.sqlite", site="s", run_id="r1")
    return Lookups(ledger, create_missing=True, attempts=3, needs=needs), needs


def test_a_lookup_is_topped_up_with_spare_names_and_teaches_their_ids(tmp_path):
    lookups, needs = _lookups(tmp_path)
    for i in range(ORGANIZATION_FETCH_MAX + 10):
        lookups.organization_settled(f"org {i}", f"Org {i}", confirmed=True)
    assert lookups.next_job(set()) is None  # spare names alone make no request
    ticket = Ticket(Operation(CUSTOMER, "a@x.io", "contacts"))
    needs.add(ticket, org_need("wanted"))
    lookups.schedule(ticket, [org_need("wanted")], set())
    job = lookups.next_job(busy={"org 0"})
    assert job is not None
    assert len(job.asked) == ORGANIZATION_FETCH_MAX
    assert "wanted" in job.asked
    assert "org 0" not in job.asked  # on its way: not asked
    found = {k: f"id-{k}" for k in job.asked if k != "org 1"}  # org 1: not listed yet
    answer = lookups.answered(job, found)
    assert answer.met == [org_need("wanted")]
    assert lookups.org_id("org 2") == "id-org 2"
    assert lookups.org_id("org 1") is None  # not found: no retry, no creation
    assert not answer.create
    assert "org 2" not in lookups.spare


def test_an_organization_someone_waits_for_is_looked_up_not_spared(tmp_path):
    lookups, needs = _lookups(tmp_path)
    ticket = Ticket(Operation(CUSTOMER, "a@x.io", "contacts"))
    needs.add(ticket, org_need("acme"))
    lookups.organization_settled("acme", "Acme", confirmed=True)
    assert "acme" not in lookups.spare
    job = lookups.next_job(set())
    assert job is not None
    assert job.asked == {"acme": "Acme"}
