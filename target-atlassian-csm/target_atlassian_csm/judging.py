"""What a task's answer means for each ticket of its batch: a pure decision.

:func:`~.bulktask.classify` sorts a task's items (confirmed, failed with a reason, unknown);
:func:`judge` turns that into what happens to each ticket, without moving any:

* confirmed: its phase is done;
* failed: it ends with CSM's reason, except an item that failed only because CSM no longer
  knows an organization id it named (deleted by an admin): that id is forgotten and the
  ticket resolved again, once;
* unknown (a task that ended FAILED, or failures that match no item): the tickets are split
  in halves and resubmitted until each has succeeded or failed alone; one ticket alone is
  retried ``max_attempts`` times, then ends with the reason;
* a whole request refused (a 4xx): split the same way; a single ticket refused ends.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from target_atlassian_csm.batches import Batch
from target_atlassian_csm.bulktask import ItemIds, TaskResult, classify
from target_atlassian_csm.client import DONE
from target_atlassian_csm.flow import Ticket


@dataclass
class Judgement:
    """What a task's answer means for each ticket of its batch."""

    done: list[Ticket] = field(default_factory=list)
    failed: list[tuple[Ticket, str]] = field(default_factory=list)
    again: list[Batch] = field(default_factory=list)
    resolve_again: list[Ticket] = field(default_factory=list)
    forgotten_org_ids: set[str] = field(default_factory=set)
    tasks: Counter[str] = field(default_factory=Counter)  # for the run summary


def halves(batch: Batch) -> list[Batch]:
    """A batch split in two (in order)."""
    half = len(batch.tickets) // 2
    return [Batch(batch.kind, batch.tickets[:half]), Batch(batch.kind, batch.tickets[half:])]


def judge(batch: Batch, result: TaskResult, *, max_attempts: int) -> Judgement:
    """See the module docstring (tickets' attempt counters are the only thing it changes)."""
    out = Judgement()
    tickets = batch.tickets
    if result.rejected is not None:
        out.tasks["rejected_requests"] += 1
        if len(tickets) == 1:
            out.failed.append((tickets[0], f"CSM refused the request: {result.rejected}"))
        else:
            out.tasks["split"] += 1
            out.again += halves(batch)
        return out
    status = result.status
    assert status is not None
    items = [ItemIds(t.op.key, frozenset(filter(None, [t.csm_id]))) for t in tickets]
    verdict = classify(status, items)
    out.done = [tickets[i] for i in verdict.confirmed]
    for i, reason in sorted(verdict.failed.items()):
        ticket = tickets[i]
        missing = verdict.missing_organizations.get(i)
        if missing and ticket.org_retries < 1:
            ticket.org_retries += 1
            out.forgotten_org_ids.update(missing)
            out.resolve_again.append(ticket)
            out.tasks["organization_ids_forgotten"] += 1
        else:
            out.failed.append((ticket, reason))
    if len(verdict.unknown) == 1:
        ticket = tickets[verdict.unknown[0]]
        ticket.attempts += 1
        if verdict.unmatched:
            out.failed.append((ticket, "; ".join(verdict.unmatched)))
        elif ticket.attempts >= max_attempts:
            why = (
                f"task ended {status.raw_status or 'FAILED'} without failure detail, "
                f"{ticket.attempts} times"
            )
            out.failed.append((ticket, why))
        else:
            out.again.append(Batch(batch.kind, [ticket]))
    elif verdict.unknown:
        out.tasks["split"] += 1
        out.again += halves(Batch(batch.kind, [tickets[i] for i in verdict.unknown]))
    if verdict.unknown or verdict.unmatched:
        out.tasks["failed" if status.state != DONE else "partially_unmatched"] += 1
    return out
