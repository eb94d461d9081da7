"""How a ticket ends, or goes on to its next phase once one is confirmed.

:meth:`Endings.finish` is the one place a ticket ends, whatever ended it (a task's verdict, a
delete, a body that could not be encoded): its record ends (:mod:`.outcomes`), an organization
settles for the customers that name it, and an operation of the same key parked behind it
comes in.
"""

from __future__ import annotations

from target_atlassian_csm.core import Core
from target_atlassian_csm.entry import Entry
from target_atlassian_csm.flow import ENDED, Ticket
from target_atlassian_csm.operations import ASSOCIATION, DEFERRED, ORGANIZATION
from target_atlassian_csm.outcomes import CREATED, DELETED, FAILED, UPDATED
from target_atlassian_csm.routing import Router


class Endings:
    """Ends tickets (every method is called with the pipeline's lock held)."""

    def __init__(self, core: Core, router: Router, entry: Entry) -> None:
        self.core = core
        self.router = router
        self.entry = entry

    def finish(
        self, ticket: Ticket, how: str, reason: str | None = None, task_id: str | None = None
    ) -> None:
        """The one place a ticket ends: its record ends, its key frees, what waits goes on."""
        self.core.flow.move(ticket, ENDED)
        if ticket.op.origin in (ASSOCIATION, DEFERRED) and how != FAILED:
            self.core.records.summary.task("associations_made")
        self.core.records.end_op(ticket.op, how, reason, task_id)
        if ticket.op.entity == ORGANIZATION and how == DELETED:
            self.entry.act_on(self.core.lookups.organization_deleted(ticket.op.key))
        elif ticket.op.entity == ORGANIZATION:
            self.core.lookups.organization_settled(
                ticket.op.key, ticket.op.identity, confirmed=how != FAILED
            )
        parked = self.core.flow.unpark(ticket.ek)
        if parked is not None:
            self.entry.enter(parked)
        self.core.cv.notify_all()

    def phase_done(self, ticket: Ticket) -> None:
        """A ticket's phase is confirmed: on to its next phase, or it ends written."""
        ticket.phases.pop(0)
        ticket.submission = None
        if ticket.phases:
            self.router.route(ticket)
        else:
            self.finish(ticket, UPDATED if ticket.known else CREATED)
