"""Partial batches per endpoint, cut at CSM's limits, and the request bodies they become.

Tickets are buffered per *kind*, an (entity, phase) pair, because each kind has its own
endpoint and limits: profile upserts (``{entity}/profile/bulk``, up to 100 profiles) and
clears (``{entity}/details/bulk`` with DELETE operations, up to 100 entities and 1000
operations). A batch is cut when it is full, when its oldest ticket has waited
``batch_max_wait_seconds`` (ten times that while more of its kind are on their way), or at
once when the input has ended or a flush is asked for.

A body is encoded per item, so a value that cannot be encoded (it should not happen: the
reader repairs lone surrogates) fails only its own ticket, never the batch.
"""

from __future__ import annotations

import json
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from target_atlassian_csm.flow import CLEAR, DELETE, UPSERT, Ticket
from target_atlassian_csm.limits import DETAILS_BULK_MAX_ENTITIES, DETAILS_BULK_MAX_OPERATIONS
from target_atlassian_csm.operations import CUSTOMER, ORGANIZATION

Kind = tuple[str, str]  # (entity, phase)
#: Which kind a free lane takes first: organizations before the customers that need their
#: ids, clears before the upserts behind them.
PRIORITY: tuple[Kind, ...] = (
    (ORGANIZATION, UPSERT),
    (ORGANIZATION, CLEAR),
    (CUSTOMER, CLEAR),
    (CUSTOMER, UPSERT),
    (CUSTOMER, DELETE),
    (ORGANIZATION, DELETE),
)
#: How many times ``batch_max_wait_seconds`` a partial batch waits while tickets of its kind
#: are on their way (see :meth:`Batcher.take`); bounded, so a stalled look-up never holds it.
FILLING_PATIENCE = 10
#: Deletes are single-record requests (no bulk endpoint deletes): a lane sends this many.
DELETES_PER_BATCH = 25
ENDPOINTS: dict[Kind, str] = {
    (CUSTOMER, UPSERT): "customer/profile/bulk",
    (ORGANIZATION, UPSERT): "organization/profile/bulk",
    (CUSTOMER, CLEAR): "customer/details/bulk",
    (ORGANIZATION, CLEAR): "organization/details/bulk",
}
_PROFILE_KEYS = {CUSTOMER: "customerProfiles", ORGANIZATION: "organizationProfiles"}
_DETAILS_KEYS = {
    CUSTOMER: ("customers", "customerId"),
    ORGANIZATION: ("organizations", "organizationId"),
}


@dataclass(eq=False)
class Batch:
    """Tickets that go to CSM in one request."""

    kind: Kind
    tickets: list[Ticket]

    @property
    def endpoint(self) -> str:
        """Where the batch goes (bulk kinds only)."""
        return ENDPOINTS[self.kind]

    @property
    def size(self) -> int:
        """Items the task works on (detail operations for clears)."""
        if self.kind[1] == CLEAR:
            return sum(len(t.clears) for t in self.tickets)
        return len(self.tickets)


def _weight(ticket: Ticket) -> int:
    return len(ticket.clears) if ticket.phase == CLEAR else 1


