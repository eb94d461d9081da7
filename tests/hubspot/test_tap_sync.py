"""tap-hubspot-contacts against the sandbox: full read, incremental, ties, resume, limits."""

from __future__ import annotations

import json
import logging
import math
import os
import signal
import subprocess
import sys

import pytest
from singer_sdk.exceptions import ConfigValidationError, FatalAPIError

from sandbox.core import ManualClock
from tap_hubspot_contacts import client as client_module
from tap_hubspot_contacts.ratelimit import SlidingWindowBudget
from tap_hubspot_contacts.tap import TapHubSpotContacts


def expected_ids(sb, object_type, *, archived=None):
    objects = sb.app.stores[object_type].objects.values()
    return {str(o.id) for o in objects if archived is None or o.archived == archived}


def searches(sb):
    return [e for e in sb.requests() if e["path"].endswith("/search")]


# ------------------------------------------------------------------ full read
def test_full_read_emits_every_record_once_with_typed_flat_fields(hubspot, tap_config, run_tap):
    sb = hubspot(seed={"contacts": 600, "companies": 60})
    run = run_tap(tap_config(sb.url))
    contacts, companies = run.ids("contacts"), run.ids("companies")
    assert set(contacts) == expected_ids(sb, "contacts")
    assert set(companies) == expected_ids(sb, "companies")
    assert max(contacts.values()) == 1
    assert max(companies.values()) == 1
    assert not searches(sb)  # a first run does not depend on search
    by_id = {r["id"]: r for r in run.records("contacts")}
    archived = expected_ids(sb, "contacts", archived=True)
    assert archived
    assert all(by_id[i]["archived"] and by_id[i]["archivedAt"] for i in archived)
    merged = [r for r in by_id.values() if r["hs_merged_object_ids"]]
    assert merged
    assert all(g not in by_id for r in merged for g in r["hs_merged_object_ids"])
    row = by_id["1007"]  # primary company and a second one
    assert row["associated_company_ids"] == ["5000007", "5000008"]
    assert row["primary_company_id"] == "5000007"
    assert isinstance(row["cf_number"], float)
    assert isinstance(row["cf_bool"], bool)
    assert row["cf_multi"] == ["email", "phone", "chat"]
    assert row["cf_date"].endswith("T00:00:00.000Z")
    assert isinstance(row["hs_object_id"], int)
    assert by_id["1013"]["associated_company_ids"] == []  # no company
    schema = run.schema("contacts")["properties"]
    assert schema["cf_multi"]["type"] == ["array", "null"]
    assert schema["cf_datetime"]["format"] == "date-time"
    for off_by_default in ("cf_calc", "hs_email_domain", "hs_internal_flag"):
        assert off_by_default not in schema
    assert "hs_merged_object_ids" in schema  # required, although hidden and calculated
    company = run.records("companies")[0]
    assert {"name", "hs_merged_object_ids", "archived", "id"} <= set(company)
    state = run.state["bookmarks"]["contacts"]
    assert state["replication_key"] == "lastmodifieddate"
    assert "cursor" not in state
    definitions = {r["name"]: r for r in run.records("contact_properties")}
    assert definitions["cf_multi"]["fieldType"] == "checkbox"
    assert definitions["cf_select"]["options"][0]["value"] == "bronze"
    assert definitions["cf_calc"]["synced"] is False
    assert definitions["email"]["synced"] is True


def test_incremental_run_reads_only_the_changed_one_percent(hubspot, tap_config, run_tap):
    sb = hubspot(seed={"contacts": 2000, "companies": 200})
    config = tap_config(sb.url)
    first = run_tap(config)
    full_requests = len(sb.requests())
    sb.app.journal.clear()
    changed = set(sb.app.modify(fraction=0.01)["modified"])
    changed_companies = set(sb.app.modify("companies", fraction=0.01)["modified"])
    second = run_tap(config, state=first.state)
    assert set(second.ids("contacts")) == changed
    assert set(second.ids("companies")) == changed_companies
    assert max(second.ids("contacts").values()) == 1
    incremental_requests = len(sb.requests())
    # 2 property reads, 1 search + 1 association read for contacts, 1 search for companies,
    # one archived sweep page each: proportional to the change, not to the 2,000 rows.
    assert incremental_requests <= 8
    assert full_requests >= 2000 / 100
    third = run_tap(config, state=second.state)
    assert not third.records("contacts")
    assert not third.records("companies")


