"""One CSM bulk task: its key, its submission, its polling, and the verdict on its items.

Every bulk write of the target goes through :class:`BulkRunner` (the load's profile and
details bulks, the definitions bulk of field provisioning, and submissions an earlier run
left open), so the rules live in one place:

* **The key names the submission, never the body.** A :class:`Submission` gets a random
  Idempotency-Key when it is made, the caller writes it to the ledger with the body before
  :meth:`BulkRunner.run`, and every retry of *that* submission (a timeout, a 5xx, a restarted
  run) replays it, so CSM answers with the same task. A later submission with an identical
  body (a value changed A → B → A) gets a new key and is applied. Only a refusal that created
  no task (the site's task cap is full) or a key CSM says it saw with other data moves the
  submission to a new key, through the journal first.
* **The task cap is waited out**, woken when one of our own tasks ends (:class:`SlotGate`),
  or after a backoff when other clients hold the slots.
* **Polling follows** :class:`~target_atlassian_csm.polling.PollSchedule`; a task CSM no
  longer knows (404) or still running past the timeout ends FAILED with that reason.
* **The verdict is a pure function** (:func:`classify`) of the task's answer and the items'
  identities: confirmed, failed with a reason, or unknown (to be resubmitted).

The runner returns results; it never calls back into the pipeline.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

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
)
from target_atlassian_csm.polling import PollSchedule
from target_atlassian_csm.summary import RunSummary

#: The error CSM reports for an item that names an organization id it does not know.
ORGANIZATION_NOT_FOUND = "organization not found"


def new_key() -> str:
    """A fresh Idempotency-Key (one per submission)."""
    return uuid.uuid4().hex


@dataclass
class Submission:
    """One bulk request: where it goes, what it carries, and the key that names it."""

    endpoint: str
    body: bytes
    entity: str
    size: int  # items (operations for details bulks), for poll scheduling
    key: str = field(default_factory=new_key)
    task_id: str | None = None


class Journal(Protocol):
    """Where a submission's key and task id are written as they change (the ledger)."""

    def rekeyed(self, old: str, new: str) -> None:
        """The submission goes out under a new key."""

    def submitted(self, key: str, task_id: str) -> None:
        """CSM answered the submission with a task."""


class NoJournal:
    """For submissions nothing needs to find again."""

    def rekeyed(self, old: str, new: str) -> None:
        """Nothing to record."""

    def submitted(self, key: str, task_id: str) -> None:
        """Nothing to record."""


@dataclass(frozen=True)
class TaskResult:
    """How a submission ended: a task's final status, or a refusal of the whole request."""

    task_id: str | None
    status: TaskStatus | None = None
    rejected: RequestRejected | None = None


class Interrupted(FatalApiError):
    """The run is stopping; the submission stays open in the ledger for the next run."""


class SlotGate:
    """Counts our tasks in flight and wakes submitters waiting for the site's task cap."""

    def __init__(self) -> None:
        self._cv = threading.Condition()
        self._ended = 0
        self.in_flight = 0

    def started(self) -> None:
        """One of our tasks is running."""
        with self._cv:
            self.in_flight += 1

    def ended(self) -> None:
        """One of our tasks ended: a slot may be free."""
        with self._cv:
            self.in_flight -= 1
            self._ended += 1
            self._cv.notify_all()

    def wait(self, attempt: int, stop: threading.Event) -> None:
        """After a full-cap refusal: until one of ours ends, or a backoff when none is ours."""
        deadline = time.monotonic() + min(15.0, 0.5 * 2 ** min(attempt, 5))
        with self._cv:
            seen, ours = self._ended, self.in_flight
            while not stop.is_set():
                left = deadline - time.monotonic()
                if left <= 0 or (ours and self._ended > seen):
                    return
                self._cv.wait(min(left, 0.2))


