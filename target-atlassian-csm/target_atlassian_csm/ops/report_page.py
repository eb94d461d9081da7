"""The run report's page: one self-contained HTML document built from :class:`ReportData`.

A person judging a load wants, in this order: how much has landed so far (totals to date),
what this run did per entity, what failed and why (dead letters by reason, with examples),
whether the load ran as fast as CSM allows (records over time against the allowed rate, task
durations), which fields it created, how the API answered (requests, 429s), and the settings
that shaped it. Each is one ``<section>`` with an id (the tests check they are filled).
Everything here is a pure function of the data.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from target_atlassian_csm.ops import charts
from target_atlassian_csm.ops.html import (
    badge,
    cards,
    cell,
    count_cell,
    duration,
    el,
    empty,
    esc,
    num,
    page,
    plural,
    section,
    table,
    when,
)
from target_atlassian_csm.ops.reportdata import (
    ENTITIES,
    DeadLetterView,
    Run,
    added,
    allowed_curve,
    allowed_rate_curve,
    confirmed_curve,
    entity_counts,
    field_decisions,
    loaded,
    outcome_columns,
    percentile,
    rate_curve,
    settings_changes,
    superseded,
    task_seconds,
    timeline,
    visible_settings,
)

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
OUTCOME_COLORS = {
    "created": "#16a34a",
    "updated": "#2563eb",
    "unchanged": "#94a3b8",
    "merged": "#8b5cf6",
    "skipped": "#cbd5e1",
    "rejected": "#f97316",
    "failed": "#dc2626",
    "deleted": "#334155",
}
OTHER_COLOR = "#a3a3a3"
KIND_COLORS = {"customer": "#2563eb", "organization": "#0d9488", "definitions": "#a855f7"}
CONFIRMED, ALLOWED = "#2563eb", "#f97316"
REQUEST_LABELS = {
    "submits": "Bulk submits",
    "polls": "Task polls",
    "lookups": "Organization look-ups",
    "field_reads": "Field definition reads",
    "field_creates": "Field definitions created",
    "throttled_429": "429 Too Many Requests",
    "unavailable_503": "503 Service Unavailable",
    "server_errors": "Other 5xx answers",
    "connection_errors": "Connection errors",
    "malformed_input_lines": "Malformed input lines",
}
TASK_LABELS = {
    "submitted": "Tasks submitted",
    "split": "Tasks split (a record failed)",
    "resubmitted": "Records resubmitted",
    "task_cap_waits": "Waits for a task slot",
    "failed": "Tasks failed",
    "partially_unmatched": "Tasks partly unmatched",
    "association_records": "Association records",
    "associations_made": "Associations made",
    "associations_deferred": "Associations deferred",
    "rejected_requests": "Requests rejected",
    "organization_ids_forgotten": "Organization ids forgotten",
    "organizations_created_for_references": "Organizations created for references",
    "resumed_from_ledger": "Submissions resumed",
}
PROBLEM_REQUESTS = ("throttled_429", "unavailable_503", "server_errors", "connection_errors")


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


def render(data: ReportData) -> str:
    """The report, as a complete HTML document."""
    sections = [
        totals_section(data),
        outcomes_section(data),
        dead_letters_section(data),
        throughput_section(data),
        tasks_section(data),
        fields_section(data),
        requests_section(data),
        settings_section(data),
        runs_section(data),
    ]
    return page(title(data), header(data), nav(), "".join(sections), footer(data))


def scope_label(data: ReportData) -> str:
    """``Run #2 (7d9a7807)`` or ``All 3 runs``."""
    if data.one is not None:
        return f"Run {data.one.label}"
    count = len(data.selected)
    return f"All {count} run{'s' if count != 1 else ''}"


def title(data: ReportData) -> str:
    """The document's title."""
    site = data.site.get("cloud_id") or "CSM"
    return f"CSM load report: {scope_label(data)}, site {site}"


