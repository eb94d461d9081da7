"""The quick start: Meltano runs the HubSpot → CSM job against the local sandboxes.

``python -m sandbox.demo`` (``make demo``, which installs the plugins first) starts the CSM
sandbox (preset ``flows``: detail fields matching the source data) and the HubSpot sandbox
(preset ``default``: 100 contacts, 20 companies, with the ugly cases) in this process, on the
ports the ``sandbox`` environment of ``meltano.yml`` points at, then runs exactly what a user
runs::

    meltano run tap-hubspot-contacts target-atlassian-csm

It prints the target's run summary and what the CSM sandbox holds, edits three records in the
source, and runs the same command again to show that Meltano's stored state makes the second
run read and send only those. ``--tap tap-kustomer`` does the same with the Kustomer sandbox.
It ends as a user would after a load, with the target's ``report`` command (a Meltano plugin
command: ``meltano invoke target-atlassian-csm:report --all``), which writes one HTML file
about both runs from the ledger and the dead letters, and prints its path.

The sandboxes live in memory and start empty, so what an earlier run left behind (Meltano's
state for this job, the sandbox ledger) is cleared first; without that the first run would read
nothing new and the ledger would skip every record as already sent.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from sandbox.core.server import SandboxServer
from sandbox.registry import APIS, create_app

ROOT = Path(__file__).resolve().parents[2]
MELTANO = Path(sys.executable).with_name("meltano")
TARGET = "target-atlassian-csm"
#: tap -> the source sandbox it reads
SOURCES = {"tap-hubspot-contacts": "hubspot", "tap-kustomer": "kustomer"}
#: Where the ``sandbox`` environment sends the target's ledger, dead letters and summary.
TARGET_FILES = ROOT / ".meltano" / "csm" / "sandbox"
LOGS = ROOT / "output" / "demo"
EDITED_TITLE = "Head of Support"
NEXT_TIER = {"bronze": "silver", "silver": "gold", "gold": "bronze"}


def _env() -> dict[str, str]:
    """This shell's environment without plugin settings a user exported for a real site."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TAP_", "TARGET_"))}
    env["MELTANO_SEND_ANONYMOUS_USAGE_STATS"] = "false"
    env["MELTANO_CLI_DISABLE_VERSION_CHECK"] = "true"
    return env


def _meltano(args: list[str], log: Path) -> float:
    """Run a meltano command in the project, its output to ``log``; stop the demo if it fails."""
    started = time.monotonic()
    with log.open("w") as out:
        done = subprocess.run(
            [str(MELTANO), *args], cwd=ROOT, env=_env(), stdout=out, stderr=out, check=False
        )
    if done.returncode != 0:
        sys.stderr.write(log.read_text()[-4000:])
        msg = f"meltano {' '.join(args)} exited with {done.returncode} (log: {log})"
        raise SystemExit(msg)
    return time.monotonic() - started


def _serve(api: str, preset: str) -> tuple[Any, SandboxServer]:
    """One sandbox, seeded, on its default port (the one ``meltano.yml`` points at)."""
    app = create_app(api)
    seeded = app.seed(preset)
    port = APIS[api].default_port
    try:
        server = SandboxServer(app, port=port).start()
    except (OSError, SystemExit):  # werkzeug exits when the port is taken
        msg = f"port {port} is busy: stop what serves it (another `sandbox serve {api}`?)"
        raise SystemExit(msg) from None
    if api == "csm":
        fields = seeded["fields"]
        held = f"{fields['customer']} customer and {fields['organization']} organization fields"
    elif api == "hubspot":
        held = f"{seeded['live_contacts']} live contacts, {seeded['live_companies']} companies"
    else:
        held = f"{seeded['customer']} customers, {seeded['company']} companies, conversations"
    print(f"    {api:<8} {server.url}  preset {preset!r}: {held}")
    return app, server


def _print_summary(summary: dict[str, Any], seconds: float) -> None:
    print(
        f"    meltano run: {seconds:.1f} s (the target itself: {summary['elapsed_seconds']:.1f} s)"
    )
    for entity, counts in summary["entities"].items():
        shown = ", ".join(f"{k} {v}" for k, v in counts.items() if v)
        print(f"    {entity}s: {shown or 'none'}")
    requests = summary.get("requests", {})
    print(
        f"    bulk requests {requests.get('submits', 0)}, task polls {requests.get('polls', 0)}, "
        f"organization look-ups {requests.get('lookups', 0)}, "
        f"STATE messages {summary.get('state_messages_emitted', 0)}"
    )


