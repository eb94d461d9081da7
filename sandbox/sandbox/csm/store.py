"""What a CSM site holds: detail field definitions, customers and organizations.

The store knows identity and lookup rules, not request shapes: emails and organization
names are matched case-insensitively (and are unique per site), field names exactly as
defined. Customer ids are ``qm:<site uuid>:<uuid>`` and organization ids numeric strings
(``"1"``, ``"2"``, ...), both deterministic in creation order so two runs of a test see the
same ids; the id of a deleted record is never given again. Memberships are kept on both
sides, in insertion order; deleting a record removes its memberships on the other side.
A customer remembers when it was created (the end of the task that made it; seeded ones at
time 0), for the Jira user search's findability delay; its email and display-name words are
kept in a :class:`PrefixIndex` so the search does not scan the whole site.
"""

from __future__ import annotations

import bisect
import uuid
from dataclasses import dataclass, field
from typing import Any

ENTITIES = ("customer", "organization")
SELECT_TYPES = frozenset({"SELECT", "MULTISELECT"})
BASE_TYPES = frozenset({"TEXT", "SELECT", "MULTISELECT", "DATE", "EMAIL", "PHONE", "URL", "NUMBER"})


@dataclass
class FieldDef:
    """One detail field definition; ``position`` is 1-based, in creation order."""

    name: str
    type: str
    options: list[str] = field(default_factory=list)
    position: int = 0

    @property
    def multi(self) -> bool:
        """Whether the field takes more than one value."""
        return self.type == "MULTISELECT"

    def to_api(self) -> dict[str, Any]:
        """The ``GET {entity}/details`` shape."""
        kind: dict[str, Any] = {"name": self.type}
        if self.type in SELECT_TYPES:
            kind["options"] = list(self.options)
        return {"name": self.name, "type": kind, "configuration": {"position": self.position}}

    def to_state(self) -> dict[str, Any]:
        """The read-back shape."""
        return {
            "name": self.name,
            "type": self.type,
            "options": list(self.options),
            "position": self.position,
        }


@dataclass
class Customer:
    """A Customer Account with its detail values and organizations."""

    id: str
    email: str
    display_name: str
    details: dict[str, list[str]] = field(default_factory=dict)
    organization_ids: dict[str, None] = field(default_factory=dict)
    created_at: float = 0.0
    seq: int = 0

    def search_keys(self) -> list[str]:
        """What the user search matches prefixes of: the email and each display-name word."""
        return [self.email.casefold(), *self.display_name.casefold().split()]


@dataclass
class Organization:
    """An organization with its detail values and member customers."""

    id: str
    name: str
    details: dict[str, list[str]] = field(default_factory=dict)
    customer_ids: dict[str, None] = field(default_factory=dict)