def header(data: ReportData) -> str:
    """The band at the top: what site, which run(s), when, and the verdict."""
    counts = entity_counts(data.summaries)
    failed = sum(c["failed"] for c in counts.values())
    rejected = sum(c["rejected"] for c in counts.values())
    warnings = sum(int(s.get("warnings") or 0) for s in data.summaries)
    chips = []
    if data.one is not None:
        run = data.one
        chips.append(el("li", esc(f"Run id {run.run_id}"), class_="chip"))
        chips.append(el("li", esc(f"Started {when(run.started)}"), class_="chip"))
        chips.append(el("li", esc(f"Took {duration(run.elapsed)}"), class_="chip"))
        if run.summary.get("dry_run"):
            chips.append(el("li", "Dry run: nothing written", class_="chip warn"))
    elif data.selected:
        first, last = data.selected[0], data.selected[-1]
        chips.append(el("li", esc(f"From {when(first.started)}"), class_="chip"))
        chips.append(el("li", esc(f"to {when(last.finished or last.started)}"), class_="chip"))
    if failed or rejected:
        verdict = f"{num(failed)} failed, {num(rejected)} rejected"
        chips.append(el("li", esc(verdict), class_="chip bad"))
    else:
        chips.append(el("li", "No record failed", class_="chip ok"))
    if warnings:
        chips.append(el("li", esc(plural(warnings, "warning")), class_="chip warn"))
    site = data.site.get("cloud_id") or "unknown"
    base = data.site.get("base_url") or ""
    where = f"Site (cloud id) {el('code', esc(site))}" + (
        f" at {el('code', esc(base))}" if base else ""
    )
    inner = (
        el("p", "Atlassian CSM load report", class_="eyebrow")
        + el("h1", esc(scope_label(data)))
        + el("p", where, class_="site")
        + el("ul", "".join(chips), class_="chips")
    )
    return el("header", el("div", inner, class_="wrap"), class_="top")


def nav() -> str:
    """Links to the sections."""
    links = "".join(el("li", el("a", esc(t), href=f"#{k}")) for k, t in SECTIONS.items())
    return el("nav", el("ul", links), class_="toc", aria_label="Sections")


# ---------------------------------------------------------------------------- sections
def totals_section(data: ReportData) -> str:
    """Every run so far, and what the ledger holds now."""
    counts = entity_counts(r.summary for r in data.runs)
    requests = added(r.summary.get("requests") for r in data.runs)
    ledger = data.ledger_counts
    now = data.current_dead_letters.categories
    errors = now.get("failed", 0) + now.get("rejected", 0) + now.get("unreadable", 0)
    first = data.runs[0].started if data.runs else None
    items = [
        ("Runs", num(len(data.runs)), f"since {when(first)[:10]}" if first else None, None),
        (
            "Customers in CSM",
            num(ledger.get("customer", {}).get("confirmed", 0)),
            "confirmed, per the ledger",
            "ok",
        ),
        (
            "Organizations in CSM",
            num(ledger.get("organization", {}).get("confirmed", 0)),
            "confirmed, per the ledger",
            "ok",
        ),
        ("Created", num(sum(c["created"] for c in counts.values())), "over all runs", None),
        ("Updated", num(sum(c["updated"] for c in counts.values())), "over all runs", None),
        (
            "Dead letters now",
            num(errors),
            f"and {plural(now.get('warning', 0), 'warning')}",
            "bad" if errors else "ok",
        ),
        (
            "429 answers",
            num(requests.get("throttled_429", 0)),
            "over all runs",
            "warn" if requests.get("throttled_429") else None,
        ),
    ]
    lead = (
        "Every run this ledger recorded, and what it holds now: records CSM confirmed, and the "
        "dead-letter file's current entries (one per record)."
    )
    return section("totals", SECTIONS["totals"], esc(lead), cards(items))