class BulkRunner:
    """Submits and follows bulk tasks (see module docstring)."""

    def __init__(
        self,
        client: CsmClient,
        *,
        schedule: PollSchedule,
        gate: SlotGate,
        journal: Journal,
        summary: RunSummary,
        task_timeout_seconds: float,
        logger: logging.Logger,
    ) -> None:
        self.client = client
        self.schedule = schedule
        self.gate = gate
        self.journal = journal
        self.summary = summary
        self.task_timeout_seconds = task_timeout_seconds
        self.logger = logger

    def run(self, sub: Submission) -> TaskResult:
        """Submit (unless CSM already gave a task id) and poll to the end."""
        resumed = sub.task_id is not None
        if not resumed:
            try:
                self._submit(sub)
            except RequestRejected as exc:
                return TaskResult(None, rejected=exc)
        self.gate.started()
        try:
            status = self._await(sub, resumed=resumed)
        finally:
            self.gate.ended()
        return TaskResult(sub.task_id, status)

    def _submit(self, sub: Submission) -> None:
        refusals = 0
        while True:
            try:
                sub.task_id = self.client.submit(sub.endpoint, sub.body, sub.key)
                break
            except TaskCapReached:
                refusals += 1
                self.summary.task("task_cap_waits")
                self._rekey(sub)  # a refusal may be remembered under the key: go on with a new one
                self.gate.wait(refusals, self.client.stop_event)
                if self.client.stop_event.is_set():
                    msg = "stopping: the run was interrupted while waiting for a task slot"
                    raise Interrupted(msg) from None
            except IdempotencyClash:
                self.logger.warning(
                    "CSM says key %s was used with other data: resending under a new key.",
                    sub.key,
                )
                self._rekey(sub)
        self.journal.submitted(sub.key, sub.task_id)
        self.summary.task("submitted")

    def _rekey(self, sub: Submission) -> None:
        old, sub.key = sub.key, new_key()
        self.journal.rekeyed(old, sub.key)

    def _await(self, sub: Submission, *, resumed: bool) -> TaskStatus:
        """Poll until the task ends; times count from send times (see :mod:`.polling`).

        The server creates the task when the submit reaches it and reads a poll when the poll
        reaches it, so a task's age at a poll is the poll's send time minus the submit's,
        whatever the round trip; a poll is *sent* at the age the schedule names, and arrives
        as the task ends instead of one round trip after. A poll that was refused (429) and
        sent again later tells only "done by then": it teaches no bracket.
        """
        task_id = sub.task_id or ""
        now = time.monotonic()
        sent, _ = self.client.last_sent()
        started = now if resumed or sent is None else min(sent, now)
        first = (
            self.schedule.min_seconds
            if resumed
            else self.schedule.first_delay(sub.entity, sub.size)
        )
        due = started + first
        lower = 0.0
        while True:
            if self.client.stop_event.wait(max(0.0, due - time.monotonic())):
                msg = f"interrupted while task {task_id} was in flight (it stays in the ledger)"
                raise Interrupted(msg)
            asked = time.monotonic()
            try:
                status = self.client.task(task_id)
            except NotFoundError:
                self.logger.warning("Task %s is unknown to CSM: its outcome is unknown.", task_id)
                return TaskStatus(task_id, FAILED, "NOT_FOUND")
            sent, throttled = self.client.last_sent()
            sent = sent if sent is not None and sent >= asked else asked
            age = sent - started
            if status.state != RUNNING:
                if not resumed:
                    self.schedule.learn(sub.entity, sub.size, 0.0 if throttled else lower, age)
                    self.summary.task_took(sub.entity, age)
                return status
            if age > self.task_timeout_seconds:
                self.logger.warning(
                    "Task %s still running after %.0fs: treating it as failed.", task_id, age
                )
                return TaskStatus(task_id, FAILED, "TIMED_OUT")
            lower = age
            due = sent + self.schedule.next_delay(sub.entity, sub.size, age)


# ------------------------------------------------------------------ the verdict
@dataclass(frozen=True)
class ItemIds:
    """What a task's failure may call one item: its identity key and any CSM ids."""

    key: str
    csm_ids: frozenset[str] = frozenset()


@dataclass
class Verdict:
    """What became of each item of a task (indexes into the submitted items)."""

    confirmed: list[int] = field(default_factory=list)
    failed: dict[int, str] = field(default_factory=dict)
    unknown: list[int] = field(default_factory=list)
    unmatched: list[str] = field(default_factory=list)
    #: Items that failed (only) because CSM does not know organization ids they named.
    missing_organizations: dict[int, list[str]] = field(default_factory=dict)


def describe(failure: Failure) -> str:
    """A failure as one line: the error and what it was about."""
    where = f" ({', '.join(failure.operated_on_ids)})" if failure.operated_on_ids else ""
    return f"{failure.error}{where}"


def _match(failure: Failure, items: Sequence[ItemIds]) -> int | None:
    if failure.index is not None and 0 <= failure.index < len(items):
        return failure.index
    if failure.entity_id:
        wanted = failure.entity_id.casefold()
        for position, item in enumerate(items):
            if item.key == wanted or failure.entity_id in item.csm_ids:
                return position
    return None


def _is_missing_organization(failure: Failure) -> bool:
    return ORGANIZATION_NOT_FOUND in failure.error.casefold() and failure.operated_on in (
        "ORGANIZATION_ASSOCIATION",
        "ORGANIZATION",
    )


def classify(status: TaskStatus, items: Sequence[ItemIds]) -> Verdict:
    """Sort a task's items by outcome. Pure: the answer and the items decide."""
    verdict = Verdict()
    if status.state == DONE and not status.failures:
        verdict.confirmed = list(range(len(items)))
        return verdict
    reasons: dict[int, list[str]] = {}
    missing: dict[int, list[str]] = {}
    only_missing: dict[int, bool] = {}
    for failure in status.failures:
        position = _match(failure, items)
        if position is None:
            verdict.unmatched.append(describe(failure))
            continue
        reasons.setdefault(position, []).append(describe(failure))
        if _is_missing_organization(failure) and failure.operated_on_ids:
            missing.setdefault(position, []).extend(failure.operated_on_ids)
            only_missing.setdefault(position, True)
        else:
            only_missing[position] = False
    verdict.failed = {i: "; ".join(r) for i, r in reasons.items()}
    verdict.missing_organizations = {i: ids for i, ids in missing.items() if only_missing[i]}
    rest = [i for i in range(len(items)) if i not in reasons]
    if status.state == DONE and not verdict.unmatched:
        verdict.confirmed = rest
    else:
        verdict.unknown = rest
    return verdict
