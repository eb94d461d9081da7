"""Kustomer sandbox: search time per page at scale, the plain code against the indexed one.

One process, one seeded store (by default the end-to-end set: 100,000 customers and 10,000
companies, no conversations), two ways of answering the same requests through the WSGI app:

* ``plain``: the sandbox's search module as it was at ``--old-rev`` (read from git, loaded
  under another name) with the index switched off: every page filters and sorts every stored
  object of the context, as before issue 15's change;
* ``indexed``: the code of this checkout.

They alternate (plain, indexed, plain, indexed) over the requests a tap makes: the first pages
of a keyset query on ``customer_updated_at`` (standard search, as tap-kustomer sends it), the
first page of the next keyset query, the same on the archive search, and a scan of companies.
Every answer of the two is compared byte for byte. Then the indexed code alone reads every
page the tap's full read needs (keyset restarts every 10,000 hits), and the time is set beside
the Kustomer search budget (100 searches a minute).

    .venv/bin/python benchmarks/kustomer_search.py [--customers 100000] [--companies 10000]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

from werkzeug.test import Client

from sandbox.kustomer import app as app_module
from sandbox.kustomer import create_app
from sandbox.kustomer.index import SearchIndex
from sandbox.kustomer.store import DAY, iso

ROOT = Path(__file__).resolve().parent.parent
KEY = {"Authorization": "Bearer sandbox-kustomer-key"}
SEARCH, ARCHIVE = "/v1/customers/search", "/v1/customers/archive/search"


def old_search(rev: str) -> ModuleType:
    """``sandbox/kustomer/search.py`` as it was at ``rev``, as its own module."""
    text = subprocess.check_output(
        ["git", "show", f"{rev}:sandbox/sandbox/kustomer/search.py"], cwd=ROOT, text=True
    )
    spec = importlib.util.spec_from_loader("kustomer_search_old", loader=None)
    module = importlib.util.module_from_spec(spec)
    exec(compile(text, f"{rev}:search.py", "exec"), module.__dict__)  # noqa: S102 - our own code
    # names the app now reads only to key the index, which the plain run switches off
    module.__dict__.setdefault("sort_names", lambda *_, **__: [])
    return module


class _Plain:
    """An index that never answers: the app takes its plain filter and sort."""

    stats: dict[str, int] = {}

    def hits(self, *_: Any, **__: Any) -> None:
        return None


def load() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--companies", type=int, default=10_000)
    parser.add_argument("--old-rev", default="21598aa", help="git revision of the plain code")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--skip-full-read", action="store_true")
    args = parser.parse_args()

    app = create_app(
        rate_limit_per_minute=10**9, search_rate_limit_per_minute=10**9, journal_bodies=False
    )
    started = time.perf_counter()
    app.seed(
        "default",
        customers=args.customers,
        companies=args.companies,
        conversations_per_customer=0,
        messages_per_conversation=0,
        notes_per_conversation=0,
        kobjects_per_klass=0,
    )
    stored = sum(len(t) for t in app.store.objects.values())
    print(
        f"seeded {args.customers:,} customers + {args.companies:,} companies ({stored:,} stored "
        f"objects) in {time.perf_counter() - started:.1f} s; {load()}",
        flush=True,
    )
    client = Client(app)
    plain_module, new_module = old_search(args.old_rev), app_module.s
    now = app.clock.now()
    window = float(app.knobs["search_window_days"])

    def body(ctx: str, lo: str, hi: str, *, sort: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {"queryContext": ctx, "includeDeleted": True}
        if lo:
            out["and"] = [{f"{ctx}_updated_at": {"gte": lo}}, {f"{ctx}_updated_at": {"lt": hi}}]
        if sort:
            out["sort"] = [{f"{ctx}_updated_at": "asc"}]
        return out

    upper = iso(now - 30)
    standard = body("customer", iso(now - (window + 7) * DAY), upper)
    later = body("customer", iso(now - 300 * DAY), upper)
    archive = body("customer", "2000-01-01T00:00:00.000Z", iso(now - (window - 7) * DAY))
    companies = body("company", "", "", sort=False)
    requests = [
        ("customer keyset p1", SEARCH, standard, 1),
        ("customer keyset p2", SEARCH, standard, 2),
        ("customer keyset p3", SEARCH, standard, 3),
        ("next keyset query p1", SEARCH, later, 1),
        ("next keyset query p2", SEARCH, later, 2),
        ("archive keyset p1", ARCHIVE, archive, 1),
        ("archive keyset p2", ARCHIVE, archive, 2),
        ("company scan p1", SEARCH, companies, 1),
        ("company scan p2", SEARCH, companies, 2),
    ]

    def ask(path: str, query: dict[str, Any], page: int) -> tuple[float, bytes]:
        t = time.perf_counter()
        answer = client.post(f"{path}?page={page}&pageSize=500", json=query, headers=KEY)
        elapsed = time.perf_counter() - t
        if answer.status_code != 200:
            raise SystemExit(f"{path} page {page}: {answer.status_code} {answer.get_data()[:300]}")
        return elapsed, answer.get_data()

    times: dict[str, dict[str, list[float]]] = {"plain": {}, "indexed": {}}
    for round_no in range(args.rounds):
        answers: dict[str, dict[str, bytes]] = {}
        for way in ("plain", "indexed"):
            app_module.s = plain_module if way == "plain" else new_module
            app.search_index = _Plain() if way == "plain" else SearchIndex()
            answers[way] = {}
            for name, path, query, page in requests:
                elapsed, data = ask(path, query, page)
                times[way].setdefault(name, []).append(elapsed)
                answers[way][name] = data
            print(f"round {round_no + 1} {way:8} done; {load()}", flush=True)
        app_module.s = new_module
        different = [n for n, _, _, _ in requests if answers["plain"][n] != answers["indexed"][n]]
        if different:
            raise SystemExit(f"answers differ: {different}")
    print(f"\nanswers identical, byte for byte ({len(requests)} requests x {args.rounds} rounds)")
    print(f"{'request (pageSize 500)':24} {'plain s':>18} {'indexed s':>18} {'plain/indexed':>14}")
    for name, _, _, _ in requests:
        p, n = times["plain"][name], times["indexed"][name]
        print(
            f"{name:24} {' / '.join(f'{x:.3f}' for x in p):>18} "
            f"{' / '.join(f'{x:.3f}' for x in n):>18} {min(p) / min(n):14.1f}"
        )

    if not args.skip_full_read:
        full_read(app, ask, body, upper=upper, now=now, window=window)


def full_read(
    app: Any,
    ask: Callable[..., Any],
    body: Callable[..., Any],
    *,
    upper: str,
    now: float,
    window: float,
) -> None:
    """Every page tap-kustomer's full read of customers and companies asks, indexed."""
    app.search_index = SearchIndex()
    print(f"\nfull read, indexed, as tap-kustomer pages it; {load()}", flush=True)
    total_requests, total_s, slowest = 0, 0.0, 0.0
    for label, path, ctx, lo, hi, sort in (
        ("customers standard", SEARCH, "customer", iso(now - (window + 7) * DAY), upper, True),
        (
            "customers archive",
            ARCHIVE,
            "customer",
            "2000-01-01T00:00:00.000Z",
            iso(now - (window - 7) * DAY),
            True,
        ),
        ("companies scan", SEARCH, "company", "", "", False),
    ):
        requests_here, seconds, records, cursor, seen = 0, 0.0, 0, lo, set()
        while True:
            query = body(ctx, cursor, hi, sort=sort)
            last_stamp, page, got_new = None, 1, False
            while True:
                elapsed, data = ask(path, query, page)
                requests_here += 1
                seconds += elapsed
                slowest = max(slowest, elapsed)
                answer = json.loads(data)
                for o in answer["data"]:
                    if o["id"] not in seen:
                        seen.add(o["id"])
                        records += 1
                        got_new = True
                    last_stamp = o["attributes"]["updatedAt"]
                if not answer["links"]["next"] or page * 500 >= 10_000:
                    break
                page += 1
            if not sort or not answer["links"]["next"] or not got_new:
                break
            cursor = last_stamp  # keyset restart (gte the last timestamp; seen ids skipped)
        total_requests += requests_here
        total_s += seconds
        print(
            f"  {label:20} {records:7,} records, {requests_here:4} searches, {seconds:6.1f} s "
            f"({seconds / requests_here:.3f} s per search); {load()}",
            flush=True,
        )
    print(
        f"  all: {total_requests} searches in {total_s:.1f} s of sandbox time (slowest "
        f"{slowest:.2f} s); the search budget (100/min) allows them in "
        f"{total_requests * 0.6:.1f} s"
    )
    print(f"  index: {app.search_index.stats}")


if __name__ == "__main__":
    sys.exit(main())