def outcomes_section(data: ReportData) -> str:
    """Per entity: received, created, updated, unchanged, merged, skipped, rejected, failed."""
    counts = entity_counts(data.summaries)
    total = {k: sum(c.get(k, 0) for c in counts.values()) for k in ("received", "failed")}
    rejected = sum(c["rejected"] for c in counts.values())
    in_csm = sum(loaded(c) for c in counts.values())
    elapsed = sum(r.elapsed for r in data.selected)
    rate = in_csm / elapsed if elapsed else None
    items = [
        ("Received", num(total["received"]), "records read from the tap", None),
        ("Loaded", num(in_csm), "created, updated or unchanged", "ok" if in_csm else None),
        ("Failed", num(total["failed"]), "dead-lettered", "bad" if total["failed"] else None),
        ("Rejected", num(rejected), "can never load as they are", "warn" if rejected else None),
        ("Records / s", num(rate, 1) if rate is not None else num(None), "loaded per second", None),
        ("Duration", esc(duration(elapsed)), "of the run" if data.one else "of all runs", None),
    ]
    columns = outcome_columns(counts)
    head = [("Entity", False), *((k.capitalize(), True) for k in columns), ("", False)]
    colors = {k: OUTCOME_COLORS.get(k, OTHER_COLOR) for k in columns if k != "received"}
    tones = {"failed": "bad", "rejected": "warn"}
    rows = []
    for entity, c in counts.items():
        cells = [cell(esc(entity.capitalize()))]
        cells += [count_cell(c.get(k, 0), tone=tones.get(k)) for k in columns]
        parts = [(k, c.get(k, 0), color) for k, color in colors.items()]
        cells.append(el("td", charts.stacked_bar(parts, label=f"{entity} outcomes")))
        rows.append(cells)
    legend = "".join(
        el("li", el("span", "", class_="sw", style=f"background:{color}") + esc(name))
        for name, color in colors.items()
    )
    ignored = added(s.get("ignored_streams") for s in data.summaries)
    note = ""
    if ignored:
        shown = ", ".join(f"{k} ({num(v)})" for k, v in sorted(ignored.items()))
        note = el("p", esc(f"Streams not mapped to CSM, ignored: {shown}."), class_="muted")
    lead = (
        "<b>Created</b>: new to this ledger; <b>updated</b>: known and changed; "
        "<b>unchanged</b>: skipped, nothing changed; <b>merged</b>: folded into another record "
        "with the same email or name; <b>skipped</b>: the mapping said not to load it; "
        "<b>rejected</b>: can never load as it is (no email, no name); <b>failed</b>: "
        "dead-lettered for any other reason; <b>deleted</b>: deleted in CSM because the "
        "source deleted it (delete_policy)."
    )
    body = (
        cards(items)
        + el("h3", "Outcomes per entity")
        + table(head, rows)
        + el("ul", legend, class_="legend-row")
        + note
    )
    return section("outcomes", SECTIONS["outcomes"], lead, body)


