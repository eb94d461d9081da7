"""How a record ends, in one call: counted, reported, and settled for the STATE barrier.

A record read by the target ends exactly once, one of:

``created`` / ``updated``  CSM confirmed it (new to the ledger, or known before);
``unchanged``              the ledger says CSM already holds exactly this;
``skipped``                the mapping says it is not to be loaded (archived, deleted...);
``rejected``               it can never load as it is (no email, invalid email, no name): it
                           is reported with its reason, but it is a property of the source,
                           not a failure of the run;
``failed``                 CSM refused it, or it broke its schema or its field types: it is
                           dead-lettered with the reason;
``deleted``                deleted in the source, and its CSM record deleted too
                           (``delete_policy: delete``).

Records merged into another of the same email or name end with that one: each is counted
in the outcome of its group, and ``merged`` counts them apart. The outcome counters are a
partition of the records received: a record is counted by its sequence number, once, in
the outcome it ends with (an operation that carries no record read in this run, such as a
submission an interrupted run left open, is not counted again).

Every ending also makes the dead-letter file current (:meth:`RunRecords.stale`): a record
that lands, is found unchanged, deleted or skipped after it was dead-lettered leaves the
file at the end of the run, a newer failure replaces the older one, and a warning about a
missing association goes once the association is made. Only records that have an entry are
followed (those of the file at the start, and those this run writes), so memory does not grow
with the records a run loads; counted records are a bitmap of sequence numbers.
:class:`RunRecords` is built once
per run from plain objects (summary, plan, dead letters, barrier) and handed to whoever ends
records: the sinks and the pipeline.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterable
from typing import Any

from target_atlassian_csm.barrier import StateBarrier
from target_atlassian_csm.deadletter import DeadLetters
from target_atlassian_csm.operations import DELETION, FLAG, RECORD, Operation
from target_atlassian_csm.plan import RunPlan, reason_key
from target_atlassian_csm.summary import RunSummary

CREATED, UPDATED, UNCHANGED, SKIPPED, REJECTED, FAILED, DELETED = (
    "created",
    "updated",
    "unchanged",
    "skipped",
    "rejected",
    "failed",
    "deleted",
)
ENDINGS = frozenset({CREATED, UPDATED, UNCHANGED, SKIPPED, REJECTED, FAILED, DELETED})
#: Endings after which the record is not dead-lettered (whatever an older entry says).
LANDINGS = frozenset({CREATED, UPDATED, UNCHANGED, SKIPPED, DELETED})
#: Not an ending: a write of the record's key that did not carry a record of this run.
WRITTEN = "written"
#: Endings that wrote the record again (or removed it): a warning it had is said anew if true.
RESENT = frozenset({CREATED, UPDATED, DELETED})


def record_keys(
    entity: str | None, identity: str | None, stream: str | None, source_id: Any
) -> list[tuple[str, ...]]:
    """The keys a record is known by in the dead letters: its email or name, its source id."""
    keys: list[tuple[str, ...]] = []
    if entity and identity:
        keys.append(("identity", str(entity), str(identity).casefold()))
    if stream and source_id is not None and str(source_id) != "":
        keys.append(("source", str(stream), str(source_id)))
    return keys


def entry_keys(entry: dict[str, Any]) -> list[tuple[str, ...]]:
    """The record keys of a dead-letter entry."""
    return record_keys(
        entry.get("entity"), entry.get("identity"), entry.get("stream"), entry.get("source_id")
    )


class RunRecords:
    """The run's reports, and the one way a record ends (see module docstring)."""

    def __init__(
        self,
        *,
        summary: RunSummary,
        plan: RunPlan,
        dead_letters: DeadLetters,
        barrier: StateBarrier,
    ) -> None:
        self.summary = summary
        self.plan = plan
        self.dead_letters = dead_letters
        self.barrier = barrier
        self._lock = threading.Lock()
        self._order = itertools.count()
        #: Sequence numbers already counted in an outcome, a bit each (counted once).
        self._counted = bytearray()
        #: Record keys with a dead-letter entry (from earlier runs, or written by this run):
        #: only their endings are followed for :meth:`stale`.
        self._watched: set[tuple[str, ...]] = {
            key for entry in dead_letters.entries() for key in entry_keys(entry)
        }
        #: Per record key: (order, ending) of its latest ending in this run.
        self._ends: dict[tuple[str, ...], tuple[int, str]] = {}
        #: Record keys a warning was written for in this run.
        self._warned: set[tuple[str, ...]] = set()
        #: Per customer identity: the organization references associated in this run.
        self._associated: dict[tuple[str, ...], set[str]] = {}

    def received(self, entity: str, count: int = 1) -> None:
        """Records of ``entity`` read from the input."""
        self.summary.count(entity, "received", count)

    def _count_once(self, seqs: list[int]) -> int:
        """How many of ``seqs`` were not counted yet; they are now (lock held)."""
        new = 0
        for seq in seqs:
            byte, bit = divmod(seq, 8)
            if byte >= len(self._counted):
                self._counted.extend(bytes(max(byte + 1 - len(self._counted), 4096)))
            if not self._counted[byte] & (1 << bit):
                self._counted[byte] |= 1 << bit
                new += 1
        return new

    def not_counted(self, seq: int) -> None:
        """``seq`` is no record received (an association stream's record).

        Its ending settles the STATE barrier but is never counted in an outcome.
        """
        with self._lock:
            self._count_once([seq])

    def merged(self, entity: str) -> None:
        """A record was folded into another of the same key (it ends with that one)."""
        self.summary.count(entity, "merged")

    def end(
        self,
        *,
        entity: str,
        seqs: Iterable[int],
        how: str,
        reason: str | None = None,
        stream: str | None = None,
        record: Any = None,
        source_id: str | None = None,
        identity: str | None = None,
        line: int | None = None,
        task_id: str | None = None,
        counted: bool = True,
    ) -> None:
        """One record (or a merged group) ends ``how``; failures go to the dead letters."""
        if how not in ENDINGS:
            msg = f"unknown ending {how!r}"
            raise ValueError(msg)
        seqs = list(seqs)
        with self._lock:
            new = self._count_once(seqs) if counted else 0
            order = next(self._order)
            keys = record_keys(entity, identity, stream, source_id)
            if how in (FAILED, REJECTED):
                self._watched.update(keys)
            for key in keys:
                if key not in self._watched:
                    continue
                if counted and seqs:  # a record of this run ends
                    self._ends[key] = (order, how)
                elif how not in (FAILED, REJECTED):
                    # A write that is not the record's own (a submission resumed from an
                    # interrupted run, an association made late, an organization created by
                    # name): it says nothing of whether the record's latest version landed.
                    self._ends.setdefault(key, (order, WRITTEN))
        if new:
            self.summary.count(entity, how, new)
        if how in (FAILED, REJECTED):
            who = f"{stream}/{source_id or identity or '?'}"
            self.plan.failure(entity, reason or how, who)
            self.summary.dead_letter(entity, how, reason_key(reason or how), who)
            self.dead_letters.write(
                reason=reason or how,
                stream=stream,
                record=record,
                source_id=source_id,
                entity=entity,
                identity=identity,
                task_id=task_id,
                line=line,
                category=how,
            )
        self.barrier.settle(seqs)

    def end_op(
        self, op: Operation, how: str, reason: str | None = None, task_id: str | None = None
    ) -> None:
        """An operation ends (counted only when it came from a record of a mapped stream)."""
        if how in (CREATED, UPDATED) and op.org_refs:
            # CSM confirmed a write carrying these associations (a deferred one made late
            # comes here as the record's ledger state plus the association). A reference
            # released again in this run is warned about again (and that warning is kept).
            key = ("identity", op.entity, op.key)
            with self._lock:
                if key in self._watched:
                    self._associated.setdefault(key, set()).update(_reference_texts(op))
        self.end(
            entity=op.entity,
            seqs=op.seqs,
            how=how,
            reason=reason,
            stream=op.stream,
            record=op.record,
            source_id=op.source_id,
            identity=op.identity,
            line=op.line,
            task_id=task_id,
            counted=op.origin in (RECORD, DELETION, FLAG),
        )

    def warn(self, op: Operation, reason: str) -> None:
        """It lands, but without something (written to the dead letters as a warning).

        A warning names its record (stream, source id, identity, input line) but carries no
        copy of it: the record landed, nothing is to be replayed from the line. (With the copy,
        a tap that sends contacts before companies, as singer-io's tap-hubspot does, wrote
        88,700 "loaded without its organization" warnings into a 322 MB file that took 22 s to
        compact at the end of the run.)
        """
        who = f"{op.stream}/{op.source_id or op.identity or '?'}"
        keys = record_keys(op.entity, op.identity, op.stream, op.source_id)
        with self._lock:
            self._warned.update(keys)
            self._watched.update(keys)
        self.summary.dead_letter(op.entity, "warning", reason_key(reason), who)
        self.dead_letters.write(
            reason=reason,
            stream=op.stream,
            source_id=op.source_id,
            entity=op.entity,
            identity=op.identity,
            line=op.line,
            severity="warning",
        )

    def stale(self, entry: dict[str, Any]) -> bool | None:
        """Whether this run made a dead-letter ``entry`` stale (None: this run did not say).

        An error is stale when its record's latest ending in this run was not a failure; a
        write of its key that carried no record of this run (a resumed submission, an
        association made late) keeps it, as its record's version may never have landed. A
        warning is stale when the association it is about was made in this run, or when the
        record was written again (or deleted) without a new warning; a record found unchanged
        or skipped keeps its warning (CSM holds what the warning says).
        """
        keys = entry_keys(entry)
        with self._lock:
            ends = [self._ends[key] for key in keys if key in self._ends]
            latest = max(ends)[1] if ends else None
            if (entry.get("severity") or "error") == "error":
                return None if latest is None else latest in LANDINGS
            if any(key in self._warned for key in keys):
                return False
            made = set().union(*(self._associated.get(key, set()) for key in keys))
        if _about_association(str(entry.get("reason") or ""), made):
            return True
        return True if latest in RESENT else None


def _reference_texts(op: Operation) -> set[str]:
    """How a warning names each organization ``op`` associates (see the pipeline's warnings)."""
    texts = set()
    for ref in op.org_refs:
        if ref.kind == "source":
            texts.add(f"organization {ref.stream}:{ref.value} ")
        else:
            texts.add(f"organization {ref.value!r} ".casefold())
    return texts


def _about_association(reason: str, made: set[str]) -> bool:
    """A warning that the record was loaded without an organization now associated."""
    folded = reason.casefold()
    return any(reason.startswith(text) or folded.startswith(text) for text in made)
