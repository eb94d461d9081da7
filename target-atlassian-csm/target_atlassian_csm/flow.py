"""Where each record is between admission and its end: explicit states, one way in and out.

A :class:`Ticket` carries one operation through the pipeline. Its state is one of:

``WAITING``    for something only CSM can tell: an organization's id, the organization a source
               id stands for, or (to clear fields) the record's own CSM id. Leaves to
               ``BUFFERED`` when the last need is met (or released, see below).
``BUFFERED``   in a partial batch of its phase (profile upsert, or clear). Leaves to
               ``IN_FLIGHT`` when its batch is cut.
``IN_FLIGHT``  in a submission whose task is not over. Leaves by ending (confirmed or
               failed), to ``BUFFERED`` (resubmitted in a smaller batch, or its next phase), or
               to ``WAITING`` (an organization id CSM forgot is looked up again).
``PARKED``     behind an in-flight ticket of the same key: CSM does not run tasks in order,
               so two writes of one customer never race. Leaves to admission (as a new
               operation) when the one in flight ends.

At most one ticket per key is *live* (waiting, buffered or in flight) and at most one is
parked; a later operation of the same key merges into the live one while it has not been
sent, and into the parked one otherwise.

**End of input** has one rule per state: ``BUFFERED`` batches go out at once; ``WAITING`` on a
source id that no record and no ledger entry describes is released (loaded without that
association, recorded as deferred, with a warning); ``WAITING`` on CSM lookups and
``IN_FLIGHT`` end by themselves (bounded attempts and task timeouts); ``PARKED`` follows its
key's live ticket. So every input ends.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from target_atlassian_csm.operations import Operation

NEW, WAITING, BUFFERED, IN_FLIGHT, PARKED, ENDED = (
    "new",
    "waiting",
    "buffered",
    "in_flight",
    "parked",
    "ended",
)
#: The phases of a ticket: fields emptied in the source are cleared (details bulk DELETE)
#: before the profile is upserted.
CLEAR, UPSERT = "clear", "upsert"
#: The one phase of a record deleted in the source (``delete_policy: delete``).
DELETE = "delete"

MOVES: dict[str, frozenset[str]] = {
    NEW: frozenset({WAITING, BUFFERED, IN_FLIGHT, PARKED, ENDED}),
    WAITING: frozenset({BUFFERED, ENDED}),
    BUFFERED: frozenset({IN_FLIGHT, ENDED}),
    IN_FLIGHT: frozenset({BUFFERED, WAITING, ENDED}),
    PARKED: frozenset({ENDED}),
    ENDED: frozenset(),
}

EntityKey = tuple[str, str]


class FlowError(RuntimeError):
    """A move the state machine does not allow: a bug, never a data problem."""


@dataclass(eq=False)
class Ticket:
    """One operation's journey (see module docstring)."""

    op: Operation
    state: str = NEW
    phases: list[str] = field(default_factory=lambda: [UPSERT])
    clears: tuple[str, ...] = ()  # fields to clear (CLEAR phase)
    known: bool = False  # the ledger had it confirmed before: an update, not a creation
    before: str | None = None  # what CSM held before, as the ledger knows it (rollback)
    #: Whether CSM held the record before this target first wrote it: None while not known
    #: (only asked when it matters: delete_policy delete may only delete what we created).
    existed: bool | None = None
    probe: bool = False
    org_ids: list[str] = field(default_factory=list)
    csm_id: str | None = None
    needs: set[str] = field(default_factory=set)
    released: set[str] = field(default_factory=set)  # source refs given up: loaded without
    attempts: int = 0  # times resubmitted alone after tasks that failed without detail
    org_retries: int = 0  # times re-resolved after CSM forgot an organization id
    submission: str | None = None  # the key of the submission carrying it

    @property
    def ek(self) -> EntityKey:
        """(entity, key)."""
        return (self.op.entity, self.op.key)

    @property
    def phase(self) -> str:
        """The phase it is in."""
        return self.phases[0]


class Flow:
    """The states of all tickets, the live and parked ticket of each key, and the counts."""

    def __init__(self) -> None:
        self.live: dict[EntityKey, Ticket] = {}
        self.parked: dict[EntityKey, Ticket] = {}
        self.counts: Counter[str] = Counter()
        self.peak_queued = 0  # the most tickets held in memory at once (reported)

    def move(self, ticket: Ticket, to: str) -> None:
        """Change a ticket's state (only along :data:`MOVES`)."""
        if to not in MOVES[ticket.state]:
            msg = f"ticket {ticket.ek} cannot go from {ticket.state} to {to}"
            raise FlowError(msg)
        if ticket.state != NEW:
            self.counts[ticket.state] -= 1
        ticket.state = to
        if to == ENDED:
            if self.live.get(ticket.ek) is ticket:
                del self.live[ticket.ek]
            if self.parked.get(ticket.ek) is ticket:
                del self.parked[ticket.ek]
            return
        self.counts[to] += 1
        if to != IN_FLIGHT:
            self.peak_queued = max(self.peak_queued, self.queued())
        if to == PARKED:
            self.parked[ticket.ek] = ticket
        else:
            self.live[ticket.ek] = ticket

    def park(self, op: Operation) -> Ticket:
        """Park ``op`` behind its key's in-flight ticket (merged into one already parked)."""
        ek = (op.entity, op.key)
        parked = self.parked.get(ek)
        if parked is not None:
            parked.op = parked.op.merged_with(op)
            return parked
        ticket = Ticket(op)
        self.move(ticket, PARKED)
        return ticket

    def unpark(self, ek: EntityKey) -> Operation | None:
        """The operation parked behind ``ek``, taken out (its key's live ticket ended)."""
        ticket = self.parked.get(ek)
        if ticket is None or ek in self.live:
            return None
        self.move(ticket, ENDED)
        return ticket.op

    def queued(self) -> int:
        """Tickets held in memory that the reader must not outrun."""
        return self.counts[WAITING] + self.counts[BUFFERED] + self.counts[PARKED]

    def empty(self) -> bool:
        """No ticket is anywhere."""
        return not self.live and not self.parked
