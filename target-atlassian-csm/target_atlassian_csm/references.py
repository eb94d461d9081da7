"""What only CSM (or a later record) can tell a waiting ticket: ids and names.

A ticket waits on *needs*, each a token:

* ``src:<stream>:<id>``: which organization a source id stands for. Met by the organization
  record of that id (this run) or the ledger; a record never describes it when the tap sends
  customers before companies, or never at all.
* ``org:<name>``: an organization's CSM id, by case-folded name. Met from this run's lookups or
  the ledger, else by ``organization/fetch`` (once the organization is confirmed, when this run
  sends it), else, when ``create_missing_organizations`` allows, by creating it by name.
* ``cust:<email>``: a customer's own CSM id, to clear its fields (details bulk by id). Met
  from the ledger, else looked up by email.

:class:`Needs` keeps who waits for what; :class:`Directory` keeps what is known and which
look-ups are due. Both are plain data: the pipeline calls CSM and tells them the answers.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from target_atlassian_csm.flow import Ticket
from target_atlassian_csm.operations import OrgRef


def source_need(ref: OrgRef) -> str:
    """The need a reference by source id makes."""
    return f"src:{ref.stream}:{ref.value}"


def org_need(name_key: str) -> str:
    """The need for an organization's id."""
    return f"org:{name_key}"


def customer_need(key: str) -> str:
    """The need for a customer's own id."""
    return f"cust:{key}"


class Needs:
    """Which tickets wait for which tokens (and since when, for releasing the oldest)."""

    def __init__(self) -> None:
        self._waiting: dict[str, list[Ticket]] = {}
        self._since: dict[int, float] = {}

    def add(self, ticket: Ticket, need: str) -> None:
        """``ticket`` waits for ``need``."""
        if need not in ticket.needs:
            ticket.needs.add(need)
            self._waiting.setdefault(need, []).append(ticket)
            self._since.setdefault(id(ticket), time.monotonic())

    def met(self, need: str) -> list[Ticket]:
        """``need`` is met: the tickets that waited for it (each loses that need)."""
        tickets = self._waiting.pop(need, [])
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
                self._waiting.pop(need, None)
        ticket.needs.clear()
        self._since.pop(id(ticket), None)

    def tokens(self, prefix: str = "") -> list[str]:
        """Needs someone waits for (starting with ``prefix``)."""
        return [n for n in self._waiting if n.startswith(prefix)]

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


@dataclass
class Directory:
    """What this run knows of CSM ids and source ids, and which look-ups are due."""

    source_names: dict[str, str] = field(default_factory=dict)  # source need -> org name key
    spellings: dict[str, str] = field(default_factory=dict)  # org name key -> name as sent
    org_ids: dict[str, str] = field(default_factory=dict)  # org name key -> CSM id
    customer_ids: dict[str, str] = field(default_factory=dict)  # email key -> CSM id
    #: Names and emails CSM could not give an id for in this run, with the reason.
    orgs_missing: dict[str, str] = field(default_factory=dict)
    customers_missing: set[str] = field(default_factory=set)
    not_in_ledger: set[str] = field(default_factory=set)  # org names the ledger has no id for
    org_lookups: dict[str, Lookup] = field(default_factory=dict)
    customer_lookups: dict[str, Lookup] = field(default_factory=dict)
    tried_creating: set[str] = field(default_factory=set)

    def due(self, table: dict[str, Lookup], *, busy: Iterable[str] = ()) -> list[str]:
        """Keys whose look-up may run now (not while their record is on its way)."""
        now = time.monotonic()
        blocked = set(busy)
        return [k for k, look in table.items() if look.not_before <= now and k not in blocked]

    def next_due_at(self) -> float | None:
        """When the next delayed look-up comes due."""
        times = [
            look.not_before
            for table in (self.org_lookups, self.customer_lookups)
            for look in table.values()
        ]
        return min(times) if times else None

    def forget_org_id(self, csm_id: str) -> list[str]:
        """CSM no longer knows ``csm_id``: the names it stood for."""
        names = [name for name, known in self.org_ids.items() if known == csm_id]
        for name in names:
            del self.org_ids[name]
        return names
