"""tap-kustomer against the sandbox: completeness, incremental reruns, caps, resume, limits."""

from __future__ import annotations

import logging
from collections import Counter

import pytest
import requests
from helpers import API_KEY, run_tap, tap_config

from tap_kustomer.client import Budget, KustomerClient, reset_wait_seconds, resolve_base_url

SEARCH_KINDS = {
    "companies": "company",
    "customers": "customer",
    "conversations": "conversation",
    "messages": "message",
    "notes": "note",
    "kobjects_order": "kobject.order",
    "kobjects_subscription": "kobject.subscription",
}
EVERYTHING = "2000-01-01T00:00:00Z"


def expected_ids(sb) -> dict[str, set[str]]:
    objects = sb.state()["objects"]
    out = {
        stream: {o["id"] for o in objects.get(kind, [])} for stream, kind in SEARCH_KINDS.items()
    }
    out["users"] = {o["id"] for o in objects.get("user", [])}
    out["teams"] = {o["id"] for o in objects.get("team", [])}
    out["tags"] = {o["id"] for o in objects.get("tag", [])}
    out["klasses"] = {o["id"] for o in objects.get("klass", [])}
    return out


def assert_exactly_once(run, sb, streams=None):
    for stream, ids in expected_ids(sb).items():
        if streams and stream not in streams:
            continue
        got = run.ids(stream)
        dupes = [i for i, n in Counter(got).items() if n > 1]
        assert not dupes, f"{stream}: {len(dupes)} duplicates"
        assert set(got) == ids, (
            f"{stream}: missing {len(ids - set(got))}, extra {len(set(got) - ids)}"
        )


SMALL = {
    "customers": 40,
    "companies": 6,
    "conversations_per_customer": 2,
    "messages_per_conversation": 4,
    "notes_per_conversation": 2,
    "old_fraction": 0.3,
    "reopened_fraction": 0.5,
    "deleted_fraction": 0.1,
}


# --------------------------------------------------------------------------- full extract
def test_full_extract_emits_every_record_of_every_stream_exactly_once(kustomer):
    sb = kustomer(seed=SMALL, search_max_pages=3)  # a small page cap forces keyset restarts
    run = run_tap(tap_config(sb.url, page_size=10, max_pages_per_query=3, start_date=EVERYTHING))
    assert_exactly_once(run, sb)
    objects = sb.state()["objects"]
    # the pre-two-year records are there, deleted ones carry their flag
    assert any(r["deleted"] for r in run.records["customers"])
    assert len(run.records["custom_attribute_metadata"]) == sum(
        len(v) for v in sb.state()["metadata"].values()
    )
    old_notes = [
        n
        for n in objects["note"]
        if n["attributes"]["updatedAt"] < run.records["notes"][-1]["updated_at"]
    ]
    assert old_notes
    assert len(run.records["notes"]) == len(objects["note"])
    paths = Counter(r["path"] for r in sb.requests())
    assert paths["/v1/customers/archive/search"] > 0
    # the only refusals: a sort standard search does not document, once per stream, then
    # read without one (companies: without the undocumented company_updated_at filter too)
    refused = [r for r in sb.requests() if r["status"] != 200]
    assert {(r["status"], r["query"]["page"][0]) for r in refused} <= {(400, "1")}
    assert len(refused) <= len(SEARCH_KINDS) + 1
    modes = {s: run.state["bookmarks"][s].get("kustomer_modes") for s in SEARCH_KINDS}
    assert modes["customers"] == {}  # customer sorts are documented
    assert modes["messages"] == {"standard:updated_at": "pieces"}
    assert modes["companies"] == {"standard:updated_at": "scan"}


def test_records_have_the_shape_the_csm_target_expects(kustomer):
    from target_atlassian_csm import presets

    sb = kustomer(seed={"customers": 10, "old_fraction": 0})
    run = run_tap(tap_config(sb.url, start_date=EVERYTHING), streams=["customers", "companies"])
    customer = run.records["customers"][0]
    assert customer["attributes"]["emails"][0]["email"]
    assert "displayName" in customer["attributes"]
    assert "company_id" in customer
    assert isinstance(customer["deleted"], bool)
    assert customer["attributes"]["custom"]["lifetimeValueNum"] is not None
    for stream in ("customers", "companies"):
        rule = presets.kustomer(stream, run.schemas[stream])
        assert rule is not None
        assert rule.entity != "ignore"
    with_company = [c for c in run.records["customers"] if c["company_id"]]
    assert with_company
    assert {c["company_id"] for c in with_company} <= set(run.ids("companies"))


