"""The run summary: what happened to every record, task and request, for the log and a file.

Counts are per entity. The outcomes partition the records ``received``: each record read
in this run is counted once, in the outcome it ended with. ``created`` means new to this
target's ledger (CSM's UPSERT does not say whether it created or matched a customer),
``updated`` means the ledger knew the record and its payload changed, ``unchanged`` means it
was not sent because nothing changed, ``skipped`` means the mapping said not to load it
(archived, deleted), ``rejected`` means it can never load as it is (no email, an invalid
email, no name), ``failed`` means dead-lettered for any other reason, ``deleted`` means
deleted in CSM (``delete_policy: delete``). Outside the partition: ``merged`` counts the
records folded into another with the same email or name (each also counted in the outcome of
the record it was folded into), and the task counters count associations made and deferred.
A run stopped by a signal leaves ``received`` minus the outcomes open: the next run settles
them without counting them again (they are not among its records received). See
:mod:`.outcomes`.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from target_atlassian_csm.files import private_path

ENTITY_COUNTS = (
    "received",
    "created",
    "updated",
    "unchanged",
    "merged",
    "skipped",
    "rejected",
    "failed",
    "deleted",
)


class RunSummary:
    """Thread-safe counters for one run."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.started = time.time()
        self._monotonic = time.monotonic()
        self.entities: dict[str, Counter[str]] = {
            "customer": Counter(),
            "organization": Counter(),
        }
        self.tasks: Counter[str] = Counter()
        self.requests: Counter[str] = Counter()
        self.ignored_streams: Counter[str] = Counter()
        self.fields: Counter[str] = Counter()  # detail fields created, per entity
        self.plan: dict[str, Any] | None = None  # field decisions (create_missing_fields)
        self.warnings = 0
        self.state_messages = 0
        self.elapsed: float | None = None
        self.dry_run = False
        self.run_id = ""
        self.peak_tickets = 0  # records held in memory at most (the reader's bound)
        self.settings: dict[str, Any] = {}  # the settings that shape the load (no secrets)
        #: (seconds since start, records confirmed or unchanged so far, rate CSM allows or None)
        self.timeline: list[tuple[float, int, float | None]] = []
        #: Seconds each task took, per entity (the report's task durations).
        self.task_seconds: dict[str, list[float]] = {}
        #: Dead letters of this run by (entity, category, reason): count and a few examples.
        self.dead_letters: dict[tuple[str, str, str], dict[str, Any]] = {}

    def count(self, entity: str, what: str, n: int = 1) -> None:
        """Add to an entity counter."""
        with self._lock:
            self.entities[entity][what] += n

    def task(self, what: str, n: int = 1) -> None:
        """Add to a task counter."""
        with self._lock:
            self.tasks[what] += n

    def request(self, what: str, n: int = 1) -> None:
        """Add to a request counter."""
        with self._lock:
            self.requests[what] += n

    def fields_created(self, entity: str, n: int) -> None:
        """Detail fields created by provisioning."""
        with self._lock:
            self.fields[entity] += n

    def task_took(self, entity: str, seconds: float) -> None:
        """A task of ``entity`` ended after ``seconds`` (at most 10,000 kept per entity)."""
        with self._lock:
            kept = self.task_seconds.setdefault(entity, [])
            if len(kept) < 10_000:
                kept.append(round(seconds, 3))

    def dead_letter(self, entity: str, category: str, reason: str, example: str) -> None:
        """One record dead-lettered (or warned about) in this run, grouped by its reason."""
        with self._lock:
            group = self.dead_letters.setdefault(
                (entity, category, reason), {"count": 0, "examples": []}
            )
            group["count"] += 1
            if len(group["examples"]) < 3:
                group["examples"].append(example)

    def sample(self, allowed_rate: float | None = None) -> None:
        """One point of the timeline: records confirmed (or unchanged) so far."""
        with self._lock:
            done = sum(c["created"] + c["updated"] + c["unchanged"] for c in self.entities.values())
            at = round(time.monotonic() - self._monotonic, 2)
            rate = round(allowed_rate, 2) if allowed_rate else None
            self.timeline.append((at, done, rate))

    def ignored(self, stream: str) -> None:
        """A record of a stream that is not mapped to CSM."""
        with self._lock:
            self.ignored_streams[stream] += 1

    def finish(self) -> None:
        """Stop the clock."""
        self.elapsed = time.monotonic() - self._monotonic

    def over_failure_bound(self, bound: float, min_records: int, where: str) -> list[str]:
        """Per entity, why its failures make the run fail (empty: they do not).

        Failed records count against records attempted (received, less skipped and rejected:
        merged records are counted in the outcome of their group), once at least
        ``min_records`` were attempted: a few failures of a small incremental run are
        reported, not fatal. Rejected records (no email...) are a
        property of the source: they fail the run only when nothing else of the entity
        could be loaded, which is a mapping that reads the wrong field.
        """
        out = []
        with self._lock:
            counts = {e: dict(c) for e, c in self.entities.items()}
        for entity, c in counts.items():
            rejected, failed = c.get("rejected", 0), c.get("failed", 0)
            attempted = c.get("received", 0) - c.get("skipped", 0) - rejected
            if attempted >= min_records and failed / attempted > bound:
                out.append(
                    f"{failed} of {attempted} {entity} records failed ({failed / attempted:.1%}"
                    f", bound max_failure_rate {bound:.1%}): see {where}."
                )
            elif rejected >= min_records and attempted <= 0:
                out.append(
                    f"All {rejected} {entity} records were rejected (no email or name): check "
                    f"the mapping of their email / name; see {where}."
                )
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form."""
        with self._lock:
            return {
                "run_id": self.run_id,
                "dry_run": self.dry_run,
                "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.started)),
                "elapsed_seconds": round(self.elapsed or time.monotonic() - self._monotonic, 3),
                "entities": {
                    e: {k: c.get(k, 0) for k in ENTITY_COUNTS} for e, c in self.entities.items()
                },
                "warnings": self.warnings,
                "tasks": dict(self.tasks),
                "requests": dict(self.requests),
                "ignored_streams": dict(self.ignored_streams),
                "fields_created": dict(self.fields),
                "state_messages_emitted": self.state_messages,
                "peak_records_in_memory": self.peak_tickets,
                "settings": dict(self.settings),
                "timeline": [list(point) for point in self.timeline],
                "task_seconds": {e: list(v) for e, v in self.task_seconds.items()},
                "dead_letters": [
                    {"entity": e, "category": c, "reason": r, **group}
                    for (e, c, r), group in sorted(
                        self.dead_letters.items(), key=lambda item: -item[1]["count"]
                    )
                ],
                **({"provisioning": self.plan} if self.plan is not None else {}),
            }

    def render(self) -> list[str]:
        """Human-readable lines for the log."""
        data = self.to_dict()
        lines = [
            f"CSM load summary{' (dry run: nothing written)' if self.dry_run else ''}: "
            f"{data['elapsed_seconds']:.1f}s"
        ]
        for entity, counts in data["entities"].items():
            if counts["received"]:
                parts = ", ".join(f"{k} {v}" for k, v in counts.items())
                lines.append(f"  {entity}s: {parts}")
        if data["tasks"]:
            tasks = ", ".join(f"{k} {v}" for k, v in sorted(data["tasks"].items()))
            lines.append(f"  tasks: {tasks}")
        if data["requests"]:
            lines.append(
                "  requests: " + ", ".join(f"{k} {v}" for k, v in sorted(data["requests"].items()))
            )
        if data["ignored_streams"]:
            lines.append(
                "  ignored streams (not mapped): "
                + ", ".join(f"{k} ({v})" for k, v in sorted(data["ignored_streams"].items()))
            )
        if data["fields_created"]:
            created = ", ".join(f"{k} {v}" for k, v in sorted(data["fields_created"].items()))
            lines.append(f"  detail fields created: {created}")
        if data["warnings"]:
            lines.append(f"  warnings: {data['warnings']} (see the dead-letter file)")
        lines.append(f"  STATE messages emitted: {data['state_messages_emitted']}")
        return lines

    def write(self, path: str | Path) -> None:
        """Write the JSON summary file (owner-only)."""
        target = private_path(path)
        text = json.dumps(self.to_dict(), indent=2, default=str)
        target.write_text(text + "\n", encoding="utf-8")
