"""``retry``: re-feed dead-lettered records through the load, once their cause is fixed.

After a person fixes what made records fail (a mapping, a missing SELECT option, a field
type), the records need not come from the tap again: the dead-letter file keeps each one, and
the ledger keeps each stream's latest SCHEMA. This command builds Singer messages from both
(:mod:`.retry_plan`) and runs the target itself on them, in this process, with the same
settings: the same mapping, the same pipeline, the same ledger and dead-letter file. Records
that land leave the dead letters (the target's end-of-run compaction drops the entry of every
record that ended otherwise than failed: created, updated, unchanged, skipped, or deleted, as
a delete held back by ``max_deletes_per_run`` is); those that fail again stay, with their new
reason, one entry per record.

The retry sends no STATE, so the target emits none and Meltano's bookmarks do not move; the
failure bound of a load (``max_failure_rate``) does not apply: the result of a retry is what
is left in the dead letters. Exit status: 0 every selected record landed (or nothing to do),
1 some remain dead-lettered (failed again, or cannot be retried), 2 the run could not start.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from target_atlassian_csm.ops.cli import CommandError, Context, Runner, command
from target_atlassian_csm.ops.reconcile import plural
from target_atlassian_csm.ops.retry_plan import (
    Entry,
    Plan,
    Schema,
    messages,
    plan,
    read_entries,
)
from target_atlassian_csm.ops.retry_plan import remaining as still_dead
from target_atlassian_csm.ops.retry_plan import select as select_entries

#: Examples shown per group in the plan.
EXAMPLES = 3


@command(
    "retry",
    "Re-feed the dead-lettered records (errors, not warnings) through the same mapping and "
    "load, with their stream's saved schema; those that land leave the dead letters.",
)
def register(parser: argparse.ArgumentParser) -> Runner:
    """Arguments of ``retry``."""
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="only say which records would be retried, by stream and reason; load nothing",
    )
    parser.add_argument(
        "--stream",
        action="append",
        default=[],
        metavar="NAME",
        help="only records of this stream (repeatable)",
    )
    parser.add_argument(
        "--reason-contains",
        metavar="TEXT",
        help="only records whose reason contains TEXT (case-insensitive)",
    )
    return run


def plan_lines(selected: Plan) -> list[str]:
    """The plan: records to retry by stream and reason, then those that cannot be, and why."""
    lines = []
    for (stream, reason), entries in selected.groups().items():
        shown = ", ".join(e.label() for e in entries[:EXAMPLES])
        more = f", and {len(entries) - EXAMPLES} more" if len(entries) > EXAMPLES else ""
        lines.append(f"retry {len(entries):>5}  {stream}: {reason}  (e.g. {shown}{more})")
    cannot = Counter(why for _, why in selected.cannot)
    for why, n in cannot.items():
        examples = [e.label() for e, w in selected.cannot if w == why][:EXAMPLES]
        lines.append(f"cannot {n:>4}  {why}  (e.g. {', '.join(examples)})")
    return lines


def _load(context: Context, entries: list[Entry], schema_of: Callable[[str], Schema | None]) -> int:
    """Run the target in-process over the re-built messages; return its exit status."""
    from target_atlassian_csm.target import TargetAtlassianCSM  # noqa: PLC0415

    settings = {
        **context.config,
        # The result of a retry is what is left in the dead letters, not a failure bound.
        "max_failure_rate": 1.0,
        "failure_rate_min_records": 2**31,
    }
    lines = "".join(json.dumps(m) + "\n" for m in messages(entries, schema_of))
    out = io.StringIO()
    code = 0
    with contextlib.redirect_stdout(out):
        target = TargetAtlassianCSM(config=settings, validate_config=True)
        try:
            target.listen(io.StringIO(lines))
        except SystemExit as exc:
            code = int(exc.code or 0)
    if out.getvalue().strip():  # never happens without STATE in: said if it ever does
        context.logger.warning(
            "The retry's load wrote to stdout (not passed on): %s", out.getvalue()[:200]
        )
    return code


def run(args: argparse.Namespace, context: Context) -> int:
    """Run ``retry``; see the module docstring for the exit status."""
    path = Path(context.config["dead_letter_path"])
    ledger = context.ledger()
    selected = select_entries(
        read_entries(path), streams=args.stream, reason_contains=args.reason_contains
    )
    if not selected:
        print(f"Retry: no dead-lettered record to retry in {path}.")
        return 0
    the_plan = plan(selected, ledger.schema)
    for line in plan_lines(the_plan):
        print(line)
    if args.dry_run or context.config.get("dry_run"):
        why = "--dry-run" if args.dry_run else "the settings say dry_run"
        print(
            f"Retry plan ({why}: nothing loaded): {plural(len(the_plan.retry), 'record')} "
            f"would be retried, {len(the_plan.cannot)} cannot be."
        )
        return 0
    if the_plan.retry:
        code = _load(context, the_plan.retry, ledger.schema)
        if code != 0:
            msg = f"the retry's load could not run (exit status {code}): see the log above"
            raise CommandError(msg)
    left = still_dead(the_plan.retry, read_entries(path))
    landed = len(the_plan.retry) - len(left)
    for entry in left.values():
        print(f"still dead-lettered  {entry.label()}: {entry.reason}")
    print(
        f"Retry: {plural(len(the_plan.retry), 'record')} retried: {landed} landed, "
        f"{len(left)} failed again; {len(the_plan.cannot)} cannot be retried. "
        f"Dead letters: {path}."
    )
    return 1 if left or the_plan.cannot else 0
