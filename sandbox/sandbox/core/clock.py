"""Clocks: the sandboxes read time through one, so tests can move it by hand.

Task life cycles and rate-limit windows depend on elapsed time; a :class:`ManualClock`
lets a test step through them without sleeping.
"""

from __future__ import annotations

import threading
import time
from typing import Protocol


class Clock(Protocol):
    """Anything that tells the current time in epoch seconds."""

    def now(self) -> float:
        """Return the current time (epoch seconds)."""
        ...


class SystemClock:
    """The wall clock."""

    def now(self) -> float:
        """Return ``time.time()``."""
        return time.time()


class ManualClock:
    """A clock that only moves when told to."""

    def __init__(self, start: float = 1_767_225_600.0) -> None:  # 2026-01-01T00:00:00Z
        self._now = start
        self._lock = threading.Lock()

    def now(self) -> float:
        """Return the frozen time."""
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> float:
        """Move the clock forward and return the new time."""
        with self._lock:
            self._now += seconds
            return self._now
