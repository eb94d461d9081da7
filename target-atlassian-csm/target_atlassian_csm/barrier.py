"""The STATE barrier: pass the tap's STATE on only once everything before it is settled.

Every record gets a sequence number as it arrives; a STATE message is remembered with the
number of the last record before it. A record is *settled* when CSM confirmed it, it was
dead-lettered, skipped as unchanged, or merged into a settled duplicate. A STATE may be
emitted once no record at or before its number is unsettled, so a crash at any moment
resumes from a point where nothing earlier is missing. Emission is throttled (every N
settled records or T seconds, and always at the end), because Meltano stores every line.

A barrier can be *silent* (a dry run: it passes no STATE on at all, so no bookmark moves for
work that was only planned) or *held* until :meth:`StateBarrier.release_hold` (the target
holds STATE until a stream maps to CSM: a run that loads nothing must not move a bookmark).
"""

from __future__ import annotations

import copy
import heapq
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any


class StateBarrier:
    """Tracks unsettled records and releases STATE messages (see module docstring)."""

    def __init__(
        self,
        emit: Callable[[dict[str, Any]], None],
        *,
        every_records: int = 1000,
        every_seconds: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
        silent: bool = False,
        held: bool = False,
    ) -> None:
        self._emit = emit
        self.silent = silent
        self._held = held
        self.every_records = every_records
        self.every_seconds = every_seconds
        self._clock = clock
        self._lock = threading.RLock()
        self._seq = 0
        self._pending: set[int] = set()
        self._heap: list[int] = []
        self._states: deque[tuple[int, dict[str, Any]]] = deque()
        self._ready: dict[str, Any] | None = None
        self._last_emitted: dict[str, Any] | None = None
        self._settled_since_emit = 0
        self._last_emit_at = clock()
        self.emitted = 0

    def next_seq(self) -> int:
        """Register a new record; return its sequence number."""
        with self._lock:
            self._seq += 1
            self._pending.add(self._seq)
            heapq.heappush(self._heap, self._seq)
            return self._seq

    def settle(self, seqs: Iterable[int]) -> None:
        """Mark records settled."""
        with self._lock:
            for seq in seqs:
                if seq in self._pending:
                    self._pending.discard(seq)
                    self._settled_since_emit += 1
            self._advance()

    def offer(self, state: dict[str, Any]) -> None:
        """A STATE message arrived after the records registered so far."""
        with self._lock:
            self._states.append((self._seq, copy.deepcopy(state)))
            self._advance()

    @property
    def unsettled(self) -> int:
        """How many records are not settled yet."""
        with self._lock:
            return len(self._pending)

    def _low_water(self) -> int | None:
        while self._heap and self._heap[0] not in self._pending:
            heapq.heappop(self._heap)
        return self._heap[0] if self._heap else None

    def _advance(self) -> None:
        low = self._low_water()
        while self._states and (low is None or self._states[0][0] < low):
            self._ready = self._states.popleft()[1]

    def release_hold(self) -> None:
        """STATE may go out from now on (unless the barrier is silent)."""
        with self._lock:
            self._held = False

    def maybe_emit(self, *, force: bool = False) -> bool:
        """Emit the newest releasable STATE if it is due (or ``force``); return True if so."""
        with self._lock:
            if self.silent or self._held:
                return False
            self._advance()
            state = self._ready
            if state is None or state == self._last_emitted:
                return False
            due = (
                force
                or self._settled_since_emit >= self.every_records
                or self._clock() - self._last_emit_at >= self.every_seconds
            )
            if not due:
                return False
            self._emit(state)
            self._last_emitted = state
            self._settled_since_emit = 0
            self._last_emit_at = self._clock()
            self.emitted += 1
            return True