def dead_letters_section(data: ReportData) -> str:
    """Dead letters grouped by reason, biggest first, with a few examples each."""
    view = data.dead_letters
    if data.one is not None:
        lead = (
            "Entries of the dead-letter file written during this run and still current (a "
            "record that failed again later shows under the later run; one that landed since "
            "has left the file). Examples name the record: its email or name, stream and id."
        )
    else:
        lead = (
            "The dead-letter file's current entries, one per record: records that did not land "
            "(failed, rejected) and records that landed without something (warnings)."
        )
    moved = ""
    gone, errors = superseded(data.one, view) if data.one is not None else (0, 0)
    if gone:
        moved = el(
            "p",
            esc(
                f"{plural(gone, 'record')} this run failed or rejected ({num(errors)} in all) "
                "no longer have an entry from this run: they failed again in a later run (its "
                "report shows them) or have landed since."
            ),
            class_="muted",
        )
    if not view.total:
        note = moved or empty("No dead letters.")
        return section("dead-letters", SECTIONS["dead-letters"], esc(lead), note)
    cats = view.categories
    items = [
        (
            "Entries",
            num(view.total),
            f"in {plural(len(view.groups) + view.other_reasons, 'reason')}",
            None,
        ),
        ("Failed", num(cats.get("failed", 0)), None, "bad" if cats.get("failed") else None),
        ("Rejected", num(cats.get("rejected", 0)), None, "warn" if cats.get("rejected") else None),
        ("Warnings", num(cats.get("warning", 0)), "landed without something", None),
    ]
    blocks = []
    for group in view.groups:
        labels = "".join(
            badge(
                f"{name} {num(n)}", name if name in ("failed", "rejected", "warning") else "other"
            )
            for name, n in group.categories.most_common()
        )
        entities = ", ".join(f"{e} {num(n)}" for e, n in group.entities.most_common())
        head = el(
            "div",
            el(
                "div",
                el("div", esc(group.reason), class_="what")
                + labels
                + el("span", esc(entities), class_="muted"),
            )
            + el("div", num(group.count), class_="count", title="entries"),
            class_="head",
        )
        rows = [
            [
                cell(esc(e.get("identity") or "(none)"), tone=None),
                cell(el("span", esc(e.get("stream") or ""), class_="mono")),
                cell(el("span", esc(e.get("source_id") or ""), class_="mono")),
                cell(esc(e.get("reason") or "")),
            ]
            for e in group.examples
        ]
        examples = table(
            [
                ("Email or name", False),
                ("Stream", False),
                ("Source id", False),
                ("Reason as written", False),
            ],
            rows,
        )
        blocks.append(el("div", head + examples, class_="reason"))
    if view.other_reasons:
        blocks.append(
            el(
                "p",
                esc(
                    f"And {num(view.other_reasons)} more reasons ({num(view.other_entries)} "
                    "entries): see the dead-letter file."
                ),
                class_="muted",
            )
        )
    body = cards(items) + moved + "".join(blocks)
    return section("dead-letters", SECTIONS["dead-letters"], esc(lead), body)


def throughput_section(data: ReportData) -> str:
    """Records confirmed over time against the rate CSM's limits allow, per run."""
    runs = [r for r in data.selected if timeline(r.summary)]
    lead = (
        "Records confirmed by CSM (or found unchanged) since the run started, sampled every "
        "second, against what CSM's limits allow: tasks in flight times records per task, "
        "divided by how long a task takes. The dashed line is the load at that rate from the "
        "start; far below it, the tap or the mapping was the bottleneck, not CSM. Records "
        "found unchanged need no request, so a resync can run above it."
    )
    if not runs:
        return section(
            "throughput", SECTIONS["throughput"], esc(lead), empty("No timeline was recorded.")
        )
    if data.one is not None:
        points = timeline(runs[-1].summary)
        body = el(
            "div",
            charts.line_chart(
                [
                    charts.Series(
                        "Records confirmed", confirmed_curve(points), CONFIRMED, area=True
                    ),
                    charts.Series(
                        "At the rate CSM allows", allowed_curve(points), ALLOWED, dashed=True
                    ),
                ],
                label="Records confirmed over time, against the rate CSM's limits allow",
                x_label="Time since the run started",
                y_label="Records",
            ),
            class_="chart-box",
        )
        body += el("h3", "Rate")
        body += el(
            "div",
            charts.line_chart(
                [
                    charts.Series("Records per second", rate_curve(points), CONFIRMED, area=True),
                    charts.Series(
                        "Rate CSM's limits allow", allowed_rate_curve(points), ALLOWED, dashed=True
                    ),
                ],
                label="Records confirmed per second, against the rate CSM's limits allow",
                x_label="Time since the run started",
                y_label="Records per second",
                height=240,
            ),
            class_="chart-box",
        )
        return section("throughput", SECTIONS["throughput"], esc(lead), body)
    shown = runs[-6:]
    boxes = []
    for run in shown:
        points = timeline(run.summary)
        boxes.append(
            el(
                "div",
                el("h3", esc(f"Run {run.label}, {when(run.started)}"))
                + charts.line_chart(
                    [
                        charts.Series("Confirmed", confirmed_curve(points), CONFIRMED, area=True),
                        charts.Series("CSM allows", allowed_curve(points), ALLOWED, dashed=True),
                    ],
                    label=f"Records confirmed over time in run {run.label}",
                    x_label="Time since the run started",
                    y_label="Records",
                    width=520,
                    height=240,
                ),
                class_="chart-box",
            )
        )
    more = ""
    if len(runs) > len(shown):
        more = el(
            "p",
            esc(f"The latest {len(shown)} of {len(runs)} runs; `report --run N` shows any run."),
            class_="muted",
        )
    return section(
        "throughput",
        SECTIONS["throughput"],
        esc(lead),
        el("div", "".join(boxes), class_="grid2") + more,
    )


