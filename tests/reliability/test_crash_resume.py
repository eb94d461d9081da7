"""SIGKILL at any moment, resume from the last STATE: nothing lost, nothing duplicated.

The target runs as a subprocess fed Singer lines (as Meltano runs it); the CSM sandbox is in
the test process, so it keeps what landed across kills and pulls the trigger itself (see
``harness``). The taps are killed mid-stream the same way and resumed from their last STATE.
The single-kill tap cases live in tests/hubspot and tests/kustomer; these add kill chains.
"""

from __future__ import annotations

import sqlite3
from collections import Counter

from tests.reliability.harness import (
    check_crm_landed,
    crash_and_resume,
    customer_items_per_task,
    hubspot_tap_config,
    kustomer_tap_config,
    submitted_twice,
    tap_kill_and_resume,
)
from tests.target.conftest import FAST, crm_messages, target_config

ORGS, CUSTOMERS = 50, 2000
LANES, BATCH = 5, 100


def test_target_killed_four_ways_lands_every_customer_once(sandbox_factory, tmp_path):
    # Tasks slow enough (0.5 s per 100) that kills land with tasks in flight.
    csm = sandbox_factory("csm", seed="default", **FAST, seconds_per_item=0.005)
    # A partial batch waits 3 s for more records: the mid_batch kill finds one buffered.
    config = target_config(csm, tmp_path, max_tasks_in_flight=LANES, batch_max_wait_seconds=3)
    messages = crm_messages(ORGS, CUSTOMERS, state_every=100)
    kills = [("mid_batch", 420), ("submit_unanswered", 3), ("before_poll", 3), ("after_state", 4)]
    report = crash_and_resume(csm.app, config, messages, kills, tmp_path)

    # Every kill really happened, mid-load: some customers landed, not all.
    assert report.kills == len(kills)
    for attempt in report.attempts[:-1]:
        assert 0 < attempt.kill_info["customers_in_csm"] < CUSTOMERS, attempt.kill_info
    final = report.attempts[-1]
    assert final.returncode == 0, final.stderr[-2000:]
    assert final.states[-1] == messages[-1]["value"]

    # Exactly once, with the right values and associations.
    assert check_crm_landed(csm.app, ORGS, CUSTOMERS) == []
    # No record is in two tasks: what a killed run had submitted (answered or not) is
    # replayed under its key (the same task) or polled, never sent again.
    assert submitted_twice(csm.app) == 0

    # The task the before_poll kill left in flight was polled by the next run, not resent.
    (task_id,) = report.recovered_tasks
    index = next(i for i, a in enumerate(report.attempts) if a.kill_info.get("task_id"))
    after = report.attempts[index + 1]
    later = csm.requests()[after.journal_start :]
    assert any(r["method"] == "GET" and r["path"].endswith(f"/tasks/{task_id}") for r in later)
    carried = set(customer_items_per_task(csm.app)[task_id])
    tasks_after = list(customer_items_per_task(csm.app).items())[after.tasks_before :]
    assert carried
    assert not carried & {e for _, emails in tasks_after for e in emails}
    assert "that an earlier run left in task" in after.stderr

    # The ledger holds every record confirmed and no task still open.
    db = sqlite3.connect(tmp_path / "ledger.sqlite")
    counts = dict(db.execute("SELECT status, COUNT(*) FROM records GROUP BY status").fetchall())
    assert counts == {"confirmed": ORGS + CUSTOMERS}
    assert db.execute("SELECT COUNT(*) FROM submissions WHERE status != 'ended'").fetchone()[0] == 0


def test_kill_before_any_state_restarts_from_the_beginning(sandbox_factory, tmp_path):
    csm = sandbox_factory("csm", seed="default", **FAST, seconds_per_item=0.005)
    config = target_config(csm, tmp_path, state_every_records=10_000, state_every_seconds=3600)
    messages = crm_messages(5, 300, state_every=1000)
    report = crash_and_resume(csm.app, config, messages, [("submit_unanswered", 1)], tmp_path)
    assert report.attempts[0].states == [] or report.attempts[0].states[0] == messages[6]["value"]
    assert check_crm_landed(csm.app, 5, 300) == []
    # The submission CSM answered but the killed run never heard of is replayed under its
    # key: the same task, not a second (orphan) one that could finish after newer writes.
    assert submitted_twice(csm.app) == 0
    start = report.attempts[1].journal_start
    requests = csm.requests()

    def keys(entries):
        return {
            {k.casefold(): v for k, v in r["headers"].items()}["idempotency-key"]
            for r in entries
            if r["method"] == "POST" and r["path"].endswith("customer/profile/bulk")
        }

    assert keys(requests[:start]) & keys(requests[start:])  # replayed under the same keys


def _hubspot_ids(sb, object_type: str) -> set[str]:
    return {str(o.id) for o in sb.app.stores[object_type].objects.values()}


def test_hubspot_tap_killed_three_times_skips_nothing(sandbox_factory, tmp_path):
    sb = sandbox_factory(
        "hubspot",
        seed={"contacts": 2500, "companies": 20},
        burst_limit=0,
        search_rate_per_second=0,
        latency_ms=2,
    )
    config = hubspot_tap_config(sb.url, checkpoint_records=200)
    attempts = tap_kill_and_resume(
        "tap_hubspot_contacts",
        config,
        stream="contacts",
        kill_after=[500, 700, 600],
        workdir=tmp_path,
    )
    expected = _hubspot_ids(sb, "contacts")
    seen = Counter()
    for attempt in attempts:
        seen.update(attempt.ids)
    assert set(seen) == expected  # nothing skipped
    assert all(a.killed for a in attempts[:-1])
    assert attempts[-1].returncode == 0
    # Each resume started from its STATE, not from the top: repeats stay below a checkpoint
    # interval plus a page per kill.
    repeats = sum(seen.values()) - len(expected)
    assert repeats <= 3 * (200 + 100)


def test_kustomer_tap_killed_twice_skips_nothing(sandbox_factory, tmp_path):
    # The tap writes STATE every 1000 records of a stream: kills after 1100 land past one.
    sb = sandbox_factory(
        "kustomer",
        seed={
            "customers": 2500,
            "companies": 8,
            "old_fraction": 0,
            "conversations_per_customer": 0,
        },
        rate_limit_per_minute=1_000_000,
        search_rate_limit_per_minute=1_000_000,
    )
    config = kustomer_tap_config(sb.url, page_size=100)
    attempts = tap_kill_and_resume(
        "tap_kustomer", config, stream="customers", kill_after=[1100, 1100], workdir=tmp_path
    )
    expected = {o["id"] for o in sb.state()["objects"]["customer"]}
    seen = Counter()
    for attempt in attempts:
        seen.update(attempt.ids)
    assert set(seen) == expected
    assert all(a.killed for a in attempts[:-1])
    assert attempts[-1].returncode == 0, attempts[-1].stderr[-3000:]
    assert len(attempts[-1].ids) < len(expected)  # the last run resumed, it did not restart
