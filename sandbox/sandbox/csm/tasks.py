"""The life cycle of bulk tasks, driven by the app's clock.

A task is ``NOT_STARTED`` for ``queue_delay_seconds``, then waits for one of the processing
slots, runs ``IN_PROGRESS`` for ``task_overhead_seconds + units * seconds_per_item`` and ends
``FINISHED`` (effects applied at that moment, failures listed) or ``FAILED``. Nothing runs in
the background: :meth:`TaskBoard.advance` replays every start and end event in time order up
to ``now`` whenever the app is asked anything, so a test on a ``ManualClock`` steps through
the states without sleeping, and a run on the wall clock sees the same schedule.

Order (``task_order``; reference §3: tasks are not guaranteed to run in order). With
``fifo``, when a slot frees and several tasks wait, the one that became ready first starts
first (submission order on ties), and ends at the same instant are applied in submission
order. With ``random`` (the default), a random one of the ready tasks starts, ends at the
same instant are applied in random order, and the app draws each task's queue delay from
``[0, queue_delay_seconds]``, so a later task can overtake an earlier one even with free
slots. The draws come from a generator seeded by ``random_seed``: a run is repeatable.
At equal times an end is processed before a start, so the freed slot is taken at once.

Retention: a task is forgotten ``task_retention_seconds`` after it ended (reference §3:
"results are stored for up to 3 days"; a result exists from the task's end); a task still
running is never forgotten.
"""

from __future__ import annotations

import datetime as dt
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sandbox.csm.operations import Failure
from sandbox.csm.store import FieldDef
from sandbox.csm.validate import BulkSpec

NOT_STARTED, IN_PROGRESS, FINISHED, FAILED = "NOT_STARTED", "IN_PROGRESS", "FINISHED", "FAILED"
GUIDE_STATUS = {
    NOT_STARTED: "PROCESSING",
    IN_PROGRESS: "PROCESSING",
    FINISHED: "COMPLETED",
    FAILED: "FAILED",
}