def tasks_section(data: ReportData) -> str:
    """A histogram of how long CSM's bulk tasks took, per kind, and their percentiles."""
    groups = task_seconds(data.summaries)
    lead = (
        "How long each bulk task took, from the submit to the poll that saw it end: profile "
        "tasks per entity, and field definitions. A long tail means CSM was busy (or tasks "
        "waited in its queue); it is what limits the rate above."
    )
    if not groups:
        return section("tasks", SECTIONS["tasks"], esc(lead), empty("No task ran."))
    rank = list(KIND_COLORS)
    ordered = {
        k: groups[k] for k in sorted(groups, key=lambda k: (rank.index(k) if k in rank else 99, k))
    }
    chart = charts.histogram(
        ordered,
        KIND_COLORS,
        label="Histogram of task durations",
        x_label="Seconds per task",
        y_label="Tasks",
    )
    rows = [
        [
            cell(esc(kind.capitalize())),
            count_cell(len(values)),
            cell(num(percentile(values, 0.5), 2), numeric=True),
            cell(num(percentile(values, 0.9), 2), numeric=True),
            cell(num(max(values), 2), numeric=True),
            cell(num(sum(values), 1), numeric=True),
        ]
        for kind, values in ordered.items()
    ]
    head = [
        ("Tasks of", False),
        ("Count", True),
        ("Median s", True),
        ("90th percentile s", True),
        ("Longest s", True),
        ("Total s", True),
    ]
    body = el("div", chart, class_="chart-box") + table(head, rows)
    return section("tasks", SECTIONS["tasks"], esc(lead), body)


def fields_section(data: ReportData) -> str:
    """Detail fields created, and the other provisioning decisions."""
    created = added(s.get("fields_created") for s in data.summaries)
    decisions = field_decisions(data.selected)
    lead = (
        "With create_missing_fields, the target creates the CSM detail fields the source's "
        "data needs before loading it, and reuses fields of the same name. Fields left out "
        "(excluded, or past CSM's limit of 50 per entity) have their values not loaded."
    )
    if not created and not decisions:
        settings = [r.summary.get("settings") or {} for r in data.selected]
        why = (
            "create_missing_fields was on, and no field was missing."
            if any(s.get("create_missing_fields") for s in settings)
            else "No field was created: create_missing_fields was off."
        )
        return section("fields", SECTIONS["fields"], esc(lead), empty(why))
    by_action: dict[str, list[dict[str, Any]]] = {}
    for d in decisions:
        by_action.setdefault(str(d.get("action")), []).append(d)
    items = [
        (
            f"{entity.capitalize()} fields created",
            num(created.get(entity, 0)),
            None,
            "ok" if created.get(entity) else None,
        )
        for entity in ENTITIES
    ]
    items += [
        ("Reused", num(len(by_action.get("reuse", []))), "existing fields of the same name", None),
        (
            "Left out",
            num(len(by_action.get("skip", [])) + len(by_action.get("overflow", []))),
            "excluded, or past CSM's limits",
            "warn" if by_action.get("overflow") else None,
        ),
    ]
    head = [
        ("Entity", False),
        ("CSM field", False),
        ("Type", False),
        ("Options", True),
        ("From", False),
        ("Decision", False),
        ("Note", False),
    ]
    if data.scope == "all":
        head.append(("Run", False))

    def rows_of(found: list[dict[str, Any]]) -> list[list[str]]:
        out = []
        for d in found:
            row = [
                cell(esc(d.get("entity") or "")),
                cell(el("b", esc(d.get("name") or ""))),
                cell(el("span", esc(d.get("csm_type") or ""), class_="mono")),
                count_cell(int(d.get("options") or 0)),
                cell(el("span", esc(d.get("source") or ""), class_="mono")),
                cell(badge(str(d.get("action")), str(d.get("action")))),
                cell(esc(d.get("note") or "")),
            ]
            if data.scope == "all":
                row.append(cell(esc(d.get("run"))))
            out.append(row)
        return out

    body = cards(items)
    made = by_action.get("create", [])
    if made:
        body += el("h3", esc(f"Created ({len(made)})")) + table(head, rows_of(made))
    left = by_action.get("overflow", []) + by_action.get("skip", [])
    if left:
        body += el("h3", esc(f"Left out ({len(left)})")) + table(head, rows_of(left))
    reused = by_action.get("reuse", [])
    if reused:
        body += el(
            "details",
            el("summary", esc(f"Existing fields reused ({len(reused)})"))
            + table(head, rows_of(reused)),
        )
    return section("fields", SECTIONS["fields"], esc(lead), body)


