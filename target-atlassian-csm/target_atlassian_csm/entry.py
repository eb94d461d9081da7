"""Operations in: what each needs sent, what it merges into, and what it stands for.

The reader's operations come in through the inbox (:meth:`Entry.admit_inbox`, a batch at a
time, one ledger read per batch), as associations, or as records deleted in the source. Each
is *entered*: merged into the live ticket of its key, parked behind one in flight, ended as
unchanged, or made a ticket by :func:`.admission.decide` and handed to :mod:`.routing`.

Entering also learns what each record stands for: the organization a source id names (a need
met for the customers waiting on it), the customer a source id names (for association
records, which wait for their customer when it has not come yet), and which organizations the
source will not load (customers naming them go on without them). Associations deferred by an
earlier run, or earlier in this one, are entered when their organization is known. So is a
look-up's answer (:meth:`Entry.act_on`): the needs it met go on, and the organizations nobody
has are entered to be created by name.
"""

from __future__ import annotations

from target_atlassian_csm.admission import decide, decide_deletion
from target_atlassian_csm.core import Core
from target_atlassian_csm.flow import DELETE, ENDED, IN_FLIGHT, Ticket
from target_atlassian_csm.ledger import DELETED as LEDGER_DELETED
from target_atlassian_csm.ledger import LedgerRow
from target_atlassian_csm.mapping import DELETED_IN_SOURCE
from target_atlassian_csm.operations import (
    CUSTOMER,
    DEFERRED,
    DELETION,
    FLAG,
    ORGANIZATION,
    RECORD,
    REFERENCED,
    Operation,
    OrgRef,
)
from target_atlassian_csm.outcomes import FAILED, SKIPPED, UNCHANGED
from target_atlassian_csm.references import Answer, source_need
from target_atlassian_csm.routing import Router

#: The stream named by operations this target makes itself (organizations created because a
#: customer named them, associations deferred earlier).
REFERENCED_STREAM = "(referenced organization)"


