"""tap-kustomer request counts from the sandbox journal: what a run costs besides the records.

A run lists the Klasses once (3 statuses) and reads each resource's metadata at most once,
shared by discovery and the streams; with a catalog (a sync under Meltano) it reads only what
the selected streams need. These counts are exact, so a regression fails here.
"""

from __future__ import annotations

from collections import Counter

import pytest
from helpers import discover, run_tap, select, tap_config

from tap_kustomer.client import KustomerClient, KustomerForbiddenError

EVERYTHING = "2000-01-01T00:00:00Z"
SEED = {
    "customers": 40,
    "companies": 6,
    "conversations_per_customer": 2,
    "messages_per_conversation": 4,
    "notes_per_conversation": 2,
    "old_fraction": 0.3,
    "klasses": 2,
}
#: metadata resources: 4 standard objects + one per Klass (order, subscription)
RESOURCES = 6
#: requests of an every-stream run that do not depend on what changed
FIXED = {"klasses": 3, "metadata": RESOURCES, "tags": 2, "teams": 1, "users": 2}
SEARCH_STREAMS = (
    "companies",
    "customers",
    "conversations",
    "messages",
    "notes",
    "kobjects_order",
    "kobjects_subscription",
)
ONE_OF_EACH = (
    "customer",
    "company",
    "conversation",
    "message",
    "note",
    "kobject.order",
    "kobject.subscription",
)


def spent(sb) -> Counter[str]:
    """Requests since the last call, by endpoint (``search`` for both searches); then clear."""
    out: Counter[str] = Counter()
    for entry in sb.requests():
        path = entry["path"]
        out["search" if path.endswith("/search") else path.split("/")[2]] += 1
    sb.app.journal.clear()
    return out


def paths(sb, prefix: str) -> list[str]:
    return [e["path"] for e in sb.requests() if e["path"].startswith(prefix)]


@pytest.fixture
def sb(kustomer):
    return kustomer(seed=SEED)


def test_every_stream_run_lists_klasses_once_and_reads_each_metadata_once(sb):
    config = tap_config(sb.url, page_size=20, start_date=EVERYTHING)
    sb.app.journal.clear()
    full = run_tap(config)
    resources = ("company", "conversation", "customer", "message", "kobject.order")
    assert sorted(paths(sb, "/v1/metadata/")) == sorted(
        f"/v1/metadata/{r}" for r in (*resources, "kobject.subscription")
    )
    statuses = [e["query"] for e in sb.requests() if e["path"] == "/v1/klasses"]
    assert len(statuses) == 3, statuses
    cost = spent(sb)
    assert {k: cost[k] for k in FIXED} == FIXED
    # the klasses stream emitted the discovery listing, and the metadata stream the cached reads
    assert len(full.ids("klasses")) == len(sb.state()["objects"]["klass"])
    resources = {r["resource"] for r in full.records["custom_attribute_metadata"]}
    assert len(resources) == RESOURCES

    for kind in ONE_OF_EACH:
        sb.app.modify(kind, count=1)
    second = run_tap(config, state=full.state)
    for stream in SEARCH_STREAMS:
        assert len(second.ids(stream)) == 1, stream
    # one search per search stream (the least that can say what changed), plus the fixed reads
    assert spent(sb) == {**FIXED, "search": len(SEARCH_STREAMS)}


def test_meltano_run_of_customers_and_companies_reads_nothing_twice(sb):
    config = tap_config(sb.url, page_size=20, start_date=EVERYTHING)
    sb.app.journal.clear()
    # the discovery process: every schema is typed, so every resource's metadata is read
    catalog = select(discover(config), ["customers", "companies"])
    assert spent(sb) == {"klasses": 3, "metadata": RESOURCES}
    # the sync process: the catalog's schemas are used; no Klass, metadata or list read
    full = run_tap(config, catalog=catalog)
    cost = spent(sb)
    assert set(cost) == {"search"}, cost
    assert set(full.records) == {"customers", "companies"}
    assert len(full.ids("customers")) == len(sb.state()["objects"]["customer"])
    entries = {e["tap_stream_id"]: e["schema"] for e in catalog["streams"]}
    for stream in ("customers", "companies"):
        assert full.schemas[stream] == entries[stream]
    custom = full.schemas["customers"]["properties"]["attributes"]["properties"]["custom"]
    assert custom["properties"]["lifetimeValueNum"]["type"] == ["number", "null"]

    sb.app.modify("customer", count=1)
    sb.app.modify("company", count=1)
    catalog = select(discover(config), ["customers", "companies"])
    second = run_tap(config, state=full.state, catalog=catalog)
    assert {s: len(v) for s, v in second.records.items()} == {"customers": 1, "companies": 1}
    # discovery 9 + one search per selected stream
    assert spent(sb) == {"klasses": 3, "metadata": RESOURCES, "search": 2}


def test_metadata_stream_alone_reads_every_resource_once(sb):
    config = tap_config(sb.url, start_date=EVERYTHING)
    every = run_tap(config)
    catalog = select(discover(config), ["custom_attribute_metadata"])
    sb.app.journal.clear()
    run = run_tap(config, catalog=catalog)
    assert spent(sb) == {"klasses": 3, "metadata": RESOURCES}
    assert run.records["custom_attribute_metadata"] == every.records["custom_attribute_metadata"]


def test_kobject_and_klasses_streams_share_one_listing_and_read_no_metadata(sb):
    config = tap_config(sb.url, start_date=EVERYTHING)
    catalog = select(discover(config), ["klasses", "kobjects_order"])
    sb.app.journal.clear()
    run = run_tap(config, catalog=catalog)
    cost = spent(sb)
    assert cost["klasses"] == 3
    assert set(cost) == {"klasses", "search"}, cost
    assert len(run.ids("klasses")) == len(sb.state()["objects"]["klass"])
    assert len(run.ids("kobjects_order")) == len(sb.state()["objects"]["kobject.order"])


def test_klass_listing_refused_at_discovery_is_read_again_by_the_klasses_stream(
    kustomer, monkeypatch
):
    sb = kustomer(seed=SEED)
    original = KustomerClient.request
    refused: list[str] = []

    def request(self, method, path_or_link, **kwargs):
        if path_or_link == "/v1/klasses" and not refused:
            refused.append(path_or_link)
            raise KustomerForbiddenError("403 from GET /v1/klasses: forbidden")
        return original(self, method, path_or_link, **kwargs)

    monkeypatch.setattr(KustomerClient, "request", request)
    run = run_tap(tap_config(sb.url, start_date=EVERYTHING), streams=["klasses", "customers"])
    assert refused
    assert not any(s.startswith("kobjects_") for s in run.tap.streams)
    assert len(run.ids("klasses")) == len(sb.state()["objects"]["klass"])
