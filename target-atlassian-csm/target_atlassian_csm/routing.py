"""Where a ticket goes next: buffered for its batch, or waiting for what it still needs.

A ticket is *routed* when it is admitted, when a need it waited for is met, when its phase is
done and another follows, and when CSM forgot an organization id it named. Routing asks
:mod:`.references` what the ticket still needs (its own CSM id, the ids of the organizations
it associates, which organization a source id stands for) and either makes it wait for those
(and schedules the look-ups) or buffers it in its batch (:mod:`.batches`).

A customer waiting for an organization no record has described (or one the source will not
load) is *released*: loaded without that association, which is recorded as deferred and made
when a run loads the organization.
"""

from __future__ import annotations

from target_atlassian_csm.core import Core
from target_atlassian_csm.flow import BUFFERED, CLEAR, DELETE, UPSERT, WAITING, Ticket
from target_atlassian_csm.operations import CUSTOMER
from target_atlassian_csm.references import org_need, own_need, source_need


class Router:
    """Routes tickets (every method is called with the pipeline's lock held)."""

    def __init__(self, core: Core) -> None:
        self.core = core

    def route(self, ticket: Ticket) -> None:
        """Buffer a ticket for its phase, or make it wait for what it needs."""
        needs = self._needs_of(ticket)
        if needs:
            if ticket.state != WAITING:
                self.core.flow.move(ticket, WAITING)
            for need in needs:
                self.core.needs.add(ticket, need)
            self.core.lookups.schedule(ticket, needs, self.core.organizations_on_their_way())
            self.core.cv.notify_all()
            return
        self._warn_dropped(ticket)
        self.core.flow.move(ticket, BUFFERED)
        self.core.batcher.add(ticket)
        self.core.cv.notify_all()

    def _needs_of(self, ticket: Ticket) -> list[str]:
        """What the ticket still needs (and, as a side effect, the ids it has)."""
        return self._own_needs(ticket) + self._reference_needs(ticket)

    def _own_needs(self, ticket: Ticket) -> list[str]:
        """Its own CSM id (to clear or delete by id), and whether CSM held it before."""
        op, needs = ticket.op, []
        if ticket.probe and ticket.existed is None:
            image = self.core.lookups.before_images.get(ticket.ek)
            found, missing = self.core.lookups.own_id(op.entity, op.key)
            wants_image = self.core.settings.keep_before_images
            if missing or (found and (not wants_image or image is not None)):
                ticket.existed = bool(found)
                ticket.before = image or ticket.before
            else:
                if wants_image:
                    self.core.lookups.want_profiles.add(ticket.ek)
                needs.append(own_need(op.entity, op.key))
        if ticket.phase in (CLEAR, DELETE) and ticket.csm_id is None:
            found, missing = self.core.lookups.own_id(op.entity, op.key)
            if found:
                ticket.csm_id = found
            elif missing and ticket.phase == CLEAR:
                ticket.phases, ticket.clears = [UPSERT], ()  # nothing in CSM to clear
            elif not missing:
                needs.append(own_need(op.entity, op.key))
            # missing and DELETE: not in CSM any more, the delete lane ends it as deleted
        return needs

    def _reference_needs(self, ticket: Ticket) -> list[str]:
        """The CSM ids of the organizations a customer's upsert associates."""
        op, needs = ticket.op, []
        if op.entity != CUSTOMER or UPSERT not in ticket.phases:
            return needs
        ticket.org_ids = []
        for ref in op.org_refs:
            name_key = self.core.lookups.name_key(ref)
            if name_key is None:
                need = source_need(ref)
                if need in ticket.released:
                    continue
                not_loaded = self.core.lookups.sources_not_loaded.get(need)
                if not_loaded is not None or self.core.lanes.finishing:
                    self._release_source(ticket, need, not_loaded)
                    continue
                needs.append(need)
                continue
            org_id = self.core.lookups.org_id(name_key)
            if org_id is not None:
                if org_id not in ticket.org_ids:
                    ticket.org_ids.append(org_id)
            elif name_key not in self.core.lookups.orgs_missing:
                needs.append(org_need(name_key))
        return needs

    def met(self, need: str) -> None:
        """Something a ticket waited for is known (or known to be unavailable)."""
        for ticket in self.core.needs.met(need):
            if ticket.state == WAITING:
                self.route(ticket)

    def release_sources(self, ticket: Ticket) -> None:
        """Stop waiting for organizations no record has described: load without them."""
        for need in [n for n in ticket.needs if n.startswith("src:")]:
            self._release_source(ticket, need)
        if ticket.state == WAITING:
            self.core.needs.withdraw(ticket)
            self.route(ticket)

    def _release_source(self, ticket: Ticket, need: str, why: str | None = None) -> None:
        ticket.released.add(need)
        token = need.removeprefix("src:")
        self.core.ledger.defer_associations([(ticket.op.key, f"source:{token}")])
        self.core.assoc.deferred.setdefault(need, set()).add(ticket.op.key)
        self.core.records.summary.task("associations_deferred")
        self.core.records.warn(
            ticket.op,
            f"organization {token} {why or 'is not known yet'}: loaded without this "
            "association, which is made when this run or a later one loads that organization",
        )

    def _warn_dropped(self, ticket: Ticket) -> None:
        if ticket.op.entity != CUSTOMER or UPSERT not in ticket.phases:
            return
        for ref in ticket.op.org_refs:
            name_key = (
                self.core.lookups.source_names.get(source_need(ref))
                if ref.kind == "source"
                else ref.value.casefold()
            )
            if name_key is not None and name_key in self.core.lookups.orgs_missing:
                spelling = self.core.lookups.spelling(name_key)
                why = self.core.lookups.orgs_missing[name_key]
                self.core.records.warn(
                    ticket.op, f"organization {spelling!r} {why}: loaded without it"
                )
