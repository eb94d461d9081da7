"""The life cycle of bulk tasks, driven by the app's clock.

A task is ``NOT_STARTED`` for ``queue_delay_seconds``, then waits for one of the processing
slots, runs ``IN_PROGRESS`` for ``task_overhead_seconds + units * seconds_per_item`` and ends
``FINISHED`` (effects applied at that moment, failures listed) or ``FAILED``. Nothing runs in
the background: :meth:`TaskBoard.advance` replays every start and end event in time order up
to ``now`` whenever the app is asked anything, so a test on a ``ManualClock`` steps through
the states without sleeping, and a run on the wall clock sees the same schedule.

When a slot frees and several tasks wait, the one that became ready first starts first
(submission order on ties). At equal times an end is processed before a start, so the freed
slot is taken at once. Ends at the same instant are applied in submission order.
"""

from __future__ import annotations

import datetime as dt
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
        if dialect == "guide":
            return {"taskId": self.id, "statusUrl": f"{absolute_base}/tasks/{self.id}"}
        return {"id": self.id, "statusUrl": f"/api/v1/tasks/{self.id}"}

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


class TaskBoard:
    """Every task of the site, and the schedule that moves them."""

    def __init__(self, site_uuid: uuid.UUID) -> None:
        self.site_uuid = site_uuid
        self.tasks: dict[str, Task] = {}
        self._active: list[Task] = []
        self._seq = 0
        self._last_event = 0.0

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

    def advance(self, now: float, slots: int, finish: Callable[[Task], None]) -> None:
        """Play every start and end up to ``now``; ``finish`` applies an ending task."""
        while self._active:
            running = [t for t in self._active if t.status == IN_PROGRESS]
            waiting = [t for t in self._active if t.status == NOT_STARTED]
            ender = min(running, key=lambda t: (t.end_at, t.seq)) if running else None
            starter = None
            if waiting and len(running) < max(1, slots):
                starter = min(waiting, key=lambda t: (t.ready_at, t.seq))
            end_time = ender.end_at if ender else float("inf")
            start_time = max(starter.ready_at, self._last_event) if starter else float("inf")
            if ender is not None and end_time <= start_time and end_time <= now:
                self._last_event = end_time
                ender.ended_at = end_time
                finish(ender)
                self._active.remove(ender)
            elif starter is not None and start_time <= now:
                self._last_event = start_time
                starter.started_at = start_time
                starter.status = IN_PROGRESS
            else:
                return
