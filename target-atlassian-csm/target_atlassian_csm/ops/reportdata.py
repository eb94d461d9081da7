"""What the run report shows, computed from the ledger's runs and the dead-letter file.

Pure functions over plain data (the summaries as the target stored them, the dead-letter
entries as read), so the page (:mod:`.report_page` and its sections) only lays out what is
decided here, and both are easy to test. Nothing here reads a file except
:func:`read_dead_letters`. :class:`ReportData` is all a page is made from.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from target_atlassian_csm.plan import reason_key
from target_atlassian_csm.summary import ENTITY_COUNTS

ENTITIES = ("customer", "organization")
EXAMPLES_PER_REASON = 3
MAX_REASONS = 40
#: Setting names that must never be shown, whatever a future summary holds.
SECRET_WORDS = ("token", "secret", "password", "credential", "authorization")
#: A value quoted at the end of a reason, in parentheses: "seats must be integer (got 'many')".
_GOT = re.compile(r"\s*\(got .*\)$")


@dataclass(frozen=True)
class Run:
    """One finished run of the target, numbered in the order runs started (#1 is the first)."""

    number: int
    run_id: str
    started: float  # epoch seconds
    finished: float | None
    summary: dict[str, Any]

    @property
    def label(self) -> str:
        """``#3 (1a2b3c4d)``: the number and the first characters of the id."""
        return f"#{self.number} ({self.run_id[:8]})"

    @property
    def elapsed(self) -> float:
        """Seconds the run took."""
        value = self.summary.get("elapsed_seconds")
        if isinstance(value, int | float):
            return float(value)
        return max(0.0, (self.finished or self.started) - self.started)

    def entities(self) -> dict[str, dict[str, int]]:
        """Counts per entity and outcome (zeros filled in)."""
        return entity_counts([self.summary])

    def throttled(self) -> int:
        """429 answers CSM gave this run."""
        return int((self.summary.get("requests") or {}).get("throttled_429", 0))


def finished_runs(rows: Iterable[dict[str, Any]], *, exclude: Iterable[str] = ()) -> list[Run]:
    """The ledger's runs that stored a summary, oldest first, numbered from 1.

    Runs without a summary (still running, killed, or an operations command's own entry in
    the ledger) have nothing to show; ``exclude`` names ids to leave out whatever they hold.
    """
    skip = set(exclude)
    kept = [
        r
        for r in sorted(rows, key=lambda r: (r.get("started_at") or 0, r.get("run_id") or ""))
        if r.get("run_id") not in skip and isinstance(r.get("summary"), dict)
    ]
    return [
        Run(i, str(r["run_id"]), float(r["started_at"] or 0), r.get("finished_at"), r["summary"])
        for i, r in enumerate(kept, start=1)
    ]


def run_kind(run: Run, runs: Sequence[Run]) -> str | None:
    """What a run was when it was not a load: ``rollback of #2`` (rollback records its target)."""
    undone = (run.summary.get("settings") or {}).get("rollback_of")
    if not undone:
        return None
    found = next((r for r in runs if r.run_id == undone), None)
    return f"rollback of {found.label if found else str(undone)[:8]}"


class RunNotFound(LookupError):
    """``--run`` names no run, or more than one."""


#: Shorter all-digit ``--run`` values are run numbers; longer ones may start a run id.
NUMBER_DIGITS = 6
MIN_PREFIX = 4


def select_run(runs: Sequence[Run], spec: str | None) -> Run:
    """The run ``spec`` names: its number, its id, or the start of its id.

    None (or ``latest``) is the latest run. ``3`` or ``#3`` is the third run (up to five
    digits: a number, never the start of an id, so ``3`` cannot mean a run whose id begins
    with 3). Otherwise the exact id, or a start of it of at least four characters that only
    one run has.
    """
    if not runs:
        msg = "the ledger holds no finished run yet: run the load first"
        raise RunNotFound(msg)
    if spec is None or spec.strip().lower() in ("", "latest", "last"):
        return runs[-1]
    wanted = spec.strip().lower()
    number = wanted.removeprefix("#")
    matches: list[Run] = []
    if number.isdigit() and (len(number) < NUMBER_DIGITS or wanted.startswith("#")):
        if 1 <= int(number) <= len(runs):
            return runs[int(number) - 1]
    else:
        matches = [r for r in runs if r.run_id == wanted]
        if not matches and len(wanted) >= MIN_PREFIX:
            matches = [r for r in runs if r.run_id.startswith(wanted)]
        if len(matches) == 1:
            return matches[0]
    known = ", ".join(r.label for r in runs[-5:])
    why = "matches several runs" if matches else "is no run of this ledger"
    msg = f"--run {spec!r} {why} (runs 1-{len(runs)}; latest: {known})"
    raise RunNotFound(msg)


def entity_counts(summaries: Iterable[dict[str, Any]]) -> dict[str, dict[str, int]]:
    """Counts per entity and outcome, added over ``summaries``."""
    out = {e: dict.fromkeys(ENTITY_COUNTS, 0) for e in ENTITIES}
    for summary in summaries:
        for entity, counts in (summary.get("entities") or {}).items():
            row = out.setdefault(entity, dict.fromkeys(ENTITY_COUNTS, 0))
            for key, value in (counts or {}).items():
                if isinstance(value, int | float):
                    row[key] = row.get(key, 0) + int(value)
    return out


def outcome_columns(counts: dict[str, dict[str, int]]) -> list[str]:
    """The counters to show: the summary's, in its order, then any other a summary held."""
    extra = sorted({k for c in counts.values() for k in c} - set(ENTITY_COUNTS))
    return [*ENTITY_COUNTS, *extra]


def added(maps: Iterable[dict[str, Any] | None]) -> dict[str, int]:
    """Numeric values of several ``{name: count}`` maps added up (requests, tasks, fields)."""
    total: Counter[str] = Counter()
    for one in maps:
        for key, value in (one or {}).items():
            if isinstance(value, int | float) and not isinstance(value, bool):
                total[key] += int(value)
    return dict(total)


def loaded(counts: dict[str, int]) -> int:
    """Records CSM holds as sent: created, updated or already unchanged."""
    return counts.get("created", 0) + counts.get("updated", 0) + counts.get("unchanged", 0)


def visible_settings(settings: dict[str, Any]) -> dict[str, Any]:
    """The settings a report may show: nothing whose name says it is a secret."""
    return {
        k: v for k, v in settings.items() if not any(word in k.lower() for word in SECRET_WORDS)
    }


def settings_changes(runs: Sequence[Run]) -> dict[str, list[tuple[str, Any]]]:
    """Settings whose value differed between runs: name -> [(first run label, value)...]."""
    seen: dict[str, list[tuple[str, Any]]] = {}
    for run in runs:
        for name, value in visible_settings(run.summary.get("settings") or {}).items():
            values = seen.setdefault(name, [])
            if not values or values[-1][1] != value:
                values.append((run.label, value))
    return {name: values for name, values in seen.items() if len(values) > 1}


# ------------------------------------------------------------------------- timeline
def timeline(summary: dict[str, Any]) -> list[tuple[float, int, float | None]]:
    """The run's samples (seconds, records confirmed so far, allowed rate), cleaned up."""
    out: list[tuple[float, int, float | None]] = []
    for point in summary.get("timeline") or []:
        if not isinstance(point, list | tuple) or len(point) < 2:
            continue
        at, done = point[0], point[1]
        rate = point[2] if len(point) > 2 else None
        if not isinstance(at, int | float) or not isinstance(done, int | float):
            continue
        good_rate = isinstance(rate, int | float) and math.isfinite(rate) and rate > 0
        out.append((float(at), int(done), float(rate) if good_rate else None))
    out.sort(key=lambda p: p[0])
    return out


def confirmed_curve(points: Sequence[tuple[float, int, float | None]]) -> list[tuple[float, float]]:
    """Records confirmed over time, from (0, 0)."""
    return [(0.0, 0.0), *((at, float(done)) for at, done, _ in points)]


def allowed_curve(points: Sequence[tuple[float, int, float | None]]) -> list[tuple[float, float]]:
    """Records CSM's limits would have allowed by each moment: the allowed rate, integrated.

    Between two samples the rate of the later one holds; a sample without a rate (no
    estimate yet) adds nothing.
    """
    out = [(0.0, 0.0)]
    total, last = 0.0, 0.0
    for at, _, rate in points:
        if rate is not None and at > last:
            total += rate * (at - last)
        last = max(last, at)
        out.append((at, round(total, 2)))
    return out if any(y for _, y in out) else []


#: Shortest interval between samples a rate is computed over (seconds).
MIN_INTERVAL = 0.01


def rate_curve(points: Sequence[tuple[float, int, float | None]]) -> list[tuple[float, float]]:
    """Records confirmed per second between samples (a step per interval)."""
    out: list[tuple[float, float]] = []
    last_at, last_done = 0.0, 0
    for at, done, _ in points:
        if at - last_at < MIN_INTERVAL:  # samples are 1 s apart; closer ones say nothing
            continue
        rate = max(0.0, (done - last_done) / (at - last_at))
        out += [(last_at, rate), (at, rate)]
        last_at, last_done = at, done
    return out


def allowed_rate_curve(
    points: Sequence[tuple[float, int, float | None]],
) -> list[tuple[float, float]]:
    """The rate CSM's limits allow at each sample that has one."""
    return [(at, rate) for at, _, rate in points if rate is not None]


# ------------------------------------------------------------------------ task times
def task_seconds(summaries: Iterable[dict[str, Any]]) -> dict[str, list[float]]:
    """Task durations per kind (customer, organization, definitions...), over ``summaries``."""
    out: dict[str, list[float]] = {}
    for summary in summaries:
        for kind, values in (summary.get("task_seconds") or {}).items():
            good = [
                float(v)
                for v in values or []
                if isinstance(v, int | float) and math.isfinite(v) and v >= 0
            ]
            if good:
                out.setdefault(kind, []).extend(good)
    return out


def percentile(values: Sequence[float], share: float) -> float:
    """The value below which ``share`` of ``values`` fall (nearest rank); 0 when empty."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, math.ceil(share * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


# ---------------------------------------------------------------------- dead letters
@dataclass
class ReasonGroup:
    """Dead letters sharing a reason (the offending value taken out), with a few examples."""

    reason: str
    count: int = 0
    categories: Counter[str] = field(default_factory=Counter)
    entities: Counter[str] = field(default_factory=Counter)
    examples: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class DeadLetterView:
    """The dead letters a report shows: totals per category and the groups by reason."""

    total: int = 0
    categories: Counter[str] = field(default_factory=Counter)
    groups: list[ReasonGroup] = field(default_factory=list)
    other_reasons: int = 0  # reasons past MAX_REASONS
    other_entries: int = 0  # their entries
    unreadable: int = 0


def read_dead_letters(path: str | Path) -> Iterator[dict[str, Any]]:
    """The entries of the dead-letter file (none when it does not exist); bad lines as such."""
    target = Path(path)
    if not target.exists():
        return
    with target.open(encoding="utf-8", errors="replace") as lines:
        for raw in lines:
            if not raw.strip():
                continue
            try:
                entry = json.loads(raw)
            except ValueError:
                entry = None
            if isinstance(entry, dict):
                yield entry
            else:
                yield {"severity": "error", "category": "unreadable", "reason": "unreadable line"}


def entry_time(entry: dict[str, Any]) -> float | None:
    """When an entry was written (epoch seconds), if it says."""
    try:
        at = dt.datetime.fromisoformat(str(entry.get("at")))
    except ValueError:
        return None
    if at.tzinfo is None:
        at = at.replace(tzinfo=dt.UTC)
    return at.timestamp()


def of_runs(entries: Iterable[dict[str, Any]], runs: Sequence[Run]) -> Iterator[dict[str, Any]]:
    """Entries written while one of ``runs`` ran (entry times are cut to the millisecond)."""
    windows = [(r.started - 0.01, (r.finished or r.started + r.elapsed) + 0.01) for r in runs]
    for entry in entries:
        at = entry_time(entry)
        if at is not None and any(start <= at <= end for start, end in windows):
            yield entry


def category(entry: dict[str, Any]) -> str:
    """failed, rejected or warning (older entries carry only a severity)."""
    value = entry.get("category")
    if value:
        return str(value)
    return "failed" if (entry.get("severity") or "error") == "error" else "warning"


def _clauses(reason: str) -> list[str]:
    """A reason split at each ``": "`` outside parentheses (messages nest their causes)."""
    parts, depth, start = [], 0, 0
    for i, char in enumerate(reason):
        if char == "(":
            depth += 1
        elif char == ")":
            depth = max(0, depth - 1)
        elif char == ":" and depth == 0 and reason[i + 1 : i + 2] == " ":
            parts.append(reason[start:i])
            start = i + 2
    parts.append(reason[start:])
    return parts


def reason_group(reason: str) -> str:
    """The reason a dead letter is grouped under: each clause without its offending value."""
    clauses = [_GOT.sub("", reason_key(clause)) for clause in _clauses(reason)]
    return ": ".join(c for c in clauses if c) or reason


def group_dead_letters(
    entries: Iterable[dict[str, Any]],
    *,
    examples: int = EXAMPLES_PER_REASON,
    max_reasons: int = MAX_REASONS,
) -> DeadLetterView:
    """Group entries by reason, largest groups first, keeping the first ``examples`` of each."""
    view = DeadLetterView()
    groups: dict[str, ReasonGroup] = {}
    for entry in entries:
        kind = category(entry)
        view.total += 1
        view.categories[kind] += 1
        if kind == "unreadable":
            view.unreadable += 1
        reason = reason_group(str(entry.get("reason") or "no reason given"))
        group = groups.get(reason)
        if group is None:
            group = groups[reason] = ReasonGroup(reason)
        group.count += 1
        group.categories[kind] += 1
        group.entities[str(entry.get("entity") or entry.get("stream") or "record")] += 1
        if len(group.examples) < examples:
            group.examples.append(
                {k: entry.get(k) for k in ("identity", "stream", "source_id", "reason", "at")}
            )
    ordered = sorted(groups.values(), key=lambda g: (-g.count, g.reason))
    view.groups = ordered[:max_reasons]
    rest = ordered[max_reasons:]
    view.other_reasons = len(rest)
    view.other_entries = sum(g.count for g in rest)
    return view


def superseded(run: Run, view: DeadLetterView) -> tuple[int, int]:
    """(failed or rejected records of ``run`` whose entry is gone, all it failed or rejected).

    The dead-letter file keeps one current entry per record, so a record the run failed that
    failed again later (or landed since) no longer has an entry from this run.
    """
    errors = sum(c["failed"] + c["rejected"] for c in run.entities().values())
    kept = view.categories.get("failed", 0) + view.categories.get("rejected", 0)
    return max(0, errors - kept), errors


# ------------------------------------------------------------------------ provisioning
def field_decisions(runs: Sequence[Run]) -> list[dict[str, Any]]:
    """The field decisions of ``runs`` (provisioning), each once, with the run that made it.

    A field reused run after run is listed once, from the first run that decided so.
    """
    out, seen = [], set()
    for run in runs:
        plan = run.summary.get("provisioning") or {}
        for decision in plan.get("fields") or []:
            if not isinstance(decision, dict):
                continue
            key = (decision.get("entity"), decision.get("name"), decision.get("action"))
            if key not in seen:
                seen.add(key)
                out.append({**decision, "run": run.label})
    return out


# ------------------------------------------------------------------------ the report
#: Sections in page order: id -> title (the table of contents and the tests use them).
SECTIONS = {
    "totals": "Totals to date",
    "outcomes": "Records by entity",
    "dead-letters": "Dead letters by reason",
    "throughput": "Records confirmed over time",
    "tasks": "Task durations",
    "fields": "Detail fields",
    "requests": "Requests and 429s",
    "settings": "Settings that mattered",
    "runs": "Run history",
}


@dataclass(frozen=True)
class ReportData:
    """Everything the page shows, already read from the ledger and the dead-letter file."""

    runs: Sequence[Run]  # every finished run, oldest first
    selected: Sequence[Run]  # the runs the report is about: one, or all of them
    scope: str  # "run" | "all"
    dead_letters: DeadLetterView  # the entries of the selected runs (all current ones: "all")
    current_dead_letters: DeadLetterView  # the whole file now (totals to date)
    ledger_counts: dict[str, dict[str, int]] = field(default_factory=dict)
    site: dict[str, Any] = field(default_factory=dict)  # cloud_id, base_url
    files: dict[str, str] = field(default_factory=dict)  # ledger, dead letters
    setting_help: dict[str, str] = field(default_factory=dict)  # setting -> what it does
    generated_at: float = field(default_factory=time.time)

    @property
    def summaries(self) -> list[dict[str, Any]]:
        """The selected runs' summaries."""
        return [r.summary for r in self.selected]

    @property
    def one(self) -> Run | None:
        """The run, when the report is about one."""
        return self.selected[-1] if self.scope == "run" and self.selected else None
