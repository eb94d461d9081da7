"""tap-hubspot-contacts: requests per stream over the minimum, 1%-incremental cost, rate share.

One process, three parts, each against a HubSpot sandbox started in-process:

1. full run (rate limits off, journal bodies off): requests of each stream per 10,000 of its
   records, over the minimum the page sizes allow (aim <= 1.05);
2. incremental run after 1% of contacts and companies changed: its requests over the full
   run's (aim <= 0.02). The sandbox serves the 200 search results asked per page, as HubSpot
   does since its 2024 raise (``--search-page-clamp 0``); the sandbox's own default, 100 per
   page (the strict reading of "up to 200"), is measured with ``--search-page-clamp 100``: the
   minimum is counted in pages of the size served;
3. throttled: a fresh sandbox whose burst limit is lowered (``--throttle-limit`` per 10 s), the
   tap left at its default ``requests_per_ten_seconds`` (it must learn the lower limit from
   HubSpot's headers) with ``rate_limit_share`` 1.0 and then the default 0.8: the share of
   the budget the full read used (aim >= 0.9 of what the tap may use, no 429 past the first;
   ``benchmarks/rate_share.py`` says how the share is counted).

    .venv/bin/python benchmarks/hubspot_requests.py
    .venv/bin/python benchmarks/hubspot_requests.py --contacts 10000 --companies 1000 \
        --skip-throttle
    .venv/bin/python benchmarks/hubspot_requests.py --skip-throttle --search-page-clamp 100
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

sys.path.insert(0, str(Path(__file__).resolve().parent))

from rate_share import budget_share

from sandbox.core.server import SandboxServer
from sandbox.hubspot import create_app
from tap_hubspot_contacts.tap import TapHubSpotContacts

LIST_PAGE, SEARCH_PAGE, ASSOC_BATCH = 100, 200, 1000


class _Null(io.TextIOBase):
    """Counts Singer messages by type and stream without keeping them."""

    def __init__(self) -> None:
        self.records: Counter[str] = Counter()
        self.last_state: dict | None = None
        self._buffer = ""

    def write(self, text: str) -> int:
        self._buffer += text
        *lines, self._buffer = self._buffer.split("\n")
        for line in lines:
            if line.startswith('{"type":"RECORD"') or line.startswith('{"type": "RECORD"'):
                stream = line.split('"stream":', 1)[1].split('"', 2)[1]
                self.records[stream] += 1
            elif '"type":"STATE"' in line[:20] or '"type": "STATE"' in line[:20]:
                self.last_state = json.loads(line)["value"]
        return len(text)


def run(config: dict, state: dict | None = None) -> tuple[Counter[str], dict, float]:
    out = _Null()
    start = time.perf_counter()
    with contextlib.redirect_stdout(out):
        TapHubSpotContacts(config=config, state=state).sync_all()
    return out.records, out.last_state or {}, time.perf_counter() - start


def stream_of(path: str) -> tuple[str, str]:
    """(stream, request kind) of a journal path."""
    if "/properties/" in path:
        return ("contact_properties" if "contact" in path else "company_properties"), "properties"
    if "/associations/" in path:
        return "contacts", "associations batch read"
    obj = "contacts" if "/contacts" in path else "companies"
    if path.endswith("/search"):
        return obj, "search"
    if path.endswith("/batch/read"):
        return obj, "batch read"
    return obj, "list"


def by_stream(entries: list) -> dict[str, Counter[str]]:
    out: dict[str, Counter[str]] = {}
    for e in entries:
        stream, what = stream_of(e.path)
        archived = "archived" if e.query.get("archived") == ["true"] else ""
        out.setdefault(stream, Counter())[f"{what} {archived}".strip()] += 1
    return out


def config_for(url: str, **extra: object) -> dict:
    return {
        "access_token": "sandbox-token",
        "api_url": url,
        "search_index_lag_seconds": 0,
        **extra,
    }


def requests_part(contacts: int, companies: int, search_clamp: int) -> None:
    app = create_app(
        burst_limit=0,
        search_rate_per_second=0,
        journal_bodies=False,
        search_page_clamp=search_clamp,
    )
    seeded = app.seed("default", contacts=contacts, companies=companies)
    search_page = min(SEARCH_PAGE, search_clamp) if search_clamp > 0 else SEARCH_PAGE
    print(f"seeded: {seeded}; search pages served: {search_page} of the {SEARCH_PAGE} asked")
    fast = {
        "requests_per_ten_seconds": 1_000_000,
        "search_requests_per_second": 1_000_000,
        "rate_limit_share": 1.0,
    }
    with SandboxServer(app) as server:
        config = config_for(server.url, **fast)
        records, state, elapsed = run(config)
        full_entries = app.journal.entries()
        stores = app.stores
        live = {k: len(stores[k].active_ids()) for k in ("contacts", "companies")}
        archived = {k: len(stores[k].objects) - live[k] for k in ("contacts", "companies")}
        minimum = {
            "contacts": math.ceil(live["contacts"] / LIST_PAGE)
            + math.ceil(live["contacts"] / ASSOC_BATCH)
            + max(1, math.ceil(archived["contacts"] / LIST_PAGE)),
            "companies": math.ceil(live["companies"] / LIST_PAGE)
            + max(1, math.ceil(archived["companies"] / LIST_PAGE)),
            "contact_properties": 1,
            "company_properties": 1,
        }
        spent = by_stream(full_entries)
        total_full = len(full_entries)
        print(
            f"\n== full run: {sum(records.values()):,} records in {elapsed:.1f} s, "
            f"{total_full} requests"
        )
        print(
            f"{'stream':<20}{'records':>9}{'requests':>10}{'per 10k':>9}{'minimum':>9}"
            f"{'ratio':>7}  kinds"
        )
        for stream in ("contacts", "companies", "contact_properties", "company_properties"):
            n = records.get(stream, 0)
            s = sum(spent.get(stream, Counter()).values())
            print(
                f"{stream:<20}{n:>9}{s:>10}{s * 10_000 / max(1, n):>9.1f}{minimum[stream]:>9}"
                f"{s / minimum[stream]:>7.3f}  {dict(spent.get(stream, {}))}"
            )
        all_min = sum(minimum.values())
        print(f"{'all':<20}{'':>9}{total_full:>10}{'':>9}{all_min:>9}{total_full / all_min:>7.3f}")
        print("(minimum: live records / list page 100, contacts / association batch 1,000, and")
        print(" one page of the archived sweep per object: every page full, nothing read twice)")

        app.journal.clear()
        changed_c = len(app.modify("contacts", fraction=0.01)["modified"])
        changed_o = len(app.modify("companies", fraction=0.01)["modified"])
        records, state, elapsed = run(config, state)
        inc_entries = app.journal.entries()
        spent = by_stream(inc_entries)
        inc_min = (
            2
            + math.ceil(changed_c / search_page)
            + math.ceil(changed_c / ASSOC_BATCH)
            + math.ceil(changed_o / search_page)
            + max(1, math.ceil(archived["contacts"] / LIST_PAGE))
            + max(1, math.ceil(archived["companies"] / LIST_PAGE))
        )
        print(
            f"\n== incremental run: {changed_c} contacts and {changed_o} companies changed (1%); "
            f"{dict(records)} in {elapsed:.1f} s"
        )
        for stream, kinds in sorted(spent.items()):
            print(f"   {stream:<20}{dict(kinds)}")
        print(
            f"requests {len(inc_entries)} (minimum {inc_min}, ratio "
            f"{len(inc_entries) / inc_min:.2f}); over the full run's {total_full}: "
            f"{len(inc_entries) / total_full:.4f} (aim <= 0.02)"
        )
        fixed = (
            2
            + max(1, math.ceil(archived["contacts"] / LIST_PAGE))
            + max(1, math.ceil(archived["companies"] / LIST_PAGE))
        )
        print(
            f"   of which {fixed} do not depend on the change (property definitions and the "
            "archived sweep, which pages every archived record each run)"
        )


def throttle_part(contacts: int, companies: int, limit: int) -> None:
    print(
        f"\n== throttled: sandbox burst limit {limit} per 10 s (HubSpot default 190), "
        f"{contacts:,} contacts, {companies:,} companies; the tap's requests_per_ten_seconds "
        "left at its default (100): it learns the limit from X-HubSpot-RateLimit-Max"
    )
    for share in (1.0, 0.8):
        app = create_app(burst_limit=limit, search_rate_per_second=0, journal_bodies=False)
        app.seed("default", contacts=contacts, companies=companies)
        with SandboxServer(app) as server:
            records, _state, elapsed = run(config_for(server.url, rate_limit_share=share))
            entries = [e for e in app.journal.entries() if not e.path.endswith("/search")]
        # HubSpot's burst limit is a rolling 10 s window (the sandbox approximates it with
        # fixed ones): the rolling bound is the one a client can be held to.
        result = budget_share(((e.at, e.status) for e in entries), limit, 10.0, rolling=True)
        allowed = math.floor(limit * share)  # the tap's own cap (effective_limit)
        of_allowed = budget_share(
            ((e.at, e.status) for e in entries), allowed, 10.0, rolling=True
        ).share
        print(
            f"rate_limit_share {share}: {sum(records.values()):,} records in {elapsed:.1f} s\n   "
            + result.line(limit, 10.0, "burst budget")
            + f"\n   share of the {allowed}/10 s the tap allows itself: "
            f"{of_allowed if of_allowed is not None else float('nan'):.3f} (aim >= 0.9); "
            f"429s {result.refused} (aim <= 1)",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--companies", type=int, default=10_000)
    parser.add_argument("--throttle-contacts", type=int, default=10_000)
    parser.add_argument("--throttle-companies", type=int, default=1_000)
    parser.add_argument("--throttle-limit", type=int, default=20, help="requests per 10 s")
    parser.add_argument("--skip-throttle", action="store_true")
    parser.add_argument(
        "--search-page-clamp",
        type=int,
        default=0,
        help="search results the sandbox serves per page (0: the 200 asked)",
    )
    args = parser.parse_args()
    requests_part(args.contacts, args.companies, args.search_page_clamp)
    if not args.skip_throttle:
        throttle_part(args.throttle_contacts, args.throttle_companies, args.throttle_limit)


if __name__ == "__main__":
    main()
