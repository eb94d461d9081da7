"""HubSpot paging as the docs allow it, not as our sandbox used to serve it (issue 12, 6-8).

A list cursor repeated or cycling, pages clamped below the size asked, an ``hs_object_id``
that is no number: the sandbox serves each behind a knob, and the tap must stop with a clear
error or read every record exactly once, never loop, skip or emit a record twice.
"""

from __future__ import annotations

from collections import Counter

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from singer_sdk.exceptions import FatalAPIError

V3 = "/crm/v3/objects"
HEADERS = {"Authorization": "Bearer sandbox-token"}
#: Ends a run that would otherwise loop for ever (the old tap, on a repeated cursor).
LOOP_BOUND = {"max_requests_per_run": 80}


def get(sb, path, **params):
    return requests.get(f"{sb.url}{path}", params=params, headers=HEADERS, timeout=10)


def post(sb, path, body):
    return requests.post(f"{sb.url}{path}", json=body, headers=HEADERS, timeout=10)


def walk_list(sb, *, limit, archived=False, pages=50):
    """(ids, cursors asked with, cursors answered) of a list walk, at most ``pages`` pages."""
    ids, asked, answered, after = [], [], [], None
    for _ in range(pages):
        params = {"limit": limit, "archived": str(archived).lower()}
        if after:
            params["after"] = after
        body = get(sb, f"{V3}/contacts", **params).json()
        asked.append(after)
        ids += [r["id"] for r in body["results"]]
        after = body.get("paging", {}).get("next", {}).get("after")
        answered.append(after)
        if after is None:
            break
    return ids, asked, answered


def expected_ids(sb, object_type):
    return {str(o.id) for o in sb.app.stores[object_type].objects.values()}


def list_cursors(sb):
    return [e["query"]["after"][0] for e in sb.requests() if "after" in e["query"]]


# ------------------------------------------------------------------ the sandbox
def test_sandbox_list_cursor_repeat_and_cycle(hubspot):
    sb = hubspot(
        seed={"contacts": 60, "companies": 2, "archived_contacts": 0, "merged_contacts": 0}
    )
    honest, _, answered = walk_list(sb, limit=10)
    assert len(honest) == len(set(honest)) == 60
    assert answered[-1] is None

    sb.knobs(list_cursor_fault="repeat", list_cursor_fault_page=2)
    _, asked, answered = walk_list(sb, limit=10, pages=4)
    assert answered[0] == asked[1]  # page 1 is honest
    assert answered[1] == asked[1]  # page 2 hands back the cursor it was asked with
    assert answered[2] == asked[1]

    sb.knobs(list_cursor_fault="cycle", list_cursor_fault_page=3)
    ids, asked, answered = walk_list(sb, limit=10, pages=6)
    assert answered[2] == asked[1]  # page 3 leads back to page 2 ...
    assert answered[3] == asked[2]  # ... which leads to page 3 again: two cursors alternate
    assert answered[4] == asked[1]
    assert len(set(asked[1:])) == 2
    assert len(ids) > len(set(ids))

    with pytest.raises(ValueError, match="list_cursor_fault"):
        sb.knobs(list_cursor_fault="sometimes")


@pytest.mark.parametrize(("clamp", "limit"), [(7, 10), (1, 100), (100, 100)])
def test_sandbox_list_clamp_serves_fewer_and_still_pages(hubspot, clamp, limit):
    sb = hubspot(seed={"contacts": 40, "companies": 2}, list_page_clamp=clamp)
    first = get(sb, f"{V3}/contacts", limit=limit).json()
    assert len(first["results"]) == min(clamp, limit, 40)
    ids, _, _ = walk_list(sb, limit=limit)
    assert len(ids) == len(set(ids)) == len(sb.app.stores["contacts"].active_ids())


def test_sandbox_search_clamp_defaults_to_100_and_pages_on(hubspot):
    sb = hubspot(seed={"contacts": 250, "companies": 2})
    assert sb.app.knobs["search_page_clamp"] == 100
    body = {"limit": 200, "sorts": [{"propertyName": "hs_object_id", "direction": "ASCENDING"}]}
    seen, after = [], None
    while True:
        page = post(sb, f"{V3}/contacts/search", {**body, **({"after": after} if after else {})})
        page = page.json()
        assert len(page["results"]) <= 100
        seen += [r["id"] for r in page["results"]]
        after = page.get("paging", {}).get("next", {}).get("after")
        if after is None:
            break
    assert len(seen) == len(set(seen)) == page["total"]


def test_sandbox_object_id_overrides(hubspot):
    sb = hubspot(seed={"contacts": 10, "companies": 2}, object_id_overrides={"1003": "c-1003"})
    rows = get(sb, f"{V3}/contacts", limit=10).json()["results"]
    row = next(r for r in rows if r["id"] == "c-1003")
    assert row["properties"]["hs_object_id"] == "c-1003"
    found = post(sb, f"{V3}/contacts/search", {"limit": 10}).json()["results"]
    assert "c-1003" in [r["id"] for r in found]


