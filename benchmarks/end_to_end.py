"""End to end: HubSpot contacts and companies into CSM, against the sandboxes' default limits.

Starts the HubSpot and CSM sandboxes in this process with their default knobs (HubSpot: 190
requests per 10 s, search 5/s; CSM: task cap 5, 0.05 s + 0.002 s per item per task, 100
requests per 10 s), seeds HubSpot with ``--contacts`` (100,000) and ``--companies`` (10,000),
and runs

    meltano run --full-refresh tap-hubspot-contacts target-atlassian-csm

(environment ``sandbox``; the sandboxes' URLs, a fresh ledger and summary path given as
environment variables, which Meltano puts above meltano.yml), or, when the plugins are not
installed under ``.meltano/`` (or with ``--mode pipe``), the same pipeline as a shell pipe of
the dev venv's executables with the same settings and stream selection:

    tap-hubspot-contacts --config tap.json --catalog catalog.json \
        | target-atlassian-csm --config target.json

Prints the wall time, what landed, the requests each API received, and the ratio of the bound
set by the slowest limit to the wall time (1.0 = the run went as fast as that limit allows):

* HubSpot burst budget: the minimum requests of a full read / (limit per 10 s);
* CSM task cap: the minimum tasks x task time / cap;
* CSM rate limit: (one submit + one poll per task, the minimum) / (limit per 10 s).

    .venv/bin/python benchmarks/end_to_end.py
    .venv/bin/python benchmarks/end_to_end.py --contacts 10000 --companies 1000 --mode pipe
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import shlex
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from sandbox.core.server import SandboxServer
from sandbox.registry import create_app

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv" / "bin"
MELTANO_TAP = ROOT / ".meltano/extractors/tap-hubspot-contacts/venv/bin/tap-hubspot-contacts"
MELTANO_TARGET = ROOT / ".meltano/loaders/target-atlassian-csm/venv/bin/target-atlassian-csm"
SELECTED = ("contacts", "companies")  # meltano.yml: select contacts.*, companies.*


def meltano_ready() -> bool:
    return MELTANO_TAP.exists() and MELTANO_TARGET.exists()


def run_meltano(hubspot_url: str, csm_url: str, tmp: Path) -> tuple[float, int, str]:
    env = {
        **os.environ,
        "MELTANO_ENVIRONMENT": "sandbox",
        "TAP_HUBSPOT_CONTACTS_API_URL": hubspot_url,
        "TARGET_ATLASSIAN_CSM_BASE_URL": csm_url,
        "TARGET_ATLASSIAN_CSM_LEDGER_PATH": str(tmp / "ledger.sqlite"),
        "TARGET_ATLASSIAN_CSM_DEAD_LETTER_PATH": str(tmp / "dead.jsonl"),
        "TARGET_ATLASSIAN_CSM_SUMMARY_PATH": str(tmp / "summary.json"),
    }
    command = [
        str(VENV / "meltano"),
        "run",
        "--full-refresh",
        "--state-id-suffix",
        "benchmark",
        "tap-hubspot-contacts",
        "target-atlassian-csm",
    ]
    started = time.monotonic()
    with (tmp / "meltano.log").open("wb") as log:
        code = subprocess.call(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    return time.monotonic() - started, code, shlex.join(command[1:])


def run_pipe(hubspot_url: str, csm_url: str, tmp: Path) -> tuple[float, int, str]:
    tap_config = tmp / "tap.json"
    tap_config.write_text(
        json.dumps(
            {
                "api_url": hubspot_url,
                "access_token": "sandbox-token",
                "search_index_lag_seconds": 0,
            }
        )
    )
    target_config = tmp / "target.json"
    target_config.write_text(
        json.dumps(
            {
                "base_url": csm_url,
                "cloud_id": "sandbox",
                "access_token": "sandbox-token",
                "ledger_path": str(tmp / "ledger.sqlite"),
                "dead_letter_path": str(tmp / "dead.jsonl"),
                "summary_path": str(tmp / "summary.json"),
                "batch_max_wait_seconds": 0.5,
            }
        )
    )
    discovered = subprocess.run(
        [str(VENV / "tap-hubspot-contacts"), "--config", str(tap_config), "--discover"],
        capture_output=True,
        check=True,
    )
    catalog = json.loads(discovered.stdout)
    for entry in catalog["streams"]:
        for meta in entry["metadata"]:
            if meta["breadcrumb"] == []:
                meta["metadata"]["selected"] = entry["tap_stream_id"] in SELECTED
    (tmp / "catalog.json").write_text(json.dumps(catalog))
    command = (
        f"{VENV}/tap-hubspot-contacts --config {tmp}/tap.json --catalog {tmp}/catalog.json "
        f"2>{tmp}/tap.log | {VENV}/target-atlassian-csm --config {tmp}/target.json "
        f">{tmp}/target.out 2>{tmp}/target.log"
    )
    started = time.monotonic()
    code = subprocess.call(["bash", "-o", "pipefail", "-c", command])
    return (
        time.monotonic() - started,
        code,
        "tap-hubspot-contacts --config tap.json --catalog catalog.json | "
        "target-atlassian-csm --config target.json",
    )


def csm_site(seed: str) -> tuple[object, int, int, float, str]:
    """A CSM sandbox seeded with ``seed``: (app, customers and organizations it holds, seconds
    per task of 100, a line describing its limits)."""
    csm = create_app("csm", journal_bodies=False)
    csm.seed(seed)
    before = csm.state_snapshot()
    knobs = csm.knobs
    task_time = float(knobs["task_overhead_seconds"]) + 100 * float(knobs["seconds_per_item"])
    line = (
        f"CSM sandbox: task cap {knobs['task_cap']}, {task_time:.2f} s per task of 100, "
        f"{knobs['rate_limit_requests']} requests/{knobs['rate_limit_window_seconds']:g} s"
    )
    return csm, len(before["customers"]), len(before["organizations"]), task_time, line


def run_dir(keep: bool) -> contextlib.AbstractContextManager[str]:
    """The run's directory: kept (and printed by the caller) with ``--keep``, else removed."""
    if keep:
        return contextlib.nullcontext(tempfile.mkdtemp(prefix="e2e-"))
    return tempfile.TemporaryDirectory()


