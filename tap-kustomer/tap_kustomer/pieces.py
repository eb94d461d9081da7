"""How long a time piece may be for one unsorted query to return all of it.

Where the API cannot sort a query (standard search sorts only on customer attributes), a
window is read as consecutive time pieces ``[start, end)``, each small enough for one query
(under the per-query cap), read whole and ordered on the client. These pure functions size
the pieces from what the run has seen: the density of the last piece read, and the count a
refused (overflowing) piece reported. Pieces aim at :data:`TARGET_SHARE` of the cap, so an
estimate somewhat off still fits; times are epoch milliseconds (the API's precision).
"""

from __future__ import annotations

TARGET_SHARE = 0.9
#: How much longer than the last piece the next one may be (a sparse stretch grows fast,
#: a dense one after it costs one overflowing query, not many).
MAX_GROWTH = 8


def target(cap_records: int) -> int:
    """Records a piece should hold."""
    return max(1, int(cap_records * TARGET_SHARE))


def next_span(span: int, count: int, cap_records: int) -> int:
    """The next piece's length after a piece of ``span`` ms held ``count`` records."""
    span = max(1, span)
    if count <= 0:
        return span * MAX_GROWTH
    return max(1, min(span * MAX_GROWTH, span * target(cap_records) // count))


def shrink(span: int, reported: int | None, cap_records: int) -> int:
    """A shorter length for a piece of ``span`` ms that overflowed the cap.

    ``reported`` is the piece's ``meta.total``: a count past the cap is used as it is, one
    that may be capped counts as twice the cap. Always at most half the span, at least 1 ms.
    """
    span = max(1, span)
    estimate = max(reported or 0, 2 * cap_records)
    return max(1, min(span // 2, span * target(cap_records) // estimate))
