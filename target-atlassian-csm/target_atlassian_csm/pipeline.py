"""The load pipeline: from mapped operations to confirmed CSM records.

The main thread (reading Singer messages) calls :meth:`Pipeline.accept` for each operation.
Background *lanes* do the HTTP work: one lane per task slot (``max_tasks_in_flight``) submits
a batch, polls its task to the end and settles its records; one control lane resolves
organization ids (``organization/fetch``) and follows tasks left in flight by an earlier run.
Keeping every slot busy while the reader goes on is what makes the load run at CSM's limit
instead of one batch at a time.

Ordering rules, all enforced here:

* an operation whose key (email or organization name) is already on its way is *parked* and
  re-admitted when that one settles, so two writes of one customer never race in two tasks
  (CSM does not run tasks in order); one still buffered is merged instead;
* a customer is batched only when every organization it references has a CSM id: by name,
  or by the source's id (the organization record of the same run, or the ledger); a missing
  organization is created by name (``create_missing_organizations``);
* a task's failures are matched to records by ``index`` or ``entityId``; a FAILED task or
  failures that match nothing make the batch split in halves and resubmit (new keys) until
  every record has succeeded or failed alone.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from target_atlassian_csm.barrier import StateBarrier
from target_atlassian_csm.client import (
    DONE,
    FAILED,
    RUNNING,
    CsmClient,
    Failure,
    FatalApiError,
    IdempotencyClash,
    NotFoundError,
    RequestRejected,
    TaskCapReached,
    TaskStatus,
    encode_body,
    idempotency_key,
)
from target_atlassian_csm.deadletter import DeadLetters
from target_atlassian_csm.ledger import CONFIRMED, Ledger, PendingTask
from target_atlassian_csm.limits import ORGANIZATION_FETCH_MAX
from target_atlassian_csm.operations import CUSTOMER, ORGANIZATION, Operation, OrgRef
from target_atlassian_csm.polling import PollSchedule
from target_atlassian_csm.summary import RunSummary

ENDPOINTS = {CUSTOMER: "customer/profile/bulk", ORGANIZATION: "organization/profile/bulk"}
BODY_KEYS = {CUSTOMER: "customerProfiles", ORGANIZATION: "organizationProfiles"}
SYNTHETIC_STREAM = "(referenced organization)"
#: Operations the reader hands over per lock acquisition (see :meth:`Pipeline.accept`).
INBOX_BATCH = 64
EntityKey = tuple[str, str]


@dataclass
class PipelineSettings:
    """The knobs of the pipeline (from the target's settings)."""

    batch_size: dict[str, int] = field(default_factory=lambda: {CUSTOMER: 100, ORGANIZATION: 100})
    max_tasks_in_flight: int = 5
    batch_max_wait_seconds: float = 2.0
    create_missing_organizations: bool = True
    max_task_attempts: int = 3
    task_timeout_seconds: float = 2400.0
    poll_min_seconds: float = 0.1
    poll_max_seconds: float = 30.0
    org_lookup_attempts: int = 8
    dry_run: bool = False


@dataclass(eq=False)
class Batch:
    """Operations that go to CSM in one bulk request."""

    entity: str
    ops: list[Operation]
    salt: str = ""

    def body(self) -> bytes:
        """The request body."""
        items = [{"operationType": "UPSERT", "payload": op.payload()} for op in self.ops]
        return encode_body({BODY_KEYS[self.entity]: items})


@dataclass
class _Lookup:
    spelling: str
    attempts: int = 0
    not_before: float = 0.0
    confirmed_by_us: bool = False


def _new_salt() -> str:
    return uuid.uuid4().hex


class Pipeline:
    """See the module docstring."""

    def __init__(
        self,
        *,
        client: CsmClient,
        ledger: Ledger,
        dead_letters: DeadLetters,
        summary: RunSummary,
        barrier: StateBarrier,
        settings: PipelineSettings,
        logger: logging.Logger,
    ) -> None:
        self.client = client
        self.ledger = ledger
        self.dead_letters = dead_letters
        self.summary = summary
        self.barrier = barrier
        self.settings = settings
        self.logger = logger
        self._cv = threading.Condition(threading.RLock())
        self._buffers: dict[str, dict[str, Operation]] = {CUSTOMER: {}, ORGANIZATION: {}}
        self._buffer_since: dict[str, float | None] = {CUSTOMER: None, ORGANIZATION: None}
        self._ready: dict[str, deque[Batch]] = {CUSTOMER: deque(), ORGANIZATION: deque()}
        self._active: dict[EntityKey, int] = {}
        self._parked: dict[EntityKey, list[Operation]] = {}
        self._waiting_name: dict[str, list[Operation]] = {}
        self._waiting_source: dict[tuple[str | None, str], list[Operation]] = {}
        self._pending_refs: dict[int, int] = {}
        self._source_names: dict[tuple[str | None, str], str] = {}
        self._org_ids: dict[str, str] = {}
        self._lookups: dict[str, _Lookup] = {}
        self._synthetic_tried: set[str] = set()
        self._recovered: dict[EntityKey, tuple[str, str]] = {}
        self._recovered_tasks: deque[PendingTask] = deque()
        self._recovered_waiters: dict[str, list[Operation]] = {}
        self._inbox: deque[Operation] = deque()
        self._inflight_tasks = 0
        self._busy_lanes = 0
        self.poll_schedule = PollSchedule(
            min_seconds=settings.poll_min_seconds, max_seconds=settings.poll_max_seconds
        )
        self._finishing = False
        self._flush_now = False
        self._stopping = False
        self._fatal: BaseException | None = None
        self._threads: list[threading.Thread] = []
        self._started = False
        self.max_queued_ops = (settings.max_tasks_in_flight + 2) * max(settings.batch_size.values())

    # ================================================================== life cycle
    def start(self) -> None:
        """Recover tasks left in flight by an earlier run, then start the lanes."""
        if self._started:
            return
        self._started = True
        if not self.settings.dry_run:
            self._recover()
        names = [f"csm-lane-{i}" for i in range(self.settings.max_tasks_in_flight)]
        for name in names:
            self._threads.append(threading.Thread(target=self._lane, name=name, daemon=True))
        self._threads.append(
            threading.Thread(target=self._control_lane, name="csm-control", daemon=True)
        )
        for thread in self._threads:
            thread.start()

    def _recover(self) -> None:
        for task in self.ledger.pending_tasks():
            self.logger.info(
                "Found task %s (%d %s records) left in flight by an earlier run: polling it "
                "instead of resubmitting.",
                task.task_id,
                len(task.items),
                task.entity,
            )
            self._recovered_tasks.append(task)
            for key, payload_hash in task.items.items():
                ek = (task.entity, key)
                self._recovered[ek] = (task.task_id, payload_hash)
                self._active[ek] = self._active.get(ek, 0) + 1
            self.summary.task("recovered_from_ledger")

    def accept(self, op: Operation) -> None:
        """Take one mapped operation (main thread); blocks while the lanes are behind.

        Operations wait in a lock-free inbox and are admitted ``INBOX_BATCH`` at a time (or by
        a lane, so a quiet tap's records still go out): taking the pipeline's lock once per
        record made the reader queue behind the lanes on every record and cost more CPU than
        the mapping itself.
        """
        if self._fatal is not None:
            raise self._fatal
        self._inbox.append(op)
        if len(self._inbox) >= INBOX_BATCH:
            self._drain_inbox(block=True)

    def _drain_inbox(self, *, block: bool) -> None:
        with self._cv:
            self._raise_if_failed()
            self._admit_inbox()
            while block and self._queued_ops() >= self.max_queued_ops and self._fatal is None:
                self._cv.wait(0.5)
            self._raise_if_failed()
        self.barrier.maybe_emit()

    def _admit_inbox(self) -> None:
        """Admit what the reader left in the inbox (caller holds the lock)."""
        received: dict[str, int] = {}
        while self._inbox:
            op = self._inbox.popleft()
            received[op.entity] = received.get(op.entity, 0) + 1
            self._admit(op)
        for entity, count in received.items():
            self.summary.count(entity, "received", count)

    def settle_now(self, op: Operation, what: str) -> None:
        """Settle an operation that never enters the pipeline (skipped, invalid...)."""
        self.summary.count(op.entity, what)
        self.barrier.settle(op.seqs)

    def flush(self) -> None:
        """Send partial batches now instead of waiting for them to fill."""
        with self._cv:
            self._admit_inbox()
            self._flush_now = True
            self._cv.notify_all()

    def finish(self) -> None:
        """End of input: send everything, settle what waits on unseen references, wait."""
        with self._cv:
            self._admit_inbox()
            self._finishing = True
            for (stream, source_id), ops in list(self._waiting_source.items()):
                del self._waiting_source[(stream, source_id)]
                for op in ops:
                    self._warn(
                        op,
                        f"organization {stream}/{source_id} never appeared in the "
                        "input nor the ledger: loaded without this association",
                    )
                    self._ref_done(op)
            self._cv.notify_all()
            while not self._idle() and self._fatal is None:
                self._cv.wait(0.5)
            self._stopping = True
            self._cv.notify_all()
        for thread in self._threads:
            thread.join(timeout=10)
        self._raise_if_failed()
        self.barrier.maybe_emit(force=True)

    def stop(self, grace_seconds: float) -> None:
        """Interrupted: submit nothing new, give in-flight tasks ``grace_seconds`` to end."""
        deadline = time.monotonic() + grace_seconds
        with self._cv:
            self._stopping = True
            self._cv.notify_all()
            while self._busy_lanes and time.monotonic() < deadline:
                self._cv.wait(0.2)
        self.client.stop_event.set()
        for thread in self._threads:
            thread.join(timeout=2)
        self.barrier.maybe_emit(force=True)

    @property
    def failed(self) -> BaseException | None:
        """The error that stopped the lanes, if any."""
        return self._fatal

    def _raise_if_failed(self) -> None:
        if self._fatal is not None:
            raise self._fatal

    def _fail(self, exc: BaseException) -> None:
        with self._cv:
            if self._fatal is None:
                self._fatal = exc
            self._stopping = True
            self._cv.notify_all()
        self.client.stop_event.set()

    def _queued_ops(self) -> int:
        return sum(len(b) for b in self._buffers.values()) + sum(
            len(batch.ops) for queue in self._ready.values() for batch in queue
        )

    def _idle(self) -> bool:
        return (
            not self._inbox
            and not any(self._buffers.values())
            and not any(self._ready.values())
            and not self._active
            and not self._waiting_name
            and not self._waiting_source
            and not self._parked
            and not self._due_lookups(ignore_time=True)
            and not self._recovered_tasks
            and self._busy_lanes == 0
        )

    # ================================================================== admission
    def _admit(self, op: Operation) -> None:
        ek = (op.entity, op.key)
        buffered = self._buffers[op.entity].get(op.key)
        if buffered is not None:
            self.summary.count(op.entity, "merged")
            merged = buffered.merged_with(op)
            merged.recheck = True
            del self._buffers[op.entity][op.key]
            if set(merged.org_refs) != set(buffered.org_refs):
                self._resolve(merged)  # new references: resolve again
            else:
                merged.org_ids = buffered.org_ids
                self._buffer(merged)
            return
        recovered = self._recovered.get(ek)
        if recovered is not None and recovered[1] == op.payload_hash:
            self._recovered_waiters.setdefault(recovered[0], []).append(op)
            return
        if ek in self._active:
            self._parked.setdefault(ek, []).append(op)
            return
        row = self.ledger.get(op.entity, op.key)
        if row is not None and row.run_id == self.ledger.run_id and row.payload:
            # The same email or name came earlier in this run and has settled: merge into
            # what was sent, and send the result (counted as an update, or unchanged).
            prior = Operation.from_semantic(
                op.entity,
                row.semantic() or {},
                stream=row.stream or op.stream,
                source_id=row.source_id,
            )
            op = prior.merged_with(op)
            op.known = True
            if row.status == CONFIRMED and row.payload_hash == op.payload_hash:
                self.settle_unchanged(op)
                return
        elif row is not None and row.status == CONFIRMED:
            op.known = True
            if row.payload_hash == op.payload_hash:
                self.settle_unchanged(op)
                return
        if op.entity == ORGANIZATION and op.source_id:
            self._learn_source(op)
        self._active[ek] = 1
        if op.entity == CUSTOMER and op.org_refs:
            self._resolve(op)
        else:
            self._buffer(op)

    def _same_as_ledger(self, op: Operation) -> bool:
        row = self.ledger.get(op.entity, op.key)
        return row is not None and row.status == CONFIRMED and row.payload_hash == op.payload_hash

    def settle_unchanged(self, op: Operation) -> None:
        """Nothing changed since the ledger's last confirmed write."""
        self.summary.count(op.entity, "unchanged")
        if op.entity == ORGANIZATION and op.source_id:
            self._learn_source(op)
        self.barrier.settle(op.seqs)

    def _learn_source(self, op: Operation) -> None:
        """An organization record tells which name a source id stands for."""
        token = (op.stream, op.source_id or "")
        self._source_names[token] = op.key
        for waiting in self._waiting_source.pop(token, []):
            self._wait_for_name(waiting, op.key, op.identity)

    def _resolve(self, op: Operation) -> None:
        """Find CSM ids for a customer's organizations; buffer it when all are known."""
        known = self._known_org_ids(op)
        if known is not None:  # the common case once the organizations are loaded
            op.org_ids = known
            self._buffer(op)
            return
        op.org_ids = []
        self._pending_refs[id(op)] = len(op.org_refs)
        for ref in op.org_refs:
            if ref.kind == "source":
                token = (ref.stream, ref.value)
                name_key = self._source_names.get(token) or self.ledger.key_for_source(
                    ORGANIZATION, ref.stream or "", ref.value
                )
                if name_key is None:
                    self._waiting_source.setdefault(token, []).append(op)
                    continue
                self._wait_for_name(op, name_key, name_key)
            else:
                self._wait_for_name(op, ref.value.casefold(), ref.value)
        if self._pending_refs.get(id(op)) == 0:
            self._ref_done(op, count=False)

    def _known_org_ids(self, op: Operation) -> list[str] | None:
        """The CSM ids of all of ``op``'s organizations if this run knows them, else None."""
        ids: list[str] = []
        for ref in op.org_refs:
            if ref.kind == "source":
                name_key = self._source_names.get((ref.stream, ref.value))
            else:
                name_key = ref.value.casefold()
            org_id = self._org_ids.get(name_key) if name_key is not None else None
            if org_id is None:
                return None
            if org_id not in ids:
                ids.append(org_id)
        return ids

    def _wait_for_name(self, op: Operation, name_key: str, spelling: str) -> None:
        org_id = self._org_ids.get(name_key) or self.ledger.organization_id(name_key)
        if org_id is not None:
            self._org_ids[name_key] = org_id
            if org_id not in op.org_ids:
                op.org_ids.append(org_id)
            self._ref_done(op)
            return
        self._waiting_name.setdefault(name_key, []).append(op)
        if (ORGANIZATION, name_key) not in self._active and name_key not in self._lookups:
            self._lookups[name_key] = _Lookup(spelling)
            self._cv.notify_all()

    def _ref_done(self, op: Operation, *, count: bool = True) -> None:
        remaining = self._pending_refs.get(id(op), 0) - (1 if count else 0)
        if remaining > 0:
            self._pending_refs[id(op)] = remaining
            return
        self._pending_refs.pop(id(op), None)
        self._buffer(op)

    def _buffer(self, op: Operation) -> None:
        if op.recheck and self._same_as_ledger(op):
            # Duplicates merged back into what the ledger confirmed last time: a resync of a
            # source that repeats an email must not resend it.
            self.settle_unchanged(op)
            self._release(op)
            return
        buffer = self._buffers[op.entity]
        started = not buffer
        if started:
            self._buffer_since[op.entity] = time.monotonic()
        buffer[op.key] = op
        if len(buffer) >= self.settings.batch_size[op.entity]:
            self._ready[op.entity].append(self._cut(op.entity))
            self._cv.notify_all()  # a batch is ready
        elif started or self._finishing or self._flush_now:
            self._cv.notify_all()  # lanes time the new partial batch (or send it now)

    def _cut(self, entity: str) -> Batch:
        buffer = self._buffers[entity]
        size = self.settings.batch_size[entity]
        keys = list(buffer)[:size]
        ops = [buffer.pop(k) for k in keys]
        self._buffer_since[entity] = time.monotonic() if buffer else None
        return Batch(entity, ops)

    def _release(self, op: Operation) -> None:
        """An operation settled: free its key, re-admit what was parked behind it."""
        ek = (op.entity, op.key)
        self._active.pop(ek, None)
        for parked in self._parked.pop(ek, []):
            self._admit(parked)
        self._cv.notify_all()

    # ====================================================================== lanes
    def _serve(self, next_job: Callable[[], Callable[[], None] | None]) -> None:
        """A lane's loop: take jobs until there are none; any error stops the whole run.

        ``next_job`` marks the lane busy (under the lock) before it hands a job over, so
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
                    with self._cv:
                        self._busy_lanes -= 1
                        self._cv.notify_all()
        except BaseException as exc:  # noqa: BLE001 - any lane error stops the run cleanly
            self._fail(exc)

    def _lane(self) -> None:
        def next_job() -> Callable[[], None] | None:
            batch = self._next_batch()
            return None if batch is None else (lambda: self._run_batch(batch))

        self._serve(next_job)

    def _next_batch(self) -> Batch | None:
        with self._cv:
            while True:
                if self._stopping or self._fatal is not None:
                    return None
                self._admit_inbox()
                for entity in (ORGANIZATION, CUSTOMER):
                    if self._ready[entity]:
                        self._busy_lanes += 1
                        self._cv.notify_all()  # room in the queue: the reader may go on
                        return self._ready[entity].popleft()
                wait = 1.0
                for entity in (ORGANIZATION, CUSTOMER):
                    since = self._buffer_since[entity]
                    if not self._buffers[entity] or since is None:
                        continue
                    age = time.monotonic() - since
                    due = self._finishing or self._flush_now
                    if due or age >= self.settings.batch_max_wait_seconds:
                        self._busy_lanes += 1
                        self._cv.notify_all()
                        return self._cut(entity)
                    wait = min(wait, self.settings.batch_max_wait_seconds - age)
                if self._finishing and self._idle():
                    return None
                self._cv.wait(max(wait, 0.01))

    def _run_batch(self, batch: Batch) -> None:
        if self.settings.dry_run:
            self._settle_batch(batch, None, None, confirmed=batch.ops, failed=[])
            return
        endpoint = ENDPOINTS[batch.entity]
        body = batch.body()
        cap_waits = 0
        while True:
            key = idempotency_key(endpoint, body, batch.salt)
            try:
                task_id = self.client.submit(endpoint, body, key)
                break
            except TaskCapReached:
                cap_waits += 1
                self.summary.task("task_cap_waits")
                batch.salt = _new_salt()  # a refusal may be cached under the key: use a new one
                self._wait_for_slot(cap_waits)
            except IdempotencyClash:
                batch.salt = _new_salt()
            except RequestRejected as exc:
                self._rejected(batch, exc)
                return
        self.summary.task("submitted")
        self.ledger.mark_submitted(
            task_id=task_id,
            entity=batch.entity,
            endpoint=endpoint,
            idempotency_key=key,
            ops=batch.ops,
        )
        with self._cv:
            self._inflight_tasks += 1
        try:
            status = self._await(task_id, batch.entity, len(batch.ops))
        finally:
            with self._cv:
                self._inflight_tasks -= 1
                self._cv.notify_all()
        self._apply(batch, task_id, status)

    def _wait_for_slot(self, attempt: int) -> None:
        """Wait for one of our tasks to end, or back off when the cap is held by others."""
        with self._cv:
            before = self._inflight_tasks
            deadline = time.monotonic() + min(15.0, 0.5 * 2 ** min(attempt, 5))
            while time.monotonic() < deadline and self._fatal is None:
                if before and self._inflight_tasks < before:
                    return
                self._cv.wait(0.1)

    def _await(self, task_id: str, entity: str, items: int) -> TaskStatus:
        """Poll a task to its end, when it is expected to end (see :mod:`.polling`)."""
        started = time.monotonic()
        schedule = self.poll_schedule
        delay = schedule.first_delay(entity, items)
        lower = 0.0
        while True:
            if self.client.stop_event.wait(delay):
                msg = f"interrupted while task {task_id} was in flight (it stays in the ledger)"
                raise FatalApiError(msg)
            try:
                status = self.client.task(task_id)
            except NotFoundError:
                self.logger.warning("Task %s is unknown to CSM: resubmitting its records.", task_id)
                return TaskStatus(task_id, FAILED, "NOT_FOUND")
            elapsed = time.monotonic() - started
            if status.state != RUNNING:
                schedule.learn(entity, items, lower, elapsed)
                return status
            if elapsed > self.settings.task_timeout_seconds:
                self.logger.warning(
                    "Task %s still running after %.0fs: treating it as failed.", task_id, elapsed
                )
                return TaskStatus(task_id, FAILED, "TIMED_OUT")
            lower = elapsed
            delay = schedule.next_delay(entity, items, elapsed)

    # ============================================================== task outcomes
    def _match(
        self, failure: Failure, batch: Batch, by_key: dict[str, Operation]
    ) -> Operation | None:
        if failure.index is not None and 0 <= failure.index < len(batch.ops):
            return batch.ops[failure.index]
        if failure.entity_id:
            op = by_key.get(failure.entity_id.casefold())
            if op is not None:
                return op
            for name_key, org_id in self._org_ids.items():
                if org_id == failure.entity_id:
                    return by_key.get(name_key)
        return None

    @staticmethod
    def _describe(failure: Failure) -> str:
        where = f" ({', '.join(failure.operated_on_ids)})" if failure.operated_on_ids else ""
        return f"{failure.error}{where}"

    def _apply(self, batch: Batch, task_id: str, status: TaskStatus) -> None:
        if status.state == DONE and not status.failures:
            self._settle_batch(batch, task_id, status.raw_status, confirmed=batch.ops, failed=[])
            return
        by_key = {op.key: op for op in batch.ops}
        reasons: dict[int, list[str]] = {}
        unmatched: list[Failure] = []
        for failure in status.failures:
            op = self._match(failure, batch, by_key)
            if op is None:
                unmatched.append(failure)
            else:
                reasons.setdefault(id(op), []).append(self._describe(failure))
        failed = [(op, "; ".join(reasons[id(op)])) for op in batch.ops if id(op) in reasons]
        rest = [op for op in batch.ops if id(op) not in reasons]
        if status.state == DONE and not unmatched:
            self._settle_batch(batch, task_id, status.raw_status, confirmed=rest, failed=failed)
            return
        # FAILED, or failures we cannot pin on a record: the rest's outcome is unknown.
        retry: list[Batch] = []
        if len(rest) == 1 and unmatched:
            failed.append((rest[0], "; ".join(self._describe(f) for f in unmatched)))
        elif len(rest) == 1:
            op = rest[0]
            op.failed_attempts += 1
            if op.failed_attempts >= self.settings.max_task_attempts:
                failed.append(
                    (
                        op,
                        f"task ended {status.raw_status or 'FAILED'} without failure "
                        f"detail, {op.failed_attempts} times",
                    )
                )
            else:
                retry.append(Batch(batch.entity, [op], _new_salt()))
        elif rest:
            half = len(rest) // 2
            retry += [
                Batch(batch.entity, rest[:half], _new_salt()),
                Batch(batch.entity, rest[half:], _new_salt()),
            ]
            self.summary.task("split")
        self.summary.task("failed" if status.state == FAILED else "partially_unmatched")
        self._settle_batch(
            batch, task_id, status.raw_status, confirmed=[], failed=failed, retry=retry
        )

    def _rejected(self, batch: Batch, exc: RequestRejected) -> None:
        """CSM refused the whole request (a 4xx): isolate the record that causes it."""
        self.summary.task("rejected_requests")
        if len(batch.ops) == 1:
            reason = f"CSM refused the request: {exc}"
            self._settle_batch(batch, None, None, confirmed=[], failed=[(batch.ops[0], reason)])
            return
        half = len(batch.ops) // 2
        self.summary.task("split")
        self._settle_batch(
            batch,
            None,
            None,
            confirmed=[],
            failed=[],
            retry=[
                Batch(batch.entity, batch.ops[:half], _new_salt()),
                Batch(batch.entity, batch.ops[half:], _new_salt()),
            ],
        )

    def _settle_batch(
        self,
        batch: Batch,
        task_id: str | None,
        task_status: str | None,
        *,
        confirmed: list[Operation],
        failed: list[tuple[Operation, str]],
        retry: Iterable[Batch] = (),
    ) -> None:
        if not self.settings.dry_run:
            self.ledger.mark_outcome(
                task_id=task_id, task_status=task_status, confirmed=confirmed, failed=failed
            )
        for op, reason in failed:
            self._dead_letter(op, reason, task_id)
        with self._cv:
            for again in reversed(list(retry)):
                self.summary.task("resubmitted")
                self._ready[batch.entity].appendleft(again)
            for op in confirmed:
                if not op.synthetic:
                    self.summary.count(op.entity, "updated" if op.known else "created")
                self.barrier.settle(op.seqs)
                if op.entity == ORGANIZATION:
                    self._after_org_confirmed(op)
            for op, _ in failed:
                self.barrier.settle(op.seqs)
                if op.entity == ORGANIZATION:
                    self._after_org_confirmed(op, failed=True)
            for op in [*confirmed, *(op for op, _ in failed)]:
                self._release(op)
        self.barrier.maybe_emit()

    def _dead_letter(self, op: Operation, reason: str, task_id: str | None) -> None:
        if not op.synthetic:
            self.summary.count(op.entity, "failed")
        self.dead_letters.write(
            reason=reason,
            stream=op.stream,
            record=op.record,
            source_id=op.source_id,
            entity=op.entity,
            identity=op.identity,
            task_id=task_id,
        )

    def _warn(self, op: Operation, reason: str) -> None:
        self.summary.warnings += 1
        self.dead_letters.write(
            reason=reason,
            stream=op.stream,
            record=op.record,
            source_id=op.source_id,
            entity=op.entity,
            identity=op.identity,
            severity="warning",
        )

    def _after_org_confirmed(self, op: Operation, *, failed: bool = False) -> None:
        """An organization settled: look its id up for the customers waiting on it."""
        lookup = self._lookups.get(op.key)
        if lookup is None:
            lookup = self._lookups[op.key] = _Lookup(op.identity)
        lookup.confirmed_by_us = not failed
        lookup.not_before = 0.0
        self._cv.notify_all()

    # ============================================================== control lane
    def _control_lane(self) -> None:
        self._serve(self._next_control_job)

    def _due_lookups(self, *, ignore_time: bool = False) -> list[str]:
        now = time.monotonic()
        return [
            k
            for k, lookup in self._lookups.items()
            if (ignore_time or lookup.not_before <= now) and (ORGANIZATION, k) not in self._active
        ]

    def _next_control_job(self) -> Callable[[], None] | None:
        with self._cv:
            while True:
                if self._stopping or self._fatal is not None:
                    return None
                if self._recovered_tasks:
                    task = self._recovered_tasks.popleft()
                    self._busy_lanes += 1
                    return lambda: self._follow_recovered(task)
                due = self._due_lookups()
                if due:
                    names = due[:ORGANIZATION_FETCH_MAX]
                    self._busy_lanes += 1
                    return lambda: self._lookup(names)
                if self._finishing and self._idle():
                    return None
                self._cv.wait(0.5)

    def _lookup(self, name_keys: list[str]) -> None:
        with self._cv:
            spellings = {k: self._lookups[k].spelling for k in name_keys if k in self._lookups}
        if self.settings.dry_run:
            found: dict[str, str] = {k: f"dry-run:{k}" for k in spellings}
        else:
            results = self.client.fetch_organizations(list(spellings.values()))
            found = {str(r["name"]).casefold(): str(r["id"]) for r in results if r.get("name")}
            self.ledger.set_organization_ids(
                (str(r["name"]), str(r["id"])) for r in results if r.get("name")
            )
        with self._cv:
            for name_key in spellings:
                lookup = self._lookups.get(name_key)
                if lookup is None:
                    continue
                org_id = found.get(name_key)
                if org_id is not None:
                    del self._lookups[name_key]
                    self._org_ids[name_key] = org_id
                    for op in self._waiting_name.pop(name_key, []):
                        if org_id not in op.org_ids:
                            op.org_ids.append(org_id)
                        self._ref_done(op)
                    continue
                self._not_found(name_key, lookup)
            self._cv.notify_all()

    def _not_found(self, name_key: str, lookup: _Lookup) -> None:
        waiting = self._waiting_name.get(name_key, [])
        if not waiting:
            del self._lookups[name_key]
            return
        lookup.attempts += 1
        if lookup.confirmed_by_us and lookup.attempts < self.settings.org_lookup_attempts:
            # Created by us a moment ago: CSM may not list it yet.
            lookup.not_before = time.monotonic() + min(30.0, 0.5 * 2**lookup.attempts)
            return
        if (
            self.settings.create_missing_organizations
            and name_key not in self._synthetic_tried
            and not lookup.confirmed_by_us
        ):
            self._synthetic_tried.add(name_key)
            del self._lookups[name_key]
            self.summary.task("organizations_created_for_references")
            self._admit(
                Operation(
                    entity=ORGANIZATION,
                    identity=lookup.spelling,
                    stream=SYNTHETIC_STREAM,
                    synthetic=True,
                )
            )
            return
        del self._lookups[name_key]
        why = (
            "was not found and create_missing_organizations is off"
            if not self.settings.create_missing_organizations
            else "could not be created or found"
        )
        for op in self._waiting_name.pop(name_key, []):
            self._warn(op, f"organization {lookup.spelling!r} {why}: loaded without it")
            self._ref_done(op)

    def _follow_recovered(self, task: PendingTask) -> None:
        started = time.monotonic()
        while True:
            try:
                status = self.client.task(task.task_id)
            except NotFoundError:
                status = TaskStatus(task.task_id, FAILED, "NOT_FOUND")
            if status.state != RUNNING:
                break
            if time.monotonic() - started > self.settings.task_timeout_seconds:
                status = TaskStatus(task.task_id, FAILED, "TIMED_OUT")
                break
            if self.client.stop_event.wait(2.0):
                return
        self.summary.task("recovered_polled")
        failed_keys: dict[str, str] = {}
        unknown = status.state == FAILED
        for failure in status.failures:
            key = (failure.entity_id or "").casefold()
            if key in task.items:
                failed_keys[key] = self._describe(failure)
            else:
                unknown = True
        self.ledger.close_task(task.task_id, status.raw_status or "UNKNOWN")
        with self._cv:
            waiters = {op.key: op for op in self._recovered_waiters.pop(task.task_id, [])}
            for key in task.items:
                ek = (task.entity, key)
                self._recovered.pop(ek, None)
                op = waiters.pop(key, None)
                if key in failed_keys:
                    outcome = "failed"
                elif unknown:
                    outcome = "unknown"
                else:
                    outcome = "confirmed"
                self._finish_recovered(ek, op, outcome, failed_keys.get(key, ""), task.task_id)
            self._cv.notify_all()

    def _finish_recovered(
        self, ek: EntityKey, op: Operation | None, outcome: str, reason: str, task_id: str
    ) -> None:
        """Settle one record of a task an earlier run left in flight."""
        if op is None:
            # The record did not come again in this run: keep what we learnt for next time.
            if outcome == "confirmed":
                self.ledger.set_status(ek[0], ek[1], CONFIRMED)
            else:
                why = reason or "outcome unknown (task ended FAILED): resent when read again"
                self.ledger.set_status(ek[0], ek[1], "failed", why)
                if outcome == "failed":
                    self.dead_letters.write(
                        reason=reason, stream=None, entity=ek[0], identity=ek[1], task_id=task_id
                    )
            self._active.pop(ek, None)
            for parked in self._parked.pop(ek, []):
                self._admit(parked)
            return
        if outcome == "unknown":
            self._active.pop(ek, None)
            self._admit(op)  # its outcome is unknown: send it again
            return
        self.summary.task("records_settled_from_earlier_run")
        confirmed = [op] if outcome == "confirmed" else []
        failed = [(op, reason)] if outcome == "failed" else []
        self._active[ek] = 1  # _settle_batch releases it and re-admits what is parked
        self._settle_batch(
            Batch(op.entity, [op]), task_id, None, confirmed=confirmed, failed=failed
        )  # the condition's lock is re-entrant


__all__ = ["Batch", "OrgRef", "Pipeline", "PipelineSettings"]
