"""The report's sections about records: totals to date, outcomes per entity, dead letters, runs.

What landed and what did not, and why: each a ``<section>`` built from :class:`ReportData`
by a pure function (the page is assembled by :mod:`.report_page`).
"""

from __future__ import annotations

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
    plural,
    section,
    table,
    when,
)
from target_atlassian_csm.ops.reportdata import (
    SECTIONS,
    ReportData,
    added,
    entity_counts,
    loaded,
    outcome_columns,
    run_kind,
    superseded,
)

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
    # The bar stacks the outcomes, which partition the records received; merged records are
    # also in their group's outcome, so they are a column, not a part of the bar.
    colors = {
        k: OUTCOME_COLORS.get(k, OTHER_COLOR) for k in columns if k not in ("received", "merged")
    }
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
        "<b>Created</b>: new to this ledger (not necessarily new to CSM); <b>updated</b>: "
        "known and changed; <b>unchanged</b>: skipped, nothing changed; <b>merged</b>: folded "
        "into another record with the same email or name (also counted in that record's "
        "outcome); <b>skipped</b>: the mapping said not to load it; <b>rejected</b>: can never "
        "load as it is (no email, no name); <b>failed</b>: dead-lettered for any other "
        "reason; <b>deleted</b>: deleted in CSM because the source deleted it (delete_policy)."
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
            cell(
                el("span", esc(run.label), class_="mono", title=run.run_id)
                + (" " + badge(kind, "other") if (kind := run_kind(run, data.runs)) else "")
            ),
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