# ------------------------------------------------ item 6: repeated list cursors
@pytest.mark.parametrize("fault", ["repeat", "cycle"])
@pytest.mark.parametrize("phase", ["list", "archived list"])
def test_repeated_list_cursor_stops_the_run_naming_stream_and_cursor(
    hubspot, tap_config, run_tap_until_error, fault, phase
):
    archived = 40 if phase == "archived list" else 0
    sb = hubspot(
        seed={"contacts": 200, "companies": 3, "archived_contacts": archived},
        list_cursor_fault=fault,
        list_cursor_fault_page=3,
    )
    config = tap_config(sb.url, list_page_size=10, checkpoint_records=10, **LOOP_BOUND)
    if phase == "archived list":
        config["start_date"] = "2024-01-01T00:00:00Z"  # search first, then the archived sweep
    run, error = run_tap_until_error(config)
    assert isinstance(error, FatalAPIError)
    message = str(error)
    assert message.startswith("contacts: the contacts " + phase)
    assert "already given" in message
    repeated = [c for c, n in Counter(list_cursors(sb)).items() if n > 1]
    assert not repeated  # it never asked for a page twice ...
    assert repr(list_cursors(sb)[1 if fault == "repeat" else 0]) in message  # ... and names it
    assert len(sb.requests()) < LOOP_BOUND["max_requests_per_run"]
    emitted = run.ids("contacts")
    assert emitted
    assert max(emitted.values()) == 1  # no record emitted twice
    assert run.state["bookmarks"]["contacts"]["cursor"]["phase"] == phase.split()[0]


def test_a_resumed_listing_refuses_its_start_cursor_coming_back(
    hubspot, tap_config, run_tap_until_error
):
    sb = hubspot(seed={"contacts": 100, "companies": 3}, list_cursor_fault="repeat")
    config = tap_config(sb.url, list_page_size=10, checkpoint_records=10, **LOOP_BOUND)
    _, error = run_tap_until_error(config)
    assert error is not None
    cursor = sb.requests()[-1]["query"]["after"][0]  # the cursor it refused to follow
    resume = {
        "bookmarks": {
            "contacts": {
                "cursor": {"version": 1, "phase": "list", "window_end": 1_900_000_000_000,
                           "after": cursor},
            }
        }
    }  # fmt: skip
    sb.app.journal.clear()
    _, error = run_tap_until_error(config, state=resume)
    assert "already given" in str(error)
    contact_lists = [e for e in sb.requests() if e["path"].startswith("/crm/objects/")
                     and e["path"].endswith("/contacts")]  # fmt: skip
    assert [e["query"]["after"] for e in contact_lists] == [[cursor]]  # resumed, refused


# ------------------------------------------------ item 7: clamped pages, nothing lost
def test_search_reads_past_a_short_page_that_says_more_follow(hubspot, tap_config, run_tap):
    sb = hubspot(seed={"contacts": 450, "companies": 3, "archived_contacts": 0})
    run = run_tap(tap_config(sb.url, start_date="2024-01-01T00:00:00Z"))
    contacts = run.ids("contacts")
    assert set(contacts) == expected_ids(sb, "contacts")  # not only the first 100
    assert max(contacts.values()) == 1


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    shape=st.fixed_dictionaries(
        {
            "contacts": st.integers(min_value=0, max_value=320),
            "same_timestamp": st.integers(min_value=0, max_value=320),
            "list_clamp": st.integers(min_value=1, max_value=100),
            "search_clamp": st.integers(min_value=1, max_value=200),
        }
    )
)
def test_clamped_pages_lose_and_repeat_nothing(hubspot_once, tap_config, run_tap, shape):
    sb = hubspot_once
    sb.knobs(list_page_clamp=shape["list_clamp"], search_page_clamp=shape["search_clamp"])
    sb.app.seed(
        contacts=shape["contacts"],
        companies=4,
        same_timestamp=shape["same_timestamp"],  # records sharing one last-modified time
        archived_contacts=3,
    )
    expected = expected_ids(sb, "contacts")
    for start in (None, "2024-01-01T00:00:00Z"):  # the list phase, then the search phase
        config = tap_config(sb.url, **({"start_date": start} if start else {}))
        emitted = run_tap(config).ids("contacts")
        assert set(emitted) == expected
        assert not emitted or max(emitted.values()) == 1


@pytest.fixture
def hubspot_once(hubspot):
    """One sandbox for every example of a hypothesis test (re-seeded by each example)."""
    return hubspot()


# ------------------------------------------- item 8: hs_object_id that is no number
def test_non_numeric_object_id_stops_search_naming_the_record(
    hubspot, tap_config, run_tap_until_error
):
    sb = hubspot(seed={"contacts": 60, "companies": 3}, object_id_overrides={"1031": "1031-b"})
    run, error = run_tap_until_error(tap_config(sb.url, start_date="2024-01-01T00:00:00Z"))
    assert isinstance(error, FatalAPIError)
    message = str(error)
    assert message.startswith("contacts: search returned the record with id '1031-b'")
    assert "hs_object_id is '1031-b', not a whole number" in message
    assert not run.records("contacts")  # stopped before emitting the page it could not place
