"""The v2 company paths and out-of-scope probes the peer HubSpot taps call."""

from __future__ import annotations

from typing import Any

import pytest
from werkzeug.test import Client

from sandbox.hubspot import HubSpotPeerApp, create_app
from sandbox.registry import create_app as registry_create_app

AUTH = {"Authorization": "Bearer sandbox-token"}


@pytest.fixture
def app() -> HubSpotPeerApp:
    app = create_app(burst_limit=0)
    app.seed("default", contacts=10, companies=5)
    return app


def get(app, path: str, **query: Any):
    response = Client(app).get(path, query_string=query, headers=AUTH)
    return response.status_code, response.get_json()


def test_the_registry_serves_the_peer_paths() -> None:
    assert isinstance(registry_create_app("hubspot"), HubSpotPeerApp)


def test_v2_properties_is_a_bare_list_of_company_definitions(app) -> None:
    status, body = get(app, "/companies/v2/properties")
    assert status == 200
    assert isinstance(body, list)
    names = {p["name"]: p for p in body}
    assert names["name"]["type"] == "string"
    assert {"name", "label", "type", "fieldType", "groupName"} <= set(names["industry"])


def test_v2_paged_pages_by_last_company_id_with_only_asked_properties(app) -> None:
    _, first = get(app, "/companies/v2/companies/paged", limit=2, properties="createdate")
    assert first["has-more"] is True
    assert [c["companyId"] for c in first["companies"]] == sorted(
        c["companyId"] for c in first["companies"]
    )
    assert first["offset"] == first["companies"][-1]["companyId"]
    assert set(first["companies"][0]["properties"]) == {"createdate"}
    seen = [c["companyId"] for c in first["companies"]]
    offset = first["offset"]
    while True:
        _, page = get(app, "/companies/v2/companies/paged", limit=2, offset=offset)
        seen += [c["companyId"] for c in page["companies"]]
        offset = page["offset"]
        if not page["has-more"]:
            break
    assert seen == sorted(app.stores["companies"].active_ids())


def test_v2_paged_caps_limit_at_250(app) -> None:
    app.seed("default", contacts=0, companies=260, archived_companies=0, merged_companies=0)
    _, body = get(app, "/companies/v2/companies/paged", limit=1000)
    assert len(body["companies"]) == 250


def test_v2_company_has_value_objects_and_epoch_ms_datetimes(app) -> None:
    company_id = app.stores["companies"].active_ids()[0]
    status, body = get(app, f"/companies/v2/companies/{company_id}")
    assert status == 200
    name = body["properties"]["name"]
    assert set(name) == {"value", "timestamp", "source", "sourceId", "versions"}
    assert name["value"] == app.stores["companies"].objects[company_id].properties["name"]
    assert body["properties"]["createdate"]["value"].isdigit()
    assert name["timestamp"] == app.stores["companies"].objects[company_id].updated_ms


def test_v2_company_archived_or_unknown_is_404(app) -> None:
    company_id = app.stores["companies"].active_ids()[0]
    app.archive("companies", ids=[company_id])
    assert get(app, f"/companies/v2/companies/{company_id}")[0] == 404
    assert get(app, "/companies/v2/companies/1")[0] == 404


@pytest.mark.parametrize(
    "path",
    [
        "/properties/v1/deals/properties",
        "/crm/v3/properties/tickets",
        "/crm/v3/properties/calls",
        "/crm/v3/schemas",
    ],
)
def test_objects_outside_the_sandbox_answer_missing_scopes(app, path) -> None:
    status, body = get(app, path)
    assert status == 403
    assert body["category"] == "MISSING_SCOPES"


def test_contact_and_company_properties_still_served(app) -> None:
    assert get(app, "/crm/v3/properties/contacts")[0] == 200
    assert get(app, "/crm/v3/properties/companies")[0] == 200
