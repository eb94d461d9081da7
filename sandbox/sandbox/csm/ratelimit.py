"""The site's burst rate limit and Atlassian's rate-limit headers (reference §6).

One fixed window over every API request of the site (the core's :class:`WindowLimiter` on the
app's clock), rebuilt when the knobs change. Every API response carries ``X-RateLimit-Limit``,
``X-RateLimit-Remaining`` and ``X-RateLimit-Reset``, plus ``X-RateLimit-NearLimit: true`` when
under 20 % of the budget is left; a 429 adds ``Retry-After`` and ``RateLimit-Reason``.

``X-RateLimit-Reset`` has minute precision (``yyyy-MM-ddTHH:mmZ``), so it is rounded *up* to
the next minute: a client that waits for it never comes back before the window reset. With
the limiter disabled (``rate_limit_requests`` ≤ 0) there is no budget to report and the
``X-RateLimit-*`` headers are left out.
"""

from __future__ import annotations

import datetime as dt
import math

from sandbox.core.clock import Clock
from sandbox.core.ratelimit import RateDecision, WindowLimiter

REASON = "jira-burst-based"
NEAR_LIMIT_SHARE = 0.2


def reset_header(at: float) -> str:
    """``yyyy-MM-ddTHH:mmZ``, rounded up to the minute."""
    minute = math.ceil(at / 60) * 60
    return dt.datetime.fromtimestamp(minute, dt.UTC).strftime("%Y-%m-%dT%H:%MZ")


class SiteLimiter:
    """The site's window limiter, following the ``rate_limit_*`` knobs."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self._limiter: WindowLimiter | None = None
        self.refused = 0

    def take(self, limit: int, window: float) -> RateDecision | None:
        """Spend one request; None when the limiter is disabled."""
        if limit <= 0 or window <= 0:
            return None
        current = self._limiter
        if current is None or (current.limit, current.window_seconds) != (limit, window):
            current = self._limiter = WindowLimiter(limit, window, self.clock)
        decision = current.take()
        if not decision.allowed:
            self.refused += 1
        return decision


def budget_headers(decision: RateDecision | None, *, refused: bool = False) -> dict[str, str]:
    """The ``X-RateLimit-*`` headers for a response."""
    if decision is None:
        return {}
    remaining = 0 if refused else decision.remaining
    headers = {
        "X-RateLimit-Limit": str(decision.limit),
        "X-RateLimit-Remaining": str(remaining),
        "X-RateLimit-Reset": reset_header(decision.reset_at),
    }
    if remaining < decision.limit * NEAR_LIMIT_SHARE:
        headers["X-RateLimit-NearLimit"] = "true"
    return headers


def retry_headers(seconds: int) -> dict[str, str]:
    """The extra headers of a 429."""
    return {"Retry-After": str(max(1, seconds)), "RateLimit-Reason": REASON}
