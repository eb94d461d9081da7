"""Fault storms: the CSM sandbox misbehaves on purpose, and every record still ends somewhere.

Each storm loads good customers plus records that must fail (bad emails caught by the target,
a SELECT option the site refuses caught by CSM's task report) and checks: every good record
landed with its values, every bad one is dead-lettered with its reason, the summary's counts
equal what the sandbox holds, and the faults were really injected.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from sandbox.csm.validate import BULK_SPECS
from target_atlassian_csm.fields import FieldCatalog, FieldDef
from tests.reliability.harness import check_crm_landed
from tests.target.conftest import FAST, crm_messages, record_msg, run_target, target_config

ORGS, GOOD = 10, 300
BAD_EMAILS = [f"broken{i}.example.com" for i in range(4)]
REFUSED = [f"refused{i}@example.com" for i in range(3)]


def storm_messages(orgs: int = ORGS, good: int = GOOD) -> list[dict[str, Any]]:
    """The CRM export plus records that must be dead-lettered, before the last STATE."""
    messages = crm_messages(orgs, good, state_every=100)
    bad = [
        record_msg("customers", {"id": f"bad-{n}", "email": email, "plan": "Free"})
        for n, email in enumerate(BAD_EMAILS)
    ] + [
        record_msg("customers", {"id": f"ref-{n}", "email": email, "plan": "Platinum"})
        for n, email in enumerate(REFUSED)
    ]
    return messages[:-1] + bad + messages[-1:]


def site_refuses_platinum(monkeypatch: pytest.MonkeyPatch) -> None:
    """The target believes Plan has a "Platinum" option that the site refuses (edited mid-load)."""
    original = FieldCatalog.from_api.__func__  # type: ignore[attr-defined]

    def from_api(cls: type, entity: str, body: Any) -> FieldCatalog:
        catalog = original(cls, entity, body)
        plan = catalog.get("Plan")
        if plan is not None:
            catalog.add(FieldDef.build("Plan", plan.type, [*plan.options, "Platinum"]))
        return catalog

    monkeypatch.setattr(FieldCatalog, "from_api", classmethod(from_api))


class OtherClient:
    """Another client of the site holding task slots with slow tasks of its own."""

    def __init__(self, app: Any, *, hold: int, all_for: float, duration: float) -> None:
        self.app = app
        self.hold = hold
        self.all_for = all_for
        self.duration = duration
        self.tasks: list[Any] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> OtherClient:
        self._started = time.monotonic()
        self._top_up()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _top_up(self) -> None:
        app = self.app
        cap = int(app.knobs["task_cap"])
        want = cap if time.monotonic() - self._started < self.all_for else self.hold
        spec = BULK_SPECS["customer/profile/bulk"]
        with app.lock:
            app.advance()
            active = sum(1 for t in self.tasks if t.active)
            now = app.clock.now()
            for _ in range(max(0, want - active)):
                self.tasks.append(
                    app.board.submit(
                        spec, [], 100, created_at=now, ready_at=now, duration=self.duration
                    )
                )

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            self._top_up()


STORMS: dict[str, dict[str, Any]] = {
    "429_20pct": {"rate_429": 0.2},
    "5xx_10pct": {"rate_5xx": 0.1},
    "drops_before_and_after": {"rate_drop_before": 0.05, "rate_drop_after": 0.05},
    "slow_tasks": {"seconds_per_item": 0.006, "task_overhead_seconds": 0.4},
    "failed_tasks_not_applied": {"fail_task_rate": 0.25, "fail_task_applies": False},
    "failed_tasks_applied": {"fail_task_rate": 0.25, "fail_task_applies": True},
    "cap_held_by_another_client": {},
    "guide_dialect": {"dialect": "guide", "failure_entity_ids": False},
    "everything_at_once": {
        "rate_429": 0.1,
        "rate_5xx": 0.05,
        "rate_drop_before": 0.03,
        "rate_drop_after": 0.03,
        "fail_task_rate": 0.15,
        "dialect": "guide",
    },
}


def injected(csm: Any, name: str, other: OtherClient | None) -> int:
    """How many faults of the storm's kind the sandbox really produced."""
    state = csm.state()
    counters = state["counters"]
    faults = sum(1 for r in csm.requests() if r["fault"])
    if name == "cap_held_by_another_client":
        return counters["task_cap_refusals"]
    if name.startswith("failed_tasks"):
        return counters["tasks_failed"]
    if name == "slow_tasks":  # a full batch ran a second or more
        return sum(1 for t in state["tasks"] if (t["endedAt"] or 0) - (t["startedAt"] or 0) >= 1)
    if name == "guide_dialect":  # the answers were the guides' (taskId, COMPLETED)
        return counters["polls"] if csm.app.knobs["dialect"] == "guide" else 0
    return faults + counters["tasks_failed"]


@pytest.fixture
def other_client() -> Iterator[list[OtherClient]]:
    holder: list[OtherClient] = []
    yield holder
    for client in holder:
        client.__exit__(None)


@pytest.mark.parametrize("name", list(STORMS))
def test_storm_ends_with_every_record_landed_or_dead_lettered(
    name, sandbox_factory, tmp_path, monkeypatch, other_client
):
    site_refuses_platinum(monkeypatch)
    csm = sandbox_factory("csm", seed="default", **FAST, **STORMS[name])
    config = target_config(csm, tmp_path, max_retries=30, max_task_attempts=10, max_failure_rate=1)
    other = None
    if name == "cap_held_by_another_client":
        # All five slots taken for the first 1.5 s, then four of five for the whole run.
        other = OtherClient(csm.app, hold=4, all_for=1.5, duration=1.0).__enter__()
        other_client.append(other)
    result = run_target(config, storm_messages())
    if other is not None:
        other.__exit__(None)
    assert injected(csm, name, other) > 0, "no fault was injected: the storm proves nothing"

    assert result.exit_code == 0
    assert check_crm_landed(csm.app, ORGS, GOOD) == []
    errors = [d for d in result.dead_letters if d["severity"] == "error"]
    reasons = {d["source_id"]: d["reason"] for d in errors}
    assert set(reasons) == {f"bad-{n}" for n in range(4)} | {f"ref-{n}" for n in range(3)}
    assert all("invalid email" in reasons[f"bad-{n}"] for n in range(4))
    assert all("Invalid detail field value" in reasons[f"ref-{n}"] for n in range(3))
    # The summary says what the sandbox holds.
    counts = result.summary["entities"]
    assert counts["customer"]["created"] == len(csm.state()["customers"]) == GOOD
    assert counts["organization"]["created"] == len(csm.state()["organizations"]) == ORGS
    assert counts["customer"]["failed"] + counts["customer"]["rejected"] == len(errors)
    assert counts["customer"]["received"] == GOOD + len(BAD_EMAILS) + len(REFUSED)
    assert result.states[-1] == {"bookmarks": {"customers": GOOD, "done": True}}