def csm_load(
    entries: list, snapshot: dict, seeded: tuple[int, int]
) -> tuple[Counter, Counter, int, int, int]:
    """What the run did to CSM: requests by kind and status, tasks, customers and
    organizations added."""
    kinds = Counter(
        "bulk" if e.path.endswith("/bulk") else "poll" if "/tasks/" in e.path else "other"
        for e in entries
    )
    status = Counter(e.status for e in entries)
    customers = len(snapshot["customers"]) - seeded[0]
    organizations = len(snapshot["organizations"]) - seeded[1]
    return kinds, status, len(snapshot["tasks"]), customers, organizations


def csm_bounds(
    knobs: dict, task_time: float, customers: int, organizations: int
) -> dict[str, float]:
    """The time CSM's task cap and rate limit alone need for these records (one submit and
    one poll per task)."""
    tasks = math.ceil(customers / 100) + math.ceil(organizations / 100)
    rate = float(knobs["rate_limit_requests"]) / float(knobs["rate_limit_window_seconds"])
    return {
        "CSM task cap": tasks * task_time / int(knobs["task_cap"]),
        "CSM rate limit": 2 * tasks / rate,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--companies", type=int, default=10_000)
    parser.add_argument("--mode", choices=("auto", "meltano", "pipe"), default="auto")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--keep", action="store_true", help="keep the run's directory (logs)")
    parser.add_argument(
        "--source",
        choices=("hubspot", "kustomer"),
        default="hubspot",
        help="kustomer: meltano run tap-kustomer target-atlassian-csm (--contacts customers)",
    )
    args = parser.parse_args()
    if args.source == "kustomer":
        kustomer_main(args)
        return
    mode = args.mode
    if mode == "auto":
        mode = "meltano" if meltano_ready() else "pipe"
        if mode == "pipe":
            print(
                "meltano plugins not installed under .meltano/ (run `meltano install`): "
                "running the same pipeline as a shell pipe",
                flush=True,
            )

    hubspot = create_app("hubspot", journal_bodies=False)
    seeded = hubspot.seed("default", contacts=args.contacts, companies=args.companies)
    csm, seeded_customers, seeded_orgs, task_time, csm_line = csm_site("default")
    knobs_h, knobs_c = hubspot.knobs, csm.knobs
    print(
        f"HubSpot sandbox: {seeded['live_contacts']:,} live contacts, "
        f"{seeded['live_companies']:,} live companies; burst {knobs_h['burst_limit']}/"
        f"{knobs_h['burst_window_seconds']} s, search {knobs_h['search_rate_per_second']}/s\n"
        f"{csm_line}",
        flush=True,
    )
    with (
        run_dir(args.keep) as tmp_name,
        SandboxServer(hubspot) as h_server,
        SandboxServer(csm) as c_server,
    ):
        tmp = Path(tmp_name)
        if args.keep:
            print(f"run directory (kept): {tmp}", flush=True)
        runner = run_meltano if mode == "meltano" else run_pipe
        wall, code, command = runner(h_server.url, c_server.url, tmp)
        if code:
            for log in sorted(tmp.glob("*.log")):
                sys.stderr.write(f"--- {log.name}\n{log.read_text()[-4000:]}\n")
            msg = f"{mode} run exited {code}"
            raise SystemExit(msg)
        summary = json.loads((tmp / "summary.json").read_text())
        h_entries = hubspot.journal.entries()
        c_entries = csm.journal.entries()
        snapshot = csm.state_snapshot()

    h_status = Counter(e.status for e in h_entries)
    c_kinds, c_status, tasks, customers, organizations = csm_load(
        c_entries, snapshot, (seeded_customers, seeded_orgs)
    )

    stores = hubspot.stores
    live_c = len(stores["contacts"].active_ids())
    live_o = len(stores["companies"].active_ids())
    arch_c = len(stores["contacts"].objects) - live_c
    arch_o = len(stores["companies"].objects) - live_o
    h_min = (
        math.ceil(live_c / 100)
        + math.ceil(live_c / 1000)
        + math.ceil(live_o / 100)
        + max(1, math.ceil(arch_c / 100))
        + max(1, math.ceil(arch_o / 100))
        + 2
    )
    burst_per_s = float(knobs_h["burst_limit"]) / float(knobs_h["burst_window_seconds"])
    bounds = {
        "HubSpot burst budget": h_min / burst_per_s,
        **csm_bounds(knobs_c, task_time, customers, organizations),
    }
    slowest = max(bounds, key=bounds.get)
    print(
        f"\nran ({mode}): {command}\n"
        f"wall {wall:.1f} s; the run added {customers:,} customers and {organizations:,} "
        f"organizations to CSM ({tasks} tasks)\n"
        f"target summary: customers {summary['entities'].get('customer')}, organizations "
        f"{summary['entities'].get('organization')}\n"
        f"HubSpot requests {len(h_entries)} (minimum {h_min}) statuses {dict(h_status)}\n"
        f"CSM requests {len(c_entries)} {dict(c_kinds)} statuses {dict(c_status)}; polls/task "
        f"{c_kinds['poll'] / max(1, tasks):.2f}"
    )
    for name, seconds in bounds.items():
        print(f"  bound set by the {name}: {seconds:7.1f} s")
    ratio = bounds[slowest] / wall
    print(
        f"slowest limit: {slowest}, {bounds[slowest]:.1f} s; bound / wall = {ratio:.3f} "
        f"(1.0 = as fast as that limit allows)",
        flush=True,
    )
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "mode": mode,
                    "wall_s": round(wall, 1),
                    "bounds_s": bounds,
                    "slowest": slowest,
                    "ratio": round(ratio, 3),
                    "customers": customers,
                    "organizations": organizations,
                    "hubspot_requests": len(h_entries),
                    "csm_requests": dict(c_kinds),
                },
                indent=2,
            )
        )


