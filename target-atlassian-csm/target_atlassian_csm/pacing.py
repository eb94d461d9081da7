"""How fast the target sends to one CSM site: never more than the site's budget in any window.

CSM (Jira's burst limit) counts requests in fixed windows (the sandbox: 100 per 10 s). A token
bucket of ``rate`` per second with a burst of ``rate`` lets a fixed window see up to one
burst more than its budget: at 10 per second, 101 to 110 requests in 10 s, and the 101st is
refused with a 429 that pauses every lane (the end-to-end run saw two per run). So the pacer
keeps a *rolling* window instead: at most ``n`` sends in any ``n / rate`` seconds (``n`` =
``rate`` rounded, at least 1), which bounds every interval of that length, and so every fixed
window that is a whole multiple of it, at the budget. The window is stretched by
:data:`MARGIN` so that a request that reaches the server a little later than the one after
it does not push a window over. The long-run rate is the same as the bucket's, less the margin.

A 429 that says the budget is spent (``X-RateLimit-Remaining: 0``) pauses every caller for the
server's ``Retry-After`` (:meth:`Pacer.pause`).
"""

from __future__ import annotations

import threading
import time
from collections import deque

#: The rolling window is this much longer than ``n / rate``: 5 ms a second of arrival jitter.
MARGIN = 0.005


def window_of(rate: float) -> tuple[int, float]:
    """The rolling window for ``rate`` requests per second: (sends, seconds)."""
    sends = max(1, round(rate))
    return sends, sends / rate * (1 + MARGIN)


def send_delay(recent: deque[float], now: float, sends: int, seconds: float) -> float:
    """Seconds until one more request may go, given the send times of the last ``sends``."""
    if len(recent) < sends:
        return 0.0
    return max(0.0, recent[0] + seconds - now)


class Pacer:
    """At most ``rate`` requests per second over a rolling window (0: unpaced).

    Shared by the lanes, with a pause that a 429 can extend.
    """

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self._sends, self._seconds = window_of(rate) if rate > 0 else (0, 0.0)
        self._recent: deque[float] = deque(maxlen=max(1, self._sends))
        self._paused_until = 0.0
        self._lock = threading.Lock()

    def pause(self, seconds: float) -> None:
        """Hold every caller for ``seconds`` (the server asked for quiet)."""
        with self._lock:
            self._paused_until = max(self._paused_until, time.monotonic() + seconds)

    def wait(self) -> None:
        """Block until one request may be sent."""
        while True:
            with self._lock:
                now = time.monotonic()
                if now < self._paused_until:
                    delay = self._paused_until - now
                elif self.rate <= 0:
                    return
                else:
                    delay = send_delay(self._recent, now, self._sends, self._seconds)
                    if delay <= 0:
                        self._recent.append(now)
                        return
            time.sleep(delay)
