"""tap-kustomer against the ways the docs allow the server to answer (issue 12, items 1-3).

Each sandbox knob stands for one documented behaviour: pages clamped below the asked size,
``meta.total`` saturating at a cap, a refusal (400) or a silent ignore of the criteria and
sorts the docs do not list, results out of the asked order, 403/404 on optional resources.
Whatever the server does, every record is emitted exactly once.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter
from typing import Any

import pytest
from helpers import put, run_tap, tap_config
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

EVERYTHING = "2000-01-01T00:00:00Z"
#: sandbox kind -> the tap's stream
STREAMS = {"customer": "customers", "conversation": "conversations", "company": "companies"}


def stamps(count: int, distinct: int, *, days_ago: float = 100) -> list[tuple[str, str]]:
    """(updatedAt, createdAt) for ``count`` records over ``distinct`` instants (ties)."""
    base = dt.datetime.now(dt.UTC) - dt.timedelta(days=days_ago)
    out = []
    for i in range(count):
        updated = base + dt.timedelta(hours=(i * 7919) % max(1, distinct))
        created = updated - dt.timedelta(days=1, milliseconds=i)
        out.append((_iso(updated), _iso(created)))
    return out


def _iso(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def exactly_once(run: Any, stream: str, ids: list[str]) -> None:
    got = run.ids(stream)
    dupes = sorted(i for i, n in Counter(got).items() if n > 1)
    assert not dupes, f"{stream}: {len(dupes)} emitted twice"
    missing = set(ids) - set(got)
    assert not missing, f"{stream}: {len(missing)} of {len(ids)} never emitted"
    assert set(got) == set(ids)


# -------------------------------------------------------------- item 1: done means
@pytest.mark.parametrize("kind", sorted(STREAMS))
def test_pages_clamped_to_500_with_page_size_1000_lose_nothing(kustomer, kind):
    """Issue 12: 2,400 matching records, pages clamped to 500 (today: 1,500 emitted)."""
    sb = kustomer(search_page_max=500)
    ids = put(sb.app, kind, stamps(2400, 2400))
    config = tap_config(sb.url, page_size=1000, start_date=EVERYTHING)
    run = run_tap(config, streams=[STREAMS[kind]], validate_config=False)
    exactly_once(run, STREAMS[kind], ids)


@pytest.mark.parametrize("kind", sorted(STREAMS))
def test_totals_saturating_at_1000_for_2400_records_lose_nothing(kustomer, kind):
    """Issue 12: ``meta.total`` says 1,000 for 2,400 matching records (today: 1,000)."""
    sb = kustomer(search_total_cap=1000)
    ids = put(sb.app, kind, stamps(2400, 2400))
    run = run_tap(tap_config(sb.url, page_size=500, start_date=EVERYTHING), streams=[STREAMS[kind]])
    exactly_once(run, STREAMS[kind], ids)


def test_page_size_above_the_api_maximum_is_refused_by_the_settings():
    from singer_sdk.exceptions import ConfigValidationError

    from tap_kustomer.tap import TapKustomer

    for bad in (0, 501, 1000):
        with pytest.raises(ConfigValidationError) as info:
            TapKustomer(config=tap_config("http://127.0.0.1:9", page_size=bad), setup_mapper=False)
        assert "page_size" in " ".join(info.value.errors)
    TapKustomer(config=tap_config("http://127.0.0.1:9", page_size=500), setup_mapper=False)


# ------------------------------------------- item 1: hypothesis over the server's paging
def test_any_clamp_cap_and_saturation_reads_every_record_once(kustomer):
    sb = kustomer()

    @settings(
        max_examples=20,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(
        kind=st.sampled_from(sorted(STREAMS)),
        count=st.integers(0, 150),
        distinct=st.integers(1, 150),
        page_size=st.integers(2, 60),
        clamp=st.integers(2, 60),
        server_pages=st.integers(1, 12),
        total_cap=st.integers(0, 300),
        cap_next=st.sampled_from(["link", "null"]),
        tap_pages=st.none() | st.integers(1, 12),
    )
    def check(  # noqa: PLR0917 - one argument per drawn value
        kind, count, distinct, page_size, clamp, server_pages, total_cap, cap_next, tap_pages
    ):
        sb.app.seed("empty")
        sb.app.journal.clear()
        sb.knobs(
            search_page_max=clamp,
            search_max_pages=server_pages,
            search_max_hits=0,
            search_total_cap=total_cap,
            page_cap_next=cap_next,
        )
        ids = put(sb.app, kind, stamps(count, distinct))
        overrides: dict[str, Any] = {"page_size": page_size, "max_hits_per_query": 0}
        if tap_pages is not None:  # the tap told a cap (the server's may be lower)
            overrides["max_pages_per_query"] = tap_pages
        run = run_tap(
            tap_config(sb.url, start_date=EVERYTHING, **overrides), streams=[STREAMS[kind]]
        )
        exactly_once(run, STREAMS[kind], ids)

    check()


# ------------------------------------ item 2: refused, ignored and misordered queries
@pytest.mark.parametrize("sorts", ["refuse", "ignore", "serve"])
@pytest.mark.parametrize("filters", ["refuse", "ignore", "serve"])
def test_every_reading_of_undocumented_criteria_and_sorts_loses_nothing(kustomer, sorts, filters):
    sb = kustomer(
        seed={
            "customers": 60,
            "companies": 90,
            "old_fraction": 0.3,
            "conversations_per_customer": 2,
            "deleted_fraction": 0,  # refuse-refuse ends on the GET list: live companies only
        },
        undocumented_sorts=sorts,
        undocumented_filters=filters,
        search_max_pages=3,
    )
    objects = sb.state()["objects"]
    config = tap_config(sb.url, page_size=10, max_pages_per_query=3, start_date=EVERYTHING)
    run = run_tap(config, streams=["companies", "conversations", "customers", "kobjects_order"])
    for kind, stream in (*STREAMS.items(), ("kobject.order", "kobjects_order")):
        exactly_once(run, stream, [o["id"] for o in objects[kind]])


def test_an_unsorted_company_search_is_not_read_as_sorted(kustomer, caplog):
    """Issue 12: today an unsorted company search drops a fifth of the companies, exit 0."""
    sb = kustomer(
        seed={"customers": 5, "companies": 400, "old_fraction": 0},
        undocumented_filters="serve",
        undocumented_sorts="ignore",
        search_max_pages=2,  # 100 a query: keyset restarts
    )
    ids = [c["id"] for c in sb.state()["objects"]["company"]]
    config = tap_config(sb.url, page_size=50, max_pages_per_query=2, start_date=EVERYTHING)
    with caplog.at_level(logging.WARNING):
        run = run_tap(config, streams=["companies"])
    exactly_once(run, "companies", ids)
    assert "not trusted" in caplog.text
    modes = run.state["bookmarks"]["companies"]["kustomer_modes"]
    assert modes["standard:updated_at"] == "pieces"


def test_the_way_that_worked_is_kept_for_the_next_run(kustomer):
    sb = kustomer(seed={"customers": 20, "companies": 10, "old_fraction": 0})
    config = tap_config(sb.url, start_date=EVERYTHING)
    first = run_tap(config, streams=["companies", "conversations"])
    sb.app.modify("company", count=2)
    sb.app.modify("conversation", count=3)
    sb.app.journal.clear()
    second = run_tap(config, state=first.state, streams=["companies", "conversations"])
    assert len(second.ids("companies")) == 2
    assert len(second.ids("conversations")) == 3
    searches = [r for r in sb.requests() if r["path"].endswith("/search")]
    assert [r["status"] for r in searches] == [200, 200]  # one each, no refusal asked again


def test_companies_fall_back_to_the_list_when_search_cannot_hold_them(kustomer, caplog):
    """The last documented way; it lists live companies only, which the log says."""
    sb = kustomer(
        seed={"customers": 2, "companies": 70, "old_fraction": 0, "deleted_fraction": 0.1},
        search_max_pages=2,
    )
    companies = sb.state()["objects"]["company"]
    live = [c["id"] for c in companies if not c["attributes"]["deleted"]]
    assert len(live) < len(companies)
    config = tap_config(sb.url, page_size=10, max_pages_per_query=2, start_date=EVERYTHING)
    with caplog.at_level(logging.WARNING):
        run = run_tap(config, streams=["companies"])
    exactly_once(run, "companies", live)
    assert "GET /v1/companies" in caplog.text
    assert "deletions are not seen" in caplog.text
    assert run.state["bookmarks"]["companies"]["kustomer_modes"] == {"standard:updated_at": "list"}


def test_any_share_of_misordered_hits_loses_nothing(kustomer):
    sb = kustomer()

    @settings(
        max_examples=20,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(
        kind=st.sampled_from(sorted(STREAMS)),
        count=st.integers(0, 120),
        distinct=st.integers(1, 120),
        share=st.floats(0.0, 1.0),
        page_size=st.integers(3, 40),
        server_pages=st.integers(1, 6),
        sorts=st.sampled_from(["serve", "ignore"]),
    )
    def check(kind, count, distinct, share, page_size, server_pages, sorts):  # noqa: PLR0917
        sb.app.seed("empty")
        sb.knobs(
            search_out_of_order=share,
            search_max_pages=server_pages,
            search_max_hits=0,
            undocumented_sorts=sorts,
            undocumented_filters="serve",
        )
        ids = put(sb.app, kind, stamps(count, distinct))
        config = tap_config(
            sb.url,
            page_size=page_size,
            max_hits_per_query=0,
            max_pages_per_query=server_pages,
            start_date=EVERYTHING,
        )
        run = run_tap(config, streams=[STREAMS[kind]])
        exactly_once(run, STREAMS[kind], ids)

    check()


def test_more_than_a_query_of_messages_sharing_one_timestamp_unsorted(kustomer):
    sb = kustomer(seed={"customers": 15, "same_timestamp_messages": 45, "old_fraction": 0.3})
    ids = [m["id"] for m in sb.state()["objects"]["message"]]
    config = tap_config(sb.url, page_size=10, max_pages_per_query=3, start_date=EVERYTHING)
    run = run_tap(config, streams=["messages"])
    exactly_once(run, "messages", ids)
    assert run.tap.streams["messages"].reader.stats.tie_splits >= 1


# --------------------------------------------------------- item 3: optional resources
@pytest.mark.parametrize("status", [403, 404])
def test_a_refused_optional_resource_skips_its_stream_only(kustomer, caplog, status):
    sb = kustomer(
        seed={"customers": 8, "users": 4, "teams": 2, "tags": 3},
        unavailable={"users": status, "teams": status, "tags": status},
    )
    with caplog.at_level(logging.WARNING):
        run = run_tap(tap_config(sb.url, start_date=EVERYTHING))
    for stream in ("users", "teams", "tags"):
        assert run.ids(stream) == []
        assert f"{stream} not readable" in caplog.text
    assert len(run.ids("customers")) == len(sb.state()["objects"]["customer"])
    assert run.ids("klasses")


def test_deactivated_users_are_read_too(kustomer):
    sb = kustomer(seed={"users": 6, "deactivated_users": 2})
    run = run_tap(tap_config(sb.url, start_date=EVERYTHING), streams=["users"])
    users = {u["id"]: u for u in run.records["users"]}
    assert set(users) == {u["id"] for u in sb.state()["objects"]["user"]}
    assert sum(1 for u in users.values() if u["deleted"]) == 2
