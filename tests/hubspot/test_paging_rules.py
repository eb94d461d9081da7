"""The tap's paging decisions as pure functions, over any answer a server could give."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tap_hubspot_contacts.errors import RepeatedCursor, ServerMisbehaved, UnplaceableRecord
from tap_hubspot_contacts.paging import CursorGuard, keyset_id, search_has_more

CURSORS = st.text(min_size=1, max_size=12)


@given(cursors=st.lists(CURSORS, max_size=30), start=st.one_of(st.none(), CURSORS))
def test_cursor_guard_stops_exactly_at_the_first_cursor_seen_before(cursors, start):
    guard = CursorGuard("contacts", "contacts list", start=start)
    seen = {start} if start else set()
    for position, cursor in enumerate(cursors):
        if cursor in seen:
            with pytest.raises(RepeatedCursor) as caught:
                guard.follow(cursor)
            message = str(caught.value)
            assert message.startswith(f"contacts: the contacts list answered page {position + 1} ")
            assert repr(cursor)[:57] in message  # named (long ones cut at 60 characters)
            return
        assert guard.follow(cursor) == cursor
        seen.add(cursor)
    assert guard.follow(None) is None


def test_an_empty_cursor_after_the_first_page_is_a_repeat():
    guard = CursorGuard("companies", "companies list")
    with pytest.raises(RepeatedCursor):
        guard.follow("")  # would ask for the first page again


@given(value=st.integers(min_value=0, max_value=10**30), as_text=st.booleans())
def test_keyset_id_reads_whole_numbers(value, as_text):
    raw = str(value) if as_text else value
    assert keyset_id({"id": "x", "properties": {"hs_object_id": raw}}, "contacts") == value
    assert keyset_id({"id": raw, "properties": {}}, "contacts") == value


@given(
    raw=st.one_of(
        st.text(max_size=20).filter(lambda t: not (t.strip().isascii() and t.strip().isdigit())),
        st.floats(allow_nan=True),
        st.integers(max_value=-1),
        st.booleans(),
        st.lists(st.integers(), max_size=2),
    ),
    object_type=st.sampled_from(["contacts", "companies"]),
)
def test_keyset_id_names_the_record_it_cannot_place(raw, object_type):
    record = {"id": "rec-7", "properties": {"hs_object_id": raw}}
    with pytest.raises(UnplaceableRecord) as caught:
        keyset_id(record, object_type)
    message = str(caught.value)
    assert message.startswith(f"{object_type}: search returned the record with id 'rec-7'")
    assert "not a whole number" in message


@given(
    results=st.lists(st.just({"id": "1"}), max_size=3),
    paging=st.one_of(
        st.none(), st.just({}), st.just({"next": None}), st.just({"next": {"after": "0"}})
    ),
)
def test_search_goes_on_only_when_paging_next_says_so(results, paging):
    page = {"results": results, **({"paging": paging} if paging is not None else {})}
    says_more = bool((paging or {}).get("next"))
    if says_more and not results:
        with pytest.raises(ServerMisbehaved):
            search_has_more("contacts", page, after_id=5)
        return
    assert search_has_more("contacts", page, after_id=5) is says_more