def kustomer_main(args: argparse.Namespace) -> None:
    """``meltano run tap-kustomer target-atlassian-csm`` (meltano.yml's selection: customers,
    companies) against the Kustomer and CSM sandboxes at their default limits."""
    kustomer = create_app("kustomer", journal_bodies=False)
    kustomer.seed(
        "default",
        customers=args.contacts,
        companies=args.companies,
        conversations_per_customer=0,
        messages_per_conversation=0,
        notes_per_conversation=0,
        kobjects_per_klass=0,
    )
    # "flows": the detail fields the Kustomer sandbox's data maps to
    csm, seeded_customers, seeded_orgs, task_time, csm_line = csm_site("flows")
    knobs_k, knobs_c = kustomer.knobs, csm.knobs
    print(
        f"Kustomer sandbox: {args.contacts:,} customers, {args.companies:,} companies; org budget "
        f"{knobs_k['rate_limit_per_minute']}/min, search {knobs_k['search_rate_limit_per_minute']}"
        f"/min\n{csm_line}",
        flush=True,
    )
    with (
        run_dir(args.keep) as tmp_name,
        SandboxServer(kustomer) as k_server,
        SandboxServer(csm) as c_server,
    ):
        tmp = Path(tmp_name)
        env = {
            **os.environ,
            "MELTANO_ENVIRONMENT": "sandbox",
            "TAP_KUSTOMER_BASE_URL": k_server.url,
            "TARGET_ATLASSIAN_CSM_BASE_URL": c_server.url,
            "TARGET_ATLASSIAN_CSM_LEDGER_PATH": str(tmp / "ledger.sqlite"),
            "TARGET_ATLASSIAN_CSM_DEAD_LETTER_PATH": str(tmp / "dead.jsonl"),
            "TARGET_ATLASSIAN_CSM_SUMMARY_PATH": str(tmp / "summary.json"),
        }
        command = [
            str(VENV / "meltano"), "run", "--full-refresh", "--state-id-suffix", "benchmark",
            "tap-kustomer", "target-atlassian-csm",
        ]  # fmt: skip
        started = time.monotonic()
        with (tmp / "meltano.log").open("wb") as log:
            code = subprocess.call(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        wall = time.monotonic() - started
        if code:
            sys.stderr.write((tmp / "meltano.log").read_text()[-4000:])
            msg = f"meltano run exited {code}"
            raise SystemExit(msg)
        summary = json.loads((tmp / "summary.json").read_text())
        k_entries = kustomer.journal.entries()
        c_entries = csm.journal.entries()
        snapshot = csm.state_snapshot()
    searches = sum(1 for e in k_entries if "/search" in e.path)
    c_kinds, c_status, tasks, customers, organizations = csm_load(
        c_entries, snapshot, (seeded_customers, seeded_orgs)
    )
    # The fewest searches: one page of 500 per stream's records, one more per stream for the
    # archive search (the tap reads both), whatever the reading of the sorts.
    min_searches = math.ceil(args.contacts / 500) + math.ceil(args.companies / 500) + 2
    bounds = {
        "Kustomer search budget": min_searches
        / float(knobs_k["search_rate_limit_per_minute"])
        * 60,
        **csm_bounds(knobs_c, task_time, customers, organizations),
    }
    slowest = max(bounds, key=bounds.get)
    print(
        f"\nran (meltano): {shlex.join(command[1:])}\n"
        f"wall {wall:.1f} s; the run added {customers:,} customers and {organizations:,} "
        f"organizations to CSM ({tasks} tasks)\n"
        f"target summary: customers {summary['entities'].get('customer')}, organizations "
        f"{summary['entities'].get('organization')}\n"
        f"Kustomer requests {len(k_entries)} (searches {searches}, minimum {min_searches})\n"
        f"CSM requests {len(c_entries)} {dict(c_kinds)} statuses {dict(c_status)}; polls/task "
        f"{c_kinds['poll'] / max(1, tasks):.2f}; target's own count {summary['requests']}"
    )
    for name, seconds in bounds.items():
        print(f"  bound set by the {name}: {seconds:7.1f} s")
    ratio = bounds[slowest] / wall
    print(
        f"slowest limit: {slowest}, {bounds[slowest]:.1f} s; bound / wall = {ratio:.3f}",
        flush=True,
    )
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "source": "kustomer",
                    "wall_s": round(wall, 1),
                    "bounds_s": bounds,
                    "slowest": slowest,
                    "ratio": round(ratio, 3),
                    "customers": customers,
                    "organizations": organizations,
                    "kustomer_requests": len(k_entries),
                    "csm_requests": dict(c_kinds),
                },
                indent=2,
            )
        )


if __name__ == "__main__":
    main()
