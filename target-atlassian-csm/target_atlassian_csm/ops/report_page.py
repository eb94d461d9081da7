"""The run report's page: one self-contained HTML document built from :class:`ReportData`.

A person judging a load wants, in this order: how much has landed so far (totals to date),
what this run did per entity, what failed and why (dead letters by reason, with examples),
whether the load ran as fast as CSM allows (records over time against the allowed rate, task
durations), which fields it created, how the API answered (requests, 429s), and the settings
that shaped it. Each is one ``<section>`` with an id (the tests check they are filled).
Everything here is a pure function of the data.
"""

from __future__ import annotations

from target_atlassian_csm.ops.html import (
    duration,
    el,
    esc,
    num,
    page,
    plural,
    when,
)
from target_atlassian_csm.ops.report_flow import (
    fields_section,
    requests_section,
    settings_section,
    tasks_section,
    throughput_section,
)
from target_atlassian_csm.ops.report_records import (
    dead_letters_section,
    outcomes_section,
    runs_section,
    totals_section,
)
from target_atlassian_csm.ops.reportdata import (
    SECTIONS,
    ReportData,
    entity_counts,
)


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
