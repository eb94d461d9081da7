"""The poll schedule: probe a first task, then poll each task at its learnt end."""

from __future__ import annotations

import pytest

from target_atlassian_csm.polling import PollSchedule


def test_first_task_is_probed_geometrically_within_bounds():
    schedule = PollSchedule(min_seconds=0.05, max_seconds=30, probe_seconds=0.25, growth=1.25)
    assert schedule.first_delay("customer", 100) == 0.25
    # Still running after 1 s: the next poll comes 25 % of the age later.
    assert schedule.next_delay("customer", 100, 1.0) == pytest.approx(0.25)
    assert schedule.next_delay("customer", 100, 400.0) == 30  # capped
    assert schedule.next_delay("customer", 100, 0.01) == 0.05  # floored


def test_a_bracket_teaches_the_duration_per_item_and_per_entity():
    schedule = PollSchedule()
    schedule.learn("customer", 100, lower=4.0, upper=5.0)  # running at 4 s, done at 5 s
    assert schedule.expected("customer", 100) == pytest.approx(4.75)
    assert schedule.expected("customer", 50) == pytest.approx(2.375)
    assert schedule.first_delay("customer", 100) == pytest.approx(4.75)
    assert schedule.expected("organization", 100) is None  # learnt per entity


def test_an_upper_bound_alone_never_inflates_the_estimate():
    """A 3-item task polled after 1 s must not make a 100-item task wait 33 s."""
    schedule = PollSchedule()
    schedule.learn("customer", 3, lower=0.0, upper=1.0)
    assert schedule.first_delay("customer", 100) == schedule.probe_seconds
    schedule.learn("customer", 100, lower=1.0, upper=1.2)
    before = schedule.expected("customer", 100)
    schedule.learn("customer", 100, lower=0.0, upper=5.0)  # done at a late first poll
    assert schedule.expected("customer", 100) == pytest.approx(before)  # not raised
    schedule.learn("customer", 100, lower=0.0, upper=before)  # done when first polled
    assert schedule.expected("customer", 100) < before


def test_tasks_done_together_lower_the_estimate_once():
    """Five lanes' tasks polled at the same expected end, all done: one nudge, not five."""
    schedule = PollSchedule()
    schedule.learn("customer", 100, lower=4.9, upper=5.1)
    first = schedule.first_delay("customer", 100)
    for _ in range(5):
        schedule.learn("customer", 100, lower=0.0, upper=first)
    assert schedule.first_delay("customer", 100) == pytest.approx(first * 0.995)


def test_done_at_the_first_poll_brings_the_next_first_poll_earlier():
    schedule = PollSchedule()
    schedule.learn("customer", 100, lower=4.9, upper=5.1)
    first = schedule.first_delay("customer", 100)
    schedule.learn("customer", 100, lower=0.0, upper=first)
    assert schedule.first_delay("customer", 100) < first


def test_after_the_expected_end_polls_come_every_percent_of_the_age():
    schedule = PollSchedule(min_seconds=0.05, tail=0.01)
    schedule.learn("customer", 100, lower=9.9, upper=10.1)
    expected = schedule.expected("customer", 100)
    assert schedule.next_delay("customer", 100, expected - 2.0) == pytest.approx(2.0)
    assert schedule.next_delay("customer", 100, 20.0) == pytest.approx(0.2)
    assert schedule.next_delay("customer", 100, expected + 0.1) == pytest.approx(
        max(0.05, 0.01 * (expected + 0.1))
    )


@pytest.mark.parametrize("items", [1, 2, 5, 9])
def test_a_small_task_teaches_nothing(items):
    """A 1-item task bracketed at 0.25-0.31 s is its fixed cost, not 0.3 s per item: a
    100-item task after it is probed from the start, not first polled after 30 s."""
    schedule = PollSchedule()
    schedule.learn("customer", items, lower=0.25, upper=0.31)
    schedule.learn("customer", items, lower=0.0, upper=0.31)
    assert schedule.expected("customer", 100) is None
    assert schedule.first_delay("customer", 100) == schedule.probe_seconds
