"""Reliability soak: the CI scenarios of tests/reliability at full size, with many kills.

    .venv/bin/python benchmarks/soak.py                 # everything (~10 minutes)
    .venv/bin/python benchmarks/soak.py --only crash    # one group: crash, storms, taps

* crash: 20,000 customers and 500 organizations through the target as a subprocess, SIGKILLed
  at every kind of point (mid-batch, unanswered submit, before a task's first poll, just
  after a STATE) several times, each run resumed from the last STATE it emitted;
* storms: every fault storm of tests/reliability/test_fault_storms.py on 3,000 customers;
* taps: tap-hubspot-contacts (10,000 contacts) and tap-kustomer (5,000 customers) killed
  mid-stream repeatedly, each resumed from its last STATE.

Prints a Markdown table (the one in docs/reliability.md) and writes it as JSON to
``output/soak.json``. Lost = records that should be in CSM (or emitted by a tap) and are not;
duplicated = records CSM received in more than one task (target) or emitted twice (taps).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sandbox.core.server import SandboxServer  # noqa: E402
from sandbox.registry import create_app  # noqa: E402
from target_atlassian_csm.fields import FieldCatalog, FieldDef  # noqa: E402
from target_atlassian_csm.target import TargetAtlassianCSM  # noqa: E402
from tests.reliability.harness import (  # noqa: E402
    check_crm_landed,
    crash_and_resume,
    hubspot_tap_config,
    kustomer_tap_config,
    submitted_twice,
    tap_kill_and_resume,
)
from tests.reliability.test_fault_storms import (  # noqa: E402
    BAD_EMAILS,
    REFUSED,
    STORMS,
    OtherClient,
    storm_messages,
)
from tests.target.conftest import FAST, crm_messages  # noqa: E402

ROWS: list[dict[str, Any]] = []


class Running:
    """A sandbox server with the attributes the test helpers read (url, app)."""

    def __init__(self, api: str, seed: Any = None, **knobs: Any) -> None:
        self.app = create_app(api, **knobs)
        if seed is not None:
            params = {"preset": seed} if isinstance(seed, str) else dict(seed)
            self.app.seed(params.pop("preset", "default"), **params)
        self.server = SandboxServer(self.app).start()
        self.url = self.server.url

    def stop(self) -> None:
        self.server.stop()


def config_for(sb: Running, tmp: Path, **overrides: Any) -> dict[str, Any]:
    config = {
        "base_url": sb.url,
        "cloud_id": sb.app.knobs["cloud_id"],
        "access_token": sb.app.knobs["oauth_token"],
        "ledger_path": str(tmp / "ledger.sqlite"),
        "dead_letter_path": str(tmp / "dead.jsonl"),
        "summary_path": str(tmp / "summary.json"),
        "batch_max_wait_seconds": 0.5,
        "max_requests_per_second": 0,
        "state_every_records": 100,
        "state_every_seconds": 1,
    }
    config.update(overrides)
    return config


def row(scenario: str, **figures: Any) -> None:
    ROWS.append({"scenario": scenario, **figures})
    print(json.dumps(ROWS[-1]), flush=True)


# ---------------------------------------------------------------------------- crash
def crash(customers: int, orgs: int, rounds: int) -> None:
    sb = Running("csm", seed="default", **FAST, seconds_per_item=0.003)
    started = time.monotonic()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            config = config_for(sb, Path(tmp), batch_max_wait_seconds=3)
            messages = crm_messages(orgs, customers, state_every=100)
            kills: list[tuple[str, int]] = []
            for r in range(rounds):
                kills += [
                    ("mid_batch", 700 + 37 * r),
                    ("submit_unanswered", 4 + r),
                    ("before_poll", 5 + r),
                    ("after_state", 6 + 2 * r),
                ]
            report = crash_and_resume(sb.app, config, messages, kills, Path(tmp))
            problems = check_crm_landed(sb.app, orgs, customers)
            stored = len(sb.app.store.customers)
            twice = submitted_twice(sb.app)
            recovered = sum(
                1 for a in report.attempts if "left in flight by an earlier run" in a.stderr
            )
        row(
            f"target killed (SIGKILL) {report.kills}x during {customers:,} customers "
            f"+ {orgs} organizations",
            records=customers + orgs,
            kills=report.kills,
            faults=f"{report.kills} kills ({rounds} of each kind); "
            f"{recovered} runs polled tasks left in flight",
            lost=customers - stored,
            duplicated=twice,
            dead_lettered=0,
            wrong_values=len(problems),
            final_exit=report.attempts[-1].returncode,
            seconds=round(time.monotonic() - started, 1),
            window_bound=report.kills * 5 * 100,
        )
    finally:
        sb.stop()


# ---------------------------------------------------------------------------- storms
@contextlib.contextmanager
def site_refuses_platinum() -> Iterator[None]:
    original = FieldCatalog.__dict__["from_api"]

    def from_api(cls: type, entity: str, body: Any) -> FieldCatalog:
        catalog = original.__func__(cls, entity, body)
        plan = catalog.get("Plan")
        if plan is not None:
            catalog.add(FieldDef.build("Plan", plan.type, [*plan.options, "Platinum"]))
        return catalog

    FieldCatalog.from_api = classmethod(from_api)  # type: ignore[method-assign]
    try:
        yield
    finally:
        FieldCatalog.from_api = original  # type: ignore[method-assign]


def run_in_process(config: dict[str, Any], messages: list[dict[str, Any]]) -> dict[str, Any]:
    lines = "".join(json.dumps(m) + "\n" for m in messages)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        target = TargetAtlassianCSM(config=config)
        with contextlib.suppress(SystemExit):
            target.listen(io.StringIO(lines))
    return json.loads(Path(config["summary_path"]).read_text())


def storms(customers: int, orgs: int) -> None:
    for name, knobs in STORMS.items():
        sb = Running("csm", seed="default", **FAST, **knobs)
        started = time.monotonic()
        other = None
        try:
            with tempfile.TemporaryDirectory() as tmp, site_refuses_platinum():
                config = config_for(
                    sb, Path(tmp), max_retries=30, max_task_attempts=10, max_failure_rate=1
                )
                if name == "cap_held_by_another_client":
                    other = OtherClient(sb.app, hold=4, all_for=3, duration=1.0).__enter__()
                summary = run_in_process(config, storm_messages(orgs, customers))
                if other is not None:
                    other.__exit__(None)
                dead = [
                    json.loads(x) for x in Path(config["dead_letter_path"]).read_text().splitlines()
                ]
            state = sb.app.state_snapshot()
            counters = state["counters"]
            journal = [e.to_dict() for e in sb.app.journal.entries()]
            faults = Counter(e["fault"] for e in journal if e["fault"])
            faults_text = ", ".join(f"{n} {k}" for k, n in sorted(faults.items()))
            extra = {
                "task_cap_refusals": counters["task_cap_refusals"],
                "tasks_failed": counters["tasks_failed"],
            }
            faults_text = ", ".join(
                [faults_text] * bool(faults_text) + [f"{n} {k}" for k, n in extra.items() if n]
            )
            if name in ("slow_tasks", "guide_dialect"):
                faults_text = ", ".join(f"{k}={v}" for k, v in knobs.items())
            problems = check_crm_landed(sb.app, orgs, customers)
            stored = len(state["customers"])
            counts = summary["entities"]["customer"]
            errors = [d for d in dead if d["severity"] == "error"]
            row(
                f"storm: {name}",
                records=customers + orgs + len(BAD_EMAILS) + len(REFUSED),
                kills=0,
                faults=faults_text or "none",
                lost=customers - stored,
                duplicated=submitted_twice(sb.app),
                dead_lettered=len(errors),
                wrong_values=len(problems),
                summary_matches=(
                    counts["created"] == stored
                    and counts["failed"] + counts["rejected"] == len(errors)
                    and summary["entities"]["organization"]["created"]
                    == len(state["organizations"])
                ),
                seconds=round(time.monotonic() - started, 1),
            )
        finally:
            if other is not None:
                other.__exit__(None)
            sb.stop()


# ------------------------------------------------------------------------------ taps
def taps(contacts: int, kustomers: int) -> None:
    sb = Running(
        "hubspot",
        seed={"contacts": contacts, "companies": 50},
        burst_limit=0,
        search_rate_per_second=0,
        latency_ms=1,
    )
    started = time.monotonic()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            config = hubspot_tap_config(sb.url, checkpoint_records=500)
            kill_after = [1500, 1700, 1900, 2100, 1300]
            attempts = tap_kill_and_resume(
                "tap_hubspot_contacts",
                config,
                stream="contacts",
                kill_after=kill_after,
                workdir=Path(tmp),
            )
        _tap_row("tap-hubspot-contacts", attempts, started, sb, stream="contacts")
    finally:
        sb.stop()
    sb = Running(
        "kustomer",
        seed={"customers": kustomers, "companies": 20, "conversations_per_customer": 0},
        rate_limit_per_minute=1_000_000,
        search_rate_limit_per_minute=1_000_000,
    )
    started = time.monotonic()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            config = kustomer_tap_config(sb.url, page_size=100)
            attempts = tap_kill_and_resume(
                "tap_kustomer",
                config,
                stream="customers",
                kill_after=[1100, 1300, 1050, 1200],
                workdir=Path(tmp),
            )
        _tap_row("tap-kustomer", attempts, started, sb, stream="customers")
    finally:
        sb.stop()


def _tap_row(name: str, attempts: list[Any], started: float, sb: Running, *, stream: str) -> None:
    if name == "tap-kustomer":
        expected = {o["id"] for o in sb.app.state_snapshot()["objects"]["customer"]}
    else:
        expected = {str(o.id) for o in sb.app.stores["contacts"].objects.values()}
    seen: Counter = Counter()
    for attempt in attempts:
        seen.update(attempt.ids)
    kills = sum(1 for a in attempts if a.killed)
    row(
        f"{name} killed (SIGKILL) {kills}x mid-stream ({stream})",
        records=len(expected),
        kills=kills,
        faults=f"{kills} kills",
        lost=len(expected - set(seen)),
        duplicated=sum(seen.values()) - len(set(seen)),
        dead_lettered=0,
        wrong_values=0,
        final_exit=attempts[-1].returncode,
        seconds=round(time.monotonic() - started, 1),
    )


def markdown() -> str:
    head = "| scenario | records | kills | faults injected | lost | duplicated | dead-lettered |"
    lines = [head, "| --- | ---: | ---: | --- | ---: | ---: | ---: |"]
    for r in ROWS:
        lines.append(
            f"| {r['scenario']} | {r['records']:,} | {r['kills']} | {r['faults']} | "
            f"{r['lost']} | {r['duplicated']} | {r['dead_lettered']} |"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", choices=["crash", "storms", "taps"])
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--organizations", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3, help="kills of each kind")
    parser.add_argument("--storm-customers", type=int, default=3_000)
    args = parser.parse_args()
    started = time.monotonic()
    if args.only in (None, "crash"):
        crash(args.customers, args.organizations, args.rounds)
    if args.only in (None, "storms"):
        storms(args.storm_customers, 30)
    if args.only in (None, "taps"):
        taps(10_000, 5_000)
    print()
    print(markdown())
    print(f"\nTotal: {time.monotonic() - started:.0f} s")
    out = ROOT / "output" / "soak.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(ROWS, indent=2))
    bad = [r for r in ROWS if r["lost"] or r["wrong_values"] or not r.get("summary_matches", True)]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
