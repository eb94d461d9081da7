"""``report``: one self-contained HTML file showing a run (or every run) of the load.

It reads only local files: the ledger (every run's summary, and the records CSM confirmed)
and the dead-letter file; it needs neither the tap nor CSM. The page itself is built by the
pure functions of :mod:`.report_page` from :mod:`.reportdata`; this module only gathers,
writes (owner-only: the report shows emails) and says what it did.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from target_atlassian_csm.files import private_path
from target_atlassian_csm.ops.cli import CommandError, Context, Runner, command
from target_atlassian_csm.ops.html import plural
from target_atlassian_csm.ops.report_page import render, scope_label
from target_atlassian_csm.ops.reportdata import (
    ReportData,
    RunNotFound,
    entity_counts,
    finished_runs,
    group_dead_letters,
    of_runs,
    read_dead_letters,
    select_run,
    superseded,
)

DEFAULT_NAME = "report.html"


@command("report", "Write an HTML report of a run, or of all runs (self-contained, one file).")
def register(parser: argparse.ArgumentParser) -> Runner:
    """Arguments of ``report``."""
    which = parser.add_mutually_exclusive_group()
    which.add_argument(
        "--run",
        dest="run_spec",
        metavar="RUN",
        help="the run to show: its number (1 is the first, as the report numbers them; "
        "also #1), its id, or the first 4 or more characters of its id; default: the latest",
    )
    which.add_argument("--all", action="store_true", help="show every run of the ledger")
    parser.add_argument(
        "--output",
        metavar="PATH",
        help=f"where to write the report (default: {DEFAULT_NAME} next to summary_path)",
    )
    parser.epilog = (
        "The report holds personal data (emails of dead-lettered records): it is written "
        "readable by its owner only. It reads the ledger and the dead-letter file; it does "
        "not call CSM."
    )
    return run


def output_path(config: dict[str, Any], given: str | None) -> Path:
    """``--output``, else ``report.html`` in the summary file's folder."""
    if given:
        return Path(given).expanduser()
    return Path(str(config["summary_path"])).expanduser().with_name(DEFAULT_NAME)


def setting_descriptions() -> dict[str, str]:
    """What each of the target's settings does, from its settings schema."""
    from target_atlassian_csm.target import TargetAtlassianCSM  # noqa: PLC0415

    properties = TargetAtlassianCSM.config_jsonschema.get("properties") or {}
    return {name: str(p.get("description") or "") for name, p in properties.items()}


def gather(context: Context, *, run_spec: str | None, every: bool) -> ReportData:
    """Read what the report shows from the ledger and the dead-letter file."""
    ledger = context.ledger()
    runs = finished_runs(ledger.runs(), exclude=[ledger.run_id])
    try:
        selected = list(runs) if every else [select_run(runs, run_spec)]
    except RunNotFound as exc:
        raise CommandError(str(exc)) from None
    if every and not runs:
        msg = "the ledger holds no finished run yet: run the load first"
        raise CommandError(msg)
    dead_path = Path(str(context.config["dead_letter_path"]))
    current = group_dead_letters(read_dead_letters(dead_path))
    shown = (
        current if every else group_dead_letters(of_runs(read_dead_letters(dead_path), selected))
    )
    return ReportData(
        runs=runs,
        selected=selected,
        scope="all" if every else "run",
        dead_letters=shown,
        current_dead_letters=current,
        ledger_counts=ledger.counts(),
        site={
            "cloud_id": context.config.get("cloud_id"),
            "base_url": context.config.get("base_url"),
        },
        files={"ledger": str(ledger.path), "dead letters": str(dead_path)},
        setting_help=setting_descriptions(),
        generated_at=time.time(),
    )


def summary_line(data: ReportData, path: Path) -> str:
    """What the report says, in one line."""
    counts = entity_counts(data.summaries)
    parts = []
    for entity, c in counts.items():
        if not c["received"]:
            continue
        said = ", ".join(
            f"{c[k]:,} {k}"
            for k in ("created", "updated", "unchanged", "rejected", "failed")
            if c[k]
        )
        parts.append(f"{entity}s {said or 'nothing loaded'}")
    throttled = sum(r.throttled() for r in data.selected)
    view = data.dead_letters
    reasons = len(view.groups) + view.other_reasons
    label = scope_label(data)
    gone = superseded(data.one, view)[0] if data.one is not None else 0
    later = f" ({gone:,} more failed again later, or landed)" if gone else ""
    return (
        f"Report of {label[0].lower()}{label[1:]}: "
        + ("; ".join(parts) or "no record received")
        + f"; {plural(view.total, 'dead letter')} in {plural(reasons, 'reason')}{later}; "
        + f"429 answers: {throttled:,}. "
        + f"Written to {path}"
    )


def run(args: argparse.Namespace, context: Context) -> int:
    """Write the report; print its path and a summary line."""
    data = gather(context, run_spec=args.run_spec, every=bool(args.all))
    path = output_path(context.config, args.output)
    html = render(data)
    try:
        target = private_path(path)
        target.write_text(html, encoding="utf-8")
    except OSError as exc:
        msg = f"cannot write the report to {path}: {exc}"
        raise CommandError(msg) from None
    print(target)
    print(summary_line(data, target))
    return 0
