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

Records merged into another of the same email or name end with that one (counted
``merged``). :class:`RunRecords` is built once per run from plain objects (summary, plan,
dead letters, barrier) and handed to whoever ends records: the sinks and the pipeline.
"""

from __future__ import annotations

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

    def received(self, entity: str, count: int = 1) -> None:
        """Records of ``entity`` read from the input."""
        self.summary.count(entity, "received", count)

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
        if counted:
            self.summary.count(entity, how)
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
        """It lands, but without something (written to the dead letters as a warning)."""
        who = f"{op.stream}/{op.source_id or op.identity or '?'}"
        self.summary.dead_letter(op.entity, "warning", reason_key(reason), who)
        self.dead_letters.write(
            reason=reason,
            stream=op.stream,
            record=op.record,
            source_id=op.source_id,
            entity=op.entity,
            identity=op.identity,
            line=op.line,
            severity="warning",
        )
