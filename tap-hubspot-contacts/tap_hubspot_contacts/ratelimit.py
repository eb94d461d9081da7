"""Request budgets: the tap throttles itself instead of waiting for 429s.

HubSpot counts two budgets separately (hubspot-api.md §4.2): search at 5 requests per
second per account, and everything else per 10 s per app (100 on Free/Starter, 190 on
Professional/Enterprise). The tap takes a configurable share of each, so other integrations
on the same portal keep some room, and records how close it came: the busiest window, the
lowest remaining counts HubSpot reported, and every 429 by policy.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


class SlidingWindowBudget:
    """At most ``limit`` acquisitions in any ``window`` seconds (blocking when full)."""

    def __init__(
        self,
        name: str,
        limit: int,
        window: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.name = name
        self.limit = max(1, int(limit))
        self.window = float(window)
        self._clock = clock
        self._sleep = sleep
        self._stamps: deque[float] = deque()
        self._lock = threading.Lock()
        self.peak = 0
        self.waited_seconds = 0.0
        self.count = 0

    def lower_to(self, limit: int) -> None:
        """Shrink the budget (e.g. when the API reports a smaller limit than configured)."""
        self.limit = max(1, min(self.limit, int(limit)))

    def acquire(self) -> None:
        """Take one slot, sleeping until the oldest request leaves the window if full."""
        with self._lock:
            while True:
                now = self._clock()
                while self._stamps and self._stamps[0] <= now - self.window:
                    self._stamps.popleft()
                if len(self._stamps) < self.limit:
                    break
                wait = self._stamps[0] + self.window - now
                self.waited_seconds += wait
                self._sleep(wait)
            self._stamps.append(now)
            self.count += 1
            self.peak = max(self.peak, len(self._stamps))


@dataclass
class UsageReport:
    """What a run used of HubSpot's limits, for the closing log line."""

    requests: int = 0
    search_requests: int = 0
    by_status: dict[int, int] = field(default_factory=dict)
    rate_limited: dict[str, int] = field(default_factory=dict)
    retries: int = 0
    api_interval_max: int | None = None
    api_interval_lowest_remaining: int | None = None
    daily_limit: int | None = None
    daily_lowest_remaining: int | None = None

    def observe_headers(self, headers: Any) -> None:
        """Keep the lowest remaining counts the API reported."""
        if (value := _int(headers.get("X-HubSpot-RateLimit-Max"))) is not None:
            self.api_interval_max = value
        if (value := _int(headers.get("X-HubSpot-RateLimit-Remaining"))) is not None:
            self.api_interval_lowest_remaining = _min(self.api_interval_lowest_remaining, value)
        if (value := _int(headers.get("X-HubSpot-RateLimit-Daily"))) is not None:
            self.daily_limit = value
        if (value := _int(headers.get("X-HubSpot-RateLimit-Daily-Remaining"))) is not None:
            self.daily_lowest_remaining = _min(self.daily_lowest_remaining, value)

    def lines(self, burst: SlidingWindowBudget, search: SlidingWindowBudget) -> list[str]:
        """Human-readable summary lines."""
        out = [
            f"HubSpot requests: {self.requests} ({self.search_requests} search, "
            f"{self.retries} retried); statuses {dict(sorted(self.by_status.items()))}",
            f"burst budget: busiest {burst.window:g} s window used {burst.peak} of "
            f"{burst.limit} allowed ({_pct(burst.peak, burst.limit)}); "
            f"throttled {burst.waited_seconds:.1f} s",
            f"search budget: busiest {search.window:g} s window used {search.peak} of "
            f"{search.limit} allowed ({_pct(search.peak, search.limit)}); "
            f"throttled {search.waited_seconds:.1f} s",
        ]
        if self.api_interval_max is not None:
            out.append(
                f"API burst limit {self.api_interval_max}/window; lowest remaining seen "
                f"{self.api_interval_lowest_remaining}"
            )
        if self.daily_limit:
            low = self.daily_lowest_remaining
            used = self.daily_limit - (low if low is not None else self.daily_limit)
            out.append(
                f"daily budget: lowest remaining {low} of {self.daily_limit} "
                f"({_pct(used, self.daily_limit)} of the day's budget used)"
            )
        out.append(f"429 responses by policy: {self.rate_limited or 'none'}")
        return out


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _min(old: int | None, new: int) -> int:
    return new if old is None else min(old, new)


def _pct(part: float, whole: float) -> str:
    return f"{(100.0 * part / whole):.0f}%" if whole else "n/a"


def effective_limit(limit: float, share: float) -> int:
    """A share of a limit, never below one request."""
    return max(1, math.floor(limit * share))
