"""The pure decisions of tap-kustomer's search reading: page endings, piece sizes, regions."""

from __future__ import annotations

import datetime as dt

from hypothesis import given
from hypothesis import strategies as st

from tap_kustomer import pieces
from tap_kustomer.cursor import from_ms, iso, to_ms
from tap_kustomer.pages import After, Page, after_page, cap_pages, read_page
from tap_kustomer.search import Source, plan_sources


def page(n: int, size: int, *, number: int = 1, total: int | None = None, nxt: bool = True):
    return Page(number, [{"id": str(i)} for i in range(n)], size, total, nxt)


# ------------------------------------------------------------------------------- pages
def test_a_page_clamped_by_the_server_is_read_at_its_size():
    body = {"meta": {"pageSize": 500, "total": 2400}, "data": [{}] * 500, "links": {"next": "x"}}
    got = read_page(body, 1, 1000)
    assert got.size == 500
    assert after_page(got, last_page=20) is After.MORE


def test_a_clamp_without_meta_pagesize_is_seen_from_the_next_link():
    body = {"data": [{}] * 300, "links": {"next": "/v1/customers/search?page=2"}}
    got = read_page(body, 1, 500)
    assert got.size == 300
    assert after_page(got, last_page=33) is After.MORE


@given(
    size=st.integers(1, 500),
    short=st.integers(0, 499),
    total=st.none() | st.integers(0, 20_000),
    nxt=st.booleans(),
)
def test_a_short_or_empty_page_ends_the_query_whatever_the_total(size, short, total, nxt):
    n = min(short, size - 1)
    assert after_page(page(n, size, total=total, nxt=nxt), last_page=100) is After.END


@given(
    size=st.integers(1, 500), number=st.integers(1, 100), total=st.none() | st.integers(0, 20_000)
)
def test_a_full_page_never_ends_the_query_by_a_total(size, number, total):
    """``page x size >= total`` is no proof: a capped total (1,000 for 2,400) reads on."""
    outcome = after_page(page(size, size, number=number, total=total), last_page=100)
    assert outcome is (After.MORE if number < 100 else After.CAP)


@given(
    size=st.integers(1, 500), number=st.integers(1, 100), total=st.none() | st.integers(0, 60_000)
)
def test_a_full_page_without_next_is_unsure_whatever_the_total(size, number, total):
    """The end, or the server's cap answered with ``next: null``: the next page tells."""
    outcome = after_page(page(size, size, number=number, total=total, nxt=False), last_page=100)
    assert outcome is (After.UNSURE if number < 100 else After.CAP)


def test_caps():
    assert cap_pages(500, max_pages=100, max_hits=10_000) == 20
    assert cap_pages(500, max_pages=100, max_hits=0) == 100
    assert cap_pages(1000, max_pages=100, max_hits=10_000) == 10
    assert cap_pages(7, max_pages=3, max_hits=10_000) == 3


# ------------------------------------------------------------------------------ pieces
@given(span=st.integers(1, 10**12), count=st.integers(0, 10**6), cap=st.integers(1, 50_000))
def test_next_piece_grows_at_most_eightfold_and_aims_under_the_cap(span, count, cap):
    nxt = pieces.next_span(span, count, cap)
    assert 1 <= nxt <= span * pieces.MAX_GROWTH
    if count:
        assert nxt * count // span <= pieces.target(cap) or nxt == 1


@given(
    span=st.integers(2, 10**12),
    reported=st.none() | st.integers(0, 10**7),
    cap=st.integers(1, 50_000),
)
def test_an_overflowing_piece_shrinks_by_half_or_more(span, reported, cap):
    assert 1 <= pieces.shrink(span, reported, cap) <= span // 2


# ----------------------------------------------------------------------------- regions
def test_sources_around_the_two_year_edge():
    s_edge, a_edge = "2024-01-01T00:00:00.000Z", "2024-01-15T00:00:00.000Z"
    upper = "2026-01-01T00:00:00.000Z"
    whole = plan_sources(None, upper, archive_edge=a_edge, standard_edge=s_edge)
    assert whole == [Source(True, None, a_edge), Source(False, s_edge, upper)]  # both around it
    recent = "2025-06-01T00:00:00.000Z"
    assert plan_sources(recent, upper, archive_edge=a_edge, standard_edge=s_edge) == [
        Source(False, recent, upper)
    ]  # a rerun never calls archive search
    between = "2024-01-10T00:00:00.000Z"
    assert plan_sources(between, upper, archive_edge=a_edge, standard_edge=s_edge) == [
        Source(True, between, a_edge),
        Source(False, between, upper),
    ]
    notes = plan_sources(a_edge, upper, archive_edge=a_edge, standard_edge=s_edge, in_archive=False)
    assert notes == [Source(False, a_edge, upper)]
    assert plan_sources(upper, upper, archive_edge=a_edge, standard_edge=s_edge) == []


@given(st.datetimes(min_value=dt.datetime(1970, 1, 2), max_value=dt.datetime(2999, 1, 1)))
def test_milliseconds_round_trip(moment):
    stamp = iso(moment.replace(tzinfo=dt.UTC))
    assert from_ms(to_ms(stamp)) == stamp
