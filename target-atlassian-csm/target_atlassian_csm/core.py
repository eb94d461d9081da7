"""What the reader and the lanes share, and the one lock that guards it.

The pipeline's parts (:mod:`.pipeline` and the collaborators it wires: entry, routing,
endings, the task lanes and the control lane) each own one job, but they move the same
tickets: :class:`Core` holds what they all use, with the one lock and condition they take
(:class:`~.wakeups.Wakeups`). The tickets' state (flow, needs, look-ups, batches,
associations, lane flags, open submissions) is read and written only under that lock; the
reader appends to the inbox without it (see :meth:`.pipeline.Pipeline.accept`); the client
and the ledger are called outside it where each part's docstring says. One object keeps the
concurrency design what it was: one lock, one order of operations.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from dataclasses import dataclass, field

from target_atlassian_csm.batches import Batch, Batcher
from target_atlassian_csm.bulktask import Submission
from target_atlassian_csm.client import CsmClient
from target_atlassian_csm.flow import Flow
from target_atlassian_csm.ledger import Ledger
from target_atlassian_csm.operations import CUSTOMER, ORGANIZATION, Operation
from target_atlassian_csm.outcomes import RunRecords
from target_atlassian_csm.references import Lookups, Needs
from target_atlassian_csm.wakeups import Wakeups


@dataclass
class PipelineSettings:
    """The knobs of the pipeline (from the target's settings)."""

    batch_size: dict[str, int] = field(default_factory=lambda: {CUSTOMER: 100, ORGANIZATION: 100})
    max_tasks_in_flight: int = 5
    #: Delete records whose first write did not look whether CSM held them (rollback only).
    delete_unverified: bool = False
    batch_max_wait_seconds: float = 2.0
    create_missing_organizations: bool = True
    clear_empty_fields: bool = True
    max_task_attempts: int = 3
    task_timeout_seconds: float = 2400.0
    poll_min_seconds: float = 0.1
    poll_max_seconds: float = 30.0
    org_lookup_attempts: int = 8
    max_deletes_per_run: int = 100
    #: Look up whether CSM holds a record before this target first writes it (so that only
    #: what this target created is ever deleted).
    probe_new_records: bool = False
    #: Read what CSM holds before updating a record, and keep it in the ledger (rollback).
    keep_before_images: bool = False
    dry_run: bool = False


@dataclass
class Associations:
    """Associations waiting for their customer or organization."""

    customer_sources: dict[str, str] = field(default_factory=dict)  # "stream:id" -> key
    identities: dict[str, str] = field(default_factory=dict)  # customer key -> email as sent
    waiting: dict[str, list[Operation]] = field(default_factory=dict)  # by customer token
    deferred: dict[str, set[str]] = field(default_factory=dict)  # org source need -> keys


@dataclass
class Lanes:
    """The lanes' shared flags (read and written under the pipeline's lock)."""

    busy: int = 0
    finishing: bool = False
    flush: bool = False
    stopping: bool = False
    fatal: BaseException | None = None
    threads: list[threading.Thread] = field(default_factory=list)


@dataclass
class Core:
    """The state the pipeline's parts share (see the module docstring)."""

    client: CsmClient
    ledger: Ledger
    records: RunRecords
    settings: PipelineSettings
    logger: logging.Logger
    needs: Needs
    lookups: Lookups
    batcher: Batcher
    cv: Wakeups = field(default_factory=Wakeups)
    flow: Flow = field(default_factory=Flow)
    assoc: Associations = field(default_factory=Associations)
    lanes: Lanes = field(default_factory=Lanes)
    #: Operations the reader handed over, not admitted yet (appended without the lock).
    inbox: deque[Operation] = field(default_factory=deque)
    #: Submissions an earlier run left open, for the task lanes to take first.
    resumed: deque[tuple[Batch, Submission]] = field(default_factory=deque)

    def idle(self) -> bool:
        """Nothing left anywhere: no operation, ticket, open submission or busy lane."""
        return not self.inbox and self.flow.empty() and not self.resumed and self.lanes.busy == 0

    def organizations_on_their_way(self) -> set[str]:
        """Organizations this run is writing, in any state.

        A probe or a clear makes an organization wait for its own id first; customers naming
        it are looked up when it settles, never before, when CSM cannot hold it yet.
        """
        return {key for entity, key in self.flow.live if entity == ORGANIZATION}