def test_custom_attributes_are_typed_from_suffix_and_metadata(kustomer):
    sb = kustomer(seed={"customers": 3, "klasses": 2})
    run = run_tap(
        tap_config(sb.url, start_date=EVERYTHING), streams=["customers", "kobjects_order"]
    )
    custom = run.schemas["customers"]["properties"]["attributes"]["properties"]["custom"][
        "properties"
    ]
    assert custom["lifetimeValueNum"]["type"] == ["number", "null"]
    assert custom["firstOrderAt"]["format"] == "date-time"
    assert custom["vipBool"]["type"] == ["boolean", "null"]
    assert custom["tierStr"]["type"] == ["string", "null"]
    assert custom["ordersId"]["type"] == ["array", "null"]
    assert custom["tierStr"]["title"] == "Tier"
    order = run.schemas["kobjects_order"]["properties"]["attributes"]["properties"]["custom"][
        "properties"
    ]
    assert order["orderNumberNum"]["type"] == ["number", "null"]
    assert order["placedAt"]["format"] == "date-time"
    assert run.records["kobjects_order"][0]["klass"] == "order"


# ----------------------------------------------------------------------------- incremental
def test_incremental_rerun_emits_only_what_changed(kustomer):
    sb = kustomer(seed=SMALL)
    config = tap_config(sb.url, page_size=20, start_date=EVERYTHING)
    first = run_tap(config)
    assert_exactly_once(first, sb)
    changed = {
        "customers": sb.app.modify("customer", count=3),
        "messages": sb.app.modify("message", count=2),
        "notes": sb.app.modify("note", count=1),
        "companies": sb.app.modify("company", count=1, deleted=True),
        "kobjects_order": sb.app.modify("kobject.order", count=1),
    }
    second = run_tap(config, state=first.state)
    for stream in SEARCH_KINDS:
        assert sorted(second.ids(stream)) == sorted(changed.get(stream, [])), stream
    assert second.records["companies"][0]["deleted"] is True
    third = run_tap(config, state=second.state)
    assert not any(third.ids(s) for s in SEARCH_KINDS)
    searches = [r for r in sb.requests() if r["path"].endswith("/search")]
    assert searches


def test_incremental_state_has_the_cursor_and_the_sdk_bookmark(kustomer):
    sb = kustomer(seed={"customers": 5})
    run = run_tap(tap_config(sb.url, start_date=EVERYTHING), streams=["customers"])
    bookmark = run.state["bookmarks"]["customers"]
    assert bookmark["replication_key"] == "updated_at"
    assert bookmark["kustomer_cursor"]["ts"] == bookmark["synced_to"]
    assert bookmark["kustomer_cursor"]["ids"] == []


# ------------------------------------------------------------------ same timestamp, caps
@pytest.mark.parametrize("reading", ["link", "null"])
def test_more_than_a_query_sharing_one_timestamp_neither_loops_nor_drops(kustomer, reading):
    sb = kustomer(
        seed={"customers": 10, "same_timestamp_customers": 75, "deleted_fraction": 0.1},
        search_max_pages=2,
        page_cap_next=reading,
    )
    run = run_tap(tap_config(sb.url, page_size=10, start_date=EVERYTHING), streams=["customers"])
    assert_exactly_once(run, sb, streams=["customers"])
    searches = [r for r in sb.requests() if r["path"] == "/v1/customers/search"]
    assert len(searches) < 40  # 85 records at 10 a page: no loop
    tie_queries = [
        r for r in searches if any("customer_created_at" in str(c) for c in r["body"]["and"])
    ]
    assert tie_queries


