"""The report's sections about how a load ran: throughput, tasks, fields, requests, settings.

Whether it ran as fast as CSM allows (records confirmed over time against the allowed rate,
task durations), which detail fields it created, how the API answered (requests, 429s), and
the settings that shaped it; each a ``<section>`` built from :class:`ReportData` by a pure
function (the page is assembled by :mod:`.report_page`).
"""

from __future__ import annotations

from typing import Any

from target_atlassian_csm.ops import charts
from target_atlassian_csm.ops.html import (
    badge,
    cards,
    cell,
    count_cell,
    el,
    empty,
    esc,
    num,
    section,
    table,
    when,
)
from target_atlassian_csm.ops.reportdata import (
    ENTITIES,
    SECTIONS,
    ReportData,
    added,
    allowed_curve,
    allowed_rate_curve,
    confirmed_curve,
    field_decisions,
    percentile,
    rate_curve,
    settings_changes,
    task_seconds,
    timeline,
    visible_settings,
)

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
