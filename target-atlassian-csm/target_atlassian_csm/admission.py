"""What an operation needs sent, given what the ledger says CSM holds: a pure decision.

* Nothing, when the ledger has exactly this confirmed and nothing is to be cleared
  (``unchanged``).
* Fields to *clear*: mapped fields the record leaves empty for which CSM may hold a value
  (the ledger's last confirmed or last sent payload has them). They are cleared with the
  details bulk's DELETE operation, documented under every reading of the API (an empty
  ``values`` array in a profile upsert is not: it may be ignored or refused).
* A profile *upsert*, unless clearing alone brings CSM to the record's values.

Operations that are not a record's full state (an association, an organization created
because a customer named it, a flag saying the source deleted it) are applied on top of what
the ledger knows, as is a second record of the same email or name within one run. A record
deleted in the source is deleted in CSM only when this target created it there
(:func:`decide_deletion`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from target_atlassian_csm.flow import CLEAR, DELETE, UPSERT, Ticket
from target_atlassian_csm.ledger import CONFIRMED, DELETED, LedgerRow
from target_atlassian_csm.operations import DEFERRED, RECORD, REFERENCED, Operation


def _without(semantic_text: str, fields: tuple[str, ...]) -> str:
    semantic = json.loads(semantic_text)
    details = semantic.get("details") or {}
    for name in fields:
        details.pop(name, None)
    if details:
        semantic["details"] = details
    else:
        semantic.pop("details", None)
    return json.dumps(semantic, sort_keys=True, separators=(",", ":"))


def decide(
    op: Operation, row: LedgerRow | None, *, run_id: str, clear_empty_fields: bool
) -> Ticket | None:
    """The ticket to send for ``op``, or None when CSM already holds it (see module doc)."""
    # The ledger has it, but CSM does not have it all: an association made late, or an
    # organization a look-up did not find (deleted in CSM since the ledger confirmed it).
    force = op.origin in (DEFERRED, REFERENCED)
    if row is not None and row.status == DELETED:
        row = None  # deleted in CSM: whatever comes now is new there
    if row is not None and row.payload and (row.run_id == run_id or op.origin != RECORD):
        prior = Operation.from_semantic(
            op.entity,
            row.semantic() or {},
            stream=row.stream or op.stream,
            source_id=row.source_id,
        )
        op = prior.merged_with(op)
    if row is None:
        return Ticket(op)
    known = row.status == CONFIRMED or row.confirmed_payload is not None
    clears: tuple[str, ...] = ()
    if clear_empty_fields and op.cleared:
        clears = tuple(sorted((row.held_fields() & op.cleared) - op.details.keys()))
    if row.status == CONFIRMED and row.payload_hash == op.payload_hash and not clears and not force:
        return None
    phases = [UPSERT]
    if clears:
        phases = [CLEAR, UPSERT]
        confirmed = row.confirmed_payload
        if confirmed and _without(confirmed, clears) == op.semantic_text:
            phases = [CLEAR]  # clearing alone brings CSM to the record's values
    return Ticket(
        op,
        phases=phases,
        clears=clears,
        known=known,
        csm_id=row.csm_id,
        before=row.confirmed_payload,
    )


def decide_deletion(
    op: Operation,
    row: LedgerRow | None,
    *,
    unverified: bool = False,
    other_sources: Sequence[str] = (),
) -> Ticket | str:
    """A ticket deleting ``op``'s CSM record, or why nothing is deleted.

    Only records this target created are deleted (the ledger knows the run that created
    each): a record CSM held before the migration, or one an agent made, is left alone.
    ``unverified`` (a rollback told so) also deletes records first written without looking.
    ``other_sources`` are source records that still load into the same CSM record (same email
    or name): while any is left, the CSM record stays.
    """
    if row is None or row.status == DELETED:
        return "deleted in the source; never loaded by this target: nothing to delete"
    if other_sources:
        more = len(other_sources) - 3
        shown = ", ".join(other_sources[:3]) + (f" and {more} more" if more > 0 else "")
        return f"deleted in the source, but {shown} still load into the same CSM record: left"
    if row.created_run is None and not unverified:
        return (
            "deleted in the source; left in CSM: not created by this target as far as the "
            "ledger knows (CSM held it before, or its first write did not look whether CSM "
            "held it: delete_policy was not 'delete' then)"
        )
    return Ticket(op, phases=[DELETE], known=True, csm_id=row.csm_id, before=row.confirmed_payload)
