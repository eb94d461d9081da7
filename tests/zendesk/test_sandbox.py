"""The Zendesk sandbox's rules, one test each (zendesk-api.md §1, support-oas.yaml)."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from werkzeug.test import Client

from sandbox.core.clock import ManualClock
from sandbox.zendesk import create_app
from sandbox.zendesk.store import DEFAULT_BASE

AUTH = {"Authorization": "Bearer sandbox-token"}


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def app(clock: ManualClock):
    app = create_app(clock=clock, incremental_rate_per_minute=0)
    app.seed()
    return app


def get(app, path: str, headers: dict[str, str] | None = None, **query: Any):
    response = Client(app).get(
        path, query_string=query, headers=AUTH if headers is None else headers
    )
    return response.status_code, response.get_json(), response.headers


def test_seed_has_every_custom_field_type_and_users_with_values_and_orgs(app) -> None:
    state = app.state_snapshot()
    types = {f["type"] for f in state["user_fields"]} | {
        f["type"] for f in state["organization_fields"]
    }
    assert types == {"dropdown", "multiselect", "checkbox", "integer", "decimal", "date",
                     "regexp", "text"}  # fmt: skip
    assert len(state["organizations"]) == 5
    users = list(state["users"].values())
    assert len(users) == 21  # 20 end users and the admin
    user = next(u for u in users if u["role"] == "end-user" and u["organization_id"])
    assert str(user["organization_id"]) in state["organizations"]
    assert user["user_fields"]["plan"] in {"plan_free", "plan_pro", "plan_enterprise"}
    assert user["user_fields"]["signup_date"].endswith("T00:00:00Z")


def test_tagger_knob_renames_the_dropdown_type() -> None:
    app = create_app(dropdown_type_name="tagger")
    assert {f["type"] for f in app.state_snapshot()["user_fields"]} >= {"tagger"}


def test_requests_without_valid_credentials_get_401(app) -> None:
    status, body, _ = get(app, "/api/v2/users", headers={"Authorization": "Bearer nope"})
    assert (status, body) == (401, {"error": "Couldn't authenticate you"})


def test_api_token_basic_auth_is_accepted(app) -> None:
    secret = base64.b64encode(b"admin@sandbox.zendesk.example/token:sandbox-api-token").decode()
    status, _, _ = get(app, "/api/v2/users", headers={"Authorization": f"Basic {secret}"})
    assert status == 200


def test_paths_answer_with_and_without_json_suffix(app) -> None:
    assert get(app, "/api/v2/user_fields.json")[1] == get(app, "/api/v2/user_fields")[1]


def test_cursor_export_pages_in_update_order_and_resumes_from_the_cursor(app) -> None:
    _, first, _ = get(app, "/api/v2/incremental/users/cursor.json", start_time=0, per_page=8)
    assert first["end_of_stream"] is False
    assert len(first["users"]) == 8
    _, rest, _ = get(app, "/api/v2/incremental/users/cursor.json", cursor=first["after_cursor"])
    assert rest["end_of_stream"] is True
    stamps = [u["updated_at"] for u in first["users"] + rest["users"]]
    assert stamps == sorted(stamps)
    assert len({u["id"] for u in first["users"] + rest["users"]}) == 21
    assert first["after_url"].startswith("http://localhost/api/v2/incremental/users/cursor.json?")


def test_cursor_export_requires_start_time_on_the_first_call(app) -> None:
    status, body, _ = get(app, "/api/v2/incremental/users/cursor")
    assert status == 400
    assert "start_time" in body["description"]


def test_export_starts_at_start_time_inclusive(app) -> None:
    cut = DEFAULT_BASE + 10 * 60
    _, body, _ = get(app, "/api/v2/incremental/users/cursor", start_time=cut)
    assert body["users"]
    assert min(u["updated_at"] for u in body["users"]) == "2025-01-01T00:10:00Z"


def test_export_holds_back_what_changed_in_the_last_minute(app, clock) -> None:
    user_id = min(app.store.users)
    app.modify("users", user_id, {"name": "Renamed"}, at=clock.now() - 30)
    _, body, _ = get(app, "/api/v2/incremental/users/cursor", start_time=0)
    assert user_id not in {u["id"] for u in body["users"]}
    clock.advance(31)
    _, body, _ = get(app, "/api/v2/incremental/users/cursor", start_time=0)
    assert body["users"][-1]["name"] == "Renamed"


def test_time_export_returns_end_time_next_page_and_end_of_stream(app) -> None:
    _, body, _ = get(app, "/api/v2/incremental/organizations.json", start_time=0, per_page=2)
    assert body["count"] == 2
    assert body["end_of_stream"] is False
    assert body["end_time"] == DEFAULT_BASE + 60
    assert f"start_time={DEFAULT_BASE + 60}" in body["next_page"]
    _, again, _ = get(app, "/api/v2/incremental/organizations", start_time=body["end_time"])
    assert again["organizations"][0]["id"] == body["organizations"][-1]["id"]  # may repeat
    assert again["end_of_stream"] is True


def test_time_export_never_ends_a_page_inside_equal_timestamps(clock) -> None:
    app = create_app(clock=clock, incremental_rate_per_minute=0)
    app.seed(organizations=4, users=0, admin=False, step=0)
    _, body, _ = get(app, "/api/v2/incremental/organizations", start_time=0, per_page=2)
    assert body["count"] == 4


def test_export_per_page_is_capped_at_1000(app) -> None:
    app.set_knobs(export_max_per_page=3)
    _, body, _ = get(app, "/api/v2/incremental/users/cursor", start_time=0, per_page=50)
    assert len(body["users"]) == 3


def test_export_start_time_in_the_future_is_rejected(app, clock) -> None:
    status, _, _ = get(app, "/api/v2/incremental/organizations", start_time=int(clock.now()) + 99)
    assert status == 400


def test_incremental_endpoints_are_limited_to_10_per_minute(clock) -> None:
    app = create_app(clock=clock)
    app.seed()
    codes = [get(app, "/api/v2/incremental/organizations", start_time=0)[0] for _ in range(11)]
    assert codes == [200] * 10 + [429]
    _, body, headers = get(app, "/api/v2/incremental/organizations", start_time=0)
    assert body["error"] == "APIRateLimitExceeded"
    assert int(headers["Retry-After"]) >= 1
    assert get(app, "/api/v2/user_fields")[0] == 200  # other endpoints unaffected


def test_field_definitions_page_by_offset_and_by_cursor(app) -> None:
    _, page1, _ = get(app, "/api/v2/user_fields", per_page=5)
    assert len(page1["user_fields"]) == 5
    assert page1["count"] == 8
    assert "page=2" in page1["next_page"]
    _, cur, _ = get(app, "/api/v2/user_fields", **{"page[size]": 5})
    assert cur["meta"]["has_more"] is True
    _, cur2, _ = get(
        app, "/api/v2/user_fields", **{"page[size]": 5, "page[after]": cur["meta"]["after_cursor"]}
    )
    keys = [f["key"] for f in cur["user_fields"] + cur2["user_fields"]]
    assert keys == [f["key"] for f in app.state_snapshot()["user_fields"]]


def test_dropdown_definitions_carry_option_names_and_tag_values(app) -> None:
    _, body, _ = get(app, "/api/v2/organization_fields/tier")
    options = body["organization_field"]["custom_field_options"]
    assert [(o["name"], o["value"]) for o in options] == [
        ("Gold", "tier_gold"), ("Silver", "tier_silver"), ("Bronze", "tier_bronze")
    ]  # fmt: skip
    field_id = body["organization_field"]["id"]
    _, opts, _ = get(app, f"/api/v2/organization_fields/{field_id}/options")
    assert len(opts["custom_field_options"]) == 3


def test_search_finds_users_updated_in_a_window(app) -> None:
    _, body, _ = get(
        app, "/api/v2/search.json",
        query="type:user updated>2025-01-01T00:20:00Z updated<2025-01-01T00:23:00Z",
    )  # fmt: skip
    assert {r["updated_at"] for r in body["results"]} == {
        "2025-01-01T00:21:00Z", "2025-01-01T00:22:00Z"
    }  # fmt: skip


def test_resources_outside_the_sandbox_answer_403_restricted(app) -> None:
    status, body, _ = get(app, "/api/v2/tickets.json")
    assert status == 403
    assert body["error"]["message"].startswith("Access to this resource is restricted")


def test_modify_merges_custom_values_and_bumps_updated_at(app, clock) -> None:
    org_id = min(app.store.organizations)
    body = app.modify("organizations", org_id, {"organization_fields": {"employees": 7}})
    assert body["organization_fields"]["employees"] == 7
    assert body["organization_fields"]["industry"] == "Software"  # others kept
    assert body["updated_at"] == app.store.organizations[org_id].body["updated_at"]
    assert app.store.organizations[org_id].updated == int(clock.now())


def test_show_returns_one_user_and_404_for_unknown(app) -> None:
    user_id = max(app.store.users)
    status, body, _ = get(app, f"/api/v2/users/{user_id}.json")
    assert (status, body["user"]["id"]) == (200, user_id)
    assert get(app, "/api/v2/users/1")[0] == 404