def test_archive_and_merge_between_runs_are_emitted(hubspot, tap_config, run_tap):
    sb = hubspot(
        seed={"contacts": 300, "companies": 20, "archived_contacts": 0, "merged_contacts": 0}
    )
    config = tap_config(sb.url)
    first = run_tap(config)
    sb.app.archive(ids=[1005])
    sb.app.merge(primary=1010, secondary=1011)
    second = run_tap(config, state=first.state)
    rows = {r["id"]: r for r in second.records("contacts")}
    assert rows["1005"]["archived"] is True
    assert rows["1005"]["archivedAt"]
    assert rows["1010"]["hs_merged_object_ids"] == ["1011"]
    third = run_tap(config, state=second.state)
    assert not third.records("contacts")  # the archived sweep does not repeat itself


# --------------------------------------------------------- equal timestamps
def test_more_records_on_one_timestamp_than_the_search_cap(hubspot, tap_config, run_tap):
    sb = hubspot(
        seed={"preset": "same_timestamp", "contacts": 1500, "companies": 10},
        search_max_results=1000,
    )
    run = run_tap(tap_config(sb.url, start_date="2025-01-01T00:00:00Z"))
    contacts = run.ids("contacts")
    assert set(contacts) == expected_ids(sb, "contacts")
    assert max(contacts.values()) == 1
    statuses = {e["status"] for e in sb.requests()}
    assert 400 not in statuses
    served = sb.app.knobs["search_page_clamp"]  # the sandbox serves 100 of the 200 asked
    assert served == 100
    # paging.next, not a short page, ends the walk: no empty page is asked for at the end
    assert len([e for e in searches(sb) if "contacts" in e["path"]]) == math.ceil(1500 / served)


@pytest.mark.slow
def test_fifteen_thousand_contacts_on_one_timestamp(hubspot, tap_config, run_tap):
    sb = hubspot(seed={"preset": "same_timestamp", "companies": 50}, journal_bodies=False)
    run = run_tap(tap_config(sb.url, start_date="2025-01-01T00:00:00Z"))
    contacts = run.ids("contacts")
    assert len(contacts) == 15_000
    assert max(contacts.values()) == 1
    assert 400 not in {e["status"] for e in sb.requests()}


