"""The STATE barrier never lets a STATE pass a record that has not settled."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from target_atlassian_csm.barrier import StateBarrier


def make(every_records=1, every_seconds=1e9):
    emitted: list[dict] = []
    barrier = StateBarrier(
        emitted.append, every_records=every_records, every_seconds=every_seconds, clock=lambda: 0.0
    )
    return barrier, emitted


def test_state_waits_for_every_record_before_it():
    barrier, emitted = make()
    a, b = barrier.next_seq(), barrier.next_seq()
    barrier.offer({"n": 2})
    c = barrier.next_seq()
    barrier.offer({"n": 3})
    barrier.settle([b])
    assert not barrier.maybe_emit()
    barrier.settle([a])
    assert barrier.maybe_emit()
    assert emitted == [{"n": 2}]
    barrier.settle([c])
    barrier.maybe_emit()
    assert emitted == [{"n": 2}, {"n": 3}]


def test_emission_is_throttled_until_forced():
    barrier, emitted = make(every_records=10)
    seq = barrier.next_seq()
    barrier.offer({"n": 1})
    barrier.settle([seq])
    assert not barrier.maybe_emit()
    assert barrier.maybe_emit(force=True)
    assert emitted == [{"n": 1}]
    assert not barrier.maybe_emit(force=True)  # unchanged state is not repeated


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_no_emitted_state_ever_precedes_an_unsettled_record(data):
    barrier, emitted = make()
    records: list[int] = []
    offered: list[tuple[int, int]] = []  # (state id, last record seq before it)
    settled: set[int] = set()
    steps = data.draw(st.lists(st.sampled_from(["record", "state", "settle"]), max_size=60))
    for step in steps:
        if step == "record":
            records.append(barrier.next_seq())
        elif step == "state":
            offered.append((len(offered), records[-1] if records else 0))
            barrier.offer({"id": len(offered) - 1})
        else:
            open_ = [r for r in records if r not in settled]
            if open_:
                pick = data.draw(st.sampled_from(open_))
                settled.add(pick)
                barrier.settle([pick])
        barrier.maybe_emit()
        for state in emitted:
            upto = offered[state["id"]][1]
            assert all(r in settled for r in records if r <= upto)
    settled.update(records)
    barrier.settle(records)
    barrier.maybe_emit(force=True)
    if offered:
        assert emitted[-1] == {"id": offered[-1][0]}
