"""The task lanes: take a batch, run it as a bulk task, settle its tickets as CSM says.

One lane per task slot (``max_tasks_in_flight``), each a loop over :meth:`TaskLanes.next_job`
(:meth:`.pipeline.Pipeline._serve`). A lane takes submissions an earlier run left open first
(:mod:`.recovery`), then the batch :class:`~.batches.Batcher` cuts. It writes the submission
to the ledger before it goes out, runs it through :class:`~.bulktask.BulkRunner` outside the
lock, settles the ledger, and applies the verdict (:func:`.judging.judge`) under the lock:
confirmed tickets go to their next phase or end; failed ones end with the reason (or, when
CSM forgot an organization id, are routed again once); the others are split in halves and
resubmitted until each has succeeded or failed alone. Deletes go one record per request
(CSM has no bulk delete).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from target_atlassian_csm.batches import Batch, encode_batch
from target_atlassian_csm.bulktask import BulkRunner, Submission, TaskResult
from target_atlassian_csm.client import DONE, RequestRejected, TaskStatus
from target_atlassian_csm.core import Core
from target_atlassian_csm.endings import Endings
from target_atlassian_csm.entry import Entry
from target_atlassian_csm.flow import BUFFERED, CLEAR, DELETE, IN_FLIGHT, UPSERT, Ticket
from target_atlassian_csm.judging import Judgement, judge
from target_atlassian_csm.operations import CUSTOMER, ORGANIZATION
from target_atlassian_csm.outcomes import CREATED, DELETED, FAILED, UPDATED
from target_atlassian_csm.recovery import open_work
from target_atlassian_csm.routing import Router

#: The batches customers waiting for organization ids go to once the ids come.
FILLING = frozenset({(CUSTOMER, UPSERT), (CUSTOMER, CLEAR)})


#: History action of a record's first write made without looking whether CSM held it.
FIRST_WRITTEN = "first_written"


def history_action(ticket: Ticket) -> str:
    """What a confirmed write did to CSM, as far as this target knows (for rollback)."""
    if ticket.known or ticket.existed:
        return UPDATED
    return CREATED if ticket.existed is False else FIRST_WRITTEN


class DryRunner:
    """Stands in for :class:`BulkRunner` in a dry run: every task ends at once, clean."""

    def run(self, sub: Submission) -> TaskResult:
        """Pretend CSM ran the task."""
        sub.task_id = sub.task_id or f"dry-run:{sub.key}"
        return TaskResult(sub.task_id, TaskStatus(sub.task_id, DONE, "FINISHED"))


class TaskLanes:
    """What the task lanes do (each job runs outside the lock, and takes it to settle)."""

    def __init__(
        self,
        core: Core,
        *,
        runner: BulkRunner | DryRunner,
        router: Router,
        entry: Entry,
        endings: Endings,
    ) -> None:
        self.core = core
        self.runner = runner
        self.router = router
        self.entry = entry
        self.endings = endings

    def resume_open_submissions(self) -> None:
        """Submissions an earlier run left open are settled before anything newer is sent."""
        work = open_work(self.core.ledger)
        for open_ in work.lost:
            self.core.ledger.mark_unknown(
                open_.entity, open_.keys, "outcome unknown (an earlier run stopped)"
            )
            self.core.ledger.end_submission(open_.key)
        for batch, sub in work.resumable:
            for ticket in batch.tickets:
                self.core.flow.move(ticket, IN_FLIGHT)
            self.core.logger.info(
                "Taking up submission %s (%d %s records) that an earlier run left %s.",
                sub.key,
                len(batch.tickets),
                sub.entity,
                f"in task {sub.task_id}" if sub.task_id else "before CSM answered",
            )
            self.core.resumed.append((batch, sub))
            self.core.records.summary.task("resumed_from_ledger")

    def next_job(self) -> Callable[[], None] | None:
        """The next batch to send, counted busy; None when the lanes stop (lock taken here)."""
        with self.core.cv:
            while True:
                if self.core.lanes.stopping or self.core.lanes.fatal is not None:
                    return None
                self.entry.admit_inbox()
                if self.core.resumed:
                    batch, sub = self.core.resumed.popleft()
                    self.core.lanes.busy += 1
                    return lambda: self._run(batch, sub)
                now = time.monotonic()
                filling = FILLING if self.core.needs.organizations_awaited else frozenset()
                batch = self.core.batcher.take(now=now, flush=self._flushing(), filling=filling)
                if batch is not None:
                    for ticket in batch.tickets:
                        self.core.flow.move(ticket, IN_FLIGHT)
                    self.core.lanes.busy += 1
                    self.core.cv.notify_all()  # room in memory: the reader may go on
                    return lambda: self._run(batch, None)
                if self.core.lanes.finishing and self.core.idle():
                    return None
                wait = self.core.batcher.wait_seconds(now, filling)
                self.core.cv.wait(min(wait if wait is not None else 1.0, 1.0) + 0.001)

    def _flushing(self) -> bool:
        return self.core.lanes.finishing or self.core.lanes.flush

    def _run(self, batch: Batch, sub: Submission | None) -> None:
        """Send one batch (or resume an open submission) and settle what it says."""
        if batch.kind[1] == DELETE:
            self._run_deletes(batch)
            return
        if sub is None:
            bad: list[tuple[Ticket, str]] = []
            body, kept = encode_batch(batch, lambda t, why: bad.append((t, why)))
            if bad:
                with self.core.cv:
                    for ticket, why in bad:
                        self.endings.finish(ticket, FAILED, why)
            if not kept:
                return
            batch.tickets = kept
            sub = Submission(batch.endpoint, body, batch.kind[0], batch.size)
            self.core.ledger.prepare(
                key=sub.key, entity=batch.kind[0], phase=batch.kind[1], endpoint=sub.endpoint,
                body=body, ops=[t.op for t in kept],
            )  # fmt: skip
            for ticket in kept:
                ticket.submission = sub.key
            self.entry.forget_registered(kept)
        result = self.runner.run(sub)
        judgement = judge(batch, result, max_attempts=self.core.settings.max_task_attempts)
        final = [t for t in judgement.done if len(t.phases) == 1]
        self.core.ledger.settle(
            sub.key,
            confirmed=[t.op for t in final],
            failed=[(t.op, why) for t, why in judgement.failed],
            ended=True,
            history=[(t.op, history_action(t), t.before) for t in final],
            created=[t.op for t in final if not t.known and t.existed is False],
        )
        for org_id in judgement.forgotten_org_ids:
            names = self.core.ledger.forget_organization_id(org_id)
            self.core.ledger.mark_unknown(ORGANIZATION, names, f"CSM no longer knows id {org_id}")
        with self.core.cv:
            self._apply(judgement, result.task_id)

    def _run_deletes(self, batch: Batch) -> None:
        """Delete each record of the batch in CSM (single-record requests: no bulk deletes)."""
        done: list[Ticket] = []
        failed: list[tuple[Ticket, str]] = []
        for ticket in batch.tickets:
            if ticket.csm_id is None or self.core.settings.dry_run:
                done.append(ticket)  # already gone from CSM (or a dry run): nothing to send
                continue
            try:
                self.core.client.delete_record(ticket.op.entity, ticket.csm_id)
            except RequestRejected as exc:
                failed.append((ticket, f"CSM refused to delete it: {exc}"))
                continue
            done.append(ticket)
        self.core.ledger.mark_deleted([(t.op, t.before) for t in done])
        self.core.ledger.settle(None, failed=[(t.op, why) for t, why in failed])
        with self.core.cv:
            for ticket in done:
                if ticket.op.entity == ORGANIZATION:
                    self.core.lookups.org_ids.pop(ticket.op.key, None)
                self.endings.finish(ticket, DELETED)
            for ticket, why in failed:
                self.endings.finish(ticket, FAILED, why)

    def _apply(self, judgement: Judgement, task_id: str | None) -> None:
        """Move each ticket as the judgement says (caller holds the lock)."""
        for what, count in judgement.tasks.items():
            self.core.records.summary.task(what, count)
        for org_id in judgement.forgotten_org_ids:
            self.core.lookups.forget_org_id(org_id)
        for ticket in judgement.done:
            self.endings.phase_done(ticket)
        for ticket, reason in judgement.failed:
            self.endings.finish(ticket, FAILED, reason, task_id)
        for again in reversed(judgement.again):
            self.core.records.summary.task("resubmitted")
            for ticket in again.tickets:
                ticket.submission = None
                self.core.flow.move(ticket, BUFFERED)
            self.core.batcher.requeue(again)
        for ticket in judgement.resolve_again:
            ticket.submission = None
            self.router.route(ticket)
        self.core.cv.notify_all()
        self.core.records.barrier.maybe_emit()
