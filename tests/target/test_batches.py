"""Batcher: a ticket merged away leaves its batch, also one already cut and waiting for a lane."""

from __future__ import annotations

from target_atlassian_csm.batches import Batcher
from target_atlassian_csm.flow import Ticket
from target_atlassian_csm.operations import CUSTOMER, Operation


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
