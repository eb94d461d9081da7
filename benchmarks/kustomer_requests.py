"""Requests tap-kustomer spends per 10,000 records of each stream, against the minimum.

Runs a full extract (start_date far in the past) against a seeded Kustomer sandbox and prints,
per stream: records, requests, requests per 10,000 records, the minimum possible for the page
sizes (every page full, no restarts, no archive/standard overlap) and the ratio; then the rate
budgets: how long the same extract would take at a real org's budgets and what share of each
budget it would use.

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
    args = parser.parse_args()

    app = create_app(rate_limit_per_minute=10**9, search_rate_limit_per_minute=10**9)
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
    print(f"{'stream':<28}{'records':>9}{'requests':>10}{'per 10k':>9}{'minimum':>9}{'ratio':>7}")
    streams = sorted(records)
    for stream in streams:
        kinds = [
            k for k in by_kind if k in (stream, f"archive_{stream}") or k.startswith(f"{stream}_")
        ]
        spent = sum(by_kind[k] for k in kinds)
        n = records[stream]
        size = (
            args.page_size
            if stream in SEARCH_STREAMS or stream.startswith("kobjects_")
            else (500 if stream in ("users", "teams") else 100)
        )
        minimum = max(1, math.ceil(n / size))
        if stream in ("tags", "klasses"):
            minimum = {"tags": 2, "klasses": 3}[stream]  # one list per deleted flag / status
        if stream == "custom_attribute_metadata":
            spent = by_kind["metadata"]
            minimum = spent  # one GET per resource
        per10k = spent * 10_000 / max(1, n)
        print(f"{stream:<28}{n:>9}{spent:>10}{per10k:>9.1f}{minimum:>9}{spent / minimum:>7.2f}")
        if stream == "notes":
            fan = by_kind["notes_by_conversation"]
            conv = (
                by_kind["notes_fanout_conversations"]
                + by_kind["archive_notes_fanout_conversations"]
            )
            print(
                f"{'':<4}of which per-conversation note reads {fan}, "
                f"conversation enumeration {conv} "
                "(notes older than two years have no search)"
            )
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


if __name__ == "__main__":
    main()
