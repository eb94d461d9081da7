"""Seed presets: the detail fields a site starts with, and optional pre-existing records.

``empty`` defines no field; ``default`` defines the fields the project's samples map to;
``flows`` those the HubSpot and Kustomer sandboxes' data maps to (``presets_flows``).
All take ``customers=N`` and ``organizations=N`` to pre-create records, named like the
records the target tests generate (``user{i}@example.com``, ``Org {i}``), so a resync test or
a benchmark starts from a site that already holds the data. Customer ``i`` belongs to
organization ``i % organizations``; with the ``default`` fields the records also carry
detail values (``details=False`` leaves them bare). Seeding replaces whatever was stored.
"""

from __future__ import annotations

from typing import Any

from sandbox.core.app import ApiError
from sandbox.csm.presets_flows import FLOW_PRESETS
from sandbox.csm.store import Store

DEFAULT_FIELDS: dict[str, list[tuple[str, str, list[str]]]] = {
    "customer": [
        ("Region", "SELECT", ["AMER", "EMEA", "APAC"]),
        ("Plan", "SELECT", ["Free", "Standard", "Premium", "Enterprise"]),
        ("Phone", "PHONE", []),
        ("Renewal Date", "DATE", []),
        ("Seats", "NUMBER", []),
        ("Products", "MULTISELECT", ["Jira", "Confluence", "Bitbucket", "Trello", "Loom"]),
    ],
    "organization": [
        (
            "Industry",
            "SELECT",
            ["Software", "Manufacturing", "Retail", "Finance", "Healthcare", "Education"],
        ),
        ("Website", "URL", []),
        ("Employees", "NUMBER", []),
        ("Tier", "SELECT", ["Bronze", "Silver", "Gold"]),
        ("Founded", "DATE", []),
    ],
}
PRESETS = ("empty", "default", *FLOW_PRESETS)
PARAMS = frozenset({"customers", "organizations", "details"})


def _count(params: dict[str, Any], name: str) -> int:
    value = params.get(name, 0)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        msg = f"seed parameter {name!r} must be a non-negative integer"
        raise ApiError(400, msg)
    return value


def seed_store(store: Store, preset: str, params: dict[str, Any]) -> dict[str, Any]:
    """Fill a fresh store; return a summary."""
    if preset not in PRESETS:
        msg = f"csm sandbox has no seed preset {preset!r}; known: {', '.join(PRESETS)}"
        raise ApiError(400, msg)
    unknown = sorted(set(params) - PARAMS)
    if unknown:
        msg = f"unknown seed parameter(s) {unknown}; known: {sorted(PARAMS)}"
        raise ApiError(400, msg)
    if preset == "default" or preset in FLOW_PRESETS:
        preset_fields = DEFAULT_FIELDS if preset == "default" else FLOW_PRESETS[preset]
        for entity, fields in preset_fields.items():
            for name, type_name, options in fields:
                store.add_field(entity, name, type_name, options)
    with_details = bool(params.get("details", True)) and preset == "default"
    organizations = [
        _seed_organization(store, i, with_details=with_details)
        for i in range(_count(params, "organizations"))
    ]
    for i in range(_count(params, "customers")):
        customer = store.create_customer(f"user{i}@example.com", f"User {i}")
        if with_details:
            customer.details = {
                "Region": [("AMER", "EMEA", "APAC")[i % 3]],
                "Plan": [("Free", "Standard")[i % 2]],
                "Seats": [str(i)],
                "Products": ["Jira", "Loom"] if i % 2 else ["Confluence"],
            }
        if organizations:
            store.associate(customer, organizations[i % len(organizations)])
    return {
        "preset": preset,
        "fields": {entity: len(store.fields[entity]) for entity in store.fields},
        "customers": len(store.customers),
        "organizations": len(store.organizations),
    }


def _seed_organization(store: Store, i: int, *, with_details: bool) -> Any:
    organization = store.create_organization(f"Org {i}")
    if with_details:
        organization.details = {
            "Industry": [("Software", "Retail")[i % 2]],
            "Employees": [str(10 + i)],
            "Website": [f"https://org{i}.example.com"],
        }
    return organization