def _print_csm(app: Any) -> None:
    with app.lock:
        state = app.state_snapshot()
    customers, orgs = state["customers"], state["organizations"]
    names = {o["id"]: o["name"] for o in orgs}
    print("\n== What the CSM sandbox holds")
    print(f"    organizations: {len(orgs)} ({sum(1 for o in orgs if o['details'])} with details)")
    print(
        f"    customers:     {len(customers)} "
        f"({sum(1 for c in customers if c['details'])} with detail values, "
        f"{sum(1 for c in customers if c['organizationIds'])} in an organization)"
    )
    linked = next((c for c in customers if c["organizationIds"]), None)
    if linked:
        orgs_of = ", ".join(names[i] for i in linked["organizationIds"])
        print(f"    e.g. {linked['displayName']} <{linked['email']}> in {orgs_of}")
        for field, values in linked["details"].items():
            print(f"         {field}: {', '.join(values)}")


def _print_dead_letters(path: Path) -> None:
    if not path.exists():
        return
    lines = path.read_text().splitlines()
    print(f"\n== Dead letters ({len(lines)}, in {path.relative_to(ROOT)})")
    for raw in lines:
        item = json.loads(raw)
        print(f"    {item.get('stream')} {item.get('source_id')}: {item['reason']}")


def _edit_source(api: str, app: Any) -> None:
    """Change three records in the source, as a user of HubSpot or Kustomer would."""
    if api == "hubspot":
        edited = app.modify("contacts", count=3, property="jobtitle", value=EDITED_TITLE)
        print(f"\n== In HubSpot, 3 contacts get a new job title: ids {edited['modified']}")
        return
    with app.lock:
        live = [c for c in app.store.all("customer") if not c["attributes"]["deleted"]][:3]
    for customer in live:  # the next tier up, so every edit is a real change
        tier = NEXT_TIER[customer["attributes"]["custom"]["tierStr"]]
        app.modify("customer", ids=[customer["id"]], attributes={"custom": {"tierStr": tier}})
    print(f"\n== In Kustomer, 3 customers change tier: ids {[c['id'] for c in live]}")


def _run_job(tap: str, label: str, number: int) -> dict[str, Any]:
    print(f"\n== {label}: meltano run {tap} {TARGET}", flush=True)
    seconds = _meltano(["run", tap, TARGET], LOGS / f"run-{number}.log")
    summary = json.loads((TARGET_FILES / "summary.json").read_text())
    _print_summary(summary, seconds)
    return summary


def _report(log: Path) -> tuple[str, str]:
    """The report of every run, as a user makes it: (its path, the command's summary line)."""
    print(f"\n== Report: meltano invoke {TARGET}:report --all", flush=True)
    with log.open("w") as err:
        done = subprocess.run(
            [str(MELTANO), "invoke", f"{TARGET}:report", "--all"],
            cwd=ROOT,
            env=_env(),
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
            check=False,
        )
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    if done.returncode != 0 or not lines:
        sys.stderr.write(log.read_text()[-4000:])
        msg = f"meltano invoke {TARGET}:report exited with {done.returncode} (log: {log})"
        raise SystemExit(msg)
    return lines[0], lines[-1]


def main(argv: list[str] | None = None) -> int:
    """Run the quick start."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tap", choices=sorted(SOURCES), default="tap-hubspot-contacts")
    parser.add_argument("--no-second-run", action="store_true", help="stop after the first load")
    args = parser.parse_args(argv)
    source_api = SOURCES[args.tap]
    state_id = f"sandbox:{args.tap}-to-{TARGET}"
    shutil.rmtree(LOGS, ignore_errors=True)
    LOGS.mkdir(parents=True)
    print("== Sandboxes (in this process)")
    csm, csm_server = _serve("csm", "flows")
    source, source_server = _serve(source_api, "default")
    try:
        print(f"\n== Clearing what an earlier run left: state {state_id!r}, the sandbox ledger")
        _meltano(["state", "clear", "--force", state_id], LOGS / "state-clear.log")
        shutil.rmtree(TARGET_FILES, ignore_errors=True)

        _run_job(args.tap, "First run", 1)
        _print_csm(csm)
        _print_dead_letters(TARGET_FILES / "dead-letters.jsonl")
        if not args.no_second_run:
            _edit_source(source_api, source)
            csm.journal.clear()
            _run_job(args.tap, "Second run, same command (continues from Meltano's state)", 2)
            sent = sum(1 for e in csm.journal.entries() if e.path.endswith("/profile/bulk"))
            print(f"    profile bulk requests seen by the CSM sandbox: {sent}")
    finally:
        source_server.stop()
        csm_server.stop()
    # The sandboxes are stopped: the report needs only the ledger and the dead letters.
    path, said = _report(LOGS / "report.log")
    print(f"    {said}")
    print(
        f"\nFiles: {TARGET_FILES.relative_to(ROOT)}/ (summary, ledger, dead letters, report), "
        f"{LOGS.relative_to(ROOT)}/ (Meltano's logs). State: meltano state get {state_id}"
    )
    print(f"\nHTML report (open it in a browser): {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