def requests_section(data: ReportData) -> str:
    """Requests by kind, CSM's 429s and errors, and the task counters."""
    requests = added(s.get("requests") for s in data.summaries)
    tasks = added(s.get("tasks") for s in data.summaries)
    lead = (
        "Requests the target sent to CSM, by kind, and how CSM answered when it did not "
        "simply accept them. A 429 means CSM's rate limit was reached: the target waits as "
        "told and retries, so 429s slow a load but lose nothing."
    )
    if not requests and not tasks:
        return section("requests", SECTIONS["requests"], esc(lead), empty("No request was sent."))
    sent = sum(
        v for k, v in requests.items() if k not in PROBLEM_REQUESTS and k != "malformed_input_lines"
    )
    throttled = requests.get("throttled_429", 0)
    errors = sum(requests.get(k, 0) for k in PROBLEM_REQUESTS if k != "throttled_429")
    items = [
        ("Requests", num(sent), "answered", None),
        ("429 answers", num(throttled), "rate limit reached", "warn" if throttled else "ok"),
        ("Errors", num(errors), "5xx and connection errors", "bad" if errors else None),
        ("Tasks", num(tasks.get("submitted", 0)), "bulk tasks submitted", None),
    ]

    def kind_rows(found: dict[str, int], labels: dict[str, str]) -> list[list[str]]:
        known = [k for k in labels if k in found]
        rest = sorted(k for k in found if k not in labels)
        return [
            [
                cell(esc(labels.get(k, k.replace("_", " ").capitalize()))),
                count_cell(found[k], tone="warn" if k in PROBLEM_REQUESTS else None),
            ]
            for k in known + rest
        ]

    other = {
        "STATE messages emitted": sum(
            int(s.get("state_messages_emitted") or 0) for s in data.summaries
        ),
        "Peak records in memory": max(
            (int(s.get("peak_records_in_memory") or 0) for s in data.summaries), default=0
        ),
    }
    task_rows = kind_rows(tasks, TASK_LABELS) + [
        [cell(esc(k)), count_cell(v)] for k, v in other.items()
    ]
    body = cards(items) + el(
        "div",
        el(
            "div",
            el("h3", "Requests")
            + table([("Kind", False), ("Count", True)], kind_rows(requests, REQUEST_LABELS)),
        )
        + el(
            "div",
            el("h3", "Tasks and flow") + table([("Counter", False), ("Count", True)], task_rows),
        ),
        class_="grid2",
    )
    return section("requests", SECTIONS["requests"], esc(lead), body)


def _setting_value(value: Any) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    if value is None:
        return "(not set)"
    return str(value)


def short_help(text: str, limit: int = 110) -> str:
    """The first sentence of a setting's description, cut at a word near ``limit``."""
    first = text.split(". ", maxsplit=1)[0].strip().rstrip(".")
    if len(first) <= limit:
        return first
    return first[:limit].rsplit(" ", 1)[0].rstrip(",;:(") + "\u2026"


