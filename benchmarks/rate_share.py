"""The share of a rate budget a run used, read from a sandbox's request journal.

A client that sits at the limit sends ``limit`` requests per window; how long N requests
must take depends on the kind of window:

* rolling (HubSpot's ``TEN_SECONDLY_ROLLING``; the tap's own budget is a sliding window): at
  most ``limit`` requests in any ``window`` seconds, so N requests span at least
  ``(ceil(N / limit) - 1) * window`` seconds (a burst of ``limit`` at 0, window, 2 window...).
  share = that span / the run's span (first to last request);
* fixed (Kustomer's per-minute budget, reset at ``x-ratelimit-reset``): windows aligned to the
  epoch, so N requests need at least ``ceil(N / limit)`` windows. share = that / the windows
  the run touched.

A share of 1.0 means the run could not have sent its requests faster under that limit; idle
gaps (the client waiting longer than the limit asks, or busy elsewhere) lower it. Requests
answered 429 do not count as useful, and are reported apart. A run of at most ``limit``
requests fits in one window and has no share (None).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass
class Share:
    requests: int
    refused: int
    span_seconds: float
    windows: int
    share: float | None
    per_window: list[int]

    def line(self, limit: int, window: float, what: str) -> str:
        share = f"{self.share:.3f}" if self.share is not None else "n/a (fits in one window)"
        return (
            f"{what}: {self.requests} requests ({self.refused} answered 429) over "
            f"{self.span_seconds:.1f} s at {limit} per {window:g} s; share used {share}; "
            f"per fixed window {self.per_window}"
        )


def budget_share(
    times_and_statuses: Iterable[tuple[float, int | None]],
    limit: int,
    window: float,
    *,
    rolling: bool,
) -> Share:
    """``(arrival time, status)`` of every request that counts against the budget."""
    rows = sorted(times_and_statuses)
    if not rows:
        return Share(0, 0, 0.0, 0, None, [])
    counts: Counter[int] = Counter()
    accepted_times = []
    refused = 0
    for at, status in rows:
        if status == 429:
            refused += 1
            continue
        accepted_times.append(at)
        counts[math.floor(at / window)] += 1
    first, last = math.floor(rows[0][0] / window), math.floor(rows[-1][0] / window)
    per_window = [counts[i] for i in range(first, last + 1)]
    accepted = len(accepted_times)
    span = rows[-1][0] - rows[0][0]
    share: float | None = None
    if accepted > limit:
        if rolling:
            share = (math.ceil(accepted / limit) - 1) * window / span if span > 0 else None
        else:
            share = math.ceil(accepted / limit) / len(per_window)
    return Share(
        requests=accepted + refused,
        refused=refused,
        span_seconds=span,
        windows=len(per_window),
        share=share,
        per_window=per_window,
    )
