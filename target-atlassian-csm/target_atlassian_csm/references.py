"""What only CSM (or a later record) can tell a waiting ticket: ids and names.

A ticket waits on *needs*, each a token:

* ``src:<stream>:<id>``: which organization a source id stands for. Met by the organization
  record of that id (this run) or the ledger; a record never describes it when the tap sends
  customers before companies, or never at all.
* ``org:<name>``: the CSM id of an organization a customer references, by case-folded name.
  Met from this run's look-ups or the ledger, else by ``organization/fetch`` (once the
  organization is confirmed, when this run sends it), else, when
  ``create_missing_organizations`` allows, by creating it by name.
* ``own:<entity>:<key>``: the record's own CSM id (to clear fields or delete it, by id). Met
  from the ledger, else by a look-up (customers by email, organizations by name), which never
  creates anything: not found means CSM does not hold it.

:class:`Needs` keeps who waits for what. :class:`Lookups` keeps what is known and which
look-ups are due, and turns CSM's answers into *decisions* (needs met, organizations to
create); the pipeline makes the requests and acts on the decisions under its lock.

**Full look-ups.** ``organization/fetch`` takes 50 names and costs one request of the site's
budget whatever it carries. The names customers wait for come a few at a time (customers
name their companies in any order), so an organization look-up is topped up to 50 with
*spare* names: organizations this run created whose ids no one has asked for yet. A customer
that names one later finds its id known, and no request of its own is needed. A spare name is
only ever carried by a look-up that is made anyway: an organizations-only load sends no
look-up for them. (End to end, 100,000 contacts of 9,599 new companies: 294 look-ups
became ~192, the minimum; at the site's rate limit, 10 s of a 250 s run.)
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from target_atlassian_csm.flow import Ticket
from target_atlassian_csm.ledger import Ledger
from target_atlassian_csm.limits import CUSTOMER_FETCH_MAX, ORGANIZATION_FETCH_MAX
from target_atlassian_csm.operations import CUSTOMER, ORGANIZATION, OrgRef


def source_need(ref: OrgRef) -> str:
    """The need a reference by source id makes."""
    return f"src:{ref.stream}:{ref.value}"


def org_need(name_key: str) -> str:
    """The need for a referenced organization's id."""
    return f"org:{name_key}"


def own_need(entity: str, key: str) -> str:
    """The need for a record's own id."""
    return f"own:{entity}:{key}"


class Needs:
    """Which tickets wait for which tokens (and since when, for releasing the oldest)."""

    def __init__(self) -> None:
        self._waiting: dict[str, list[Ticket]] = {}
        self._since: dict[int, float] = {}
        #: Organizations (``org:`` needs) some ticket waits for the CSM id of.
        self.organizations_awaited = 0

    def add(self, ticket: Ticket, need: str) -> None:
        """``ticket`` waits for ``need``."""
        if need not in ticket.needs:
            ticket.needs.add(need)
            if need not in self._waiting:
                self._waiting[need] = []
                self.organizations_awaited += need.startswith("org:")
            self._waiting[need].append(ticket)
            self._since.setdefault(id(ticket), time.monotonic())

    def met(self, need: str) -> list[Ticket]:
        """``need`` is met: the tickets that waited for it (each loses that need)."""
        tickets = self._pop(need)
        for ticket in tickets:
            ticket.needs.discard(need)
            if not ticket.needs:
                self._since.pop(id(ticket), None)
        return tickets

    def withdraw(self, ticket: Ticket) -> None:
        """Forget a ticket (merged into a newer one)."""
        for need in ticket.needs:
            waiting = self._waiting.get(need, [])
            if ticket in waiting:
                waiting.remove(ticket)
            if not waiting:
                self._pop(need)
        ticket.needs.clear()
        self._since.pop(id(ticket), None)

    def _pop(self, need: str) -> list[Ticket]:
        tickets = self._waiting.pop(need, None)
        if tickets is None:
            return []
        self.organizations_awaited -= need.startswith("org:")
        return tickets

    def waiting_on(self, need: str) -> bool:
        """Someone waits for ``need``."""
        return bool(self._waiting.get(need))

    def oldest_on_sources(self, count: int) -> list[Ticket]:
        """Up to ``count`` tickets waiting on source ids, longest waiting first."""
        tickets = {
            id(t): t for need, ts in self._waiting.items() if need.startswith("src:") for t in ts
        }
        ordered = sorted(tickets.values(), key=lambda t: self._since.get(id(t), 0.0))
        return ordered[:count]


@dataclass
class Lookup:
    """A look-up to do: by name (organizations) or email (customers)."""

    spelling: str
    attempts: int = 0
    not_before: float = 0.0
    confirmed_by_us: bool = False  # we just created it: CSM may not list it yet


