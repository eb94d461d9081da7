"""The load pipeline: operations in, confirmed CSM records out, at CSM's limits.

The reader (main thread) hands mapped operations to :meth:`Pipeline.accept`. Background lanes
do the HTTP work: one *task lane* per task slot (``max_tasks_in_flight``) takes a batch, runs
it through :class:`~.bulktask.BulkRunner` and settles its tickets; one *control lane* looks
up the CSM ids that waiting tickets need (:mod:`.references`). Keeping every slot busy while
the reader goes on is what makes the load run at CSM's limit.

This module is the pipeline's face to the target (the methods the sinks, the runtime and the
ops commands call), its life cycle (start, end of input, stop) and the lanes' loop. The work
is its parts', each owning one job over the state they share under one lock (:mod:`.core`):

* :mod:`.entry`: operations in: what each needs sent, against the ledger
  (:func:`.admission.decide`), merged, parked or started; associations and deletions;
* :mod:`.routing`: where a ticket goes next: waiting for what it needs, or buffered;
* :mod:`.tasklanes`: a batch run as a bulk task, and what follows from the verdict on its
  items (:mod:`.judging`): next phase, end, or split and resubmitted;
* :mod:`.controllane`: the look-ups of CSM ids;
* :mod:`.endings`: how a ticket ends (:mod:`.outcomes`), always through
  :meth:`.endings.Endings.finish`.

The states a ticket passes through, and the end-of-input rule of each, are :mod:`.flow`'s. The
reader never runs ahead of the lanes by more than a bound of tickets held in memory; tickets
waiting for an organization the input has not described yet are released first when the
bound is reached (loaded without it, the association deferred to when it comes).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from target_atlassian_csm.batches import Batch, Batcher
from target_atlassian_csm.bulktask import BulkRunner, Interrupted, SlotGate
from target_atlassian_csm.client import CsmClient, FatalApiError
from target_atlassian_csm.controllane import ControlLane
from target_atlassian_csm.core import Core, PipelineSettings
from target_atlassian_csm.endings import Endings
from target_atlassian_csm.entry import Entry
from target_atlassian_csm.ledger import Ledger
from target_atlassian_csm.operations import ASSOCIATION, CUSTOMER, Operation, OrgRef
from target_atlassian_csm.outcomes import RunRecords
from target_atlassian_csm.polling import PollSchedule
from target_atlassian_csm.references import Lookups, Needs
from target_atlassian_csm.routing import Router
from target_atlassian_csm.tasklanes import FIRST_WRITTEN, DryRunner, TaskLanes

#: Operations the reader hands over per lock acquisition (see :meth:`Pipeline.accept`).
INBOX_BATCH = 64


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
        self.entry = Entry(self.core, self.router)
        self.endings = Endings(self.core, self.router, self.entry)
        self.settings = settings
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
        self.tasks = TaskLanes(
            self.core,
            runner=self.runner,
            router=self.router,
            entry=self.entry,
            endings=self.endings,
        )
        self.control = ControlLane(self.core, self.entry)
        self._started = False
        self.max_queued = (settings.max_tasks_in_flight + 2) * max(settings.batch_size.values())

    # ================================================================= life cycle
    def start(self) -> None:
        """Take up what an earlier run left open, then start the lanes."""
        if self._started:
            return
        self._started = True
        with self.core.cv:
            if not self.core.settings.dry_run:
                self.tasks.resume_open_submissions()
            self.entry.load_deferred_associations()
        lanes = [
            threading.Thread(target=self._serve, args=(self.tasks.next_job,), daemon=True)
            for _ in range(self.core.settings.max_tasks_in_flight)
        ]
        lanes.append(
            threading.Thread(target=self._serve, args=(self.control.next_job,), daemon=True)
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
            self.entry.admit_inbox()
            op = Operation(
                CUSTOMER, "?", stream, org_refs=(ref,), record=record, seqs=[seq], line=line,
                origin=ASSOCIATION,
            )  # fmt: skip
            self.core.records.summary.task("association_records")
            self.core.records.not_counted(seq)
            self.entry.associate(op, customer_stream, customer_id)

    def source_not_loaded(self, stream: str, source_id: str, why: str) -> None:
        """An organization record the source described will not be loaded, and why.

        Skipped or deleted in the source, or refused: customers that name it by its source id
        go on without it at once (the association deferred, made when this run or a later one
        loads it), instead of waiting for a record that already came -- up to the bound of
        tickets held, which kept batches partial (the Kustomer end-to-end run's customers of
        deleted companies).
        """
        with self.core.cv:
            self.entry.admit_inbox()
            self.entry.not_loaded(stream, source_id, why)

    def delete(self, op: Operation, *, spare: str | None = None) -> None:
        """A record deleted in the source (``op.origin``: DELETION, or FLAG to flag it).

        ``op.identity`` may be empty: the ledger finds the record by its source id. ``spare``
        is a key never to delete (the record another was merged into: same email, one record).
        """
        with self.core.cv:
            self.entry.admit_inbox()
            self.entry.deleted_in_source(op, spare=spare)

    def flush(self) -> None:
        """Send partial batches now instead of waiting for them to fill."""
        with self.core.cv:
            self.entry.admit_inbox()
            self.core.lanes.flush = True
            self.core.cv.notify_all()

    def finish(self) -> None:
        """End of input: apply each state's end rule (see :mod:`.flow`) and wait for all."""
        with self.core.cv:
            self.entry.admit_inbox()
            self.core.lanes.finishing = True
            for ticket in self.core.needs.oldest_on_sources(len(self.core.flow.live)):
                self.router.release_sources(ticket)
            self.entry.drop_waiting_associations()
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

    def _drain(self, *, block: bool) -> None:
        with self.core.cv:
            if self.core.lanes.fatal is not None:
                raise self.core.lanes.fatal
            self.entry.admit_inbox()
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

    # ====================================================================== lanes
    def _serve(self, next_job: Callable[[], Callable[[], None] | None]) -> None:
        """A lane's loop: take jobs until there are none; an error stops the whole run.

        ``next_job`` counts the lane busy (under the lock) before it hands a job over, so
        :meth:`.core.Core.idle` never sees a moment with work taken but not yet counted.
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


__all__ = ["FIRST_WRITTEN", "Batch", "OrgRef", "Pipeline", "PipelineSettings"]