def test_hit_cap_reading_restarts_instead_of_stopping(kustomer):
    sb = kustomer(
        seed={"customers": 60, "old_fraction": 0}, search_max_hits=25, search_max_pages=100
    )
    run = run_tap(
        tap_config(sb.url, page_size=10, max_hits_per_query=0, start_date=EVERYTHING),
        streams=["customers"],
    )
    assert_exactly_once(run, sb, streams=["customers"])
    assert any(r["status"] == 400 for r in sb.requests())  # page 4 refused; read as the cap


def test_unbreakable_tie_is_reported_not_looped(kustomer, caplog):
    sb = kustomer(seed={"customers": 0, "same_timestamp_customers": 0})
    sb.app.seed("default", customers=30, old_fraction=0, deleted_fraction=0)
    ids = [c["id"] for c in sb.state()["objects"]["customer"]]
    for i in ids:  # one bulk import: identical createdAt and updatedAt
        sb.app.store.objects["customer"][i]["attributes"]["createdAt"] = "2026-01-01T00:00:00.000Z"
    sb.app.modify("customer", ids=ids, at="2026-01-02T00:00:00.000Z")
    with caplog.at_level(logging.ERROR):
        run = run_tap(
            tap_config(sb.url, page_size=10, max_pages_per_query=2, start_date=EVERYTHING),
            streams=["customers"],
        )
    assert len(set(run.ids("customers"))) == 20  # one query's worth, then a logged gap
    assert "search cannot page past them" in caplog.text


# --------------------------------------------------------------------------- kill, resume
@pytest.mark.parametrize("stop_after", [37, 130, 260])
def test_killed_run_resumes_from_state_without_skipping(kustomer, stop_after):
    sb = kustomer(seed=SMALL, search_max_pages=2)
    config = tap_config(sb.url, page_size=10, start_date=EVERYTHING)
    killed = run_tap(config, stop_after=stop_after)
    assert killed.states, "a STATE must have been written before the kill"
    resumed = run_tap(config, state=killed.state)
    # records emitted after the last STATE of the killed run may repeat; none may be missing
    for stream, ids in expected_ids(sb).items():
        got = set(killed.ids(stream)) | set(resumed.ids(stream))
        assert got == ids, stream


def test_state_is_written_often_enough_to_resume_mid_stream(kustomer):
    sb = kustomer(seed={"customers": 10, "big_conversation_messages": 2500, "old_fraction": 0})
    config = tap_config(sb.url, start_date=EVERYTHING)
    killed = run_tap(config, streams=["messages"], stop_after=2200)
    cursor = killed.state["bookmarks"]["messages"]["kustomer_cursor"]
    assert cursor["ts"] is not None
    resumed = run_tap(config, state=killed.state, streams=["messages"])
    assert len(resumed.ids("messages")) < 1000  # it resumed, it did not start over
    assert (
        set(killed.ids("messages")) | set(resumed.ids("messages")) == expected_ids(sb)["messages"]
    )


# ------------------------------------------------------------------------ limits, errors
@pytest.mark.parametrize("reset_format", ["epoch", "delta"])
def test_429_waits_for_the_reset_and_continues(kustomer, monkeypatch, reset_format):
    sb = kustomer(seed={"customers": 5}, fail_next=[429, 429], ratelimit_reset_format=reset_format)
    waits: list[float] = []
    monkeypatch.setattr("tap_kustomer.client.time.sleep", waits.append)
    run = run_tap(
        tap_config(sb.url, start_date=EVERYTHING, max_retry_wait_seconds=120), streams=["customers"]
    )
    assert_exactly_once(run, sb, streams=["customers"])
    assert len(waits) == 2
    assert all(0 < w <= 61 for w in waits)


def test_5xx_and_dropped_connections_are_retried(kustomer, monkeypatch):
    sb = kustomer(seed={"customers": 8}, fail_next=[503, "drop_before", 500])
    monkeypatch.setattr("tap_kustomer.client.time.sleep", lambda _s: None)
    run = run_tap(tap_config(sb.url, start_date=EVERYTHING), streams=["customers"])
    assert_exactly_once(run, sb, streams=["customers"])


def test_wrong_key_fails_fast_with_a_clear_message_and_no_secret(kustomer):
    from singer_sdk.exceptions import FatalAPIError

    sb = kustomer()
    with pytest.raises(FatalAPIError, match="401") as info:
        run_tap(tap_config(sb.url, api_key="not-the-key-s3cr3t"))
    assert "s3cr3t" not in str(info.value)