# -------------------------------------------------------------------- resume
def test_killed_run_resumes_from_its_last_state(hubspot, tap_config, run_tap, tmp_path):
    sb = hubspot(seed={"contacts": 3000, "companies": 30}, latency_ms=3)
    config = tap_config(sb.url, checkpoint_records=200)
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    proc = subprocess.Popen(
        [sys.executable, "-m", "tap_hubspot_contacts", "--config", str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        text=True,
    )
    seen: set[str] = set()
    last_state = None
    assert proc.stdout is not None
    for line in proc.stdout:
        message = json.loads(line)
        if message["type"] == "RECORD" and message["stream"] == "contacts":
            seen.add(message["record"]["id"])
        elif message["type"] == "STATE":
            last_state = message["value"]
        if (
            len(seen) >= 1300
            and last_state
            and "cursor" in last_state["bookmarks"].get("contacts", {})
        ):
            proc.send_signal(signal.SIGKILL)
            break
    proc.wait(timeout=30)
    assert last_state is not None
    assert last_state["bookmarks"]["contacts"]["cursor"]["phase"] == "list"
    resumed = run_tap(config, state=last_state)
    again = set(resumed.ids("contacts"))
    assert seen | again == expected_ids(sb, "contacts")  # none skipped
    assert len(again) < len(expected_ids(sb, "contacts"))  # it resumed, it did not restart


def test_search_cursor_resumes_mid_window(hubspot, tap_config, run_tap):
    sb = hubspot(seed={"contacts": 900, "companies": 10})
    config = tap_config(sb.url, checkpoint_records=200, start_date="2025-01-01T00:00:00Z")
    state = {
        "bookmarks": {
            "contacts": {
                "cursor": {
                    "version": 1,
                    "phase": "search",
                    "window_start": 0,
                    "window_end": 1_900_000_000_000,
                    "after_id": "1500",
                }
            }
        }
    }
    run = run_tap(config, state=state)
    live = expected_ids(sb, "contacts", archived=False)
    archived = expected_ids(sb, "contacts", archived=True)
    assert set(run.ids("contacts")) == {i for i in live if int(i) > 1500} | archived
    assert "cursor" not in run.state["bookmarks"]["contacts"]


# --------------------------------------------------------------- properties
def test_a_thousand_properties_never_hit_414(hubspot, tap_config, run_tap):
    sb = hubspot(seed={"preset": "many_properties", "contacts": 150, "companies": 5})
    run = run_tap(tap_config(sb.url))
    assert 414 not in {e["status"] for e in sb.requests()}
    assert any(e["path"].endswith("/contacts/batch/read") for e in sb.requests())
    assert len(run.ids("contacts")) == len(expected_ids(sb, "contacts"))
    record = run.records("contacts")[0]
    assert "cf_extra_0999" in record
    assert record["cf_extra_0000"] == "filler 0"


def test_include_exclude_and_hidden_calculated_switches(hubspot, tap_config, run_tap):
    sb = hubspot(seed={"contacts": 20, "companies": 5})
    run = run_tap(
        tap_config(
            sb.url,
            contact_properties_include=["cf_*", "phone"],
            contact_properties_exclude=["cf_text*"],
            company_properties_exclude=["cf_*"],
            include_calculated_properties=True,
        )
    )
    schema = run.schema("contacts")["properties"]
    assert "phone" in schema
    assert "cf_calc" in schema  # explicit include brings a calculated property
    assert "cf_text" not in schema
    assert "cf_textarea" not in schema
    assert "jobtitle" not in schema
    assert "email" in schema  # required ones stay
    company_schema = run.schema("companies")["properties"]
    assert not [k for k in company_schema if k.startswith("cf_")]
    assert "num_associated_contacts" in company_schema  # calculated switched on


def test_epoch_ms_dates_and_v3_paths(hubspot, tap_config, run_tap):
    sb = hubspot(seed={"contacts": 30, "companies": 5}, date_value_format="epoch_ms")
    run = run_tap(tap_config(sb.url, api_version="v3"))
    row = {r["id"]: r for r in run.records("contacts")}["1002"]
    assert row["cf_date"] == "2025-01-01T00:00:00.000Z"
    paths = {e["path"] for e in sb.requests()}
    assert "/crm/v3/objects/contacts" in paths
    assert "/crm/v4/associations/contacts/companies/batch/read" in paths


def test_end_date_bounds_the_window(hubspot, tap_config, run_tap):
    sb = hubspot(seed={"contacts": 200, "companies": 5, "archived_contacts": 0})
    end = "2025-01-01T02:30:00Z"  # contacts are modified 2 h after creation, one a minute
    run = run_tap(tap_config(sb.url, end_date=end))
    modified = [r["lastmodifieddate"] for r in run.records("contacts")]
    assert modified
    assert max(modified) <= "2025-01-01T02:30:00.000Z"
    assert len(modified) == 31
    assert run.state["bookmarks"]["contacts"]["replication_key_value"] == "2025-01-01T02:30:00.000Z"


# -------------------------------------------------------------- rate limits
def test_ten_secondly_429_waits_for_the_window_then_continues(hubspot, tap_config, run_tap, sleeps):
    sb = hubspot(seed={"contacts": 50, "companies": 5}, fail_next=[429, 429])
    run = run_tap(tap_config(sb.url))
    assert len(run.ids("contacts")) == len(expected_ids(sb, "contacts"))
    assert sleeps[:2] == [10.0, 10.0]  # the interval header's window


def test_search_secondly_limit_is_respected(sandbox_factory, tap_config, run_tap, monkeypatch):
    clock = ManualClock()
    sb = sandbox_factory(
        "hubspot", clock=clock, seed={"contacts": 800, "companies": 5}, burst_limit=0,
        search_rate_per_second=2,
    )  # fmt: skip
    waits: list[float] = []

    def fake_sleep(seconds: float) -> None:
        waits.append(seconds)
        clock.advance(seconds)

    monkeypatch.setattr(client_module, "SLEEP", fake_sleep)
    monkeypatch.setattr(client_module, "CLOCK", clock.now)
    config = tap_config(sb.url, start_date="2024-01-01T00:00:00Z", search_requests_per_second=5)
    config["search_index_lag_seconds"] = -(10**9)  # the sandbox clock is not the wall clock
    run = run_tap(config)
    assert len(run.ids("contacts")) == len(expected_ids(sb, "contacts"))
    refused = [e for e in searches(sb) if e["status"] == 429]
    assert refused  # the tap asked for 5/s, the portal allows 2/s: it backed off and finished
    assert sb.app.limit_refusals["SECONDLY"] == len(refused)


def test_own_budget_keeps_the_tap_under_the_burst_limit(
    sandbox_factory, tap_config, run_tap, monkeypatch
):
    clock = ManualClock()
    sb = sandbox_factory(
        "hubspot", clock=clock, seed={"contacts": 1500, "companies": 5}, burst_limit=10
    )

    def fake_sleep(seconds: float) -> None:
        clock.advance(seconds)

    monkeypatch.setattr(client_module, "SLEEP", fake_sleep)
    monkeypatch.setattr(client_module, "CLOCK", clock.now)
    config = tap_config(sb.url, requests_per_ten_seconds=10, rate_limit_share=0.8)
    run = run_tap(config)
    assert len(run.ids("contacts")) == len(expected_ids(sb, "contacts"))
    assert 429 not in {e["status"] for e in sb.requests()}


def test_daily_limit_stops_the_run(hubspot, tap_config, run_tap):
    sb = hubspot(seed={"contacts": 500, "companies": 5}, daily_limit=5)
    with pytest.raises(FatalAPIError, match="daily"):
        run_tap(tap_config(sb.url, daily_request_reserve=0))
    sb2 = hubspot(seed={"contacts": 50, "companies": 5}, daily_limit=1500)
    with pytest.raises(FatalAPIError, match="daily_request_reserve"):
        run_tap(tap_config(sb2.url, daily_request_reserve=1499))


def test_sliding_window_budget_blocks_until_the_window_frees():
    now = [0.0]
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        now[0] += seconds

    budget = SlidingWindowBudget("t", 2, 1.0, clock=lambda: now[0], sleep=sleep)
    for _ in range(5):
        budget.acquire()
    assert waits == [1.0, 1.0]
    assert budget.peak == 2


# -------------------------------------------------------------------- auth
def test_oauth_refresh_on_the_dated_endpoint_falls_back_to_v1(hubspot, tap_config, run_tap):
    sb = hubspot(seed={"contacts": 20, "companies": 5}, oauth_token_versions=["v1"])
    config = tap_config(sb.url)
    del config["access_token"]
    config.update(
        client_id="sandbox-client-id",
        client_secret="sandbox-client-secret",
        refresh_token="sandbox-refresh-token",
    )
    run = run_tap(config)
    assert run.records("contacts")
    token_calls = [e["path"] for e in sb.requests() if e["path"].startswith("/oauth/")]
    assert token_calls == ["/oauth/2026-03/token", "/oauth/v1/token"]


def test_expired_oauth_token_is_refreshed_once_on_401(sandbox_factory, tap_config):
    clock = ManualClock()
    sb = sandbox_factory(
        "hubspot", clock=clock, seed={"contacts": 20, "companies": 5}, burst_limit=0,
        search_rate_per_second=0,
    )  # fmt: skip
    config = tap_config(sb.url)
    del config["access_token"]
    config.update(
        client_id="sandbox-client-id",
        client_secret="sandbox-client-secret",
        refresh_token="sandbox-refresh-token",
    )
    tap = TapHubSpotContacts(config=config)
    clock.advance(3600)  # the sandbox expires the token; the tap's clock has not moved
    tap.client.get(tap.client.paths.objects("contacts"))
    token_calls = [e for e in sb.requests() if e["path"].startswith("/oauth/")]
    assert len(token_calls) == 2
    assert [e["status"] for e in sb.requests()].count(401) == 1


def test_plain_http_is_refused_except_on_loopback():
    with pytest.raises(ConfigValidationError) as caught:
        TapHubSpotContacts(config={"access_token": "t", "api_url": "http://api.example.com"})
    assert caught.value.errors == [
        "api_url must be https (http only on loopback, the sandbox), got http://api.example.com"
    ]


def test_secrets_never_reach_the_logs(hubspot, tap_config, run_tap, caplog, sleeps):
    caplog.set_level(logging.INFO)
    sb = hubspot(seed={"contacts": 20, "companies": 5}, fail_next=[503, 429])
    config = tap_config(sb.url)
    run_tap(config)
    assert sleeps  # the 503 was retried
    err = caplog.text
    assert "HubSpot requests:" in err  # the usage report
    assert "burst budget" in err
    assert "sandbox-token" not in err
