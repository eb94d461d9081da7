"""tap-kustomer: requests per stream over the minimum, 1%-incremental cost, rate share.

1. Full extract (start_date far in the past) against a seeded Kustomer sandbox, limits off:
   per stream, records, requests, requests per 10,000 records, the minimum possible for the
   page sizes (every page full, no restarts, no archive/standard overlap) and the ratio (aim
   <= 1.05); then how long the same extract would take at a real org's budgets.
2. Incremental run from the full run's STATE after 1% of every kind of object changed: its
   requests over the full run's (aim <= 0.02). Then the same as ``meltano run`` spends it with
   meltano.yml's selection (customers, companies): each run is a discovery process (no catalog)
   plus a sync process given the selected catalog; full, then 1% of both changed, incremental.
3. Throttled (``--skip-throttle`` to leave out; ~3.5 min): a fresh sandbox with the org budget
   lowered to ``--throttle-org-rpm`` and the search budget to ``--throttle-search-rpm``, the
   tap reading customers and companies (the streams meltano.yml selects) with
   ``rate_limit_share`` 1.0, told the search budget (Kustomer does not advertise it) and left
   to learn the org budget from ``x-ratelimit-limit``: the share of each budget used (aim >= 0.9,
   no 429 past the first).

``--search-reading strict`` (default) runs against the sandbox's defaults, the strictest reading
of the docs: standard search refuses the sorts the docs do not list (every context but
customers) and ``company_updated_at``, so those streams are read by time pieces (companies: a
whole scan) after one refused query each. ``serve`` makes the sandbox serve them, as both
existing taps assume the real API does: every stream is then read by keyset. The ``ways``
column says how each stream was read.

    .venv/bin/python benchmarks/kustomer_requests.py [--customers 2000] [--page-size 500]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from rate_share import budget_share

from sandbox.core.server import SandboxServer
from sandbox.kustomer import create_app
from tap_kustomer.tap import TapKustomer

SEARCH_STREAMS = ("companies", "customers", "conversations", "messages", "notes")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument("--companies", type=int, default=400)
    parser.add_argument("--conversations-per-customer", type=int, default=2)
    parser.add_argument("--messages-per-conversation", type=int, default=4)
    parser.add_argument("--notes-per-conversation", type=int, default=1)
    parser.add_argument("--kobjects-per-klass", type=int, default=1000)
    parser.add_argument("--old-fraction", type=float, default=0.25)
    parser.add_argument("--page-size", type=int, default=500)
    parser.add_argument("--org-rpm", type=int, default=1000, help="org budget to project against")
    parser.add_argument("--search-rpm", type=int, default=100)
    parser.add_argument("--share", type=float, default=0.8)
    parser.add_argument("--skip-throttle", action="store_true")
    parser.add_argument("--search-reading", choices=["strict", "serve"], default="strict")
    parser.add_argument("--throttle-customers", type=int, default=6000)
    parser.add_argument("--throttle-page-size", type=int, default=100)
    parser.add_argument("--throttle-org-rpm", type=int, default=60)
    parser.add_argument("--throttle-search-rpm", type=int, default=30)
    args = parser.parse_args()

    reading = {}
    if args.search_reading == "serve":
        reading = {"undocumented_sorts": "serve", "undocumented_filters": "serve"}
    app = create_app(rate_limit_per_minute=10**9, search_rate_limit_per_minute=10**9, **reading)
    seeded = app.seed(
        "default",
        customers=args.customers,
        companies=args.companies,
        conversations_per_customer=args.conversations_per_customer,
        messages_per_conversation=args.messages_per_conversation,
        notes_per_conversation=args.notes_per_conversation,
        kobjects_per_klass=args.kobjects_per_klass,
        old_fraction=args.old_fraction,
    )
    with SandboxServer(app) as server:
        config = {
            "api_key": app.knobs["api_key"],
            "base_url": server.url,
            "start_date": "2000-01-01T00:00:00Z",
            "index_lag_seconds": 0,
            "page_size": args.page_size,
            "rate_limit_per_minute": 10**9,
            "search_rate_limit_per_minute": 10**9,
            "rate_limit_share": 1.0,
        }
        tap = TapKustomer(config=config)
        out = io.StringIO()
        started = time.monotonic()
        with contextlib.redirect_stdout(out):
            tap.sync_all()
        elapsed = time.monotonic() - started
        journal = [e.to_dict() for e in app.journal.entries()]
        last_state = None
        for line in out.getvalue().splitlines():
            if line.startswith('{"type":"STATE"') or line.startswith('{"type": "STATE"'):
                last_state = json.loads(line)["value"]
        # 2. incremental: 1% of every kind of object changes, then a run from the last STATE
        app.journal.clear()
        changed = {}
        for kind_name, table in list(app.store.objects.items()):
            if table and kind_name not in ("users", "teams", "tags", "klasses"):
                changed[kind_name] = len(
                    app.modify(kind_name, count=max(1, math.ceil(len(table) * 0.01)))
                )
        inc_tap = TapKustomer(config=config, state=last_state)
        inc_out = io.StringIO()
        inc_started = time.monotonic()
        with contextlib.redirect_stdout(inc_out):
            inc_tap.sync_all()
        inc_elapsed = time.monotonic() - inc_started
        inc_journal = app.journal.entries()
        meltano = meltano_style(app, config)
        inc_records: Counter[str] = Counter()
        for line in inc_out.getvalue().splitlines():
            if '"type":"RECORD"' in line[:20] or '"type": "RECORD"' in line[:20]:
                inc_records[json.loads(line)["stream"]] += 1

    records: Counter[str] = Counter()
    for line in out.getvalue().splitlines():
        msg = json.loads(line)
        if msg["type"] == "RECORD":
            records[msg["stream"]] += 1
    by_kind = tap.client.requests_by_kind
    print(f"seeded: {json.dumps(seeded)}", file=sys.stderr)
    print(
        f"full extract: {sum(records.values())} records, {len(journal)} requests, {elapsed:.1f} s "
        f"against the sandbox, page_size {args.page_size}\n"
    )
    print(
        f"{'stream':<28}{'records':>9}{'requests':>10}{'per 10k':>9}{'minimum':>9}{'ratio':>7}"
        "  ways"
    )
    for stream in sorted(records):
        print_stream(stream, records[stream], by_kind, args.page_size, tap)
    other = {k: v for k, v in by_kind.items() if k in ("get",)}
    if other:
        print(f"discovery/other: {other}")

    searches = sum(1 for e in journal if e["path"].endswith("/search"))
    total = len(journal)
    minutes = max(searches / (args.search_rpm * args.share), total / (args.org_rpm * args.share))
    print(
        f"\nrate budgets: {total} requests ({searches} search). At {args.org_rpm} org req/min and "
        f"{args.search_rpm} search req/min, throttled to {args.share:.0%}:"
    )
    print(
        f"  the extract takes at least {minutes:.1f} min; it uses "
        f"{100 * total / (args.org_rpm * max(minutes, 1)):.0f}% of the org budget and "
        f"{100 * searches / (args.search_rpm * max(minutes, 1)):.0f}% of the search budget "
        "over that time"
    )
    print(f"  {tap.client.summary()}")

    inc_kinds = Counter(
        "search" if e.path.endswith("/search") else e.path.split("/")[2] for e in inc_journal
    )
    print(
        f"\nincremental run after 1% changed ({changed}): {sum(inc_records.values())} records "
        f"{dict(sorted(inc_records.items()))} in {inc_elapsed:.1f} s\n"
        f"  requests {len(inc_journal)} {dict(sorted(inc_kinds.items()))}; over the full run's "
        f"{total}: {len(inc_journal) / total:.4f} (aim <= 0.02)"
    )
    print(meltano)
    if not args.skip_throttle:
        throttle(args)


def print_stream(stream: str, n: int, by_kind: Counter[str], page_size: int, tap: Any) -> None:
    """One row of the per-stream table: requests against the minimum, and how it was read."""
    kinds = [k for k in by_kind if k in (stream, f"archive_{stream}") or k.startswith(f"{stream}_")]
    spent = sum(by_kind[k] for k in kinds)
    size = (
        page_size
        if stream in SEARCH_STREAMS or stream.startswith("kobjects_")
        else (500 if stream in ("users", "teams") else 100)
    )
    minimum = max(1, math.ceil(n / size))
    if stream in ("tags", "klasses", "users"):
        # one list per deleted flag (tags, users) / status (klasses)
        minimum = {"tags": 2, "klasses": 3, "users": 2}[stream]
    if stream == "custom_attribute_metadata":
        spent = by_kind["metadata"]
        minimum = spent  # one GET per resource
    per10k = spent * 10_000 / max(1, n)
    reader = getattr(tap.streams.get(stream), "reader", None)
    ways = ""
    if reader is not None:
        ways = ", ".join(f"{k} {v}" for k, v in sorted(reader.modes.items())) or "keyset"
    print(f"{stream:<28}{n:>9}{spent:>10}{per10k:>9.1f}{minimum:>9}{spent / minimum:>7.2f}  {ways}")
    if stream == "notes":
        fan = by_kind["notes_by_conversation"]
        conv = by_kind["notes_fanout_conversations"] + by_kind["archive_notes_fanout_conversations"]
        print(
            f"{'':<4}of which per-conversation note reads {fan}, "
            f"conversation enumeration {conv} "
            "(notes older than two years have no search)"
        )


MELTANO_STREAMS = ("customers", "companies")


def meltano_style(app, config: dict) -> str:
    """Part 2b: requests of a full and a 1% incremental ``meltano run`` of customers+companies.

    Each run is two processes, as Meltano runs a tap: ``--discover`` (no catalog), then a sync
    given the discovered catalog with only ``MELTANO_STREAMS`` selected.
    """

    def run(state: dict | None) -> tuple[int, int, dict | None]:
        app.journal.clear()
        catalog = TapKustomer(config=config).catalog_dict
        discovery = len(app.journal.entries())
        for entry in catalog["streams"]:
            for meta in entry["metadata"]:
                if meta["breadcrumb"] == []:
                    meta["metadata"]["selected"] = entry["tap_stream_id"] in MELTANO_STREAMS
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            TapKustomer(config=config, catalog=catalog, state=state).sync_all()
        last = None
        for line in out.getvalue().splitlines():
            if line.startswith('{"type":"STATE"') or line.startswith('{"type": "STATE"'):
                last = json.loads(line)["value"]
        return discovery, len(app.journal.entries()) - discovery, last

    full_disc, full_sync, state = run(None)
    for kind_name in ("customer", "company"):
        table = app.store.objects.get(kind_name) or {}
        app.modify(kind_name, count=max(1, math.ceil(len(table) * 0.01)))
    inc_disc, inc_sync, _ = run(state)
    full, inc = full_disc + full_sync, inc_disc + inc_sync
    return (
        f"meltano run of {'+'.join(MELTANO_STREAMS)} (discovery + sync processes): full "
        f"{full_disc} + {full_sync} = {full}; after 1% changed {inc_disc} + {inc_sync} = {inc}: "
        f"{inc / max(1, full):.4f} (sync process alone {inc_sync / max(1, full_sync):.4f})"
    )


def throttle(args: argparse.Namespace) -> None:
    """Part 3: the share of lowered budgets a customers + companies read uses."""
    app = create_app(
        rate_limit_per_minute=args.throttle_org_rpm,
        search_rate_limit_per_minute=args.throttle_search_rpm,
        journal_bodies=False,
    )
    app.seed(
        "default",
        customers=args.throttle_customers,
        companies=max(1, args.throttle_customers // 10),
        conversations_per_customer=0,
        messages_per_conversation=0,
        notes_per_conversation=0,
        kobjects_per_klass=0,
    )
    print(
        f"\nthrottled: org budget {args.throttle_org_rpm}/min, "
        f"search {args.throttle_search_rpm}/min; "
        f"{args.throttle_customers:,} customers, {max(1, args.throttle_customers // 10):,} "
        f"companies, page size {args.throttle_page_size}; streams customers + companies",
        flush=True,
    )
    with SandboxServer(app) as server:
        config = {
            "api_key": app.knobs["api_key"],
            "base_url": server.url,
            "start_date": "2000-01-01T00:00:00Z",
            "index_lag_seconds": 0,
            "page_size": args.throttle_page_size,
            "search_rate_limit_per_minute": args.throttle_search_rpm,
            "rate_limit_share": 1.0,
        }
        catalog = TapKustomer(config=config).catalog_dict
        for entry in catalog["streams"]:
            chosen = entry["tap_stream_id"] in ("customers", "companies")
            for meta in entry["metadata"]:
                if meta["breadcrumb"] == []:
                    meta["metadata"]["selected"] = chosen
        out = io.StringIO()
        started = time.monotonic()
        with contextlib.redirect_stdout(out):
            TapKustomer(config=config, catalog=catalog).sync_all()
        elapsed = time.monotonic() - started
        entries = app.journal.entries()
    records = sum(1 for line in out.getvalue().splitlines() if '"RECORD"' in line[:20])
    # Kustomer's budgets are per minute, reset at x-ratelimit-reset: fixed windows.
    org = budget_share(
        ((e.at, e.status) for e in entries), args.throttle_org_rpm, 60.0, rolling=False
    )
    search = budget_share(
        ((e.at, e.status) for e in entries if e.path.endswith("/search")),
        args.throttle_search_rpm,
        60.0,
        rolling=False,
    )
    print(f"  {records:,} records in {elapsed:.1f} s")
    print("  " + org.line(args.throttle_org_rpm, 60.0, "org budget"))
    print("  " + search.line(args.throttle_search_rpm, 60.0, "search budget"))
    print(
        f"  429s: {org.refused} (aim <= 1); the binding budget is the search one: share "
        f"{search.share if search.share is not None else float('nan'):.3f} (aim >= 0.9)"
    )


if __name__ == "__main__":
    main()
