"""The quick start: load the bundled sample into a local CSM sandbox and show what happened.

``python -m sandbox.demo`` (``make demo``) starts the CSM sandbox on a free loopback port with
its ``default`` detail fields, pipes ``samples/demo.singer.jsonl`` through the
``target-atlassian-csm`` command exactly as a Singer runner would, then runs it a second time on
the same input to show that a resync of unchanged data sends nothing. It prints the target's
summary, what the sandbox holds, and the dead-letter reasons. Files go to ``output/demo/``,
which is wiped first: the sandbox starts empty, so an old ledger would wrongly skip records.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from sandbox.core.server import SandboxServer
from sandbox.registry import create_app

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "samples" / "demo.singer.jsonl"
OUTPUT = ROOT / "output" / "demo"
#: The sandbox's credentials: not secrets (a local stand-in), but passed the same way.
SANDBOX_CLOUD_ID = "sandbox"
SANDBOX_TOKEN = "sandbox-token"  # noqa: S105


def _write_config(path: Path, url: str) -> None:
    config = {
        "base_url": url,
        "cloud_id": SANDBOX_CLOUD_ID,
        "access_token": SANDBOX_TOKEN,
        "ledger_path": str(OUTPUT / "ledger.sqlite"),
        "dead_letter_path": str(OUTPUT / "dead-letters.jsonl"),
        "summary_path": str(OUTPUT / "summary.json"),
        "batch_max_wait_seconds": 0.5,
    }
    path.write_text(json.dumps(config, indent=2))
    path.chmod(0o600)


def _run_target(config: Path, sample: Path, label: str) -> dict[str, Any]:
    """Run the target as a subprocess over the sample; return its summary file."""
    print(f"\n== {label}: target-atlassian-csm < {sample.relative_to(ROOT)}", flush=True)
    with sample.open("rb") as stdin:
        done = subprocess.run(
            [sys.executable, "-m", "target_atlassian_csm", "--config", str(config)],
            stdin=stdin,
            capture_output=True,
            check=False,
        )
    if done.returncode != 0:
        sys.stderr.write(done.stderr.decode(errors="replace")[-4000:])
        msg = f"target-atlassian-csm exited with {done.returncode}"
        raise SystemExit(msg)
    summary = json.loads((OUTPUT / "summary.json").read_text())
    print(f"    {summary['elapsed_seconds']:.1f}s")
    for entity, counts in summary["entities"].items():
        shown = ", ".join(f"{k} {v}" for k, v in counts.items() if v)
        print(f"    {entity}s: {shown}")
    requests = summary["requests"]
    print(
        f"    bulk requests {requests.get('submits', 0)}, task polls {requests.get('polls', 0)}, "
        f"organization look-ups {requests.get('lookups', 0)}"
    )
    states = [s for s in done.stdout.decode().splitlines() if s.strip()]
    print(f"    STATE lines passed on to the runner: {len(states)}; last: {states[-1][:100]}")
    return summary


def _report(app: Any, second: dict[str, Any], dead_lines: list[str]) -> None:
    with app.lock:
        state = app.state_snapshot()
    customers = state.get("customers", [])
    orgs = state.get("organizations", [])
    linked = sum(1 for c in customers if c.get("organizationIds"))
    with_details = sum(1 for c in customers if c.get("details"))
    print("\n== What the CSM sandbox holds now")
    print(f"    organizations: {len(orgs)}")
    print(
        f"    customers:     {len(customers)} "
        f"({with_details} with detail values, {linked} in an organization)"
    )
    print(f"    bulk tasks:    {len(state.get('tasks', []))}")
    if customers:
        sample = customers[0]
        print(f"    e.g. {sample['email']}: {json.dumps(sample.get('details', {}))[:160]}")
    dead = OUTPUT / "dead-letters.jsonl"
    if dead_lines:
        print(f"\n== Dead letters of the first load ({dead.relative_to(ROOT)})")
        for raw in dead_lines:
            item = json.loads(raw)
            who = item.get("identity") or item.get("source_id") or f"line {item.get('line')}"
            print(
                f"    [{item.get('severity', 'error')}] {item.get('stream')} {who}: "
                f"{item['reason']}"
            )
    submits = second.get("requests", {}).get("submits", 0)
    unchanged = sum(e.get("unchanged", 0) for e in second.get("entities", {}).values())
    print(f"\n== Resync: {unchanged} records unchanged, {submits} bulk requests sent.")
    print(f"Summary file: {(OUTPUT / 'summary.json').relative_to(ROOT)}")


def main(argv: list[str] | None = None) -> int:
    """Run the quick start."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sample", type=Path, default=SAMPLE, help="Singer messages to load")
    args = parser.parse_args(argv)
    shutil.rmtree(OUTPUT, ignore_errors=True)
    OUTPUT.mkdir(parents=True)
    os.chmod(OUTPUT, 0o700)
    app = create_app("csm")
    print("== CSM sandbox: seeded", json.dumps(app.seed("default")))
    with SandboxServer(app) as server:
        print(f"    listening on {server.url}")
        config = OUTPUT / "config.json"
        _write_config(config, server.url)
        _run_target(config, args.sample.resolve(), "First load")
        dead = OUTPUT / "dead-letters.jsonl"
        dead_lines = dead.read_text().splitlines() if dead.exists() else []
        second = _run_target(config, args.sample.resolve(), "Second run, same input")
        _report(app, second, dead_lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
