"""The HubSpot sandbox serves the same data for the same seed as before the compact seeding.

The digests below were computed with the seeding as it was before it was made compact for
1,000,000 contacts (commit 21598aa): every stored record and association (the state
snapshot, in its order), every record as the list, batch-read and search endpoints serve it
(all properties, associations), and every association as the v4 batch read serves it, for a
few seed sizes and presets, and again after the controls (modify, merge, archive, restore,
associate) have changed the seeded records.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
from werkzeug.test import Client

from sandbox.core import ManualClock
from sandbox.hubspot import create_app

AUTH = {"Authorization": "Bearer sandbox-token"}
VOLATILE = ("startedAt", "completedAt")


class Digest:
    def __init__(self) -> None:
        self.sha = hashlib.sha256()

    def add(self, label: str, body: Any) -> None:
        if isinstance(body, dict):
            body = {k: v for k, v in body.items() if k not in VOLATILE}
        self.sha.update(label.encode())
        self.sha.update(json.dumps(body, ensure_ascii=False).encode())

    def hexdigest(self) -> str:
        return self.sha.hexdigest()[:16]


def served(app: Any) -> str:
    """A digest of the state and of everything the API serves, in order."""
    client = Client(app)
    digest = Digest()
    digest.add("state", app.state_snapshot())
    for obj in ("contacts", "companies"):
        names = [
            p["name"] for p in client.get(f"/crm/v3/properties/{obj}", headers=AUTH).json["results"]
        ]
        ids: list[str] = []
        for archived in ("false", "true"):
            after = None
            while True:
                params = {"limit": "100", "archived": archived, "associations": "companies"}
                if after:
                    params["after"] = after
                page = client.get(f"/crm/v3/objects/{obj}", query_string=params, headers=AUTH)
                assert page.status_code == 200
                digest.add(f"list {obj} {archived}", page.json)
                ids += [r["id"] for r in page.json["results"]]
                after = (page.json.get("paging") or {}).get("next", {}).get("after")
                if not after:
                    break
        for start in range(0, len(ids), 100):
            inputs = [{"id": i} for i in ids[start : start + 100]]
            for archived in ("false", "true"):
                response = client.post(
                    f"/crm/v3/objects/{obj}/batch/read",
                    query_string={"archived": archived},
                    json={"inputs": inputs, "properties": names},
                    headers=AUTH,
                )
                digest.add(f"batch {obj} {archived} {response.status_code}", response.json)
        email = client.post(
            f"/crm/v3/objects/{obj}/batch/read",
            json={"inputs": [{"id": "ADA.0@EXAMPLE.COM"}, {"id": "jo.9@example.com"}],
                  "idProperty": "email", "properties": ["email"]},
            headers=AUTH,
        )  # fmt: skip
        digest.add(f"by email {obj} {email.status_code}", email.json)
        for start in range(0, len(ids), 1000):
            inputs = [{"id": i} for i in ids[start : start + 1000]]
            other = "companies" if obj == "contacts" else "contacts"
            response = client.post(
                f"/crm/v4/associations/{obj}/{other}/batch/read",
                json={"inputs": inputs},
                headers=AUTH,
            )
            digest.add(f"assoc {obj} {response.status_code}", response.json)
        modified = "lastmodifieddate" if obj == "contacts" else "hs_lastmodifieddate"
        searches = [
            {"filterGroups": [{"filters": [{"propertyName": modified, "operator": "GTE",
                                            "value": "0"}]}],
             "sorts": [{"propertyName": modified, "direction": "ASCENDING"}]},
            {"filterGroups": [{"filters": [{"propertyName": "cf_multi", "operator": "IN",
                                            "values": ["sms"]}]},
                              {"filters": [{"propertyName": "cf_number", "operator": "GT",
                                            "value": "100"}]}],
             "sorts": [{"propertyName": "cf_date", "direction": "DESCENDING"}]},
            {"query": "société", "sorts": ["-hs_object_id"]},
            {"filterGroups": [{"filters": [{"propertyName": "cf_text", "operator":
                                            "CONTAINS_TOKEN", "value": "1*"}]}]},
        ]  # fmt: skip
        for body in searches:
            after = "0"
            while after is not None:
                response = client.post(
                    f"/crm/v3/objects/{obj}/search",
                    json={**body, "limit": 200, "after": after, "properties": names},
                    headers=AUTH,
                )
                assert response.status_code == 200, response.json
                digest.add(f"search {obj}", response.json)
                after = (response.json.get("paging") or {}).get("next", {}).get("after")
    return digest.hexdigest()


def change(app: Any) -> None:
    """Drive every control over the seeded records."""
    contacts = app.stores["contacts"].active_ids()
    companies = app.stores["companies"].active_ids()
    if len(contacts) < 6 or len(companies) < 4:
        return
    at = 1_767_225_600_000
    app.modify("contacts", count=5, at_ms=at)
    app.modify("companies", ids=[companies[1]], property="name", value="Renamed", at_ms=at + 1)
    app.merge("contacts", primary=contacts[0], secondary=contacts[3], at_ms=at + 2)
    app.merge("companies", primary=companies[0], secondary=companies[2], at_ms=at + 3)
    app.archive("contacts", ids=[contacts[1]], at_ms=at + 4)
    app.restore("contacts", ids=[contacts[1]], at_ms=at + 5)
    app.associate(contacts[4], companies[3], primary=True, at_ms=at + 6)
    app.associate(contacts[5], companies[1], at_ms=at + 7)


CASES = {
    "empty": ("empty", {}),
    "one": ("default", {"contacts": 1, "companies": 1}),
    "57": ("default", {"contacts": 57, "companies": 5}),
    "default": ("default", {}),
    "1000": ("default", {"contacts": 1000, "companies": 100}),
    "1000 no companies": ("default", {"contacts": 1000, "companies": 0}),
    "same timestamp": ("same_timestamp", {"contacts": 700, "companies": 30}),
    "many properties": ("many_properties", {"contacts": 120, "companies": 12}),
    "odd knobs": (
        "default",
        {
            "contacts": 300,
            "companies": 7,
            "same_timestamp": 20,
            "archived_contacts": 9,
            "archived_companies": 2,
            "merged_contacts": 4,
            "merged_companies": 2,
            "extra_properties": 60,
            "base_ms": 1_600_000_000_123,
            "step_ms": 1_234,
        },
    ),
}
PINNED = {
    # case: (digest after seeding, digest after the controls)
    "empty": ("f309af65db805b8e", "c1ae849a7c1e7e3e"),
    "one": ("71240237a707dd97", "e8637b002fe65701"),
    "57": ("36a3bebcaf0019fd", "dc05754fb744535a"),
    "default": ("10ea251b68a89c64", "870a067c47d62bf9"),
    "1000": ("8124cfec50360af3", "1a70d2d676b32ec9"),
    "1000 no companies": ("4ea1ba48f8affdd6", "643c6c02edd20928"),
    "same timestamp": ("b2b764a041713a22", "24621437d0c09537"),
    "many properties": ("03678640f8e6640e", "7f03574081786eab"),
    "odd knobs": ("ae9f9ca67531f404", "846a53ea1fe802ec"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_seed_serves_the_same_data_as_before(case: str) -> None:
    preset, params = CASES[case]
    app = create_app(clock=ManualClock(), burst_limit=0, search_rate_per_second=0)
    app.seed(preset, **params)
    seeded = served(app)
    change(app)
    assert (seeded, served(app)) == PINNED[case]