@dataclass(frozen=True)
class Job:
    """A look-up for the control lane: organizations by name, or records' own ids."""

    kind: str  # "orgs" | "own"
    entity: str
    asked: dict[str, str]  # key -> spelling (name or email as sent)


@dataclass
class Answer:
    """What a look-up's answer decides: needs met, and organizations to create by name."""

    met: list[str] = field(default_factory=list)
    create: list[str] = field(default_factory=list)
    #: The records found whose profile is wanted (their before-image): key -> CSM id.
    read: dict[str, str] = field(default_factory=dict)


class Lookups:
    """What this run knows of CSM ids and source ids, and the look-ups due (lock outside)."""

    def __init__(
        self, ledger: Ledger, *, create_missing: bool, attempts: int, needs: Needs
    ) -> None:
        self.ledger = ledger
        self.create_missing = create_missing
        self.attempts = attempts
        self.needs = needs
        self.source_names: dict[str, str] = {}  # source need -> org name key
        #: Source ids whose organization record came but is not loaded: need -> why.
        self.sources_not_loaded: dict[str, str] = {}
        self.spellings: dict[str, str] = {}  # org name key -> name as sent
        self.org_ids: dict[str, str] = {}  # org name key -> CSM id
        self.customer_ids: dict[str, str] = {}  # email key -> CSM id
        #: Names CSM could not give an id for (references to them are dropped), with why.
        self.orgs_missing: dict[str, str] = {}
        self.own_missing: set[tuple[str, str]] = set()  # records CSM does not hold
        #: What CSM held before this run wrote a record (semantic JSON), read with
        #: keep_before_images; and which records' profiles are wanted.
        self.before_images: dict[tuple[str, str], str] = {}
        self.want_profiles: set[tuple[str, str]] = set()
        self.not_in_ledger: set[str] = set()
        self.tried_creating: set[str] = set()
        self.org_lookups: dict[str, Lookup] = {}
        #: Organizations this run confirmed whose id nobody asked for yet (name key ->
        #: spelling), carried by look-ups made anyway (see module docstring).
        self.spare: dict[str, str] = {}
        self.own_lookups: dict[tuple[str, str], Lookup] = {}

    # ------------------------------------------------------------------- knowns
    def spelling(self, name_key: str) -> str:
        """An organization's name as sent (case kept), from this run or the ledger."""
        if name_key not in self.spellings:
            row = self.ledger.get(ORGANIZATION, name_key)
            semantic = row.semantic() if row is not None else None
            self.spellings[name_key] = str((semantic or {}).get("identity") or name_key)
        return self.spellings[name_key]

    def name_key(self, ref: OrgRef) -> str | None:
        """The organization a reference names (None: a source id nobody described yet)."""
        if ref.kind != "source":
            name_key = ref.value.casefold()
            self.spellings.setdefault(name_key, ref.value)
            return name_key
        need = source_need(ref)
        name_key = self.source_names.get(need)
        if name_key is None:
            name_key = self.ledger.key_for_source(ORGANIZATION, ref.stream or "", ref.value)
            if name_key is not None:
                self.source_names[need] = name_key
        return name_key

    def org_id(self, name_key: str) -> str | None:
        """An organization's CSM id, if this run or the ledger knows it."""
        found = self.org_ids.get(name_key)
        if found is None and name_key not in self.not_in_ledger:
            found = self.ledger.organization_id(name_key)
            if found is None:
                self.not_in_ledger.add(name_key)
            else:
                self.org_ids[name_key] = found
        return found

    def own_id(self, entity: str, key: str) -> tuple[str | None, bool]:
        """(CSM id, known to be absent from CSM) of a record itself."""
        found = self.org_id(key) if entity == ORGANIZATION else self.customer_ids.get(key)
        return found, (entity, key) in self.own_missing

    def forget_org_id(self, csm_id: str) -> list[str]:
        """CSM no longer knows ``csm_id``: the names it stood for (to be found again)."""
        names = [name for name, known in self.org_ids.items() if known == csm_id]
        for name in names:
            del self.org_ids[name]
            self.not_in_ledger.add(name)
            self.tried_creating.discard(name)
        return names

    def organization_deleted(self, name_key: str) -> Answer:
        """This run deleted an organization the source deleted: its id is gone.

        Customers that still name it are loaded without it, never by creating it again.
        """
        self.org_ids.pop(name_key, None)
        self.org_lookups.pop(name_key, None)
        self.spare.pop(name_key, None)
        self.not_in_ledger.add(name_key)
        self.orgs_missing[name_key] = "was deleted in the source and in CSM in this run"
        return Answer(met=[org_need(name_key)])

    # --------------------------------------------------------------- scheduling
    def schedule(self, ticket: Ticket, needs: Iterable[str], busy: set[str]) -> None:
        """Plan the look-ups ``needs`` call for (``busy``: organizations on their way)."""
        for need in needs:
            kind, _, rest = need.partition(":")
            if kind == "org" and rest not in self.org_lookups and rest not in busy:
                self.org_lookups[rest] = Lookup(self.spelling(rest))
            elif kind == "own":
                entity, _, key = rest.partition(":")
                if (entity, key) not in self.own_lookups:
                    spelling = ticket.op.identity if ticket.op.key == key else key
                    self.own_lookups[(entity, key)] = Lookup(spelling)

    def organization_settled(self, name_key: str, spelling: str, *, confirmed: bool) -> None:
        """An organization of this run settled: look its id up if a customer waits on it."""
        if name_key in self.org_ids:
            return
        if self.needs.waiting_on(org_need(name_key)):
            self.org_lookups[name_key] = Lookup(spelling, confirmed_by_us=confirmed)
        elif confirmed:
            self.spare[name_key] = spelling

    def next_job(self, busy: set[str]) -> Job | None:
        """The look-up to run now, if any is due."""
        now = time.monotonic()
        names = [
            k for k, look in self.org_lookups.items() if look.not_before <= now and k not in busy
        ]
        if names:
            chosen = names[:ORGANIZATION_FETCH_MAX]
            asked = {k: self.org_lookups[k].spelling for k in chosen}
            for key, spelling in self.spare.items():
                if len(asked) >= ORGANIZATION_FETCH_MAX:
                    break
                if key not in asked and key not in busy and key not in self.org_lookups:
                    asked[key] = spelling
            return Job("orgs", ORGANIZATION, asked)
        for entity, limit in (
            (CUSTOMER, CUSTOMER_FETCH_MAX),
            (ORGANIZATION, ORGANIZATION_FETCH_MAX),
        ):
            keys = [
                k
                for (e, k), look in self.own_lookups.items()
                if e == entity and look.not_before <= now
            ]
            if keys:
                chosen = keys[:limit]
                return Job(
                    "own", entity, {k: self.own_lookups[(entity, k)].spelling for k in chosen}
                )
        return None

    def next_due_at(self) -> float | None:
        """When the next delayed look-up comes due."""
        times = [
            look.not_before for look in [*self.org_lookups.values(), *self.own_lookups.values()]
        ]
        return min(times) if times else None

    # ------------------------------------------------------------------ answers
    def answered(self, job: Job, found: dict[str, str]) -> Answer:
        """CSM's answer (key -> id, for those it holds) to ``job``: what it decides."""
        if job.kind == "own":
            return self._own_answered(job, found)
        answer = Answer()
        for name_key in job.asked:
            lookup = self.org_lookups.get(name_key)
            spare = self.spare.pop(name_key, None) is not None
            if lookup is None:
                if spare and name_key in found:  # a free rider: known for whoever names it
                    self.org_ids[name_key] = found[name_key]
                continue
            if name_key in found:
                del self.org_lookups[name_key]
                self.org_ids[name_key] = found[name_key]
                answer.met.append(org_need(name_key))
            else:
                self._not_found(name_key, lookup, answer)
        return answer

    def _own_answered(self, job: Job, found: dict[str, str]) -> Answer:
        answer = Answer()
        for key in job.asked:
            self.own_lookups.pop((job.entity, key), None)
            if key in found:
                if job.entity == ORGANIZATION:
                    self.org_ids[key] = found[key]
                else:
                    self.customer_ids[key] = found[key]
                if (job.entity, key) in self.want_profiles:
                    answer.read[key] = found[key]
                    continue  # met once its profile is read
            else:
                self.own_missing.add((job.entity, key))
            answer.met.append(own_need(job.entity, key))
        return answer

    def profiles_read(self, entity: str, asked: dict[str, str], images: dict[str, str]) -> Answer:
        """Before-images read (key -> semantic JSON): the records waiting on them go on."""
        answer = Answer()
        for key in asked:
            self.want_profiles.discard((entity, key))
            if key in images:
                self.before_images[(entity, key)] = images[key]
            answer.met.append(own_need(entity, key))
        return answer

    def _not_found(self, name_key: str, lookup: Lookup, answer: Answer) -> None:
        if not self.needs.waiting_on(org_need(name_key)):
            del self.org_lookups[name_key]
            return
        lookup.attempts += 1
        if lookup.confirmed_by_us and lookup.attempts < self.attempts:
            # Created by us a moment ago: CSM may not list it yet.
            lookup.not_before = time.monotonic() + min(30.0, 0.5 * 2**lookup.attempts)
            return
        del self.org_lookups[name_key]
        if (
            self.create_missing
            and name_key not in self.tried_creating
            and not lookup.confirmed_by_us
        ):
            self.tried_creating.add(name_key)
            answer.create.append(lookup.spelling)
            return
        self.orgs_missing[name_key] = (
            "was not found and create_missing_organizations is off"
            if not self.create_missing
            else "could not be created or found"
        )
        answer.met.append(org_need(name_key))
