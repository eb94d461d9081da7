"""Fixed-window rate limiters, the shape every API in the reference uses.

HubSpot budgets per 10 s (and search per second), Kustomer per minute, Atlassian per
burst window. Each sandbox owns one or more :class:`WindowLimiter` and turns a refused
:class:`RateDecision` into its own 429 body and headers.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass

from sandbox.core.clock import Clock, SystemClock


@dataclass(frozen=True)
class RateDecision:
    """The outcome of asking for one request's worth of budget."""

    allowed: bool
    limit: int
    remaining: int
    window_seconds: float
    reset_at: float

    def retry_after(self, now: float) -> int:
        """Whole seconds until the window resets (at least 1), for ``Retry-After``."""
        return max(1, math.ceil(self.reset_at - now))


class WindowLimiter:
    """Allow ``limit`` requests per ``window_seconds``, windows aligned to the epoch.

    A ``limit`` of 0 or less disables the limiter (every request allowed).
    """

    def __init__(self, limit: int, window_seconds: float, clock: Clock | None = None) -> None:
        self.limit = limit
        self.window_seconds = window_seconds
        self.clock = clock or SystemClock()
        self._lock = threading.Lock()
        self._window_start = 0.0
        self._used = 0
        self.refused = 0

    def take(self) -> RateDecision:
        """Consume one request from the current window if there is room."""
        now = self.clock.now()
        with self._lock:
            start = math.floor(now / self.window_seconds) * self.window_seconds
            if start != self._window_start:
                self._window_start, self._used = start, 0
            reset_at = start + self.window_seconds
            if self.limit <= 0:
                return RateDecision(True, 0, 0, self.window_seconds, reset_at)
            if self._used >= self.limit:
                self.refused += 1
                return RateDecision(False, self.limit, 0, self.window_seconds, reset_at)
            self._used += 1
            return RateDecision(
                True, self.limit, self.limit - self._used, self.window_seconds, reset_at
            )
