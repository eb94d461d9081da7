"""Resync cost: a rerun of the target over unchanged customers, against the first run.

Loads N customers (default 100,000) and their organizations through ``target-atlassian-csm``
(run as its own process, reading a Singer file on stdin, as Meltano runs it) into a CSM sandbox
started in this process, then runs the same input again with the same ledger. Prints, for the
rerun: bulk requests sent (aim: none), every request by kind, and its wall time over the first
run's (aim: under 5%).

The first run's length is set by CSM's task time, which a real site decides. The sandbox
timings are flags; the defaults (``--seconds-per-item 0.01``, ``--task-overhead 0.05``: 1.05 s
for a task of 100 customers, 5 tasks at a time, the sandbox's default rate limit of 100
requests per 10 s) keep the 100,000-record first run to about four minutes. A real site's
tasks are slower, which only lowers the ratio: the script also prints the ratio against the
first run's lower bound at the task time given by ``--real-task-seconds``.

    .venv/bin/python benchmarks/target_resync.py                      # 100,000 customers
    .venv/bin/python benchmarks/target_resync.py --customers 20000 --seconds-per-item 0.002
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from sandbox.core.server import SandboxServer
from sandbox.registry import create_app

ROOT = Path(__file__).resolve().parent.parent
TARGET = ROOT / ".venv" / "bin" / "target-atlassian-csm"
BATCH = 100
CAP = 5


def write_input(path: Path, customers: int, orgs: int) -> None:
    """A CRM export: organizations, then customers referencing them, STATE every 1000."""
    props = {
        "id": {"type": "string"},
        "email": {"type": "string"},
        "name": {"type": "string"},
        "company": {"type": "string"},
        "region": {"type": "string"},
        "seats": {"type": "integer"},
    }
    with path.open("w") as out:
        schema = {"type": "object", "properties": {k: props[k] for k in ("id", "name")}}
        out.write(
            json.dumps(
                {
                    "type": "SCHEMA",
                    "stream": "organizations",
                    "key_properties": ["id"],
                    "schema": schema,
                }
            )
            + "\n"
        )
        for i in range(orgs):
            record = {"id": f"o{i}", "name": f"Org {i}"}
            out.write(
                json.dumps({"type": "RECORD", "stream": "organizations", "record": record}) + "\n"
            )
        out.write(
            json.dumps(
                {
                    "type": "SCHEMA",
                    "stream": "customers",
                    "key_properties": ["id"],
                    "schema": {"type": "object", "properties": props},
                }
            )
            + "\n"
        )
        for i in range(customers):
            record = {
                "id": str(i),
                "email": f"resync{i}@example.com",
                "name": f"Resync {i}",
                "company": f"Org {i % orgs}",
                "region": ("AMER", "EMEA", "APAC")[i % 3],
                "seats": i % 500,
            }
            out.write(json.dumps({"type": "RECORD", "stream": "customers", "record": record}))
            out.write("\n")
            if (i + 1) % 1000 == 0:
                out.write(json.dumps({"type": "STATE", "value": {"customers": i + 1}}) + "\n")


def kind(method: str, path: str) -> str:
    if path.endswith("/bulk"):
        return f"bulk {path.split('/')[-2]}"
    if "/tasks/" in path:
        return "task poll"
    return f"{method} {path.rsplit('/api/v1/', 1)[-1]}"


def run_target(config: Path, messages: Path, label: str) -> tuple[float, dict]:
    summary_path = Path(json.loads(config.read_text())["summary_path"])
    started = time.monotonic()
    with messages.open("rb") as stdin:
        done = subprocess.run(
            [str(TARGET), "--config", str(config)],
            stdin=stdin,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            check=False,
        )
    wall = time.monotonic() - started
    if done.returncode:
        sys.stderr.write(done.stderr.decode()[-3000:])
        msg = f"{label}: target exited {done.returncode}"
        raise SystemExit(msg)
    return wall, json.loads(summary_path.read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--organizations", type=int, default=1_000)
    parser.add_argument("--seconds-per-item", type=float, default=0.01)
    parser.add_argument("--task-overhead", type=float, default=0.05)
    parser.add_argument(
        "--rate-limit-requests", type=int, default=100, help="CSM sandbox budget per 10 s"
    )
    parser.add_argument(
        "--real-task-seconds",
        type=float,
        default=10.0,
        help="task time of a real site, for the projected ratio",
    )
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()

    app = create_app(
        "csm",
        task_cap=CAP,
        seconds_per_item=args.seconds_per_item,
        task_overhead_seconds=args.task_overhead,
        rate_limit_requests=args.rate_limit_requests,
        journal_bodies=False,
    )
    app.seed("default")
    task_time = args.task_overhead + BATCH * args.seconds_per_item
    print(
        f"CSM sandbox: task cap {CAP}, {task_time:.2f}s per task of {BATCH} "
        f"(overhead {args.task_overhead}s + {args.seconds_per_item}s/item), rate limit "
        f"{args.rate_limit_requests} requests/10 s; {args.customers:,} customers, "
        f"{args.organizations:,} organizations",
        flush=True,
    )
    with tempfile.TemporaryDirectory() as tmp_name, SandboxServer(app) as server:
        tmp = Path(tmp_name)
        messages = tmp / "messages.jsonl"
        write_input(messages, args.customers, args.organizations)
        config = tmp / "config.json"
        config.write_text(
            json.dumps(
                {
                    "base_url": server.url,
                    "cloud_id": "sandbox",
                    "access_token": "sandbox-token",
                    "ledger_path": str(tmp / "ledger.sqlite"),
                    "dead_letter_path": str(tmp / "dead.jsonl"),
                    "summary_path": str(tmp / "summary.json"),
                    "batch_max_wait_seconds": 0.5,
                }
            )
        )
        rows = {}
        for label in ("first run", "rerun (unchanged)"):
            app.journal.clear()
            wall, summary = run_target(config, messages, label)
            by_kind = Counter(kind(e.method, e.path) for e in app.journal.entries())
            bulk = sum(n for k, n in by_kind.items() if k.startswith("bulk"))
            customers = summary["entities"].get("customer", {})
            rows[label] = {
                "wall_s": round(wall, 2),
                "requests": sum(by_kind.values()),
                "bulk_requests": bulk,
                "by_kind": dict(sorted(by_kind.items())),
                "customers": customers,
            }
            print(
                f"{label:<18} {wall:8.1f}s  requests {sum(by_kind.values()):>6} "
                f"(bulk {bulk})  by kind {dict(sorted(by_kind.items()))}\n"
                f"{'':<18} customers {customers}",
                flush=True,
            )
        landed = len(app.state_snapshot()["customers"])
    first, rerun = rows["first run"], rows["rerun (unchanged)"]
    ratio = rerun["wall_s"] / first["wall_s"]
    tasks = math.ceil(args.customers / BATCH) + math.ceil(args.organizations / BATCH)
    bound_tasks = tasks * task_time / CAP
    # At least one submit and one poll per task, against the site's rate limit (per 10 s).
    bound_rate = 2 * tasks / (args.rate_limit_requests / 10.0) if args.rate_limit_requests else 0
    bound_sandbox = max(bound_tasks, bound_rate)
    bound_real = tasks * args.real_task_seconds / CAP
    # The same first run at the CSM sandbox's default limits (100 requests per 10 s; tasks of
    # 0.05 s + 0.002 s per item; cap 5): what a faster-timed first run stands in for.
    default_task = 0.05 + BATCH * 0.002
    bound_default = max(tasks * default_task / CAP, 2 * tasks / 10.0)
    print(
        f"\ncustomers in CSM: {landed:,}\n"
        f"rerun bulk requests: {rerun['bulk_requests']} (aim 0); rerun wall / first run wall = "
        f"{rerun['wall_s']:.1f} / {first['wall_s']:.1f} = {ratio:.3f} (aim < 0.05)\n"
        f"first run's lower bound: {bound_sandbox:.0f}s (task cap {bound_tasks:.0f}s, rate limit "
        f"{bound_rate:.0f}s for one submit and one poll per task); the first run reached "
        f"{bound_sandbox / first['wall_s']:.2f} of it; at {args.real_task_seconds:.0f}s per "
        f"task (a real site) it would be at least {bound_real:.0f}s, and the rerun "
        f"{rerun['wall_s'] / bound_real:.4f} of it\n"
        f"at the sandbox's default CSM limits (100 requests/10 s, {default_task:.2f}s tasks, "
        f"cap {CAP}) the first run's lower bound is {bound_default:.0f}s; the rerun is "
        f"{rerun['wall_s'] / bound_default:.4f} of it",
        flush=True,
    )
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "args": vars(args) | {"json": str(args.json)},
                    "runs": rows,
                    "ratio": round(ratio, 4),
                    "first_run_bound_s": bound_sandbox,
                    "first_run_bound_at_default_limits_s": bound_default,
                    "cpus": os.cpu_count(),
                },
                indent=2,
            )
        )


if __name__ == "__main__":
    main()
