"""Adversity: the faults a sandbox can inject on purpose.

Two ways to ask for trouble, both set through the knobs:

* rates (``rate_429``, ``rate_5xx``, ``rate_drop_before``, ``rate_drop_after``), drawn from a
  seeded generator so a run is repeatable;
* a script (``fail_next``): a list of faults served to the next requests in order, for tests
  that need one exact sequence (``[429, 500, "drop_after"]``).

``drop_before`` closes the connection before the request is handled (nothing happened);
``drop_after`` handles it, changing state, then closes without answering, which is the case
that tests a client's idempotency. Latency applies to every API request.
"""

from __future__ import annotations

import random
import re
import threading
from dataclasses import dataclass
from typing import Any

FAULT_KINDS = ("429", "5xx", "drop_before", "drop_after")

DEFAULT_KNOBS: dict[str, Any] = {
    "latency_ms": 0.0,
    "latency_jitter_ms": 0.0,
    "rate_429": 0.0,
    "rate_5xx": 0.0,
    "rate_drop_before": 0.0,
    "rate_drop_after": 0.0,
    "fault_paths": "",
    "fail_next": [],
    "random_seed": 1,
    "journal_bodies": True,
}


@dataclass(frozen=True)
class Fault:
    """One injected fault: ``kind`` is one of FAULT_KINDS; ``status`` for 5xx."""

    kind: str
    status: int | None = None

    @classmethod
    def parse(cls, spec: Any) -> Fault:
        """Read a ``fail_next`` item: an HTTP status (429, 500, 503...) or a drop name."""
        if isinstance(spec, int) or (isinstance(spec, str) and spec.isdigit()):
            status = int(spec)
            if status == 429:
                return cls("429", 429)
            if 500 <= status <= 599:
                return cls("5xx", status)
            msg = f"fail_next status must be 429 or 5xx, got {status}"
            raise ValueError(msg)
        if spec in ("drop_before", "drop_after"):
            return cls(spec)
        msg = f"unknown fault {spec!r}; use 429, 5xx statuses, 'drop_before' or 'drop_after'"
        raise ValueError(msg)


class Adversity:
    """Decides, per request, whether to inject a fault, from the current knobs."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rng = random.Random(DEFAULT_KNOBS["random_seed"])
        self._seed = DEFAULT_KNOBS["random_seed"]
        self.injected: dict[str, int] = dict.fromkeys(FAULT_KINDS, 0)

    def latency_seconds(self, knobs: dict[str, Any]) -> float:
        """The delay to add to this request."""
        base = float(knobs.get("latency_ms", 0.0))
        jitter = float(knobs.get("latency_jitter_ms", 0.0))
        if base <= 0 and jitter <= 0:
            return 0.0
        with self._lock:
            extra = self._rng.uniform(0, jitter) if jitter > 0 else 0.0
        return max(0.0, base + extra) / 1000.0

    def decide(self, knobs: dict[str, Any], path: str) -> Fault | None:
        """Pick the fault for a request to ``path``, or None."""
        pattern = knobs.get("fault_paths") or ""
        if pattern and not re.search(pattern, path):
            return None
        with self._lock:
            if knobs.get("random_seed") != self._seed:
                self._seed = knobs.get("random_seed")
                self._rng = random.Random(self._seed)
            script = knobs.get("fail_next") or []
            if script:
                fault = Fault.parse(script.pop(0))
                self.injected[fault.kind] += 1
                return fault
            roll = self._rng.random()
            threshold = 0.0
            for kind, knob in (
                ("429", "rate_429"),
                ("5xx", "rate_5xx"),
                ("drop_before", "rate_drop_before"),
                ("drop_after", "rate_drop_after"),
            ):
                threshold += float(knobs.get(knob, 0.0))
                if roll < threshold:
                    self.injected[kind] += 1
                    status = self._rng.choice((500, 502, 503)) if kind == "5xx" else None
                    return Fault(kind, 429 if kind == "429" else status)
        return None
