"""Requests per 10,000 contacts for a full and a 1%-incremental tap-hubspot-contacts run.

Starts a HubSpot sandbox in-process (rate limits off, journal bodies off), seeds it, runs the
tap twice (full, then incremental after modifying 1% of contacts and companies) and prints,
per run: requests by endpoint, the minimum the page sizes allow, and records per second.

    .venv/bin/python benchmarks/hubspot_requests.py [--contacts 10000] [--companies 2000]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import time
from collections import Counter

from sandbox.core.server import SandboxServer
from sandbox.hubspot import create_app
from tap_hubspot_contacts.tap import TapHubSpotContacts

LIST_PAGE, SEARCH_PAGE, ASSOC_BATCH = 100, 200, 1000


def run(config, state=None):
    out = io.StringIO()
    start = time.perf_counter()
    with contextlib.redirect_stdout(out):
        TapHubSpotContacts(config=config, state=state).sync_all()
    elapsed = time.perf_counter() - start
    messages = [json.loads(line) for line in out.getvalue().splitlines()]
    records = Counter(m["stream"] for m in messages if m["type"] == "RECORD")
    states = [m["value"] for m in messages if m["type"] == "STATE"]
    return records, states[-1], elapsed


def kind(path: str) -> str:
    if path.endswith("/search"):
        return f"{path.split('/')[-2]} search"
    if path.endswith("/batch/read"):
        return f"{'associations' if '/associations/' in path else path.split('/')[-3]} batch read"
    if "/properties/" in path:
        return "properties"
    return f"{path.rsplit('/', 1)[-1]} list"


def report(title, app, records, elapsed, *, minimum, per):
    entries = app.journal.entries()
    by_kind = Counter(kind(e.path) for e in entries)
    total = len(entries)
    rate = sum(records.values()) / elapsed if elapsed else 0
    print(f"\n== {title}")
    print(f"records: {dict(records)}  in {elapsed:.2f} s  ({rate:,.0f} records/s)")
    print(f"requests: {total}  by kind: {dict(sorted(by_kind.items()))}")
    print(f"minimum for the page sizes: {minimum}  (ratio {total / minimum:.2f})")
    print(f"requests per 10,000 contacts: {total * 10_000 / per:.1f}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--contacts", type=int, default=10_000)
    parser.add_argument("--companies", type=int, default=2_000)
    args = parser.parse_args()
    app = create_app(burst_limit=0, search_rate_per_second=0, journal_bodies=False)
    summary = app.seed("default", contacts=args.contacts, companies=args.companies)
    print(f"seeded: {summary}")
    with SandboxServer(app) as server:
        config = {
            "access_token": "sandbox-token",
            "api_url": server.url,
            "search_index_lag_seconds": 0,
            "requests_per_ten_seconds": 1_000_000,
            "search_requests_per_second": 1_000_000,
        }
        records, state, elapsed = run(config)
        contacts = len(app.stores["contacts"].objects)
        companies = len(app.stores["companies"].objects)
        live_c = len(app.stores["contacts"].active_ids())
        live_o = len(app.stores["companies"].active_ids())
        arch_c, arch_o = contacts - live_c, companies - live_o
        full_min = (
            2  # property definitions
            + math.ceil(live_c / LIST_PAGE) + math.ceil(live_c / ASSOC_BATCH)
            + math.ceil(live_o / LIST_PAGE)
            + max(1, math.ceil(arch_c / LIST_PAGE)) + max(1, math.ceil(arch_o / LIST_PAGE))
        )  # fmt: skip
        report("full run", app, records, elapsed, minimum=full_min, per=live_c)
        app.journal.clear()
        changed_c = len(app.modify("contacts", fraction=0.01)["modified"])
        changed_o = len(app.modify("companies", fraction=0.01)["modified"])
        records, state, elapsed = run(config, state)
        inc_min = (
            2
            + math.ceil(changed_c / SEARCH_PAGE) + math.ceil(changed_c / ASSOC_BATCH)
            + math.ceil(changed_o / SEARCH_PAGE)
            + max(1, math.ceil(arch_c / LIST_PAGE)) + max(1, math.ceil(arch_o / LIST_PAGE))
        )  # fmt: skip
        report(
            f"incremental run ({changed_c} contacts, {changed_o} companies modified)",
            app, records, elapsed, minimum=inc_min, per=live_c,
        )  # fmt: skip
        print(
            "\n(the archived sweep pages the archived set every run: the only cost that is not"
            " proportional to the change; see docs/tap-hubspot-contacts.md)"
        )


if __name__ == "__main__":
    main()
