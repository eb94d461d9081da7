"""``rollback``: undo what one run did to CSM.

The ledger's history says, per record, what each run did: ``created``, ``updated`` (with the
record as it was before, as far as it is known) or ``deleted``. Rolling a run back:

* deletes the customers and organizations it **created** (CSM's account and organization
  delete endpoints; only records the ledger knows this target created: their first write
  looked CSM up and did not find them, as ``delete_policy: delete`` and
  ``keep_before_images`` make it do). A record the run wrote first *without* looking may
  have been in CSM before (an agent's): it is listed and left, unless
  ``--include-unverified`` says to delete those too;
* restores those it **updated** to their values before the run, detail by detail, clearing
  the fields the run added: from the before-image read from CSM when ``keep_before_images``
  was on, else from what this target had loaded before (the ledger's confirmed form);
  a record with no before-image is listed and left as it is;
* creates again those it **deleted**, and for an organization, makes the customers the
  ledger says belonged to it members again (deleting it had ended their memberships).

Without ``--yes`` it prints the plan and changes nothing. The restoring and deleting go
through the load's own pipeline (keys, task verdicts, dead letters), as a run of their own
recorded in the ledger; the records end as the rollback left them, so a later load sends them
again. Organization associations are only ever added in CSM (no documented way removes one):
those a rolled-back update added stay.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from target_atlassian_csm.barrier import StateBarrier
from target_atlassian_csm.ledger import DELETED, LedgerRow
from target_atlassian_csm.operations import (
    CUSTOMER,
    DEFERRED,
    DELETION,
    ORGANIZATION,
    Operation,
    OrgRef,
)
from target_atlassian_csm.ops.cli import CommandError, Context, command
from target_atlassian_csm.pipeline import FIRST_WRITTEN
from target_atlassian_csm.runtime import LoadRuntime

DELETE, RESTORE, RECREATE, LEAVE = "delete", "restore", "recreate", "leave"


@dataclass(frozen=True)
class Step:
    """What the rollback does to one record."""

    action: str
    entity: str
    key: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    note: str = ""


def plan_rollback(
    history: list[dict[str, Any]],
    rows: dict[tuple[str, str], LedgerRow],
    *,
    include_unverified: bool = False,
) -> list[Step]:
    """The steps undoing a run's ``history`` (pure: the ledger's rows and history decide)."""
    first: dict[tuple[str, str], dict[str, Any]] = {}
    last: dict[tuple[str, str], dict[str, Any]] = {}
    for item in history:
        ek = (item["entity"], item["key"])
        first.setdefault(ek, item)
        last[ek] = item
    steps = []
    for ek, item in first.items():
        entity, key = ek
        row = rows.get(ek)
        later = row is not None and row.run_id != item.get("run_id") and row.status != DELETED
        note = "changed by a later run too: that change is undone as well" if later else ""
        after = last[ek]["after"]
        if item["action"] == "created":
            steps.append(Step(DELETE, entity, key, None, after, note))
        elif item["action"] == FIRST_WRITTEN and include_unverified:
            why = "first written by this run without looking whether CSM held it"
            steps.append(Step(DELETE, entity, key, None, after, note or why))
        elif item["action"] == FIRST_WRITTEN:
            why = (
                "first written by this run without looking whether CSM held it before "
                "(an agent's record?): left; --include-unverified deletes it"
            )
            steps.append(Step(LEAVE, entity, key, None, after, why))
        elif item["action"] == "deleted":
            action = RECREATE if item["before"] else LEAVE
            why = "" if item["before"] else "deleted with no copy of its values: not recreated"
            steps.append(Step(action, entity, key, item["before"], after, why or note))
        elif item["before"]:
            steps.append(Step(RESTORE, entity, key, item["before"], after, note))
        else:
            why = "no before-image (keep_before_images was off and this target had not loaded it)"
            steps.append(Step(LEAVE, entity, key, None, after, why))
    return steps


def members_to_restore(
    steps: list[Step],
    records: Iterable[tuple[str, str, str, str | None, str | None]],
    organization_of: Callable[[OrgRef], str | None],
) -> list[tuple[str, str]]:
    """(customer email, organization name) memberships to make again (pure).

    The organizations the rollback recreates lost their members when they were deleted;
    a customer the rollback does not touch itself, that the ledger holds and whose confirmed
    form references one of them, is made a member again.
    """
    recreated = {
        s.key: str((s.before or {}).get("identity") or s.key)
        for s in steps
        if s.action == RECREATE and s.entity == ORGANIZATION
    }
    touched = {s.key for s in steps if s.entity == CUSTOMER}
    out = []
    for entity, key, status, confirmed, _ in records:
        if (
            entity != CUSTOMER
            or key in touched
            or status == DELETED
            or not confirmed
            or not recreated
        ):
            continue
        semantic = json.loads(confirmed)
        for token in semantic.get("organizations") or ():
            name_key = organization_of(OrgRef.from_token(str(token)))
            if name_key in recreated:
                out.append((str(semantic.get("identity") or key), recreated[name_key]))
    return out


def _organization_of(context: Context) -> Callable[[OrgRef], str | None]:
    ledger = context.ledger()

    def organization_of(ref: OrgRef) -> str | None:
        if ref.kind != "source":
            return ref.value.casefold()
        return ledger.key_for_source(ORGANIZATION, ref.stream or "", ref.value)

    return organization_of


def _operation(step: Step, row: LedgerRow | None, seq: int) -> Operation:
    stream = (row.stream if row else None) or "(rollback)"
    source_id = row.source_id if row else None
    if step.action == DELETE:
        identity = str((step.after or {}).get("identity") or step.key)
        return Operation(
            step.entity, identity, stream, source_id=source_id, seqs=[seq], origin=DELETION
        )
    op = Operation.from_semantic(step.entity, step.before or {}, stream=stream, source_id=source_id)
    added = set(((step.after or {}).get("details") or {}).keys()) - op.details.keys()
    op.cleared = frozenset(added)
    op.seqs = [seq]
    return op


def _resolve_run(context: Context, wanted: str) -> str:
    runs = [r for r in context.ledger().runs() if r["summary"] and not r["summary"].get("dry_run")]
    if not runs:
        msg = "the ledger records no finished run"
        raise CommandError(msg)
    if wanted == "last":
        # The last load: a rollback is not undone by rolling back "the last run" again.
        loads = [r for r in runs if not (r["summary"].get("settings") or {}).get("rollback_of")]
        if not loads:
            msg = "the ledger records no finished load (only rollbacks)"
            raise CommandError(msg)
        return str(loads[-1]["run_id"])
    matches = [r["run_id"] for r in runs if str(r["run_id"]).startswith(wanted)]
    if len(matches) != 1:
        msg = f"--run {wanted!r} matches {len(matches)} runs: give more of its id (see `report`)"
        raise CommandError(msg)
    return str(matches[0])


@command("rollback", "Undo what one load did: delete what it created, restore what it updated.")
def register(parser: argparse.ArgumentParser) -> Any:
    """Arguments of ``rollback``."""
    parser.add_argument(
        "--run",
        required=True,
        help="the run's id (or its start), or 'last': the last load (rollbacks are skipped)",
    )
    parser.add_argument(
        "--yes", action="store_true", help="carry the plan out (without it: print the plan only)"
    )
    parser.add_argument(
        "--include-unverified",
        action="store_true",
        help="also delete records the run wrote first without looking whether CSM held them",
    )
    parser.add_argument(
        "--max-deletes", type=int, default=100_000, help="deletes allowed (default: no bound)"
    )
    return run


def run(args: argparse.Namespace, context: Context) -> int:
    """Print the plan; with ``--yes``, carry it out and say what became of each record."""
    run_id = _resolve_run(context, args.run)
    ledger = context.ledger()
    history = [{**item, "run_id": run_id} for item in ledger.run_history(run_id)]
    rows = {(h["entity"], h["key"]): ledger.get(h["entity"], h["key"]) for h in history}
    steps = plan_rollback(
        history,
        {k: v for k, v in rows.items() if v is not None},
        include_unverified=args.include_unverified,
    )
    counts: dict[str, int] = {}
    for step in steps:
        counts[step.action] = counts.get(step.action, 0) + 1
        note = f" ({step.note})" if step.note else ""
        context.logger.info("%s %s %s%s", step.action, step.entity, step.key, note)
    members = members_to_restore(steps, ledger.all_records(), _organization_of(context))
    for email, name in members:
        context.logger.info("reassociate customer %s with %s", email, name)
    if members:
        counts["reassociate"] = len(members)
    plan = ", ".join(f"{a} {n}" for a, n in sorted(counts.items())) or "nothing to undo"
    started = next((r["started_at"] for r in ledger.runs() if r["run_id"] == run_id), None)
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(started)) if started else "?"
    context.logger.info("Rollback of run %s (started %s): %s.", run_id, when, plan)
    if not args.yes:
        context.logger.info("Plan only: nothing was changed. Add --yes to carry it out.")
        return 0
    context.close()  # the load's runtime opens the ledger itself
    config = {
        **context.config,
        "dry_run": False,
        "delete_policy": "delete",
        "max_deletes_per_run": args.max_deletes,
        "empty_field_policy": "clear",
        "progress_interval_seconds": 0,
    }
    barrier = StateBarrier(lambda _state: None)
    runtime = LoadRuntime(config, barrier, context.logger)
    runtime.summary.settings = {"rollback_of": run_id}
    runtime.pipeline.settings.delete_unverified = args.include_unverified
    runtime.preflight()
    for step in steps:
        if step.action == LEAVE:
            continue
        op = _operation(step, rows.get((step.entity, step.key)), barrier.next_seq())
        if step.action == DELETE:
            runtime.pipeline.delete(op)
        else:
            runtime.pipeline.accept(op)
    for email, name in members:
        runtime.pipeline.accept(
            Operation(
                CUSTOMER,
                email,
                "(rollback)",
                org_refs=(OrgRef("name", name),),
                seqs=[barrier.next_seq()],
                origin=DEFERRED,
            )
        )
    runtime.finish()
    data = runtime.close()
    failed = sum(c["failed"] for c in data["entities"].values())
    context.logger.info(
        "Rollback of run %s done: %s; %d failed (see the dead-letter file).",
        run_id,
        ", ".join(
            f"{entity}s {', '.join(f'{k} {v}' for k, v in c.items() if v and k != 'received')}"
            for entity, c in data["entities"].items()
            if c["received"] or c["deleted"]
        )
        or "nothing sent",
        failed,
    )
    return 1 if failed else 0
