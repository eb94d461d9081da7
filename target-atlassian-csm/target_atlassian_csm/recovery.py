"""What an earlier run left open: submissions to settle before anything newer is sent.

A run killed between writing a submission to the ledger and seeing its task end leaves it
open (see :mod:`.ledger`). :func:`open_work` rebuilds each as the batch it was, with its key
and body, so the lanes replay the key (CSM answers with the same task, or makes it if it
never saw it) or poll the task they know, and settle its records as for any batch. Its
tickets are in flight from the start, so records of the same keys read meanwhile wait behind
them. A submission that cannot be replayed as it was sent (a ledger of the first layout kept
no body) is not followed: its records are marked unknown and sent again when read.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from target_atlassian_csm.batches import Batch
from target_atlassian_csm.bulktask import Submission
from target_atlassian_csm.flow import CLEAR, UPSERT, Ticket
from target_atlassian_csm.ledger import Ledger, OpenSubmission
from target_atlassian_csm.operations import Operation


@dataclass
class OpenWork:
    """Submissions to resume, and those that cannot be (their records resent when read)."""

    resumable: list[tuple[Batch, Submission]] = field(default_factory=list)
    lost: list[OpenSubmission] = field(default_factory=list)


def _tickets(open_: OpenSubmission) -> list[Ticket]:
    tickets = []
    for key in open_.keys:
        row = open_.rows.get(key)
        if row is None or not row.payload or row.submission != open_.key:
            continue
        op = Operation.from_semantic(
            open_.entity, row.semantic() or {}, stream=row.stream or "", source_id=row.source_id
        )
        # A clear goes on with the upsert that was planned after it (rebuilt from the ledger).
        phases = [CLEAR, UPSERT] if open_.phase == CLEAR else [UPSERT]
        tickets.append(
            Ticket(
                op,
                phases=phases,
                known=row.confirmed_payload is not None,
                csm_id=row.csm_id,
                submission=open_.key,
            )
        )
    return tickets


def open_work(ledger: Ledger) -> OpenWork:
    """The open submissions of the ledger, oldest first, as batches to resume."""
    work = OpenWork()
    for open_ in ledger.open_submissions():
        tickets = _tickets(open_)
        if len(tickets) != len(open_.keys) or (open_.body is None and open_.task_id is None):
            work.lost.append(open_)
            continue
        sub = Submission(
            open_.endpoint,
            open_.body or b"",
            open_.entity,
            len(tickets),
            key=open_.key,
            task_id=open_.task_id,
        )
        work.resumable.append((Batch((open_.entity, open_.phase), tickets), sub))
    return work
