"""End to end: HubSpot (or Kustomer) into CSM through ``meltano run``, at the sandboxes' limits.

Starts the source's and the CSM sandboxes in this process with their default knobs (HubSpot:
190 requests per 10 s, search 5/s; CSM: task cap 5, 0.05 s + 0.002 s per item per task, 100
requests per 10 s), seeds the source with ``--contacts`` (100,000) and ``--companies``
(10,000), and runs one of:

* ``--source hubspot`` (default), ``--mode meltano``: this repository's project (environment
  ``sandbox``, plugins installed **editable** by ``make plugins``, so Meltano runs the tap's
  discovery every time)::

      meltano run --full-refresh --state-id-suffix benchmark \
          tap-hubspot-contacts target-atlassian-csm

* ``--mode pipe`` (or ``auto`` without ``.meltano/`` plugins): the same pipeline as a shell
  pipe of the dev venv's executables, same settings and stream selection;
* ``--mode user``: what a user does. A fresh ``meltano init`` project outside this repository
  (``tests/e2e/user``'s helpers), our tap and target added ``--from-ref plugins/...yml`` and
  installed **non-editable** from the wheels ``uv build`` makes of this checkout (offered to
  Meltano's installer by ``UV_FIND_LINKS``), ``meltano select`` of contacts and companies,
  settings in environment variables. A first ``meltano invoke --dump=catalog`` against the
  same sandboxes creates the system database and fills Meltano's catalog cache (the key
  covers the tap's settings, the sandbox's URL included), as a user's earlier run would; then
  the literal ``meltano run tap-hubspot-contacts target-atlassian-csm`` is measured (the
  project is made anew each time, ~1 min, unless ``--user-project DIR`` keeps one);
  ``batch_max_wait_seconds`` (``--batch-max-wait``, 0.5 as in this repository's ``sandbox``
  environment) goes into its meltano.yml: Meltano 4.4.1 fails on decimal settings given as
  environment variables;
* ``--source singer-hubspot``: the same in a fresh user project with singer-io's
  ``tap-hubspot`` 4.5.0 from PyPI (its Meltano Hub definition, OAuth credentials), reaching
  the HubSpot sandbox through the mitmproxy sandbox proxy (``.venv-proxy``), and the target's
  ``singer-io/tap-hubspot`` preset: ``meltano run tap-hubspot target-atlassian-csm``;
* ``--source kustomer``: ``meltano run tap-kustomer target-atlassian-csm`` (``--contacts``
  customers): this project (``--mode meltano``, the default: discovery every run), or a
  user project as above (``--mode user``: customers and companies selected, the catalog
  cached by the warm-up).

Prints the wall time, what landed, the requests each API received and the ratio of the bound
set by the slowest limit to the wall time (1.0 = the run went as fast as that limit allows):

* the source's budget: the minimum requests of a full read / its limit;
* CSM task cap: the minimum tasks x task time / cap;
* CSM rate limit: (one submit + one poll per task, the minimum) / (limit per 10 s); a second
  ratio also counts the minimum organization look-ups (the ids of the organizations created,
  which CSM's task answers do not carry: ceil(new organizations / 50) requests);

and, through Meltano, its own share (wall - the target's elapsed time, and whether discovery
ran). ``--keep`` keeps the run's directory with the sandboxes' journals (``*-journal.jsonl``)
and CSM's tasks (``csm-tasks.jsonl``), and prints when the tasks under 100 items were cut.

    .venv/bin/python benchmarks/end_to_end.py --mode meltano
    .venv/bin/python benchmarks/end_to_end.py --mode user --keep
    .venv/bin/python benchmarks/end_to_end.py --source singer-hubspot
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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sandbox.core.server import SandboxServer  # noqa: E402
from sandbox.proxy import SandboxProxy, find_mitmdump, routes_for  # noqa: E402
from sandbox.registry import create_app  # noqa: E402
from tests.e2e.conftest import _meltano_env  # noqa: E402
from tests.e2e.user.conftest import (  # noqa: E402
    STREAMS,
    TARGET,
    TARGET_DEFINITION,
    Project,
    build_wheels,
    hub_definition,
    new_project,
)

VENV = ROOT / ".venv" / "bin"
MELTANO = VENV / "meltano"
MELTANO_TAP = ROOT / ".meltano/extractors/tap-hubspot-contacts/venv/bin/tap-hubspot-contacts"
MELTANO_TARGET = ROOT / ".meltano/loaders/target-atlassian-csm/venv/bin/target-atlassian-csm"
SELECTED = ("contacts", "companies")  # meltano.yml: select contacts.*, companies.*
#: What the repository's ``sandbox`` environment gives the target beyond the site's address.
TARGET_SANDBOX = {"cloud_id": "sandbox", "access_token": "sandbox-token"}
BATCH_MAX_WAIT = 0.5  # the repository's ``sandbox`` environment (the target's default: 2)
#: --source -> (plugin name of the tap, its definition for ``meltano add --from-ref``)
USER_TAPS = {
    "hubspot": ("tap-hubspot-contacts", ROOT / "plugins/extractors/tap-hubspot-contacts.yml"),
    "singer-hubspot": ("tap-hubspot", None),  # the Hub's singer-io definition, pinned
    "kustomer": ("tap-kustomer", ROOT / "plugins/extractors/tap-kustomer.yml"),
}
#: Streams selected in a user project, by tap (meltano.yml's selection for ours).
USER_STREAMS = {**STREAMS, "tap-kustomer": ("customers", "companies")}
SINGER_VARIANT = "tap-hubspot--singer-io"


@dataclass
class Run:
    """One measured run: wall time, exit status, the command, its log."""

    wall: float
    code: int
    command: str
    log: Path
    started: float = 0.0  # time.time() at launch (the sandboxes' journals use that clock)
    discovery: bool | None = None  # whether Meltano ran the tap's discovery
    notes: list[str] = field(default_factory=list)


def meltano_ready() -> bool:
    return MELTANO_TAP.exists() and MELTANO_TARGET.exists()


def target_env(csm_url: str, tmp: Path, **settings: Any) -> dict[str, str]:
    """The target's settings as environment variables: the site, its own files, ``settings``."""
    values = {
        "base_url": csm_url,
        "ledger_path": tmp / "ledger.sqlite",
        "dead_letter_path": tmp / "dead.jsonl",
        "summary_path": tmp / "summary.json",
        **settings,
    }
    return {f"TARGET_ATLASSIAN_CSM_{k.upper()}": str(v) for k, v in values.items()}


