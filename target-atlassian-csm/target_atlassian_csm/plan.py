"""The run's plan: field decisions and validation failures, rendered for a dry run.

A dry run must show, before anything is written, what a real run would do: which detail
fields it would create (and from which source definition), which ones do not fit CSM's
limits, how many records it would create / update / leave unchanged, and what would fail
validation, grouped by reason with the first examples. Real runs keep the same record so the
log can say which fields were created and why some were left out.
"""

from __future__ import annotations

import re
import threading
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any

CREATE, REUSE, SKIP, OVERFLOW = "create", "reuse", "skip", "overflow"
EXAMPLES_PER_REASON = 3
_QUOTED_LEAD = re.compile(r"^('.*?'|\".*?\"|\S+) (is not|are not) ")
_OPTIONS_TAIL = re.compile(r"\s*\((options|want)\b.*$")
_TRAILING_VALUE = re.compile(r" ('.*'|\".*\")$")


def reason_key(problem: str) -> str:
    """Group validation messages: drop the offending value, keep the field and the rule."""
    text = _OPTIONS_TAIL.sub("", problem.strip())
    if _QUOTED_LEAD.match(text):  # "'x' is not an option of SELECT field 'Tier'"
        return _QUOTED_LEAD.sub(r"value \2 ", text)
    return _TRAILING_VALUE.sub("", text)  # "invalid email 'x'"


@dataclass(frozen=True)
class FieldDecision:
    """What provisioning decided for one source field."""

    entity: str
    name: str
    csm_type: str
    options: int
    source: str
    action: str  # create | reuse | skip | overflow
    note: str = ""


class RunPlan:
    """Field decisions and validation failures of one run (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.decisions: list[FieldDecision] = []
        self.notes: list[str] = []
        self.failures: dict[str, Counter[str]] = defaultdict(Counter)
        self.examples: dict[tuple[str, str], list[str]] = defaultdict(list)

    def decide(self, decision: FieldDecision) -> None:
        """Record one field decision."""
        with self._lock:
            self.decisions.append(decision)

    def note(self, text: str) -> None:
        """Record a remark about provisioning (late metadata, fallbacks)."""
        with self._lock:
            self.notes.append(text)

    def failure(self, entity: str, message: str, who: str | None) -> None:
        """A record that fails validation, with its message split into reasons."""
        with self._lock:
            for problem in [p for p in message.split("; ") if p] or [message]:
                key = reason_key(problem)
                self.failures[entity][key] += 1
                examples = self.examples[(entity, key)]
                if len(examples) < EXAMPLES_PER_REASON:
                    examples.append(f"{who or '(no id)'}: {problem}")

    def of(self, action: str) -> list[FieldDecision]:
        """The decisions with this action."""
        with self._lock:
            return [d for d in self.decisions if d.action == action]

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form (kept in the summary)."""
        with self._lock:
            return {
                "fields": [d.__dict__ for d in self.decisions],
                "notes": list(self.notes),
                "validation_failures": {e: dict(c) for e, c in self.failures.items() if c},
            }

    def render(self, entities: dict[str, dict[str, int]], *, dry_run: bool) -> list[str]:
        """Human-readable plan (``entities``: the summary's per-entity counts)."""
        would = "would " if dry_run else ""
        lines = ["CSM dry-run plan (nothing was written):" if dry_run else "CSM load plan:"]
        create = self.of(CREATE)
        lines.append(f"  detail fields {would}create: {len(create) or 'none'}")
        lines += [
            f"    {d.entity}: {d.name!r} {d.csm_type}"
            + (f" ({d.options} options)" if d.options else "")
            + f" <- {d.source}"
            for d in create
        ]
        reuse = self.of(REUSE)
        if reuse:
            lines.append(f"  existing detail fields reused: {len(reuse)}")
            lines += [
                f"    {d.entity}: {d.name!r} {d.csm_type} <- {d.source}"
                + (f" [{d.note}]" if d.note else "")
                for d in reuse
            ]
        overflow = self.of(OVERFLOW)
        if overflow:
            lines.append(f"  do not fit CSM's limits: {len(overflow)}")
            lines += [
                f"    {d.entity}: {d.name!r} {d.csm_type} <- {d.source}: {d.note}" for d in overflow
            ]
        skipped = self.of(SKIP)
        if skipped:
            lines.append(f"  source fields left out: {len(skipped)}")
            lines += [f"    {d.entity}: {d.source}: {d.note}" for d in skipped]
        lines += [f"  note: {n}" for n in self.notes]
        lines.append("  records:")
        for entity, counts in entities.items():
            if not counts.get("received"):
                continue
            lines.append(
                f"    {entity}s: {would}create {counts.get('created', 0)}, "
                f"{would}update {counts.get('updated', 0)}, "
                f"unchanged {counts.get('unchanged', 0)}, merged {counts.get('merged', 0)}, "
                f"skipped {counts.get('skipped', 0)}, rejected {counts.get('rejected', 0)}, "
                f"{would}fail {counts.get('failed', 0)}"
            )
        if dry_run:
            lines.append("  STATE: none passed on (a dry run moves no bookmark)")
        with self._lock:
            failing = {e: c for e, c in self.failures.items() if c}
            if failing:
                lines.append(f"  {would}fail validation:")
            for entity, counts in failing.items():
                for key, count in counts.most_common():
                    lines.append(f"    {entity}: {count} x {key}")
                    lines += [f"      e.g. {x}" for x in self.examples[(entity, key)]]
        return lines