def settings_section(data: ReportData) -> str:
    """The settings that shape a load (never a secret), and which changed between runs."""
    latest = data.selected[-1] if data.selected else None
    settings = visible_settings((latest.summary.get("settings") or {}) if latest else {})
    which = (
        "this run" if data.one is not None else f"the latest run, {latest.label}" if latest else ""
    )
    lead = f"The settings that shape a load, as {which} used them (credentials are never kept)."
    if not settings:
        return section(
            "settings", SECTIONS["settings"], esc(lead), empty("No settings were recorded.")
        )
    changes = settings_changes(data.selected) if data.scope == "all" else {}
    head = [("Setting", False), ("Value", False), ("What it does", False)]
    if changes:
        head.append(("Changed between runs", False))
    rows = []
    for name, value in settings.items():
        row = [
            cell(el("code", esc(name))),
            cell(el("b", esc(_setting_value(value)))),
            cell(esc(short_help(data.setting_help.get(name, ""))), tone="about"),
        ]
        if changes:
            history = changes.get(name)
            shown = (
                "; ".join(f"{_setting_value(v)} from {label}" for label, v in history)
                if history
                else ""
            )
            row.append(cell(esc(shown)))
        rows.append(row)
    return section("settings", SECTIONS["settings"], esc(lead), table(head, rows))


def runs_section(data: ReportData) -> str:
    """One row per run: when, how long, what it did, what failed."""
    lead = "Every run this ledger recorded, newest first. Each run's summary is kept in the ledger."
    if not data.runs:
        return section("runs", SECTIONS["runs"], esc(lead), empty("No run yet."))
    chosen = {r.run_id for r in data.selected} if data.one is not None else set()
    head = [
        ("Run", False),
        ("Started", False),
        ("Duration", True),
        ("Received", True),
        ("Created", True),
        ("Updated", True),
        ("Unchanged", True),
        ("Rejected", True),
        ("Failed", True),
        ("Warnings", True),
        ("429s", True),
    ]
    rows, classes = [], []
    shown = list(reversed(data.runs))[:100]
    for run in shown:
        c = entity_counts([run.summary])
        t = {k: sum(v[k] for v in c.values()) for k in next(iter(c.values()))}
        cells = [
            cell(el("span", esc(run.label), class_="mono", title=run.run_id)),
            cell(esc(when(run.started))),
            cell(esc(duration(run.elapsed)), numeric=True),
            count_cell(t["received"]),
            count_cell(t["created"]),
            count_cell(t["updated"]),
            count_cell(t["unchanged"]),
            count_cell(t["rejected"], tone="warn"),
            count_cell(t["failed"], tone="bad"),
            count_cell(int(run.summary.get("warnings") or 0), tone="warn"),
            count_cell(run.throttled(), tone="warn"),
        ]
        rows.append(cells)
        classes.append("current" if run.run_id in chosen else None)
    more = ""
    if len(data.runs) > len(shown):
        more = el("p", esc(f"The latest {len(shown)} of {len(data.runs)} runs."), class_="muted")
    return section(
        "runs", SECTIONS["runs"], esc(lead), table(head, rows, row_classes=classes) + more
    )


def footer(data: ReportData) -> str:
    """Personal data notice, where the numbers come from, when the file was made."""
    privacy = (
        "This report holds personal data: the dead-letter examples show customers' email "
        "addresses. It is written readable by its owner only (file mode 0600), like the "
        "ledger and the dead-letter file it is made from; share it as you would share those."
    )
    sources = ", ".join(f"{k}: {v}" for k, v in data.files.items())
    parts = el("p", esc(privacy), class_="privacy")
    if sources:
        parts += el("p", esc(f"Made from {sources}."))
    parts += el(
        "p",
        esc(
            f"Generated {when(data.generated_at)} by target-atlassian-csm-ops report. "
            "Self-contained: it loads nothing from any network when opened."
        ),
    )
    return el("footer", parts, class_="bottom wrap")
