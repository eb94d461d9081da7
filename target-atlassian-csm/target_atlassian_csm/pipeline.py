"""The load pipeline: operations in, confirmed CSM records out, at CSM's limits.

The reader (main thread) hands mapped operations to :meth:`Pipeline.accept`. Background lanes
do the HTTP work: one *task lane* per task slot (``max_tasks_in_flight``) takes a batch, runs
it through :class:`~.bulktask.BulkRunner` and settles its tickets; one *control lane* looks
up the CSM ids that waiting tickets need (:mod:`.references`). Keeping every slot busy while
the reader goes on is what makes the load run at CSM's limit.

What this module decides, and where the rules are:

* admission: what an operation needs sent, against the ledger (:func:`.admission.decide`);
* the states a ticket passes through and the end-of-input rule of each (:mod:`.flow`);
* the verdict on a task's items (:func:`.bulktask.classify`); here, what follows from it:
  confirmed tickets go to their next phase or end; failed ones end with the reason (or,
  when CSM forgot an organization id, are resolved again once); items of a FAILED task, or
  of failures that match no item, are split in halves and resubmitted until each has
  succeeded or failed alone;
* how a record ends (:mod:`.outcomes`), always through :meth:`_finish`.

The reader never runs ahead of the lanes by more than a bound of tickets held in memory;
tickets waiting for an organization the input has not described yet are released first
when the bound is reached (loaded without it, the association deferred to when it comes).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable

from target_atlassian_csm.admission import decide, decide_deletion
from target_atlassian_csm.batches import Batch, Batcher, encode_batch
from target_atlassian_csm.bulktask import (
    BulkRunner,
    Interrupted,
    SlotGate,
    Submission,
    TaskResult,
)
from target_atlassian_csm.client import (
    DONE,
    CsmClient,
    FatalApiError,
    RequestRejected,
    TaskStatus,
    profile_semantic,
)
from target_atlassian_csm.core import Core, PipelineSettings
from target_atlassian_csm.flow import (
    BUFFERED,
    CLEAR,
    DELETE,
    ENDED,
    IN_FLIGHT,
    UPSERT,
    Ticket,
)
from target_atlassian_csm.judging import Judgement, judge
from target_atlassian_csm.ledger import DELETED as LEDGER_DELETED
from target_atlassian_csm.ledger import Ledger, LedgerRow
from target_atlassian_csm.mapping import DELETED_IN_SOURCE
from target_atlassian_csm.operations import (
    ASSOCIATION,
    CUSTOMER,
    DEFERRED,
    DELETION,
    FLAG,
    ORGANIZATION,
    RECORD,
    REFERENCED,
    Operation,
    OrgRef,
)
from target_atlassian_csm.outcomes import (
    CREATED,
    DELETED,
    FAILED,
    SKIPPED,
    UNCHANGED,
    UPDATED,
    RunRecords,
)
from target_atlassian_csm.polling import PollSchedule
from target_atlassian_csm.recovery import open_work
from target_atlassian_csm.references import (
    Answer,
    Job,
    Lookups,
    Needs,
    source_need,
)
from target_atlassian_csm.routing import Router

REFERENCED_STREAM = "(referenced organization)"
#: The batches customers waiting for organization ids go to once the ids come.
FILLING = frozenset({(CUSTOMER, UPSERT), (CUSTOMER, CLEAR)})
#: Operations the reader hands over per lock acquisition (see :meth:`Pipeline.accept`).
INBOX_BATCH = 64


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


class Pipeline:
    """See the module docstring."""

    def __init__(
        self,
        *,
        client: CsmClient,
        ledger: Ledger,
        records: RunRecords,
        settings: PipelineSettings,
        logger: logging.Logger,
    ) -> None:
        needs = Needs()
        self.core = Core(
            client=client,
            ledger=ledger,
            records=records,
            settings=settings,
            logger=logger,
            needs=needs,
            lookups=Lookups(
                ledger,
                create_missing=settings.create_missing_organizations,
                attempts=settings.org_lookup_attempts,
                needs=needs,
            ),
            batcher=Batcher(settings.batch_size, settings.batch_max_wait_seconds),
        )
        self.router = Router(self.core)
        self.settings = settings
        #: An earlier run wrote source records: a new key may be a source record moved (a
        #: first load has nothing to compare with, and pays no look-up per record).
        self._sources_known = ledger.has_sources()
        self.poll_schedule = PollSchedule(
            min_seconds=settings.poll_min_seconds, max_seconds=settings.poll_max_seconds
        )
        self.gate = SlotGate()
        self.runner: BulkRunner | DryRunner = (
            DryRunner()
            if settings.dry_run
            else BulkRunner(
                client,
                schedule=self.poll_schedule,
                gate=self.gate,
                journal=ledger,
                summary=records.summary,
                task_timeout_seconds=settings.task_timeout_seconds,
                logger=logger,
            )
        )
        self._started = False
        self.deletes_left = settings.max_deletes_per_run
        self.max_queued = (settings.max_tasks_in_flight + 2) * max(settings.batch_size.values())

    # ================================================================= life cycle
    def start(self) -> None:
        """Take up what an earlier run left open, then start the lanes."""
        if self._started:
            return
        self._started = True
        with self.core.cv:
            if not self.core.settings.dry_run:
                self._resume_open_submissions()
            self._load_deferred_associations()
        lanes = [
            threading.Thread(target=self._serve, args=(self._next_batch_job,), daemon=True)
            for _ in range(self.core.settings.max_tasks_in_flight)
        ]
        lanes.append(
            threading.Thread(target=self._serve, args=(self._next_lookup_job,), daemon=True)
        )
        for number, thread in enumerate(lanes):
            thread.name = f"csm-lane-{number}" if number < len(lanes) - 1 else "csm-control"
            thread.start()
        self.core.lanes.threads = lanes

    def accept(self, op: Operation) -> None:
        """Take one mapped operation (main thread); blocks while the lanes are behind.

        Operations wait in a lock-free inbox and are admitted ``INBOX_BATCH`` at a time (or
        by a lane, so a quiet tap's records still go out), with one ledger read per batch.
        """
        if self.core.lanes.fatal is not None:
            raise self.core.lanes.fatal
        self.core.inbox.append(op)
        if len(self.core.inbox) >= INBOX_BATCH:
            self._drain(block=True)

    def associate(
        self,
        *,
        customer_stream: str,
        customer_id: str,
        ref: OrgRef,
        seq: int,
        stream: str,
        record: dict | None,
        line: int | None,
    ) -> None:
        """A record of an association stream: add an organization to a customer."""
        with self.core.cv:
            self._admit_inbox()
            token = f"{customer_stream}:{customer_id}"
            op = Operation(
                CUSTOMER, "?", stream, org_refs=(ref,), record=record, seqs=[seq], line=line,
                origin=ASSOCIATION,
            )  # fmt: skip
            self.core.records.summary.task("association_records")
            self.core.records.not_counted(seq)
            key = self.core.assoc.customer_sources.get(token) or self.core.ledger.key_for_source(
                CUSTOMER, customer_stream, customer_id
            )
            if key is None:
                self.core.assoc.waiting.setdefault(token, []).append(op)
                return
            self._enter(self._as_customer(op, key))

    def source_not_loaded(self, stream: str, source_id: str, why: str) -> None:
        """An organization record the source described will not be loaded, and why.

        Skipped or deleted in the source, or refused: customers that name it by its source id
        go on without it at once (the association deferred, made if a run loads it), instead
        of waiting for a record that already came -- up to the bound of tickets held, which
        kept batches partial (the Kustomer end-to-end run's customers of deleted companies).
        """
        with self.core.cv:
            self._admit_inbox()
            self._not_loaded(stream, source_id, why)

    def _not_loaded(self, stream: str, source_id: str | None, why: str) -> None:
        """See :meth:`source_not_loaded` (caller holds the lock)."""
        if not source_id:
            return
        need = source_need(OrgRef("source", source_id, stream))
        if need in self.core.lookups.source_names:
            return  # another record of this source id was loaded: references find it
        self.core.lookups.sources_not_loaded[need] = why
        self.router.met(need)

    def delete(self, op: Operation, *, spare: str | None = None) -> None:
        """A record deleted in the source (``op.origin``: DELETION, or FLAG to flag it).

        ``op.identity`` may be empty: the ledger finds the record by its source id. ``spare``
        is a key never to delete (the record another was merged into: same email, one record).
        """
        with self.core.cv:
            self._admit_inbox()
            if not op.identity and op.source_id:
                key = self.core.ledger.key_for_source(op.entity, op.stream, op.source_id)
                if key is not None:
                    identity = (
                        self._identity_of(key)
                        if op.entity == CUSTOMER
                        else self.core.lookups.spelling(key)
                    )
                    op = Operation(
                        op.entity, identity, op.stream, source_id=op.source_id,
                        details=op.details, record=op.record, seqs=op.seqs, origin=op.origin,
                        line=op.line,
                    )  # fmt: skip
            if not op.identity or op.key == spare:
                why = "deleted in the source; never loaded by this target: nothing to do"
                self.core.records.end_op(op, SKIPPED, why)
                if op.entity == ORGANIZATION:
                    self._not_loaded(op.stream, op.source_id, DELETED_IN_SOURCE)
                return
            self._enter(op)

    def flush(self) -> None:
        """Send partial batches now instead of waiting for them to fill."""
        with self.core.cv:
            self._admit_inbox()
            self.core.lanes.flush = True
            self.core.cv.notify_all()

    def finish(self) -> None:
        """End of input: apply each state's end rule (see :mod:`.flow`) and wait for all."""
        with self.core.cv:
            self._admit_inbox()
            self.core.lanes.finishing = True
            for ticket in self.core.needs.oldest_on_sources(len(self.core.flow.live)):
                self.router.release_sources(ticket)
            for token, ops in self.core.assoc.waiting.items():
                for op in ops:
                    self.core.records.warn(
                        op, f"customer {token} never appeared: association not made"
                    )
                    self.core.records.end(entity=CUSTOMER, seqs=op.seqs, how=SKIPPED, counted=False)
            self.core.assoc.waiting.clear()
            self.core.cv.notify_all()
            while not self.core.idle() and self.core.lanes.fatal is None:
                self.core.cv.wait(0.5)
            self.core.lanes.stopping = True
            self.core.cv.notify_all()
        for thread in self.core.lanes.threads:
            thread.join(timeout=30)
        if self.core.lanes.fatal is not None:
            raise self.core.lanes.fatal
        self.core.records.summary.peak_tickets = self.core.flow.peak_queued
        self.core.records.barrier.maybe_emit(force=True)

    def stop(self, grace_seconds: float) -> None:
        """Interrupted: submit nothing new, give tasks in flight ``grace_seconds`` to end."""
        deadline = time.monotonic() + grace_seconds
        with self.core.cv:
            self.core.lanes.stopping = True
            self.core.cv.notify_all()
            while self.core.lanes.busy and time.monotonic() < deadline:
                self.core.cv.wait(0.2)
        self.core.client.stop_event.set()
        for thread in self.core.lanes.threads:
            thread.join(timeout=30)
        self.core.records.barrier.maybe_emit(force=True)

    @property
    def failed(self) -> BaseException | None:
        """The error that stopped the lanes, if any."""
        return self.core.lanes.fatal

    def progress(self) -> dict[str, int]:
        """Tickets per state, and tasks in flight (for the progress log)."""
        with self.core.cv:
            counts = {state: count for state, count in self.core.flow.counts.items() if count}
        counts["tasks_in_flight"] = self.gate.in_flight
        return counts

    def _fail(self, exc: BaseException) -> None:
        with self.core.cv:
            if self.core.lanes.fatal is None:
                self.core.lanes.fatal = exc
            self.core.lanes.stopping = True
            self.core.cv.notify_all()
        self.core.client.stop_event.set()

    # ================================================================== admission
    def _drain(self, *, block: bool) -> None:
        with self.core.cv:
            if self.core.lanes.fatal is not None:
                raise self.core.lanes.fatal
            self._admit_inbox()
            while (
                block
                and self.core.flow.queued() >= self.max_queued
                and not self.core.lanes.stopping
            ):
                self._make_room()
                if self.core.flow.queued() < self.max_queued:
                    break
                self.core.cv.notify_all()
                self.core.cv.wait(0.5)
            if self.core.lanes.fatal is not None:
                raise self.core.lanes.fatal
        self.core.records.barrier.maybe_emit()

    def _make_room(self) -> None:
        """Over the bound with nothing else to wait for: release tickets waiting on sources.

        Only the reader can meet a source need (the organization's record), and it is the one
        waiting here, so tasks in flight do not make room for these tickets: they are released
        as soon as no other ticket is held, while tasks are still in flight, and the lanes find
        a batch when their task ends. (Waiting for the lanes to go idle first left the site's
        task slots empty at every release: the Kustomer end-to-end run, whose customers name
        companies the tap sends later, loaded at 230 records/s in those phases instead of 470.)
        """
        on_sources = self.core.needs.oldest_on_sources(self.core.flow.queued())
        others = self.core.flow.queued() - len(on_sources)
        if others > 0:
            return  # the lanes or look-ups will make room
        for ticket in on_sources[: max(1, len(on_sources) - self.max_queued // 2)]:
            self.router.release_sources(ticket)

    def _admit_inbox(self) -> None:
        """Admit what the reader left in the inbox (caller holds the lock)."""
        if not self.core.inbox:
            return
        ops: list[Operation] = []
        while self.core.inbox:  # popleft, not a copy and clear: the reader appends meanwhile
            ops.append(self.core.inbox.popleft())
        received: dict[str, int] = {}
        for op in ops:
            if op.origin == RECORD:
                received[op.entity] = received.get(op.entity, 0) + 1
        for entity, count in received.items():
            self.core.records.received(entity, count)
        learnt = [need for op in ops if (need := self._register(op))]
        rows = {
            entity: self.core.ledger.rows(entity, [op.key for op in ops if op.entity == entity])
            for entity in {op.entity for op in ops}
        }
        for op in ops:
            self._enter(op, rows[op.entity].get(op.key))
            self._after_register(op)
        for need in learnt:
            self.router.met(need)
            for key in sorted(self.core.assoc.deferred.pop(need, ())):
                self._enter_deferred(
                    key, OrgRef("source", need.split(":", 2)[2], need.split(":", 2)[1])
                )

    def _register(self, op: Operation) -> str | None:
        """Learn the source id an operation stands for (before any merging or parking)."""
        if not op.source_id or op.origin != RECORD:
            return None
        if op.entity == ORGANIZATION:
            need = source_need(OrgRef("source", op.source_id, op.stream))
            self.core.lookups.source_names[need] = op.key
            self.core.lookups.sources_not_loaded.pop(need, None)
            self.core.lookups.spellings.setdefault(op.key, op.identity)
            return need
        token = f"{op.stream}:{op.source_id}"
        self.core.assoc.customer_sources[token] = op.key
        self.core.assoc.identities[op.key] = op.identity
        return None

    def _forget_registered(self, tickets: list[Ticket]) -> None:
        """Customers now in the ledger (their submission is written): it answers for them.

        The in-memory maps of :meth:`_register` hold only customers not yet written, so
        memory stays flat however many customers a run loads.
        """
        with self.core.cv:
            for ticket in tickets:
                op = ticket.op
                if op.entity != CUSTOMER:
                    continue
                for stream, source_id in op.sources:
                    token = f"{stream}:{source_id}"
                    if self.core.assoc.customer_sources.get(token) == op.key:
                        del self.core.assoc.customer_sources[token]
                self.core.assoc.identities.pop(op.key, None)

    def _after_register(self, op: Operation) -> None:
        """Associations that waited for this customer go in after it (and merge into it)."""
        if op.entity == CUSTOMER and op.source_id and op.origin == RECORD:
            for waiting in self.core.assoc.waiting.pop(f"{op.stream}:{op.source_id}", []):
                self._enter(self._as_customer(waiting, op.key))

    def _as_customer(self, op: Operation, key: str) -> Operation:
        """An association operation addressed to the customer ``key``."""
        return Operation(
            CUSTOMER, self._identity_of(key), op.stream, org_refs=op.org_refs, record=op.record,
            seqs=op.seqs, line=op.line, origin=op.origin,
        )  # fmt: skip

    def _identity_of(self, key: str) -> str:
        if key in self.core.assoc.identities:
            return self.core.assoc.identities[key]
        row = self.core.ledger.get(CUSTOMER, key)
        semantic = row.semantic() if row is not None else None
        return str((semantic or {}).get("identity") or key)

    def _enter(self, op: Operation, row: object = ...) -> None:
        """An operation comes in: merge, park, skip as unchanged, or start its ticket."""
        ek = (op.entity, op.key)
        live = self.core.flow.live.get(ek)
        if live is not None and live.state == IN_FLIGHT:
            if (
                ek in self.core.flow.parked
                and RECORD == op.origin == self.core.flow.parked[ek].op.origin
            ):
                self.core.records.merged(op.entity)
            self.core.flow.park(op)
            return
        if live is not None:
            if RECORD == op.origin == live.op.origin:
                self.core.records.merged(op.entity)
            self.core.needs.withdraw(live)
            self.core.batcher.remove(live)
            self.core.flow.move(live, ENDED)
            op = live.op.merged_with(op)
            row = ...
        if row is ...:
            row = self.core.ledger.get(op.entity, op.key)
        if op.origin in (DELETION, FLAG):
            self._enter_deletion(op, row)  # type: ignore[arg-type]
            return
        if row is None and live is None and self._sources_known:
            self._warn_moved(op)
        ticket = decide(
            op,
            row,  # type: ignore[arg-type]
            run_id=self.core.ledger.run_id,
            clear_empty_fields=self.core.settings.clear_empty_fields,
        )
        if ticket is None:
            self.core.records.end_op(op, UNCHANGED)
            if op.entity == ORGANIZATION:
                self.core.lookups.organization_settled(op.key, op.identity, confirmed=True)
                self.core.cv.notify_all()
            return
        ticket.probe = not self.core.settings.dry_run and (
            (self.core.settings.probe_new_records and row is None)
            or (self.core.settings.keep_before_images and ticket.phase != DELETE)
        )
        self.router.route(ticket)

    def _warn_moved(self, op: Operation) -> None:
        """A source record loaded before under another email or name (a new key here)."""
        for stream, source_id in op.sources:
            old = self.core.ledger.source_key(op.entity, stream, source_id)
            if old is not None and old != op.key:
                what = "email" if op.entity == CUSTOMER else "name"
                self.core.records.warn(
                    op,
                    f"source record {stream}/{source_id} was loaded as {self._shown(op, old)}; "
                    f"with its new {what} it makes another CSM {op.entity} (a CSM {op.entity}'s "
                    f"{what} cannot change through the bulk API): the old one is left as it "
                    "was",
                )

    def _shown(self, op: Operation, key: str) -> str:
        return self._identity_of(key) if op.entity == CUSTOMER else self.core.lookups.spelling(key)

    def _enter_deletion(self, op: Operation, row: LedgerRow | None) -> None:
        """A record deleted in the source: flagged, or its CSM record deleted (see admission)."""
        if op.entity == ORGANIZATION and (
            op.origin == DELETION or row is None or row.status == LEDGER_DELETED
        ):  # not in CSM after this (flagged ones stay, and their references with them)
            self._not_loaded(op.stream, op.source_id, DELETED_IN_SOURCE)
        if op.origin == FLAG:
            if row is None or row.status == LEDGER_DELETED:
                self.core.records.end_op(op, SKIPPED, "deleted in the source; never loaded")
                return
            ticket = decide(op, row, run_id=self.core.ledger.run_id, clear_empty_fields=False)
            if ticket is None:
                self.core.records.end_op(op, UNCHANGED)
            else:
                self.router.route(ticket)
            return
        others = []
        if op.source_id:
            others = self.core.ledger.other_sources(op.entity, op.key, op.stream, op.source_id)
            self.core.ledger.drop_source(op.entity, op.stream, op.source_id)
        found = decide_deletion(
            op, row, unverified=self.core.settings.delete_unverified, other_sources=others
        )
        if isinstance(found, str):
            self.core.records.end_op(op, SKIPPED, found)
            if (
                row is not None
                and row.status != LEDGER_DELETED
                and (others or row.created_run is None)
            ):
                self.core.records.warn(op, found)
            return
        if self.deletes_left <= 0:
            why = (
                f"not deleted: max_deletes_per_run ({self.core.settings.max_deletes_per_run}) was "
                "reached in this run (retry the dead letters, or raise the bound)"
            )
            self.core.records.end_op(op, FAILED, why)
            return
        self.deletes_left -= 1
        self.router.route(found)

    def _release_deferred_at_start(self, pairs: list[tuple[str, str]]) -> None:
        for key, token in pairs:
            ref = OrgRef.from_token(token)
            need = source_need(ref)
            if self.core.lookups.name_key(ref) is not None:
                self._enter_deferred(key, ref)
            else:
                self.core.assoc.deferred.setdefault(need, set()).add(key)

    def _load_deferred_associations(self) -> None:
        self._release_deferred_at_start(self.core.ledger.deferred_associations())

    def _enter_deferred(self, key: str, ref: OrgRef) -> None:
        """An association deferred earlier can be made now."""
        self.core.ledger.drop_deferred([(key, ref.token)])
        identity = self._identity_of(key)
        self._enter(
            Operation(CUSTOMER, identity, REFERENCED_STREAM, org_refs=(ref,), origin=DEFERRED)
        )

    # ================================================================ the endings
    def _finish(
        self, ticket: Ticket, how: str, reason: str | None = None, task_id: str | None = None
    ) -> None:
        """The one place a ticket ends: its record ends, its key frees, what waits goes on."""
        self.core.flow.move(ticket, ENDED)
        if ticket.op.origin in (ASSOCIATION, DEFERRED) and how != FAILED:
            self.core.records.summary.task("associations_made")
        self.core.records.end_op(ticket.op, how, reason, task_id)
        if ticket.op.entity == ORGANIZATION and how == DELETED:
            self._act_on(self.core.lookups.organization_deleted(ticket.op.key))
        elif ticket.op.entity == ORGANIZATION:
            self.core.lookups.organization_settled(
                ticket.op.key, ticket.op.identity, confirmed=how != FAILED
            )
        parked = self.core.flow.unpark(ticket.ek)
        if parked is not None:
            self._enter(parked)
        self.core.cv.notify_all()

    def _phase_done(self, ticket: Ticket) -> None:
        ticket.phases.pop(0)
        ticket.submission = None
        if ticket.phases:
            self.router.route(ticket)
        else:
            self._finish(ticket, UPDATED if ticket.known else CREATED)

    # ====================================================================== lanes
    def _serve(self, next_job: Callable[[], Callable[[], None] | None]) -> None:
        """A lane's loop: take jobs until there are none; an error stops the whole run.

        ``next_job`` counts the lane busy (under the lock) before it hands a job over, so
        :meth:`_idle` never sees a moment with work taken but not yet counted.
        """
        try:
            while True:
                job = next_job()
                if job is None:
                    return
                try:
                    job()
                finally:
                    with self.core.cv:
                        self.core.lanes.busy -= 1
                        self.core.cv.notify_all()
        except Interrupted:
            return  # stopping: what was in flight stays open in the ledger
        except BaseException as exc:  # noqa: BLE001 - any lane error stops the run cleanly
            if self.core.lanes.stopping and isinstance(exc, FatalApiError):
                return
            self._fail(exc)

    def _flushing(self) -> bool:
        return self.core.lanes.finishing or self.core.lanes.flush

    def _next_batch_job(self) -> Callable[[], None] | None:
        with self.core.cv:
            while True:
                if self.core.lanes.stopping or self.core.lanes.fatal is not None:
                    return None
                self._admit_inbox()
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
                        self._finish(ticket, FAILED, why)
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
            self._forget_registered(kept)
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
                self._finish(ticket, DELETED)
            for ticket, why in failed:
                self._finish(ticket, FAILED, why)

    def _apply(self, judgement: Judgement, task_id: str | None) -> None:
        """Move each ticket as the judgement says (caller holds the lock)."""
        for what, count in judgement.tasks.items():
            self.core.records.summary.task(what, count)
        for org_id in judgement.forgotten_org_ids:
            self.core.lookups.forget_org_id(org_id)
        for ticket in judgement.done:
            self._phase_done(ticket)
        for ticket, reason in judgement.failed:
            self._finish(ticket, FAILED, reason, task_id)
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

    # ============================================================== control lane
    def _next_lookup_job(self) -> Callable[[], None] | None:
        with self.core.cv:
            while True:
                if self.core.lanes.stopping or self.core.lanes.fatal is not None:
                    return None
                job = self.core.lookups.next_job(self.core.organizations_on_their_way())
                if job is not None:
                    self.core.lanes.busy += 1
                    return lambda: self._look_up(job)
                if self.core.lanes.finishing and self.core.idle():
                    return None
                due_at = self.core.lookups.next_due_at()
                wait = 1.0 if due_at is None else max(0.01, min(1.0, due_at - time.monotonic()))
                self.core.cv.wait(wait)

    def _look_up(self, job: Job) -> None:
        """Ask CSM (outside the lock), then act on what the answer decides."""
        if self.core.settings.dry_run:
            found = {k: f"dry-run:{k}" for k in job.asked}
        elif job.entity == ORGANIZATION:
            results = self.core.client.fetch_organizations(list(job.asked.values()))
            named = [(str(r["name"]), str(r["id"])) for r in results if r.get("name")]
            found = {name.casefold(): csm_id for name, csm_id in named}
            self.core.ledger.set_organization_ids(named)
        else:
            found = self.core.client.find_customer_ids(list(job.asked.values()))
            self.core.ledger.set_customer_ids(found.items())
        with self.core.cv:
            answer = self.core.lookups.answered(job, found)
            self._act_on(answer)
        if answer.read:
            images = {}
            if not self.core.settings.dry_run:
                profiles = self.core.client.fetch_profiles(job.entity, list(answer.read.values()))
                key_of = {csm_id: key for key, csm_id in answer.read.items()}
                for profile in profiles:
                    key = key_of.get(str(profile["id"]))
                    if key is not None:
                        semantic = profile_semantic(job.entity, profile)
                        images[key] = json.dumps(semantic, sort_keys=True, separators=(",", ":"))
            with self.core.cv:
                self._act_on(self.core.lookups.profiles_read(job.entity, answer.read, images))

    def _act_on(self, answer: Answer) -> None:
        """Needs met go on; organizations nobody has are created by name (lock held)."""
        for need in answer.met:
            self.router.met(need)
        for spelling in answer.create:
            self.core.records.summary.task("organizations_created_for_references")
            self._enter(Operation(ORGANIZATION, spelling, REFERENCED_STREAM, origin=REFERENCED))
        self.core.cv.notify_all()

    # ================================================================== recovery
    def _resume_open_submissions(self) -> None:
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


__all__ = ["Batch", "OrgRef", "Pipeline", "PipelineSettings"]
