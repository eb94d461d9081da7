"""Task order in the CSM sandbox: "tasks are not guaranteed to run in order" (reference §3).

``task_order: random`` (the default) starts a random ready task when a slot frees, applies
tasks ending at the same instant in random order, and draws each queue delay below
``queue_delay_seconds``; the draws follow ``random_seed``, so a run repeats exactly.
``fifo`` is submission order.
"""

from __future__ import annotations

from sandbox.core import ManualClock
from sandbox.csm import create_app
from sandbox.csm.calls import CsmCalls, customers, detail, profile

REGIONS = ("AMER", "EMEA", "APAC")


def _sandbox(sandbox_factory, **knobs):
    clock = ManualClock()
    running = sandbox_factory("csm", clock=clock, seed="default", **knobs)
    return running, CsmCalls(running.url, clock)


def _start_order(sandbox_factory, **knobs):
    """Submit five one-item tasks to one slot; return the submission numbers in start order."""
    running, csm = _sandbox(
        sandbox_factory, processing_slots=1, task_overhead_seconds=1, seconds_per_item=0, **knobs
    )
    ids = [
        csm.submit("customer/profile/bulk", customers(profile(f"u{i}@x.io"))).json()["id"]
        for i in range(5)
    ]
    csm.clock.advance(100)
    started = {t["id"]: t["startedAt"] for t in running.app.state_snapshot()["tasks"]}
    return sorted(range(5), key=lambda n: started[ids[n]])


def _last_write_wins(sandbox_factory, **knobs):
    """Three same-size tasks write Region at the same instant; return the value that stays."""
    running, csm = _sandbox(sandbox_factory, **knobs)
    for region in REGIONS:
        body = customers(profile("a@x.io", details=[detail("Region", region)]))
        assert csm.submit("customer/profile/bulk", body).status_code == 202
    csm.clock.advance(100)
    return running.app.customer_by_email("a@x.io")["details"]["Region"][0]


def test_the_default_order_is_random_and_seeded():
    assert create_app(clock=ManualClock()).knobs["task_order"] == "random"


def test_fifo_starts_tasks_in_submission_order(sandbox_factory):
    for seed in (1, 2, 3):
        assert _start_order(sandbox_factory, task_order="fifo", random_seed=seed) == [0, 1, 2, 3, 4]


def test_random_starts_waiting_tasks_in_a_seeded_random_order(sandbox_factory):
    orders = [_start_order(sandbox_factory, random_seed=seed) for seed in range(6)]
    assert any(order != sorted(order) for order in orders)
    assert all(order[0] == 0 for order in orders)  # the first took a free slot at once
    assert _start_order(sandbox_factory, random_seed=4) == orders[4]


def test_random_applies_tasks_ending_at_the_same_instant_in_any_order(sandbox_factory):
    """A client that sends dependent writes without waiting sees either value survive."""
    assert {
        _last_write_wins(sandbox_factory, task_order="fifo", random_seed=s) for s in range(3)
    } == {"APAC"}
    survivors = [_last_write_wins(sandbox_factory, random_seed=seed) for seed in range(12)]
    assert len(set(survivors)) > 1
    assert _last_write_wins(sandbox_factory, random_seed=7) == survivors[7]


def test_random_queue_delays_let_a_later_task_overtake_with_free_slots(sandbox_factory):
    def end_order(**knobs):
        running, csm = _sandbox(sandbox_factory, queue_delay_seconds=60, **knobs)
        ids = []
        for i in range(4):
            body = customers(profile(f"u{i}@x.io"))
            ids.append(csm.submit("customer/profile/bulk", body).json()["id"])
            csm.clock.advance(1)
        csm.clock.advance(100)
        ended = {t["id"]: t["endedAt"] for t in running.app.state_snapshot()["tasks"]}
        return sorted(range(4), key=lambda n: ended[ids[n]])

    assert end_order(task_order="fifo") == [0, 1, 2, 3]
    orders = [end_order(random_seed=seed) for seed in range(4)]
    assert any(order != [0, 1, 2, 3] for order in orders)
