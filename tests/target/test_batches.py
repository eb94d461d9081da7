"""Batcher: a ticket merged away leaves its batch, also one already cut and waiting for a lane;
a partial batch whose tickets are on their way waits for them, within a bound."""

from __future__ import annotations

import time

from hypothesis import given
from hypothesis import strategies as st

from target_atlassian_csm.batches import FILLING_PATIENCE, Batcher
from target_atlassian_csm.flow import UPSERT, Ticket
from target_atlassian_csm.operations import CUSTOMER, ORGANIZATION, Operation
from target_atlassian_csm.references import Needs


def _ticket(email: str) -> Ticket:
    return Ticket(Operation(CUSTOMER, email, "contacts"))


def test_remove_takes_a_ticket_out_of_a_ready_batch():
    batcher = Batcher({CUSTOMER: 2, "organization": 2}, max_wait_seconds=60)
    first, second, third = _ticket("a@x.io"), _ticket("b@x.io"), _ticket("c@x.io")
    assert not batcher.add(first)
    assert batcher.add(second)  # full: cut, waiting in ready for a free lane
    batcher.add(third)  # partial buffer
    batcher.remove(first)  # merged into a newer operation of the same key
    batch = batcher.take(now=0.0, flush=False)
    assert batch is not None
    assert batch.tickets == [second]
    batcher.remove(second)
    batcher.remove(third)
    assert batcher.take(now=0.0, flush=True) is None  # nothing left, no empty batch


def test_removing_the_last_ticket_of_a_ready_batch_drops_the_batch():
    batcher = Batcher({CUSTOMER: 1, "organization": 1}, max_wait_seconds=60)
    only = _ticket("a@x.io")
    assert batcher.add(only)
    batcher.remove(only)
    assert not batcher.ready
    assert batcher.take(now=0.0, flush=True) is None


def _partial(wait: float) -> tuple[Batcher, float]:
    batcher = Batcher({CUSTOMER: 100, "organization": 50}, max_wait_seconds=wait)
    batcher.add(_ticket("a@x.io"))
    return batcher, time.monotonic()


CUSTOMERS = frozenset({(CUSTOMER, UPSERT)})


@given(st.floats(min_value=0.01, max_value=60), st.floats(min_value=0, max_value=1))
def test_a_partial_batch_whose_kind_is_filling_waits_longer_but_not_for_ever(wait, share):
    batcher, added = _partial(wait)
    patient = wait * FILLING_PATIENCE
    early = added + wait + (patient - wait) * share * 0.99
    assert batcher.take(now=added + wait, flush=False, filling=frozenset()) is not None
    batcher, added = _partial(wait)
    assert batcher.take(now=early, flush=False, filling=CUSTOMERS) is None
    assert batcher.wait_seconds(early, CUSTOMERS) > 0  # lanes sleep, they do not spin
    assert batcher.take(now=added + patient, flush=False, filling=CUSTOMERS) is not None


def test_a_flush_or_the_end_of_input_cuts_a_filling_batch_at_once():
    batcher, added = _partial(60)
    assert batcher.take(now=added, flush=True, filling=CUSTOMERS) is not None


def test_only_the_filling_kinds_wait_longer():
    batcher = Batcher({CUSTOMER: 100, ORGANIZATION: 50}, max_wait_seconds=1)
    batcher.add(Ticket(Operation(ORGANIZATION, "Acme", "companies")))
    added = time.monotonic()
    batch = batcher.take(now=added + 1, flush=False, filling=CUSTOMERS)
    assert batch is not None
    assert batch.kind == (ORGANIZATION, UPSERT)


def test_the_awaited_organizations_are_counted_as_needs_come_and_go():
    needs = Needs()
    one, two = _ticket("a@x.io"), _ticket("b@x.io")
    needs.add(one, "org:acme")
    needs.add(two, "org:acme")
    needs.add(two, "org:globex")
    needs.add(one, "src:companies:1")
    assert needs.organizations_awaited == 2
    needs.withdraw(two)
    assert needs.organizations_awaited == 1  # acme: one still waits; globex: nobody
    assert needs.met("org:acme") == [one]
    assert needs.organizations_awaited == 0
    needs.met("src:companies:1")
    assert needs.organizations_awaited == 0