def test_api_key_never_appears_in_output_or_logs(kustomer, caplog, capsys):
    sb = kustomer(seed={"customers": 3}, fail_next=[429])
    with caplog.at_level(logging.DEBUG):
        run = run_tap(tap_config(sb.url, start_date=EVERYTHING), streams=["customers"])
    blob = caplog.text + capsys.readouterr().err + str(run.records) + str(run.states)
    assert API_KEY not in blob
    assert "Kustomer rate budget" in caplog.text


def test_budget_throttles_to_its_share():
    now = [0.0]
    budget = Budget("search", limit=100, share=0.5, clock=lambda: now[0])
    for _ in range(50):
        assert budget.wait_needed() == 0
        budget.record()
    assert budget.wait_needed() == pytest.approx(60.0)
    now[0] = 60.5
    assert budget.wait_needed() == 0
    assert budget.peak == 50


def test_client_waits_when_the_org_budget_is_spent_by_others(kustomer):
    sb = kustomer(seed={"customers": 3}, rate_limit_per_minute=10)
    client = KustomerClient(
        tap_config(sb.url, rate_limit_per_minute=None, rate_limit_share=0.5),
        logger=logging.getLogger("t"),
        user_agent="t",
    )
    waits: list[float] = []
    now = [0.0]

    def fake_sleep(seconds: float) -> None:
        waits.append(seconds)
        now[0] += seconds

    client.sleep = fake_sleep
    client.org_budget.clock = client.search_budget.clock = lambda: now[0]
    for _ in range(7):
        client.request("GET", "/v1/users")
    assert client.org_budget.limit == 10  # learned from x-ratelimit-limit
    assert waits  # remaining fell into the reserve: paused for the reset
    assert client.report.lowest_remaining is not None


@pytest.mark.parametrize(
    ("value", "expected"),
    [("1800000060", 60.0), ("1800000060000", 60.0), ("42", 42.0), ("", None), (None, None)],
)
def test_reset_header_readings(value, expected):
    assert reset_wait_seconds(value, 1_800_000_000.0) == expected


def test_hosts_and_origin_pinning():
    assert resolve_base_url({"org": "acme"}) == "https://acme.api.kustomerapp.com"
    assert resolve_base_url({"region": "eu"}) == "https://api.prod2.kustomerapp.com"
    assert resolve_base_url({"region": "in"}) == "https://api.prod4.kustomerapp.com"
    assert resolve_base_url({"region": "us"}) == "https://api.kustomerapp.com"
    assert resolve_base_url({"base_url": "http://127.0.0.1:8403/v1"}) == "http://127.0.0.1:8403"
    assert resolve_base_url({"org": "acme", "base_url": "https://x.example"}) == "https://x.example"
    with pytest.raises(ValueError, match="https"):
        resolve_base_url({"base_url": "http://api.kustomerapp.com"})
    with pytest.raises(ValueError, match="set `org`"):
        resolve_base_url({})
    client = KustomerClient(
        {"api_key": "k", "org": "acme"}, logger=logging.getLogger("t"), user_agent="t"
    )
    assert (
        client.url("/v1/customers/search?page=2")
        == "https://acme.api.kustomerapp.com/v1/customers/search?page=2"
    )
    from singer_sdk.exceptions import FatalAPIError

    with pytest.raises(FatalAPIError, match="another origin"):
        client.url("https://evil.example/v1/customers?page=2")


def test_links_next_to_another_origin_is_not_followed(kustomer, monkeypatch):
    sb = kustomer(seed={"customers": 150, "deleted_fraction": 0})
    client = KustomerClient(tap_config(sb.url), logger=logging.getLogger("t"), user_agent="t")
    original = client.session.request

    def tamper(method, url, **kw):
        response = original(method, url, **kw)
        body = response.json()
        body["links"]["next"] = "https://evil.example/v1/customers?page=2"
        response._content = requests.compat.json.dumps(body).encode()
        return response

    monkeypatch.setattr(client.session, "request", tamper)
    from singer_sdk.exceptions import FatalAPIError

    with pytest.raises(FatalAPIError, match="another origin"):
        list(client.get_pages("/v1/customers"))
