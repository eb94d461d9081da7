"""The control lane: the look-ups of the CSM ids that waiting tickets need.

One lane, a loop over :meth:`ControlLane.next_job` (:meth:`.pipeline.Pipeline._serve`). What
to look up, when, and what an answer decides are :class:`~.references.Lookups`'s; this lane
makes the requests outside the lock (organizations by name, customers by email, and the
profiles whose before-images are kept), writes the ids found to the ledger, and hands the
decisions to :meth:`.entry.Entry.act_on` under the lock.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable

from target_atlassian_csm.client import profile_semantic
from target_atlassian_csm.core import Core
from target_atlassian_csm.entry import Entry
from target_atlassian_csm.operations import ORGANIZATION
from target_atlassian_csm.references import Job


class ControlLane:
    """What the control lane does (each request outside the lock)."""

    def __init__(self, core: Core, entry: Entry) -> None:
        self.core = core
        self.entry = entry

    def next_job(self) -> Callable[[], None] | None:
        """The next look-up that is due, counted busy; None when the lanes stop (lock taken)."""
        with self.core.cv:
            while True:
                if self.core.lanes.stopping or self.core.lanes.fatal is not None:
                    return None
                job = self.core.lookups.next_job(self.core.organizations_on_their_way())
                if job is not None:
                    self.core.lanes.busy += 1
                    return lambda: self._look_up(job)
                if self.core.lanes.finishing and self.core.idle():
                    return None
                due_at = self.core.lookups.next_due_at()
                wait = 1.0 if due_at is None else max(0.01, min(1.0, due_at - time.monotonic()))
                self.core.cv.wait(wait)

    def _look_up(self, job: Job) -> None:
        """Ask CSM (outside the lock), then act on what the answer decides."""
        if self.core.settings.dry_run:
            found = {k: f"dry-run:{k}" for k in job.asked}
        elif job.entity == ORGANIZATION:
            results = self.core.client.fetch_organizations(list(job.asked.values()))
            named = [(str(r["name"]), str(r["id"])) for r in results if r.get("name")]
            found = {name.casefold(): csm_id for name, csm_id in named}
            self.core.ledger.set_organization_ids(named)
        else:
            found = self.core.client.find_customer_ids(list(job.asked.values()))
            self.core.ledger.set_customer_ids(found.items())
        with self.core.cv:
            answer = self.core.lookups.answered(job, found)
            self.entry.act_on(answer)
        if answer.read:
            images = {}
            if not self.core.settings.dry_run:
                profiles = self.core.client.fetch_profiles(job.entity, list(answer.read.values()))
                key_of = {csm_id: key for key, csm_id in answer.read.items()}
                for profile in profiles:
                    key = key_of.get(str(profile["id"]))
                    if key is not None:
                        semantic = profile_semantic(job.entity, profile)
                        images[key] = json.dumps(semantic, sort_keys=True, separators=(",", ":"))
            with self.core.cv:
                self.entry.act_on(self.core.lookups.profiles_read(job.entity, answer.read, images))
