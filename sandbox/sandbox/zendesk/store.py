"""Zendesk Support data: users, organizations and their custom field definitions.

Records are stored the way the API returns them (zendesk-api.md §1.2-§1.4): custom values
live under ``user_fields`` / ``organization_fields`` keyed by the field ``key``; a dropdown
value is the option's ``value`` (the hidden "tag"), a multiselect value a list of them, a
date an ISO datetime at midnight, a checkbox a boolean. Timestamps are kept as epoch
seconds next to the record so the incremental exports can order and filter on them.
"""

from __future__ import annotations

import copy
import datetime as dt
from dataclasses import dataclass, field
from typing import Any

#: 2025-01-01T00:00:00Z: seeded records are older than any test's "now", so the exports'
#: last-minute hold-back never hides them.
DEFAULT_BASE = 1_735_689_600
ORG_ID_BASE = 360_000_000_000
USER_ID_BASE = 370_000_000_000
FIELD_ID_BASE = 380_000_000_000
OPTION_ID_BASE = 390_000_000_000


def iso(epoch: float) -> str:
    """Zendesk's timestamp format: ISO 8601, UTC, whole seconds, ``Z``."""
    return dt.datetime.fromtimestamp(int(epoch), dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Record:
    """One user or organization: the API body plus its update time for ordering."""

    id: int
    body: dict[str, Any]
    updated: int

    def sort_key(self) -> tuple[int, int]:
        """Exports order by update time, then id."""
        return (self.updated, self.id)


@dataclass
class Store:
    """Everything the sandbox holds."""

    users: dict[int, Record] = field(default_factory=dict)
    organizations: dict[int, Record] = field(default_factory=dict)
    user_fields: list[dict[str, Any]] = field(default_factory=list)
    organization_fields: list[dict[str, Any]] = field(default_factory=list)

    def ordered(self, kind: str) -> list[Record]:
        """Users or organizations in export order."""
        return sorted(getattr(self, kind).values(), key=Record.sort_key)

    def snapshot(self) -> dict[str, Any]:
        """JSON-serialisable copy of everything."""
        return {
            "users": {str(k): copy.deepcopy(r.body) for k, r in self.users.items()},
            "organizations": {str(k): copy.deepcopy(r.body) for k, r in self.organizations.items()},
            "user_fields": copy.deepcopy(self.user_fields),
            "organization_fields": copy.deepcopy(self.organization_fields),
        }


# ------------------------------------------------------------------------ definitions
#: (key, type, title, options as (name, value) or None, regexp)
USER_FIELD_SPECS: list[tuple[str, str, str, list[tuple[str, str]] | None, str | None]] = [
    ("plan", "dropdown", "Plan", [("Free", "plan_free"), ("Pro", "plan_pro"),
                                  ("Enterprise", "plan_enterprise")], None),
    ("seats", "integer", "Seats", None, None),
    ("nps_score", "decimal", "NPS score", None, None),
    ("signup_date", "date", "Signup date", None, None),
    ("interests", "multiselect", "Interests", [("Billing", "interest_billing"),
                                               ("API", "interest_api"),
                                               ("Reporting", "interest_reporting")], None),
    ("vip", "checkbox", "VIP", None, None),
    ("customer_code", "regexp", "Customer code", None, r"^C-\d{5}$"),
    ("job_title", "text", "Job title", None, None),
]  # fmt: skip
ORG_FIELD_SPECS: list[tuple[str, str, str, list[tuple[str, str]] | None, str | None]] = [
    ("tier", "dropdown", "Tier", [("Gold", "tier_gold"), ("Silver", "tier_silver"),
                                  ("Bronze", "tier_bronze")], None),
    ("employees", "integer", "Employees", None, None),
    ("annual_revenue", "decimal", "Annual revenue", None, None),
    ("renewal_date", "date", "Renewal date", None, None),
    ("regions", "multiselect", "Regions", [("EMEA", "region_emea"), ("Americas", "region_amer"),
                                           ("APAC", "region_apac")], None),
    ("partner", "checkbox", "Partner", None, None),
    ("account_code", "regexp", "Account code", None, r"^AC-\d{4}$"),
    ("industry", "text", "Industry", None, None),
]  # fmt: skip


def build_fields(
    specs: list[tuple[str, str, str, list[tuple[str, str]] | None, str | None]],
    *,
    resource: str,
    id_base: int,
    base: int,
    dropdown_type: str,
    host: str,
) -> list[dict[str, Any]]:
    """Field definitions in the ``CustomFieldObject`` shape (support-oas.yaml)."""
    out = []
    option_id = OPTION_ID_BASE + id_base % 1000 * 100
    for position, (key, type_name, title, options, regexp) in enumerate(specs):
        field_id = id_base + position + 1
        body: dict[str, Any] = {
            "url": f"{host}/api/v2/{resource}/{field_id}.json",
            "id": field_id,
            "type": dropdown_type if type_name == "dropdown" else type_name,
            "key": key,
            "title": title,
            "description": f"{title} (sandbox)",
            "raw_title": title,
            "raw_description": f"{title} (sandbox)",
            "position": position,
            "active": True,
            "system": False,
            "regexp_for_validation": regexp,
            "created_at": iso(base),
            "updated_at": iso(base),
        }
        # ``tag`` is "optional for custom field of type checkbox; not presented otherwise"
        # (CustomFieldObject): these checkboxes set none, so it is left out, not null
        if options is not None:
            body["custom_field_options"] = []
            for opt_position, (name, value) in enumerate(options):
                option_id += 1
                body["custom_field_options"].append(
                    {
                        "id": option_id,
                        "name": name,
                        "raw_name": name,
                        "value": value,
                        "position": opt_position,
                        "url": f"{host}/api/v2/{resource}/{field_id}/options/{option_id}.json",
                    }
                )
        out.append(body)
    return out


# ------------------------------------------------------------------------------ seed
INDUSTRIES = ["Software", "Retail", "Healthcare", "Finance", "Logistics"]
JOB_TITLES = ["Engineer", "Buyer", "Director", "Analyst"]
FIRST = ["Ada", "Grace", "Alan", "Edsger", "Barbara", "Ken", "Radia", "Linus", "Margaret", "Tim"]
LAST = ["Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Thompson", "Perlman", "Torvalds"]


def org_body(i: int, base: int, step: int, host: str, *, multiselect: bool) -> dict[str, Any]:
    """Organization ``i`` of the seed (every custom field type filled, a gap every 4th)."""
    org_id = ORG_ID_BASE + i + 1
    at = base + i * step
    fields: dict[str, Any] = {
        "tier": ["tier_gold", "tier_silver", "tier_bronze"][i % 3],
        "employees": 10 * (i + 1),
        "annual_revenue": round(1000.5 * (i + 1), 2),
        "renewal_date": f"2026-{(i % 12) + 1:02d}-15T00:00:00Z",
        "regions": ["region_emea", "region_apac"][: 1 + i % 2] if multiselect else None,
        "partner": i % 2 == 0,
        "account_code": f"AC-{1000 + i}",
        "industry": INDUSTRIES[i % len(INDUSTRIES)],
    }
    if i % 4 == 3:
        fields["tier"] = None  # an empty dropdown is null, as the API returns it
    return {
        "url": f"{host}/api/v2/organizations/{org_id}.json",
        "id": org_id,
        "name": f"Org {i + 1:03d} Ltd",
        "shared_tickets": False,
        "shared_comments": False,
        "external_id": f"org-ext-{i + 1}",
        "created_at": iso(at),
        "updated_at": iso(at),
        "domain_names": [f"org{i + 1}.example.com"],
        "details": "",
        "notes": "",
        "group_id": None,
        "tags": ["seeded"],
        "organization_fields": fields,
        "deleted_at": None,
    }


def user_body(
    i: int,
    base: int,
    step: int,
    host: str,
    org_ids: list[int],
    *,
    multiselect: bool,
    without_email: bool,
    deleted: bool,
) -> dict[str, Any]:
    """End user ``i`` of the seed: a default organization for most, every custom type filled."""
    user_id = USER_ID_BASE + i + 1
    at = base + (len(org_ids) + i) * step
    first, last = FIRST[i % len(FIRST)], LAST[i % len(LAST)]
    org_id = org_ids[i % len(org_ids)] if org_ids and i % 7 != 6 else None
    fields: dict[str, Any] = {
        "plan": ["plan_free", "plan_pro", "plan_enterprise"][i % 3],
        "seats": i + 1,
        "nps_score": round(5.5 + (i % 5) / 2, 1),
        "signup_date": f"2024-{(i % 12) + 1:02d}-{(i % 27) + 1:02d}T00:00:00Z",
        "interests": ["interest_billing", "interest_api"][: 1 + i % 2] if multiselect else None,
        "vip": i % 3 == 0,
        "customer_code": f"C-{10000 + i}",
        "job_title": JOB_TITLES[i % len(JOB_TITLES)],
    }
    return {
        "id": user_id,
        "url": f"{host}/api/v2/users/{user_id}.json",
        "name": f"{first} {last} {i + 1}",
        "email": None if without_email else f"user{i + 1}@customer{i % 5}.example.com",
        "created_at": iso(at),
        "updated_at": iso(at),
        "time_zone": "Copenhagen",
        "iana_time_zone": "Europe/Copenhagen",
        "phone": f"+4570{i:06d}",
        "shared_phone_number": False,
        "photo": None,
        "locale_id": 1,
        "locale": "en-US",
        "organization_id": org_id,
        "role": "end-user",
        "role_type": None,
        "custom_role_id": None,
        "verified": True,
        "external_id": f"user-ext-{i + 1}",
        "tags": [],
        "alias": "",
        "active": not deleted,
        "shared": False,
        "shared_agent": False,
        "last_login_at": None,
        "two_factor_auth_enabled": False,
        "signature": None,
        "details": "",
        "notes": "",
        "default_group_id": None,
        "moderator": False,
        "ticket_restriction": "requested",
        "only_private_comments": False,
        "restricted_agent": True,
        "suspended": False,
        "chat_only": False,
        "report_csv": False,
        "user_fields": fields,
    }


def admin_body(base: int, host: str) -> dict[str, Any]:
    """The account's admin (the API user): every real account has one, and it is exported."""
    user_id = USER_ID_BASE
    body = user_body(0, base, 0, host, [], multiselect=False, without_email=False, deleted=False)
    body.update(
        id=user_id,
        url=f"{host}/api/v2/users/{user_id}.json",
        name="Sandbox Admin",
        email="admin@sandbox.zendesk.example",
        role="admin",
        role_type=4,
        restricted_agent=False,
        ticket_restriction=None,
        external_id=None,
        user_fields=dict.fromkeys(body["user_fields"]),
    )
    return body
