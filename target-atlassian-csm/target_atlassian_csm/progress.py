"""Progress lines on long loads: what was read, what CSM confirmed, and how fast.

Nothing else is logged between a load's first record and its summary, so every
``progress_interval_seconds`` one line says: records received, confirmed, unchanged, failed;
tickets waiting, buffered and in flight; the confirmation rate over the last interval, and the
rate CSM's limits allow once a task duration has been learnt (tasks in flight x batch size /
the time one full task takes).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping

Counts = Mapping[str, Mapping[str, int]]


def confirmed_total(entities: Counts) -> int:
    """Records CSM confirmed (created or updated) or already held (unchanged)."""
    return sum(
        c.get("created", 0) + c.get("updated", 0) + c.get("unchanged", 0) for c in entities.values()
    )


def progress_line(
    entities: Counts,
    flow: Mapping[str, int],
    *,
    rate: float | None,
    allowed: float | None,
) -> str:
    """One progress line (pure: the counts decide)."""
    received = sum(c.get("received", 0) for c in entities.values())
    failed = sum(c.get("failed", 0) + c.get("rejected", 0) for c in entities.values())
    parts = [
        f"received {received}",
        f"confirmed {confirmed_total(entities)}",
        f"failed {failed}",
        f"waiting {flow.get('waiting', 0) + flow.get('parked', 0)}",
        f"buffered {flow.get('buffered', 0)}",
        f"in flight {flow.get('in_flight', 0)} ({flow.get('tasks_in_flight', 0)} tasks)",
    ]
    if rate is not None:
        parts.append(f"{rate:.1f} records/s")
    if allowed is not None:
        parts.append(f"CSM's limits allow about {allowed:.1f}/s")
    return "Progress: " + ", ".join(parts)


class ProgressReporter:
    """Logs :func:`progress_line` every ``interval`` seconds (0: never) until stopped.

    It also takes a timeline sample (for the run report) every ``sample_every`` seconds.
    """

    def __init__(
        self,
        interval: float,
        snapshot: Callable[[], tuple[Counts, Mapping[str, int], float | None]],
        sample: Callable[[float | None], None],
        logger: logging.Logger,
        sample_every: float = 1.0,
    ) -> None:
        self.interval = interval
        self.snapshot = snapshot
        self.sample = sample
        self.sample_every = min(sample_every, interval) if interval > 0 else sample_every
        self.logger = logger
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="csm-progress", daemon=True)

    def start(self) -> None:
        """Begin reporting."""
        self._thread.start()

    def stop(self) -> None:
        """Stop reporting."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def _loop(self) -> None:
        last_count, last_time = 0, time.monotonic()
        while not self._stop.wait(self.sample_every):
            entities, flow, allowed = self.snapshot()
            self.sample(allowed)
            now = time.monotonic()
            if self.interval <= 0 or now - last_time < self.interval:
                continue
            count = confirmed_total(entities)
            rate = (count - last_count) / (now - last_time)
            last_count, last_time = count, now
            self.logger.info(progress_line(entities, flow, rate=rate, allowed=allowed))
