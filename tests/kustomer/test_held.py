"""Held (records spilled to disk, a packed index in memory) answers as the dict it replaced.

Issue 15: the company listing kept ``(timestamp, id, offset, length)`` per company as a tuple
in a dict, ~280 bytes a company. The packed index must give the same order, the same last
record per id and the same counts, in a fraction of that.
"""

from __future__ import annotations

import json
import tracemalloc

from hypothesis import given, settings
from hypothesis import strategies as st

from tap_kustomer import packed
from tap_kustomer.cursor import normalize
from tap_kustomer.held import Held
from tap_kustomer.packed import pack, unpack

HEX = "0123456789abcdef"
object_ids = st.text(HEX, min_size=24, max_size=24)
other_ids = st.one_of(st.text(HEX + "ABC_", min_size=1, max_size=25), st.text(min_size=1))
stamps = st.one_of(
    st.sampled_from(["2024-01-01T00:00:00.000Z", "2024-01-01T00:00:00.001Z"]),
    st.text("0123456789-:.TZ", min_size=24, max_size=24),
    st.text(min_size=0, max_size=26),  # another length, or not ASCII: kept as tuples
)
entries = st.tuples(
    stamps, st.one_of(object_ids, other_ids), st.integers(0, 2**70), st.integers(0, 2**33)
)


@settings(max_examples=200, deadline=None)
@given(a=entries, b=entries)
def test_packed_bytes_keep_the_tuples_order(a, b):
    pa, pb = pack(a), pack(b)
    if pa is not None:
        assert len(pa) == packed.WIDTH
        assert unpack(pa) == a
    if pa is not None and pb is not None:
        assert (pa < pb) == (a < b)
        assert (pa == pb) == (a == b)


#: a small pool, so that ids repeat (the last record stored for an id wins)
pool_ids = st.one_of(st.sampled_from([f"{i:024x}" for i in range(6)]), object_ids, other_ids)
puts = st.lists(
    st.tuples(stamps, pool_ids, st.integers(0, 3)),
    max_size=120,
)


def by_time(want):
    """(timestamp, id) of the last record of each id, as the dict of tuples sorted them."""
    return sorted((key, obj_id) for obj_id, (key, _) in want.items())


@settings(max_examples=150, deadline=None)
@given(steps=puts, run=st.integers(1, 9), look_at=st.integers(0, 120))
def test_held_answers_as_a_dict_of_tuples(steps, run, look_at):
    saved, packed.RUN = packed.RUN, run
    held = Held()
    try:
        want: dict[str, tuple[str, str]] = {}  # id -> (timestamp, payload)
        for number, (key, obj_id, extra) in enumerate(steps):
            if number == look_at:  # reading between puts sees what was put so far
                assert [e[:2] for e in held.ordered()] == by_time(want)
            record = {"id": obj_id, "n": number, "x": "é" * extra}
            held.put(key, record)
            want[obj_id] = (key, record)
            assert len(held) == len(want)
        got = list(held.ordered())
        assert [e[:2] for e in got] == by_time(want)
        assert held.keys() == {k for k, _ in want.values()}
        for key, record in held.records(got):
            assert (key, record) == want[record["id"]]
    finally:
        packed.RUN = saved
        held.close()
    assert len(held) == 0
    assert list(held.ordered()) == []


def test_the_index_of_a_listing_stays_small():
    """The held index costs < 100 bytes a record (the dict of tuples cost ~270).

    60 packed (the entry and the id), plus the run being filled.
    """
    n = 20_000
    held = Held()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for i in range(n):
            # as from an answer: the record's strings are its own, freed once it is held
            record = json.loads(
                f'{{"id": "{i * 7919:024x}", "updatedAt": "2024-01-01T00:00:00.000Z"}}'
            )
            held.put(normalize(record["updatedAt"]), record)
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    try:
        assert grown / n < 100, f"{grown / n:.0f} bytes a record"
        assert len(held) == n
        ordered = list(held.ordered())
        assert ordered == sorted(ordered)
        assert len(ordered) == n
    finally:
        held.close()