def meltano_run(cwd: Path, env: dict[str, str], tap: str, log: Path, *options: str) -> Run:
    """``meltano run [options] <tap> target-atlassian-csm`` in ``cwd``, timed."""
    command = [str(MELTANO), "run", *options, tap, TARGET]
    started_at = time.time()
    started = time.monotonic()
    with log.open("wb") as out:
        code = subprocess.call(command, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
    wall = time.monotonic() - started
    discovery = "Running catalog discovery" in log.read_text(errors="replace")
    return Run(wall, code, shlex.join(command[1:]), log, started_at, discovery)


# ----------------------------------------------------------------------------- the runs
def run_repo_meltano(h_url: str, csm_url: str, tmp: Path) -> Run:
    """This repository's project, environment ``sandbox`` (plugins editable)."""
    env = {
        **os.environ,
        "MELTANO_ENVIRONMENT": "sandbox",
        "TAP_HUBSPOT_CONTACTS_API_URL": h_url,
        **target_env(csm_url, tmp),
    }
    return meltano_run(
        ROOT, env, "tap-hubspot-contacts", tmp / "meltano.log",
        "--full-refresh", "--state-id-suffix", "benchmark",
    )  # fmt: skip


def run_pipe(h_url: str, csm_url: str, tmp: Path) -> Run:
    tap_config = tmp / "tap.json"
    tap_config.write_text(
        json.dumps(
            {"api_url": h_url, "access_token": "sandbox-token", "search_index_lag_seconds": 0}
        )
    )
    target_config = tmp / "target.json"
    target_config.write_text(
        json.dumps(
            {
                "base_url": csm_url,
                **TARGET_SANDBOX,
                "ledger_path": str(tmp / "ledger.sqlite"),
                "dead_letter_path": str(tmp / "dead.jsonl"),
                "summary_path": str(tmp / "summary.json"),
                "batch_max_wait_seconds": BATCH_MAX_WAIT,
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
    started_at = time.time()
    started = time.monotonic()
    code = subprocess.call(["bash", "-o", "pipefail", "-c", command])
    return Run(
        time.monotonic() - started,
        code,
        "tap-hubspot-contacts --config tap.json --catalog catalog.json | "
        "target-atlassian-csm --config target.json",
        tmp / "target.log",
        started_at,
    )


def user_project(folder: Path, tap: str) -> Project:
    """A ``meltano init`` project in ``folder`` (kept: reused when it is there) with our
    target and the ``tap`` of ``USER_TAPS``, non-editable, contacts and companies selected."""
    folder.mkdir(parents=True, exist_ok=True)
    wheels = folder / "wheels"
    if (folder / "project" / "meltano.yml").exists():
        env = _meltano_env(
            {
                "MELTANO_DATABASE_URI": f"sqlite:///{folder / 'install.db'}",
                "UV_FIND_LINKS": str(wheels),
            }
        )
        project = Project(folder / "project", env)
    else:
        print(f"making a user project in {folder} (wheels, meltano init, add)", flush=True)
        build_wheels(wheels)
        project = new_project(folder, wheels)
        project.check("add", TARGET, "--from-ref", str(TARGET_DEFINITION))
    name, ref = next((n, r) for n, r in USER_TAPS.values() if n == tap)
    if f"name: {name}\n" not in (project.root / "meltano.yml").read_text():
        ref = ref or hub_definition(SINGER_VARIANT, folder)
        project.check("add", name, "--from-ref", str(ref))
        for stream in USER_STREAMS.get(name, SELECTED):
            project.check("select", name, stream, "*")
    project.tap = name
    return project


def run_user(
    project: Project, settings: dict[str, str], tmp: Path, source: tuple[str, Any], **yml: float
) -> Run:
    """Warm Meltano (system database, catalog cache) with ``meltano invoke --dump=catalog``,
    then the literal ``meltano run <tap> target-atlassian-csm``, timed; notes how many of the
    ``source`` sandbox's requests (label, app) the warm-up made. ``yml``: target
    settings written into meltano.yml (``meltano config set``): Meltano 4.4.1 fails on a
    ``decimal`` setting given as an environment variable (``Decimal`` is not JSON
    serializable), so ``batch_max_wait_seconds`` cannot be one."""
    for name, value in yml.items():
        project.check("config", "set", TARGET, name, str(value))
    env = {**project.env, **settings, "MELTANO_DATABASE_URI": f"sqlite:///{tmp / 'meltano.db'}"}
    started = time.monotonic()
    warm = subprocess.run(
        [str(MELTANO), "invoke", "--dump=catalog", project.tap],
        cwd=project.root, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    (tmp / "warm.log").write_text(warm.stderr)
    if warm.returncode:
        sys.stderr.write(warm.stderr[-4000:])
        msg = f"meltano invoke --dump=catalog {project.tap} exited {warm.returncode}"
        raise SystemExit(msg)
    warm_s = time.monotonic() - started
    key = project.root / ".meltano" / "run" / project.tap / "tap.properties.cache_key"
    run = meltano_run(project.root, env, project.tap, tmp / "meltano.log")
    run.notes.append(
        f"warm-up (not in the wall): `meltano invoke --dump=catalog {project.tap}` {warm_s:.1f} s "
        f"(created the system database, ran discovery; catalog cache key "
        f"{'written' if key.exists() else 'NOT written'})"
    )
    label, app = source
    warm_requests = sum(1 for e in app.journal.entries() if e.at < run.started)
    run.notes.append(f"warm-up {label} requests (left out below): {warm_requests}")
    return run


def run_entries(app: Any, run: Run) -> list[Any]:
    """The requests ``app``'s sandbox received during the run (not the warm-up's)."""
    return [e for e in app.journal.entries() if e.at >= run.started]


# ----------------------------------------------------------------------------- CSM side
def csm_site(seed: str) -> tuple[Any, tuple[int, set[str]], float, str]:
    """A CSM sandbox seeded with ``seed``: (app, (customers it holds, ids of its
    organizations), seconds per task of 100, a line describing its limits)."""
    csm = create_app("csm", journal_bodies=False)
    csm.seed(seed)
    before = csm.state_snapshot()
    knobs = csm.knobs
    task_time = float(knobs["task_overhead_seconds"]) + 100 * float(knobs["seconds_per_item"])
    line = (
        f"CSM sandbox: task cap {knobs['task_cap']}, {task_time:.2f} s per task of 100, "
        f"{knobs['rate_limit_requests']} requests/{knobs['rate_limit_window_seconds']:g} s"
    )
    seeded = (len(before["customers"]), {o["id"] for o in before["organizations"]})
    return csm, seeded, task_time, line


def run_dir(keep: bool) -> contextlib.AbstractContextManager[str]:
    """The run's directory: kept (and printed by the caller) with ``--keep``, else removed."""
    if keep:
        return contextlib.nullcontext(tempfile.mkdtemp(prefix="e2e-"))
    return tempfile.TemporaryDirectory()


def request_kind(path: str) -> str:
    if path.endswith("/bulk"):
        return "bulk"
    if "/tasks/" in path:
        return "poll"
    return "lookup" if path.endswith("/organization/fetch") else "other"


def csm_load(
    entries: list, snapshot: dict, seeded: tuple[int, set[str]]
) -> tuple[Counter, Counter, int, int, int, int]:
    """What the run did to CSM: requests by kind and status, tasks, customers and
    organizations added, and how many of those organizations customers name (the target
    must look their ids up: CSM's task answers do not carry them)."""
    kinds = Counter(request_kind(e.path) for e in entries)
    status = Counter(e.status for e in entries)
    customers = len(snapshot["customers"]) - seeded[0]
    organizations = len(snapshot["organizations"]) - len(seeded[1])
    named = {o for c in snapshot["customers"] for o in c.get("organizationIds") or ()}
    return kinds, status, len(snapshot["tasks"]), customers, organizations, len(named - seeded[1])


LOOKUPS_BOUND = "CSM rate limit + org look-ups"


def csm_bounds(
    knobs: dict, task_time: float, customers: int, organizations: int, named: int
) -> dict[str, float]:
    """The time CSM's task cap and rate limit alone need for these records (one submit and
    one poll per task), and the rate limit's with the minimum organization look-ups (the
    ``named`` new organizations, 50 a request)."""
    tasks = math.ceil(customers / 100) + math.ceil(organizations / 100)
    rate = float(knobs["rate_limit_requests"]) / float(knobs["rate_limit_window_seconds"])
    return {
        "CSM task cap": tasks * task_time / int(knobs["task_cap"]),
        "CSM rate limit": 2 * tasks / rate,
        LOOKUPS_BOUND: (2 * tasks + math.ceil(named / 50)) / rate,
    }


def keep_journals(tmp: Path, run: Run, tasks: list[dict], **journals: list) -> None:
    """``--keep``: the journals (times relative to the launch) and CSM's tasks, as JSON lines;
    ``run.json``: the launch's epoch time and the wall (to place Meltano's log lines)."""
    (tmp / "run.json").write_text(json.dumps({"started": run.started, "wall": run.wall}))
    for name, entries in journals.items():
        with (tmp / f"{name}-journal.jsonl").open("w") as out:
            for e in entries:
                row = {"t": round(e.at - run.started, 3), "method": e.method, "path": e.path,
                       "status": e.status}  # fmt: skip
                out.write(json.dumps(row) + "\n")
    with (tmp / "csm-tasks.jsonl").open("w") as out:
        for task in sorted(tasks, key=lambda t: t["createdAt"]):
            out.write(json.dumps({**task, "t": round(task["createdAt"] - run.started, 3)}) + "\n")


def partial_tasks(tasks: list[dict], run: Run) -> str:
    """The tasks of fewer than 100 items: when (s after launch) and how many, by endpoint."""
    lines = []
    for endpoint in sorted({t["endpoint"] for t in tasks}):
        mine = sorted((t for t in tasks if t["endpoint"] == endpoint), key=lambda t: t["createdAt"])
        cut = [
            f"{t['createdAt'] - run.started:.1f}s:{t['items']}" for t in mine if t["items"] < 100
        ]
        span = (
            f"{mine[0]['createdAt'] - run.started:.1f}-{mine[-1]['createdAt'] - run.started:.1f} s"
        )
        lines.append(
            f"  {endpoint}: {len(mine)} tasks ({span}), {len(cut)} under 100: {' '.join(cut)}"
        )
    return "\n".join(lines)


@dataclass
class Outcome:
    """What a run did, read from the sandboxes when it ended."""

    source: str
    mode: str
    run: Run
    summary: dict
    source_requests: str  # a line about the source's requests
    source_bound: tuple[str, float]
    csm_entries: list
    snapshot: dict
    seeded: tuple[int, set[str]]


def report(outcome: Outcome, knobs_c: dict, task_time: float, json_path: Path | None) -> None:
    """Print (and with ``--json`` write) what landed, the requests, the bounds and the ratios."""
    run, summary = outcome.run, outcome.summary
    kinds, status, tasks, customers, organizations, named = csm_load(
        outcome.csm_entries, outcome.snapshot, outcome.seeded
    )
    bounds = {outcome.source_bound[0]: outcome.source_bound[1]}
    bounds.update(csm_bounds(knobs_c, task_time, customers, organizations, named))
    plain = {k: v for k, v in bounds.items() if k != LOOKUPS_BOUND}
    slowest = max(plain, key=plain.get)
    ratio = plain[slowest] / run.wall
    slowest_l = max(bounds, key=bounds.get)
    ratio_l = bounds[slowest_l] / run.wall
    min_tasks = math.ceil(customers / 100) + math.ceil(organizations / 100)
    elapsed = summary.get("elapsed_seconds")
    print(
        f"\nran ({outcome.source}, {outcome.mode}): {run.command}\n"
        f"wall {run.wall:.1f} s; the run added {customers:,} customers and {organizations:,} "
        f"organizations to CSM ({tasks} tasks, {tasks - min_tasks} over the minimum "
        f"{min_tasks})\n"
        f"target summary: customers {summary['entities'].get('customer')}, organizations "
        f"{summary['entities'].get('organization')}; elapsed {elapsed} s; malformed input "
        f"lines {summary.get('requests', {}).get('malformed_input_lines', 0)}\n"
        f"{outcome.source_requests}\n"
        f"CSM requests {len(outcome.csm_entries)} {dict(kinds)} statuses {dict(status)}; "
        f"polls/task {kinds['poll'] / max(1, tasks):.2f}; look-ups {kinds['lookup']} (minimum "
        f"{math.ceil(named / 50)}: {named:,} new organizations named by customers, 50 a "
        f"request; all {organizations:,} new ones would take {math.ceil(organizations / 50)})"
    )
    if outcome.mode != "pipe" and elapsed is not None:
        c_times = [e.at for e in outcome.csm_entries]
        written = summary["written_at"] - run.started  # the summary file's mtime
        print(
            f"Meltano's share: wall - target elapsed = {run.wall - elapsed:.1f} s: "
            f"{written - elapsed:.1f} s from the launch to the target's start (its clock), "
            f"{run.wall - written:.1f} s from the target's summary to the exit (the target's "
            f"close, Meltano's end); discovery ran: {'yes' if run.discovery else 'no'}; "
            f"first CSM request at +{min(c_times) - run.started:.1f} s, last at "
            f"+{max(c_times) - run.started:.1f} s"
        )
    for note in run.notes:
        print(note)
    for name, seconds in bounds.items():
        print(f"  bound set by the {name}: {seconds:7.1f} s")
    print(
        f"slowest limit: {slowest}, {plain[slowest]:.1f} s; bound / wall = {ratio:.3f} "
        f"(1.0 = as fast as that limit allows)\n"
        f"counting the minimum look-ups: {slowest_l}, {bounds[slowest_l]:.1f} s; "
        f"bound / wall = {ratio_l:.3f}\n"
        f"tasks (created at s after launch: items):\n"
        f"{partial_tasks(outcome.snapshot['tasks'], run)}",
        flush=True,
    )
    if json_path:
        json_path.write_text(
            json.dumps(
                {
                    "source": outcome.source,
                    "mode": outcome.mode,
                    "wall_s": round(run.wall, 1),
                    "target_elapsed_s": elapsed,
                    "discovery": run.discovery,
                    "bounds_s": bounds,
                    "slowest": slowest,
                    "ratio": round(ratio, 3),
                    "ratio_with_lookups": round(ratio_l, 3),
                    "customers": customers,
                    "organizations": organizations,
                    "organizations_named": named,
                    "tasks": tasks,
                    "source_requests": outcome.source_requests,
                    "csm_requests": dict(kinds),
                },
                indent=2,
            )
        )


def finish(run: Run, tmp: Path, keep: bool, csm: Any, **sources: Any) -> tuple[dict, list, dict]:
    """After a run: fail with the logs if it failed; the target's summary, CSM's journal and
    state; with ``keep`` the journals and tasks written into the run's directory."""
    if run.code:
        for log in sorted(tmp.glob("*.log")):
            sys.stderr.write(f"--- {log.name}\n{log.read_text(errors='replace')[-4000:]}\n")
        msg = f"run exited {run.code}: {run.command}"
        raise SystemExit(msg)
    summary_path = tmp / "summary.json"
    summary = {**json.loads(summary_path.read_text()), "written_at": summary_path.stat().st_mtime}
    c_entries = csm.journal.entries()
    snapshot = csm.state_snapshot()
    if keep:
        journals = {name: app.journal.entries() for name, app in sources.items()}
        keep_journals(tmp, run, snapshot["tasks"], csm=c_entries, **journals)
    return summary, c_entries, snapshot


# ----------------------------------------------------------------------------- sources
def hubspot_main(args: argparse.Namespace) -> None:
    """tap-hubspot-contacts (``--mode``) or singer-io's tap-hubspot (``--source singer-hubspot``,
    a user project) from the HubSpot sandbox into CSM."""
    with contextlib.ExitStack() as stack:  # the user project and the proxy, when there
        hubspot_run(args, stack)


def hubspot_run(args: argparse.Namespace, stack: contextlib.ExitStack) -> None:
    mode = "user" if args.source == "singer-hubspot" else args.mode
    if mode == "auto":
        mode = "meltano" if meltano_ready() else "pipe"
        if mode == "pipe":
            print(
                "meltano plugins not installed under .meltano/ (run `meltano install`): "
                "running the same pipeline as a shell pipe",
                flush=True,
            )
    project = None
    if mode == "user":
        folder = args.user_project or Path(stack.enter_context(tempfile.TemporaryDirectory()))
        project = user_project(folder, USER_TAPS[args.source][0])
    mitmdump = find_mitmdump() if args.source == "singer-hubspot" else None
    if args.source == "singer-hubspot" and mitmdump is None:
        msg = "mitmproxy not installed: `make peers` installs it in .venv-proxy"
        raise SystemExit(msg)

    hubspot = create_app("hubspot", journal_bodies=False)
    seeded = hubspot.seed("default", contacts=args.contacts, companies=args.companies)
    csm, seeded_c, task_time, csm_line = csm_site("default")
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
        if mode == "meltano":
            run = run_repo_meltano(h_server.url, c_server.url, tmp)
        elif mode == "pipe":
            run = run_pipe(h_server.url, c_server.url, tmp)
        else:
            settings = target_env(c_server.url, tmp, **TARGET_SANDBOX)
            if args.source == "singer-hubspot":
                routes = routes_for({"hubspot": h_server.url})
                proxy = SandboxProxy(routes, mitmdump=mitmdump, confdir=tmp / "proxy")
                stack.callback(proxy.cleanup)
                settings.update(singer_hubspot_env(knobs_h, proxy.start()))
            else:
                settings.update(
                    TAP_HUBSPOT_CONTACTS_API_URL=h_server.url,
                    TAP_HUBSPOT_CONTACTS_ACCESS_TOKEN=knobs_h["access_tokens"][0],
                    TAP_HUBSPOT_CONTACTS_SEARCH_INDEX_LAG_SECONDS="0",
                )
            run = run_user(
                project, settings, tmp, ("HubSpot", hubspot),
                batch_max_wait_seconds=args.batch_max_wait,
            )  # fmt: skip
        summary, c_entries, snapshot = finish(run, tmp, args.keep, csm, hubspot=hubspot)
        h_entries = run_entries(hubspot, run)

    h_status = Counter(e.status for e in h_entries)
    burst_per_s = float(knobs_h["burst_limit"]) / float(knobs_h["burst_window_seconds"])
    if args.source == "hubspot":
        h_min = hubspot_minimum(hubspot)
        source_bound = ("HubSpot burst budget", h_min / burst_per_s)
        line = f"HubSpot requests {len(h_entries)} (minimum {h_min}) statuses {dict(h_status)}"
    else:  # singer-io's reads are its own (v3 contacts, v2 companies): no minimum of ours
        source_bound = ("HubSpot burst budget (the tap's requests)", len(h_entries) / burst_per_s)
        paths = Counter(hubspot_path_kind(e.path) for e in h_entries)
        line = f"HubSpot requests {len(h_entries)} {dict(paths)} statuses {dict(h_status)}"
    outcome = Outcome(
        args.source, mode, run, summary, line, source_bound, c_entries, snapshot,
        seeded_c,
    )  # fmt: skip
    report(outcome, knobs_c, task_time, args.json)


def singer_hubspot_env(knobs_h: dict, proxy: SandboxProxy) -> dict[str, str]:
    """singer-io tap-hubspot's settings (the Hub's definition: OAuth, no api_key) and the proxy
    that sends api.hubapi.com to the sandbox, as ``tests/e2e/user`` sets them; the target's
    singer-io preset."""
    return {
        "TAP_HUBSPOT_REDIRECT_URI": "https://localhost/oauth-callback",
        "TAP_HUBSPOT_CLIENT_ID": knobs_h["oauth_client_id"],
        "TAP_HUBSPOT_CLIENT_SECRET": knobs_h["oauth_client_secret"],
        "TAP_HUBSPOT_REFRESH_TOKEN": knobs_h["oauth_refresh_token"],
        "TAP_HUBSPOT_START_DATE": "2020-01-01T00:00:00Z",
        "TARGET_ATLASSIAN_CSM_MAPPING_PRESET": "singer-io/tap-hubspot",
        "HTTPS_PROXY": proxy.url,
        "https_proxy": proxy.url,
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
        "REQUESTS_CA_BUNDLE": str(proxy.ca_cert),
        "SSL_CERT_FILE": str(proxy.ca_cert),
        "SANDBOX_PROXY_CA": str(proxy.ca_cert),
    }


def hubspot_path_kind(path: str) -> str:
    """A HubSpot path without its ids: ``/crm/v3/objects/contacts``, ``/companies/v2/...``."""
    return "/".join(p for p in path.split("/") if not p.isdigit())


def hubspot_minimum(hubspot: Any) -> int:
    """The fewest requests tap-hubspot-contacts' full read of the sandbox's records needs."""
    stores = hubspot.stores
    live_c = len(stores["contacts"].active_ids())
    live_o = len(stores["companies"].active_ids())
    arch_c = len(stores["contacts"].objects) - live_c
    arch_o = len(stores["companies"].objects) - live_o
    return (
        math.ceil(live_c / 100)
        + math.ceil(live_c / 1000)
        + math.ceil(live_o / 100)
        + max(1, math.ceil(arch_c / 100))
        + max(1, math.ceil(arch_o / 100))
        + 2
    )


def kustomer_main(args: argparse.Namespace) -> None:
    """``meltano run tap-kustomer target-atlassian-csm`` (meltano.yml's selection: customers,
    companies) against the Kustomer and CSM sandboxes at their default limits."""
    with contextlib.ExitStack() as stack:  # the user project, when there
        kustomer_run(args, stack)


def kustomer_run(args: argparse.Namespace, stack: contextlib.ExitStack) -> None:
    mode = "user" if args.mode == "user" else "meltano"
    project = None
    if mode == "user":
        folder = args.user_project or Path(stack.enter_context(tempfile.TemporaryDirectory()))
        project = user_project(folder, USER_TAPS["kustomer"][0])
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
    csm, seeded_c, task_time, csm_line = csm_site("flows")
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
        if args.keep:
            print(f"run directory (kept): {tmp}", flush=True)
        if project is None:
            env = {
                **os.environ,
                "MELTANO_ENVIRONMENT": "sandbox",
                "TAP_KUSTOMER_BASE_URL": k_server.url,
                **target_env(c_server.url, tmp),
            }
            run = meltano_run(
                ROOT, env, "tap-kustomer", tmp / "meltano.log",
                "--full-refresh", "--state-id-suffix", "benchmark",
            )  # fmt: skip
        else:  # the repository's sandbox environment's settings, as environment variables
            settings = {
                **target_env(c_server.url, tmp, **TARGET_SANDBOX),
                "TAP_KUSTOMER_BASE_URL": k_server.url,
                "TAP_KUSTOMER_API_KEY": str(knobs_k["api_key"]),
                "TAP_KUSTOMER_INDEX_LAG_SECONDS": "0",
            }
            run = run_user(
                project, settings, tmp, ("Kustomer", kustomer),
                batch_max_wait_seconds=args.batch_max_wait,
            )  # fmt: skip
        summary, c_entries, snapshot = finish(run, tmp, args.keep, csm, kustomer=kustomer)
        k_entries = run_entries(kustomer, run)
    searches = sum(1 for e in k_entries if "/search" in e.path)
    # The fewest searches: one page of 500 per stream's records, one more per stream for the
    # archive search (the tap reads both), whatever the reading of the sorts.
    min_searches = math.ceil(args.contacts / 500) + math.ceil(args.companies / 500) + 2
    search_bound = min_searches / float(knobs_k["search_rate_limit_per_minute"]) * 60
    outcome = Outcome(
        "kustomer", mode, run, summary,
        f"Kustomer requests {len(k_entries)} (searches {searches}, minimum {min_searches}); "
        f"target's own count of CSM requests {summary['requests']}",
        ("Kustomer search budget", search_bound), c_entries, snapshot,
        seeded_c,
    )  # fmt: skip
    report(outcome, knobs_c, task_time, args.json)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--companies", type=int, default=10_000)
    parser.add_argument("--mode", choices=("auto", "meltano", "pipe", "user"), default="auto")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--keep", action="store_true", help="keep the run's directory (logs)")
    parser.add_argument(
        "--source",
        choices=("hubspot", "singer-hubspot", "kustomer"),
        default="hubspot",
        help="singer-hubspot: singer-io's tap-hubspot in a user project; kustomer: meltano run "
        "tap-kustomer target-atlassian-csm (--contacts customers)",
    )
    parser.add_argument(
        "--user-project",
        type=Path,
        help="folder of the user project (--mode user, singer-hubspot): made there once and "
        "reused (delete it after code changes: its wheels are not rebuilt); default: a new "
        "one in a temporary folder, removed after the run",
    )
    parser.add_argument(
        "--batch-max-wait",
        type=float,
        default=BATCH_MAX_WAIT,
        help="the target's batch_max_wait_seconds in a user project (default: the repository's "
        "sandbox environment's 0.5; the target's own default is 2)",
    )
    args = parser.parse_args()
    if args.source == "kustomer":
        kustomer_main(args)
    else:
        hubspot_main(args)


if __name__ == "__main__":
    main()