def iso(at: float | None) -> str | None:
    """Epoch seconds as ``2026-01-01T00:00:00Z`` (the reference example's precision)."""
    if at is None:
        return None
    return dt.datetime.fromtimestamp(at, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Task:
    """One submitted bulk request."""

    id: str
    seq: int
    spec: BulkSpec
    items: list[dict[str, Any]]
    units: int
    created_at: float
    ready_at: float
    duration: float
    fails: bool = False
    fail_applies: bool = False
    definitions: list[FieldDef] | None = None
    status: str = NOT_STARTED
    started_at: float | None = None
    ended_at: float | None = None
    failures: list[Failure] = field(default_factory=list)

    @property
    def active(self) -> bool:
        """Not yet FINISHED or FAILED."""
        return self.status in (NOT_STARTED, IN_PROGRESS)

    @property
    def end_at(self) -> float:
        """When a running task ends."""
        return (self.started_at or 0.0) + self.duration

    @property
    def updated_at(self) -> float:
        """The time of the last change of status."""
        return self.ended_at or self.started_at or self.created_at

    def submit_answer(self, dialect: str, absolute_base: str) -> dict[str, Any]:
        """The 202 body."""
        return submit_answer(self.id, dialect, absolute_base)

    def answer(self, dialect: str, *, with_entity_ids: bool) -> dict[str, Any]:
        """The ``GET tasks/{id}`` body."""
        if dialect == "guide":
            return {
                "taskId": self.id,
                "status": GUIDE_STATUS[self.status],
                "createdDate": iso(self.created_at),
                "completedDate": iso(self.ended_at),
                "failures": [f.guide() for f in self.failures],
            }
        return {
            "id": self.id,
            "type": self.spec.task_type,
            "status": self.status,
            "failures": [f.reference(with_entity_id=with_entity_ids) for f in self.failures],
            "createdAt": iso(self.created_at),
            "updatedAt": iso(self.updated_at),
        }

    def state(self) -> dict[str, Any]:
        """The read-back shape."""
        return {
            "id": self.id,
            "endpoint": self.spec.endpoint,
            "type": self.spec.task_type,
            "status": self.status,
            "items": self.units,
            "failures": [f.state() for f in self.failures],
            "createdAt": self.created_at,
            "startedAt": self.started_at,
            "endedAt": self.ended_at,
        }


def submit_answer(task_id: str, dialect: str, absolute_base: str) -> dict[str, Any]:
    """The 202 body naming ``task_id`` (also replayed after the task was forgotten)."""
    if dialect == "guide":
        return {"taskId": task_id, "statusUrl": f"{absolute_base}/tasks/{task_id}"}
    return {"id": task_id, "statusUrl": f"/api/v1/tasks/{task_id}"}


def _pick(candidates: list[Task], rng: random.Random | None, *, by_ready: bool) -> Task:
    """The first candidate (by readiness, then submission), or a random one."""
    candidates = sorted(candidates, key=lambda t: (t.ready_at if by_ready else 0.0, t.seq))
    return candidates[0] if rng is None else rng.choice(candidates)


class TaskBoard:
    """Every task of the site, and the schedule that moves them."""

    def __init__(self, site_uuid: uuid.UUID) -> None:
        self.site_uuid = site_uuid
        self.tasks: dict[str, Task] = {}
        self._active: list[Task] = []
        self._seq = 0
        self._last_event = 0.0
        self.forgotten = 0

    def submit(
        self, spec: BulkSpec, items: list[dict[str, Any]], units: int, **timing: Any
    ) -> Task:
        """Create a NOT_STARTED task (``timing``: created_at, ready_at, duration, fails...)."""
        self._seq += 1
        task_id = str(uuid.uuid5(self.site_uuid, f"task:{self._seq}"))
        task = Task(task_id, self._seq, spec, items, units, **timing)
        self.tasks[task_id] = task
        self._active.append(task)
        return task

    def counted_active(self, now: float, timeout: float) -> int:
        """Non-terminal tasks younger than ``timeout``: what the task cap counts."""
        return sum(1 for t in self._active if now - t.created_at < timeout)

    def forget_ended(self, now: float, retention: float) -> int:
        """Drop tasks that ended ``retention`` seconds or more before ``now``."""
        gone = []
        for task_id, t in self.tasks.items():  # in creation order: stop at the first young one
            if now - t.created_at < retention:
                break
            if t.ended_at is not None and now - t.ended_at >= retention:
                gone.append(task_id)
        for task_id in gone:
            del self.tasks[task_id]
        self.forgotten += len(gone)
        return len(gone)

    def advance(
        self,
        now: float,
        slots: int,
        finish: Callable[[Task], None],
        rng: random.Random | None = None,
    ) -> None:
        """Play every start and end up to ``now``; ``finish`` applies an ending task.

        ``rng`` None is the ``fifo`` order; a generator picks among ties (``random``).
        """
        while self._active:
            running = [t for t in self._active if t.status == IN_PROGRESS]
            waiting = [t for t in self._active if t.status == NOT_STARTED]
            end_time = min((t.end_at for t in running), default=float("inf"))
            start_time = float("inf")
            if waiting and len(running) < max(1, slots):
                start_time = max(min(t.ready_at for t in waiting), self._last_event)
            if end_time <= start_time and end_time <= now:
                ender = _pick([t for t in running if t.end_at == end_time], rng, by_ready=False)
                self._last_event = end_time
                ender.ended_at = end_time
                finish(ender)
                self._active.remove(ender)
            elif start_time <= now:
                starter = _pick(
                    [t for t in waiting if t.ready_at <= start_time], rng, by_ready=True
                )
                self._last_event = start_time
                starter.started_at = start_time
                starter.status = IN_PROGRESS
            else:
                return
