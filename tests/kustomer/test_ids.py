"""IdSet answers exactly as a Python set would (issue 15: emitted ids in little memory)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from tap_kustomer import ids
from tap_kustomer.ids import IdSet, compact_id

HEX = "0123456789abcdef"
object_ids = st.text(HEX, min_size=24, max_size=24)
#: near misses of an ObjectId (case, length, int() spellings) and other ids
others = st.one_of(
    st.text(HEX + "ABCDEF_x ", min_size=0, max_size=26),
    st.text(min_size=0, max_size=5),
    st.integers(),
)


@settings(max_examples=60, deadline=None)
@given(
    adds=st.lists(st.one_of(object_ids, object_ids, others), max_size=400),
    probes=st.lists(st.one_of(object_ids, others), max_size=50),
    run=st.integers(1, 9),
    step=st.integers(1, 4),
)
def test_membership_and_length_are_a_sets(adds, probes, run, step):
    saved, ids.RUN = ids.RUN, run
    saved_step, ids.STEP = ids.STEP, step  # runs of several blocks
    try:
        got, want = IdSet(), set()
        for value in adds:
            got.add(value)
            want.add(value)
            assert len(got) == len(want)
        for value in [*adds, *probes]:
            assert (value in got) == (value in want), value
    finally:
        ids.RUN = saved
        ids.STEP = saved_step


def test_spellings_that_int_reads_alike_stay_apart():
    base = "0123456789abcdef01234567"
    alike = [
        base,
        base.upper(),
        "0x" + base[2:],
        base[:4] + "_" + base[4:23],
        0x0123456789ABCDEF01234567,
    ]
    assert len({compact_id(v) for v in alike}) == len(alike)
    held = IdSet()
    held.add(base)
    assert all(v not in held for v in alike[1:])


def test_many_ids_packed():
    held = IdSet()
    values = [f"{i * 7919:024x}" for i in range(20_000)]
    for v in values[::2]:
        held.add(v)
    assert len(held) == 10_000
    assert all(v in held for v in values[::2])
    assert not any(v in held for v in values[1::2])
    assert len(held._recent) < ids.RUN