class Batcher:
    """Buffers per kind and the queue of batches ready to go (not thread-safe: lock outside)."""

    def __init__(self, batch_size: dict[str, int], max_wait_seconds: float) -> None:
        self.batch_size = batch_size
        self.max_wait_seconds = max_wait_seconds
        self._buffers: dict[Kind, dict[int, Ticket]] = {kind: {} for kind in PRIORITY}
        self._weights: dict[Kind, int] = dict.fromkeys(PRIORITY, 0)
        self._since: dict[Kind, float] = {}
        self.ready: deque[Batch] = deque()

    def _limits(self, kind: Kind) -> tuple[int, int]:
        """(tickets, weight) a batch of ``kind`` may hold."""
        if kind[1] == DELETE:
            return DELETES_PER_BATCH, DELETES_PER_BATCH
        if kind[1] == CLEAR:
            return DETAILS_BULK_MAX_ENTITIES, DETAILS_BULK_MAX_OPERATIONS
        size = self.batch_size[kind[0]]
        return size, size

    def add(self, ticket: Ticket) -> bool:
        """Buffer a ticket in its phase's kind; True when a full batch became ready."""
        kind = (ticket.op.entity, ticket.phase)
        buffer = self._buffers[kind]
        most, heaviest = self._limits(kind)
        if buffer and self._weights[kind] + _weight(ticket) > heaviest:
            self.ready.append(self._cut(kind))
        if not buffer:
            self._since[kind] = time.monotonic()
        buffer[id(ticket)] = ticket
        self._weights[kind] += _weight(ticket)
        if len(buffer) >= most or self._weights[kind] >= heaviest:
            self.ready.append(self._cut(kind))
            return True
        return False

    def remove(self, ticket: Ticket) -> None:
        """Take a buffered ticket out (merged into a newer one).

        It may be in a partial buffer or in a batch already cut and waiting in :attr:`ready`
        for a free lane (every lane busy: the site's rate limit or task cap binds); left in a
        ready batch, an ended ticket would be sent (and the flow refuses that move).
        """
        kind = (ticket.op.entity, ticket.phase)
        if self._buffers[kind].pop(id(ticket), None) is not None:
            self._weights[kind] -= _weight(ticket)
            if not self._buffers[kind]:
                self._since.pop(kind, None)  # nothing left to cut
            return
        for batch in self.ready:
            if batch.kind == kind and any(t is ticket for t in batch.tickets):
                batch.tickets = [t for t in batch.tickets if t is not ticket]
                if not batch.tickets:
                    self.ready.remove(batch)
                return

    def requeue(self, batch: Batch) -> None:
        """A batch goes again (split halves of a failed one), before anything new."""
        self.ready.appendleft(batch)

    def _cut(self, kind: Kind) -> Batch:
        buffer = self._buffers[kind]
        tickets = list(buffer.values())
        buffer.clear()
        self._weights[kind] = 0
        self._since.pop(kind, None)
        return Batch(kind, tickets)

    def take(
        self, *, now: float, flush: bool, filling: frozenset[Kind] = frozenset()
    ) -> Batch | None:
        """The next batch for a lane: a ready one, else the most urgent partial one due.

        ``filling``: kinds whose tickets are on their way (customers waiting for organization
        ids a look-up or an organization task will give): their partial batches are due only
        after ``FILLING_PATIENCE`` times the wait. Cut on time, they went out every lane turn
        with a few customers each (7-95 of 100, 7-18 tasks over the minimum of an end-to-end
        run), each costing the submit and poll a full one costs, and a task slot.
        """
        for kind in PRIORITY:
            for position, batch in enumerate(self.ready):
                if batch.kind == kind:
                    del self.ready[position]
                    return batch
        for kind in PRIORITY:
            since = self._since.get(kind)
            if since is not None and (flush or now >= since + self._wait(kind, filling)):
                return self._cut(kind)
        return None

    def wait_seconds(self, now: float, filling: frozenset[Kind] = frozenset()) -> float | None:
        """Until the oldest partial batch is due (None: nothing buffered)."""
        if not self._since:
            return None
        due = min(since + self._wait(kind, filling) for kind, since in self._since.items())
        return max(0.0, due - now)

    def _wait(self, kind: Kind, filling: frozenset[Kind]) -> float:
        return self.max_wait_seconds * (FILLING_PATIENCE if kind in filling else 1)

    def buffered(self) -> int:
        """Tickets in partial and ready batches."""
        return sum(len(b) for b in self._buffers.values()) + sum(len(b.tickets) for b in self.ready)


# ----------------------------------------------------------------------- bodies
def _item(batch: Batch, ticket: Ticket) -> dict:
    if batch.kind[1] == UPSERT:
        return {"operationType": "UPSERT", "payload": ticket.op.payload(ticket.org_ids)}
    _, id_key = _DETAILS_KEYS[batch.kind[0]]
    return {
        id_key: ticket.csm_id,
        "operations": [
            {"operationType": "DELETE", "payload": {"name": name}} for name in ticket.clears
        ],
    }


def _encode(value: object) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def encode_batch(batch: Batch, on_bad: Callable[[Ticket, str], None]) -> tuple[bytes, list[Ticket]]:
    """The request body and the tickets it carries.

    A ticket that cannot be encoded is handed to ``on_bad`` with the reason and left out.
    """
    wrapper = (
        _PROFILE_KEYS[batch.kind[0]] if batch.kind[1] == UPSERT else _DETAILS_KEYS[batch.kind[0]][0]
    )
    items = [_item(batch, t) for t in batch.tickets]
    try:
        return _encode({wrapper: items}), list(batch.tickets)
    except (UnicodeEncodeError, TypeError, ValueError):
        pass
    parts: list[bytes] = []
    kept: list[Ticket] = []
    for ticket, item in zip(batch.tickets, items, strict=True):
        try:
            parts.append(_encode(item))
        except (UnicodeEncodeError, TypeError, ValueError) as exc:
            on_bad(ticket, f"the record cannot be encoded for CSM: {exc}")
            continue
        kept.append(ticket)
    body = b'{"' + wrapper.encode() + b'":[' + b",".join(parts) + b"]}"
    return body, kept
