"""When to poll a bulk task: learn how long tasks take, poll near their end, and not before.

A lane that polls too late leaves one of CSM's few task slots idle; one that polls too often
spends the site's rate limit on nothing. So the schedule learns, per entity, the time a task
takes per item, and polls:

* a first task (nothing learnt yet) on a geometric probe (0.25 s, then x1.25), which brackets
  its duration within a factor of 1.25;
* later tasks at their expected end, then every 1 % of their age (never faster than
  ``min_seconds``), so a finished task is noticed within about one round trip.

Only brackets teach: a task found running at ``lower`` and done at ``upper`` took between the
two, and a point three quarters up the bracket is learnt. A task already done at its first poll
only says "at most ``upper``", so the estimate becomes at most 0.5 % under that age (the next
first poll comes a little earlier; 3 % made every other first poll miss and wait for the tail)
instead of being set from an upper bound. The nudge is taken from the age the task was polled
at, not from the current estimate: the lanes' tasks end together, and five nudges of the
estimate compounded moved it 5 % at once (measured: first polls swinging between 4.85 s and
5.08 s for 5 s tasks). Upper bounds alone never raise it:
learning from upper bounds made a 3-item task polled after 1 s teach "0.33 s per item" and
the next 100-item task wait 34 s for its first poll. For the same reason a small task (fewer
than :data:`LEARN_MIN_ITEMS` items: the partial batch at the end of a stream, one organization
created for a reference) teaches nothing: its time is mostly the task's fixed cost, which a
per-item figure would multiply.

Every time here is a task's age *as the server sees it*: the runner counts from the submit's
send time to each poll's send time (the server creates the task and reads the poll when each
request arrives, so the round trip cancels), and sends each poll at the age named here. Counted
from answers instead, every poll reached the server one round trip after the age aimed at: at
100 ms of latency, 0.1 s of an idle task slot per task.
"""

from __future__ import annotations

import threading

#: Tasks with fewer items teach no per-item time (see the module docstring).
LEARN_MIN_ITEMS = 10
#: A task already done at its first poll lowers the estimate by this factor.
NUDGE = 0.995


class PollSchedule:
    """Per-entity task-duration estimates and the poll delays they imply (thread-safe)."""

    def __init__(
        self,
        *,
        min_seconds: float = 0.05,
        max_seconds: float = 30.0,
        probe_seconds: float = 0.25,
        growth: float = 1.25,
        tail: float = 0.01,
        early: float = 1.0,
    ) -> None:
        self.min_seconds = min_seconds
        self.max_seconds = max_seconds
        self.probe_seconds = probe_seconds
        self.growth = growth
        self.tail = tail
        self.early = early
        self._per_item: dict[str, float] = {}
        self._lock = threading.Lock()

    def _clamp(self, delay: float) -> float:
        return min(max(delay, self.min_seconds), self.max_seconds)

    def expected(self, entity: str, items: int) -> float | None:
        """The learnt duration of a task of ``items`` items, or None before any was learnt."""
        with self._lock:
            per_item = self._per_item.get(entity)
        return None if per_item is None else per_item * max(items, 1)

    def first_delay(self, entity: str, items: int) -> float:
        """Seconds from submit to the first poll."""
        expected = self.expected(entity, items)
        if expected is None:
            return self._clamp(self.probe_seconds)
        return self._clamp(expected * self.early)

    def next_delay(self, entity: str, items: int, elapsed: float) -> float:
        """Seconds to the next poll of a task still running after ``elapsed`` seconds."""
        expected = self.expected(entity, items)
        if expected is None:
            return self._clamp(elapsed * (self.growth - 1))
        if elapsed < expected:
            return self._clamp(expected - elapsed)
        return self._clamp(self.tail * elapsed)

    def learn(self, entity: str, items: int, lower: float, upper: float) -> None:
        """A task was seen running at ``lower`` s (0: never) and done at ``upper`` s."""
        if items < LEARN_MIN_ITEMS:
            return
        with self._lock:
            previous = self._per_item.get(entity)
            if lower > 0:
                # Toward the upper end: it was done by then, and the first poll of the next
                # task should find it done rather than add a round trip of its own.
                observed = (lower + 0.75 * (upper - lower)) / items
                self._per_item[entity] = (
                    observed if previous is None else 0.5 * previous + 0.5 * observed
                )
            elif previous is None:
                return  # "done by then" alone: the next task is probed again
            else:
                self._per_item[entity] = min(previous, upper / items * NUDGE)