class PrefixIndex:
    """Customers found by a prefix of a search key: a sorted list and an unsorted tail.

    Adding a customer only queues it (a seed of 100,000 customers stays cheap); a lookup
    first turns the queue into entries, and merges a tail grown past an eighth of the list
    (one sort of nearly sorted data). Entries are never removed: a deleted or renamed
    customer leaves a stale entry, which the caller drops by checking the live record.
    """

    def __init__(self) -> None:
        self._queued: list[Customer] = []
        self._sorted: list[tuple[str, int, str]] = []
        self._tail: list[tuple[str, int, str]] = []

    def add(self, customer: Customer) -> None:
        """Index ``customer`` under its current search keys (at the next lookup)."""
        self._queued.append(customer)

    def starting_with(self, prefix: str) -> dict[str, int]:
        """Ids of customers with a key starting with ``prefix``, with their creation number."""
        for customer in self._queued:
            self._tail.extend((key, customer.seq, customer.id) for key in customer.search_keys())
        self._queued = []
        if len(self._tail) > max(64, len(self._sorted) // 8):
            self._sorted.extend(self._tail)
            self._sorted.sort()
            self._tail = []
        found: dict[str, int] = {}
        at = bisect.bisect_left(self._sorted, (prefix,))
        while at < len(self._sorted) and self._sorted[at][0].startswith(prefix):
            _, seq, customer_id = self._sorted[at]
            found[customer_id] = seq
            at += 1
        for key, seq, customer_id in self._tail:
            if key.startswith(prefix):
                found[customer_id] = seq
        return found


class Store:
    """All records of one site."""

    def __init__(self, cloud_id: str) -> None:
        self.site_uuid = uuid.uuid5(uuid.NAMESPACE_URL, f"csm-sandbox:{cloud_id}")
        self.fields: dict[str, dict[str, FieldDef]] = {entity: {} for entity in ENTITIES}
        self.customers: dict[str, Customer] = {}
        self.organizations: dict[str, Organization] = {}
        self._email_index: dict[str, str] = {}
        self._name_index: dict[str, str] = {}
        self._search_index = PrefixIndex()
        self._customer_seq = 0
        self._organization_seq = 0

    # ------------------------------------------------------------------ fields
    def add_field(self, entity: str, name: str, type_name: str, options: list[str]) -> FieldDef:
        """Define a field (the caller has validated it)."""
        fields = self.fields[entity]
        definition = FieldDef(name, type_name, list(options), len(fields) + 1)
        fields[name] = definition
        return definition

    def field_named(self, entity: str, name: str) -> FieldDef | None:
        """The field with exactly this name."""
        return self.fields[entity].get(name)

    def field_name_taken(self, entity: str, name: str) -> bool:
        """Whether ``name`` clashes with a field (trimmed, case-insensitive)."""
        wanted = name.strip().casefold()
        return any(existing.strip().casefold() == wanted for existing in self.fields[entity])

    # --------------------------------------------------------------- customers
    def customer(self, customer_id: str) -> Customer | None:
        """The customer with this id."""
        return self.customers.get(customer_id)

    def customer_by_email(self, email: str) -> Customer | None:
        """The customer with this email (case-insensitive)."""
        found = self._email_index.get(email.strip().casefold())
        return self.customers.get(found) if found else None

    def create_customer(self, email: str, display_name: str, *, at: float = 0.0) -> Customer:
        """Add a Customer Account; its id is derived from the site and a sequence number."""
        self._customer_seq += 1
        tail = uuid.uuid5(self.site_uuid, f"customer:{self._customer_seq}")
        customer = Customer(f"qm:{self.site_uuid}:{tail}", email.strip(), display_name)
        customer.created_at = at
        customer.seq = self._customer_seq
        self.customers[customer.id] = customer
        self._email_index[customer.email.casefold()] = customer.id
        self._search_index.add(customer)
        return customer

    def rename_customer(self, customer: Customer, display_name: str) -> None:
        """Change a customer's display name (and what the user search finds it by)."""
        customer.display_name = display_name
        self._search_index.add(customer)

    def customers_with_prefix(self, prefix: str) -> list[Customer]:
        """Customers with a search key starting with ``prefix`` (casefolded), by creation.

        A candidate list: entries left by renames are included, so the caller checks its
        own matching rule on each (see :func:`sandbox.csm.reads.user_matches`).
        """
        found = self._search_index.starting_with(prefix)
        live = [self.customers[i] for i in found if i in self.customers]
        return sorted(live, key=lambda c: c.seq)

    def delete_customer(self, customer: Customer) -> None:
        """Remove a customer, its detail values and its memberships."""
        for organization_id in customer.organization_ids:
            self.organizations[organization_id].customer_ids.pop(customer.id, None)
        del self.customers[customer.id]
        del self._email_index[customer.email.casefold()]

    # ----------------------------------------------------------- organizations
    def organization(self, organization_id: str) -> Organization | None:
        """The organization with this id."""
        return self.organizations.get(organization_id)

    def organization_by_name(self, name: str) -> Organization | None:
        """The organization with this name (trimmed, case-insensitive)."""
        found = self._name_index.get(name.strip().casefold())
        return self.organizations.get(found) if found else None

    def create_organization(self, name: str) -> Organization:
        """Add an organization with the next numeric id."""
        self._organization_seq += 1
        organization = Organization(str(self._organization_seq), name.strip())
        self.organizations[organization.id] = organization
        self._name_index[organization.name.casefold()] = organization.id
        return organization

    def delete_organization(self, organization: Organization) -> None:
        """Remove an organization, its detail values and its memberships."""
        for customer_id in organization.customer_ids:
            self.customers[customer_id].organization_ids.pop(organization.id, None)
        del self.organizations[organization.id]
        del self._name_index[organization.name.casefold()]

    def associate(self, customer: Customer, organization: Organization) -> None:
        """Make ``customer`` a member of ``organization`` (both sides)."""
        customer.organization_ids[organization.id] = None
        organization.customer_ids[customer.id] = None

    def dissociate(self, customer: Customer, organization: Organization) -> None:
        """End ``customer``'s membership of ``organization`` (both sides)."""
        customer.organization_ids.pop(organization.id, None)
        organization.customer_ids.pop(customer.id, None)

    # ---------------------------------------------------------------- read-back
    def ordered_details(self, entity: str, details: dict[str, list[str]]) -> list[dict[str, Any]]:
        """Details as ``[{name, values}]`` in field position order."""
        fields = self.fields[entity]
        names = sorted(details, key=lambda n: fields[n].position if n in fields else 10_000)
        return [{"name": n, "values": list(details[n])} for n in names]

    def customer_profile(self, customer: Customer) -> dict[str, Any]:
        """``GET customer/profile/{id}``."""
        return {
            "id": customer.id,
            "email": customer.email,
            "displayName": customer.display_name,
            "details": self.ordered_details("customer", customer.details),
            "organizations": [
                {"id": oid, "name": self.organizations[oid].name}
                for oid in customer.organization_ids
            ],
        }

    def organization_profile(self, organization: Organization) -> dict[str, Any]:
        """``GET organization/profile/{id}``."""
        return {
            "id": organization.id,
            "name": organization.name,
            "details": self.ordered_details("organization", organization.details),
            "customers": [
                {
                    "id": cid,
                    "email": self.customers[cid].email,
                    "displayName": self.customers[cid].display_name,
                }
                for cid in organization.customer_ids
            ],
        }

    @staticmethod
    def customer_state(customer: Customer) -> dict[str, Any]:
        """One customer in the read-back shape."""
        return {
            "id": customer.id,
            "email": customer.email,
            "displayName": customer.display_name,
            "details": {k: list(v) for k, v in customer.details.items()},
            "organizationIds": list(customer.organization_ids),
        }

    @staticmethod
    def organization_state(organization: Organization) -> dict[str, Any]:
        """One organization in the read-back shape."""
        return {
            "id": organization.id,
            "name": organization.name,
            "details": {k: list(v) for k, v in organization.details.items()},
            "customerIds": list(organization.customer_ids),
        }

    def snapshot(self) -> dict[str, Any]:
        """Customers, organizations and fields, JSON-serialisable."""
        return {
            "customers": [self.customer_state(c) for c in self.customers.values()],
            "organizations": [self.organization_state(o) for o in self.organizations.values()],
            "fields": {
                entity: [f.to_state() for f in self.fields[entity].values()] for entity in ENTITIES
            },
        }