class Entry:
    """Enters operations (every method but :meth:`forget_registered` with the lock held)."""

    def __init__(self, core: Core, router: Router) -> None:
        self.core = core
        self.router = router
        #: An earlier run wrote source records: a new key may be a source record moved (a
        #: first load has nothing to compare with, and pays no look-up per record).
        self._sources_known = core.ledger.has_sources()
        self.deletes_left = core.settings.max_deletes_per_run

    def admit_inbox(self) -> None:
        """Admit what the reader left in the inbox (caller holds the lock)."""
        if not self.core.inbox:
            return
        ops: list[Operation] = []
        while self.core.inbox:  # popleft, not a copy and clear: the reader appends meanwhile
            ops.append(self.core.inbox.popleft())
        received: dict[str, int] = {}
        for op in ops:
            if op.origin == RECORD:
                received[op.entity] = received.get(op.entity, 0) + 1
        for entity, count in received.items():
            self.core.records.received(entity, count)
        learnt = [need for op in ops if (need := self._register(op))]
        rows = {
            entity: self.core.ledger.rows(entity, [op.key for op in ops if op.entity == entity])
            for entity in {op.entity for op in ops}
        }
        for op in ops:
            self.enter(op, rows[op.entity].get(op.key))
            self._after_register(op)
        for need in learnt:
            self.router.met(need)
            for key in sorted(self.core.assoc.deferred.pop(need, ())):
                self._enter_deferred(
                    key, OrgRef("source", need.split(":", 2)[2], need.split(":", 2)[1])
                )

    def _register(self, op: Operation) -> str | None:
        """Learn the source id an operation stands for (before any merging or parking)."""
        if not op.source_id or op.origin != RECORD:
            return None
        if op.entity == ORGANIZATION:
            need = source_need(OrgRef("source", op.source_id, op.stream))
            self.core.lookups.source_names[need] = op.key
            self.core.lookups.sources_not_loaded.pop(need, None)
            self.core.lookups.spellings.setdefault(op.key, op.identity)
            return need
        token = f"{op.stream}:{op.source_id}"
        self.core.assoc.customer_sources[token] = op.key
        self.core.assoc.identities[op.key] = op.identity
        return None

    def forget_registered(self, tickets: list[Ticket]) -> None:
        """Customers now in the ledger (their submission is written): it answers for them.

        The in-memory maps of :meth:`_register` hold only customers not yet written, so
        memory stays flat however many customers a run loads.
        """
        with self.core.cv:
            for ticket in tickets:
                op = ticket.op
                if op.entity != CUSTOMER:
                    continue
                for stream, source_id in op.sources:
                    token = f"{stream}:{source_id}"
                    if self.core.assoc.customer_sources.get(token) == op.key:
                        del self.core.assoc.customer_sources[token]
                self.core.assoc.identities.pop(op.key, None)

    def _after_register(self, op: Operation) -> None:
        """Associations that waited for this customer go in after it (and merge into it)."""
        if op.entity == CUSTOMER and op.source_id and op.origin == RECORD:
            for waiting in self.core.assoc.waiting.pop(f"{op.stream}:{op.source_id}", []):
                self.enter(self._as_customer(waiting, op.key))

    def associate(self, op: Operation, customer_stream: str, customer_id: str) -> None:
        """An association record's operation: in for its customer, or waiting for it to come."""
        token = f"{customer_stream}:{customer_id}"
        key = self.core.assoc.customer_sources.get(token) or self.core.ledger.key_for_source(
            CUSTOMER, customer_stream, customer_id
        )
        if key is None:
            self.core.assoc.waiting.setdefault(token, []).append(op)
            return
        self.enter(self._as_customer(op, key))

    def _as_customer(self, op: Operation, key: str) -> Operation:
        """An association operation addressed to the customer ``key``."""
        return Operation(
            CUSTOMER, self._identity_of(key), op.stream, org_refs=op.org_refs, record=op.record,
            seqs=op.seqs, line=op.line, origin=op.origin,
        )  # fmt: skip

    def _identity_of(self, key: str) -> str:
        if key in self.core.assoc.identities:
            return self.core.assoc.identities[key]
        row = self.core.ledger.get(CUSTOMER, key)
        semantic = row.semantic() if row is not None else None
        return str((semantic or {}).get("identity") or key)

    def enter(self, op: Operation, row: object = ...) -> None:
        """An operation comes in: merge, park, skip as unchanged, or start its ticket."""
        ek = (op.entity, op.key)
        live = self.core.flow.live.get(ek)
        if live is not None and live.state == IN_FLIGHT:
            if (
                ek in self.core.flow.parked
                and RECORD == op.origin == self.core.flow.parked[ek].op.origin
            ):
                self.core.records.merged(op.entity)
            self.core.flow.park(op)
            return
        if live is not None:
            if RECORD == op.origin == live.op.origin:
                self.core.records.merged(op.entity)
            self.core.needs.withdraw(live)
            self.core.batcher.remove(live)
            self.core.flow.move(live, ENDED)
            op = live.op.merged_with(op)
            row = ...
        if row is ...:
            row = self.core.ledger.get(op.entity, op.key)
        if op.origin in (DELETION, FLAG):
            self._enter_deletion(op, row)  # type: ignore[arg-type]
            return
        if row is None and live is None and self._sources_known:
            self._warn_moved(op)
        ticket = decide(
            op,
            row,  # type: ignore[arg-type]
            run_id=self.core.ledger.run_id,
            clear_empty_fields=self.core.settings.clear_empty_fields,
        )
        if ticket is None:
            self.core.records.end_op(op, UNCHANGED)
            if op.entity == ORGANIZATION:
                self.core.lookups.organization_settled(op.key, op.identity, confirmed=True)
                self.core.cv.notify_all()
            return
        ticket.probe = not self.core.settings.dry_run and (
            (self.core.settings.probe_new_records and row is None)
            or (self.core.settings.keep_before_images and ticket.phase != DELETE)
        )
        self.router.route(ticket)

    def _warn_moved(self, op: Operation) -> None:
        """A source record loaded before under another email or name (a new key here)."""
        for stream, source_id in op.sources:
            old = self.core.ledger.source_key(op.entity, stream, source_id)
            if old is not None and old != op.key:
                what = "email" if op.entity == CUSTOMER else "name"
                self.core.records.warn(
                    op,
                    f"source record {stream}/{source_id} was loaded as {self._shown(op, old)}; "
                    f"with its new {what} it makes another CSM {op.entity} (a CSM {op.entity}'s "
                    f"{what} cannot change through the bulk API): the old one is left as it "
                    "was",
                )

    def _shown(self, op: Operation, key: str) -> str:
        return self._identity_of(key) if op.entity == CUSTOMER else self.core.lookups.spelling(key)

    def deleted_in_source(self, op: Operation, *, spare: str | None) -> None:
        """A record deleted in the source: see :meth:`.pipeline.Pipeline.delete`."""
        if not op.identity and op.source_id:
            key = self.core.ledger.key_for_source(op.entity, op.stream, op.source_id)
            if key is not None:
                identity = (
                    self._identity_of(key)
                    if op.entity == CUSTOMER
                    else self.core.lookups.spelling(key)
                )
                op = Operation(
                    op.entity, identity, op.stream, source_id=op.source_id,
                    details=op.details, record=op.record, seqs=op.seqs, origin=op.origin,
                    line=op.line,
                )  # fmt: skip
        if not op.identity or op.key == spare:
            why = "deleted in the source; never loaded by this target: nothing to do"
            self.core.records.end_op(op, SKIPPED, why)
            if op.entity == ORGANIZATION:
                self._gone(op, spare)
            return
        self.enter(op)

    def _enter_deletion(self, op: Operation, row: LedgerRow | None) -> None:
        """A record deleted in the source: flagged, or its CSM record deleted (see admission)."""
        if op.entity == ORGANIZATION and (
            op.origin == DELETION or row is None or row.status == LEDGER_DELETED
        ):  # not in CSM after this (flagged ones stay, and their references with them)
            self._gone(op, None)
        if op.origin == FLAG:
            if row is None or row.status == LEDGER_DELETED:
                self.core.records.end_op(op, SKIPPED, "deleted in the source; never loaded")
                return
            ticket = decide(op, row, run_id=self.core.ledger.run_id, clear_empty_fields=False)
            if ticket is None:
                self.core.records.end_op(op, UNCHANGED)
            else:
                self.router.route(ticket)
            return
        others = []
        if op.source_id:
            others = self.core.ledger.other_sources(op.entity, op.key, op.stream, op.source_id)
            self.core.ledger.drop_source(op.entity, op.stream, op.source_id)
        found = decide_deletion(
            op, row, unverified=self.core.settings.delete_unverified, other_sources=others
        )
        if isinstance(found, str):
            self.core.records.end_op(op, SKIPPED, found)
            if (
                row is not None
                and row.status != LEDGER_DELETED
                and (others or row.created_run is None)
            ):
                self.core.records.warn(op, found)
            return
        if self.deletes_left <= 0:
            why = (
                f"not deleted: max_deletes_per_run ({self.core.settings.max_deletes_per_run}) was "
                "reached in this run (retry the dead letters, or raise the bound)"
            )
            self.core.records.end_op(op, FAILED, why)
            return
        self.deletes_left -= 1
        self.router.route(found)

    def not_loaded(self, stream: str, source_id: str | None, why: str) -> None:
        """See :meth:`.pipeline.Pipeline.source_not_loaded` (caller holds the lock)."""
        if not source_id:
            return
        need = source_need(OrgRef("source", source_id, stream))
        if need in self.core.lookups.source_names:
            return  # an earlier record of this source id was loaded: references find it
        self.core.lookups.sources_not_loaded[need] = why
        self.router.met(need)

    def _gone(self, op: Operation, spare: str | None) -> None:
        """An organization's source id the source deleted (or merged into ``spare``).

        Merged into another organization: references to the old id name the survivor. Else
        the id names nothing in CSM any more, even if an earlier record of it was loaded in
        this run (references would create it again by name): customers load without it.
        """
        if not op.source_id:
            return
        need = source_need(OrgRef("source", op.source_id, op.stream))
        if spare is not None:
            self.core.lookups.source_names[need] = spare
            self.core.lookups.sources_not_loaded.pop(need, None)
            self.router.met(need)
            return
        self.core.lookups.source_names.pop(need, None)
        self.not_loaded(op.stream, op.source_id, DELETED_IN_SOURCE)

    def drop_waiting_associations(self) -> None:
        """End of input: associations whose customer never appeared are not made."""
        for token, ops in self.core.assoc.waiting.items():
            for op in ops:
                self.core.records.warn(op, f"customer {token} never appeared: association not made")
                self.core.records.end(entity=CUSTOMER, seqs=op.seqs, how=SKIPPED, counted=False)
        self.core.assoc.waiting.clear()

    def load_deferred_associations(self) -> None:
        """At start: the associations earlier runs deferred, made or waiting for their org."""
        self._release_deferred_at_start(self.core.ledger.deferred_associations())

    def _release_deferred_at_start(self, pairs: list[tuple[str, str]]) -> None:
        for key, token in pairs:
            ref = OrgRef.from_token(token)
            need = source_need(ref)
            if self.core.lookups.name_key(ref) is not None:
                self._enter_deferred(key, ref)
            else:
                self.core.assoc.deferred.setdefault(need, set()).add(key)

    def _enter_deferred(self, key: str, ref: OrgRef) -> None:
        """An association deferred earlier can be made now."""
        self.core.ledger.drop_deferred([(key, ref.token)])
        identity = self._identity_of(key)
        self.enter(
            Operation(CUSTOMER, identity, REFERENCED_STREAM, org_refs=(ref,), origin=DEFERRED)
        )

    def act_on(self, answer: Answer) -> None:
        """Needs met go on; organizations nobody has are created by name (lock held)."""
        for need in answer.met:
            self.router.met(need)
        for spelling in answer.create:
            self.core.records.summary.task("organizations_created_for_references")
            self.enter(Operation(ORGANIZATION, spelling, REFERENCED_STREAM, origin=REFERENCED))
        self.core.cv.notify_all()
