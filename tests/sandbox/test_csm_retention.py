"""The CSM sandbox forgets on its clock: Idempotency-Keys after 24 h, task results after 3 days.

Reference §6 leaves the key retention undocumented (knob ``idempotency_retention_seconds``,
24 h) and §3 keeps task results "up to 3 days" (knob ``task_retention_seconds``). Every test
steps a ManualClock; nothing sleeps.
"""

from __future__ import annotations

from sandbox.csm.calls import customers, detail, profile

DAY = 86400.0
PROFILES = "customer/profile/bulk"


def region(csm, email):
    return csm.app.customer_by_email(email)["details"].get("Region")


def test_same_key_and_body_replay_the_finished_task_within_the_window(csm, clock):
    body = customers(profile("a@x.io"))
    first_use = clock.now()
    first = csm.run(PROFILES, body, key="k")
    clock.advance(first_use + DAY - 1 - clock.now())  # one second inside 24 h of first use
    again = csm.submit(PROFILES, body, key="k")
    assert again.status_code == 202
    assert again.json()["id"] == first["id"]
    assert csm.task(first["id"]).json()["status"] == "FINISHED"
    clash = csm.submit(PROFILES, customers(profile("b@x.io")), key="k")
    assert clash.status_code == 400
    assert "same request data" in clash.json()["message"]
    assert len(csm.app.state_snapshot()["tasks"]) == 1


def test_a_value_reverted_with_a_reused_key_is_not_applied_within_the_window_but_after_it(
    csm, clock
):
    """A -> B -> A: the third request reuses the first one's key (a body-derived key)."""
    value_a = customers(profile("a@x.io", details=[detail("Region", "EMEA")]))
    value_b = customers(profile("a@x.io", details=[detail("Region", "APAC")]))
    csm.run(PROFILES, value_a, key="body-of-A")
    csm.run(PROFILES, value_b, key="body-of-B")
    replayed = csm.run(PROFILES, value_a, key="body-of-A")  # 2 h after the first use
    assert region(csm, "a@x.io") == ["APAC"]  # the stored outcome, nothing applied
    clock.advance(DAY)
    fresh = csm.run(PROFILES, value_a, key="body-of-A")
    assert fresh["id"] != replayed["id"]
    assert region(csm, "a@x.io") == ["EMEA"]
    assert csm.app.state_snapshot()["counters"]["idempotency_keys_expired"] >= 1


def test_the_key_window_counts_from_first_use_and_is_a_knob(csm, clock):
    csm.app.set_knobs(idempotency_retention_seconds=100)
    body = customers(profile("a@x.io"))
    first = csm.submit(PROFILES, body, key="k").json()["id"]
    clock.advance(90)
    assert csm.submit(PROFILES, body, key="k").json()["id"] == first  # a replay...
    clock.advance(10)  # ...does not extend the window
    assert csm.submit(PROFILES, body, key="k").json()["id"] != first
    clock.advance(100)
    other = csm.submit(PROFILES, customers(profile("b@x.io")), key="k")  # no clash once forgotten
    assert other.status_code == 202


def test_a_remembered_validation_error_is_forgotten_with_its_key(csm, clock):
    bad = {"customerProfiles": [{"payload": {}}]}
    assert csm.submit(PROFILES, bad, key="v").status_code == 400
    fixed = customers(profile("a@x.io"))
    assert csm.submit(PROFILES, fixed, key="v").status_code == 400  # a clash within the window
    clock.advance(DAY)
    assert csm.submit(PROFILES, fixed, key="v").status_code == 202


def test_task_results_are_kept_three_days_after_the_task_ended(csm, clock):
    task_id = csm.run(PROFILES, customers(profile("a@x.io")))["id"]
    ended = csm.app.task_state(task_id)["endedAt"]
    clock.advance(ended + 3 * DAY - 1 - clock.now())
    assert csm.task(task_id).status_code == 200
    clock.advance(1)
    gone = csm.task(task_id)
    assert gone.status_code == 404
    assert gone.json()["message"]
    assert csm.app.customer_by_email("a@x.io") is not None  # the effects stay
    assert csm.app.state_snapshot()["counters"]["tasks_forgotten"] == 1


def test_a_running_task_is_never_forgotten(csm, clock):
    csm.app.set_knobs(seconds_per_item=4 * DAY, task_timeout_seconds=60)
    task_id = csm.submit(PROFILES, customers(profile("a@x.io"))).json()["id"]
    clock.advance(3 * DAY + 1)
    answer = csm.task(task_id)
    assert (answer.status_code, answer.json()["status"]) == (200, "IN_PROGRESS")
    clock.advance(DAY)
    assert csm.task(task_id).json()["status"] == "FINISHED"  # kept 3 days from now on


def test_a_key_that_outlives_its_task_still_names_it(csm, clock):
    csm.app.set_knobs(idempotency_retention_seconds=1000, task_retention_seconds=100)
    body = customers(profile("a@x.io"))
    task_id = csm.submit(PROFILES, body, key="k").json()["id"]
    clock.advance(200)
    replay = csm.submit(PROFILES, body, key="k")
    assert (replay.status_code, replay.json()["id"]) == (202, task_id)
    assert csm.task(task_id).status_code == 404
