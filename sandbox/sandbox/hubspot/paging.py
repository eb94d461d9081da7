"""How the HubSpot sandbox cuts pages and issues cursors, misbehaviours included.

HubSpot's docs promise less than a client might assume (reference hubspot-api.md §1.1, §1.3):
a list page holds at most ``limit`` records and a search page "up to" ``limit``; nothing
says a page that is not the last one is full. And ``paging.next.after`` is an opaque cursor
a client passes back, with no promise that a faulty server never hands one out twice. These
pure functions decide what the sandbox serves under the knobs that make those readings real:

* ``list_page_clamp`` / ``search_page_clamp``: serve at most that many records per page
  (0 = serve what was asked), ``paging.next`` still present when more remain;
* ``list_cursor_fault``: ``repeat`` (from page ``list_cursor_fault_page`` on, the next cursor is
  the one the request came with) or ``cycle`` (from that page on, the next cursor leads back
  to the previous page, so two cursors alternate).
"""

from __future__ import annotations

import base64
import binascii
import bisect

from sandbox.core.app import ApiError

CURSOR_FAULTS = ("none", "repeat", "cycle")


def encode_after(last_id: int) -> str:
    """The list endpoint's opaque cursor for the records after ``last_id``."""
    return base64.urlsafe_b64encode(f"{last_id}\n".encode()).decode()


def decode_after(token: str) -> int:
    """The last id a list cursor stands for (400 on a cursor the sandbox did not issue)."""
    try:
        return int(base64.urlsafe_b64decode(token.encode()).decode().strip())
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        msg = f"Invalid paging cursor {token!r}"
        raise ApiError(400, msg) from exc


def served_size(asked: int, clamp: int) -> int:
    """How many records a page holds: what was asked, or fewer under a clamp."""
    clamp = int(clamp or 0)
    return min(asked, clamp) if clamp > 0 else asked


def check_cursor_fault(value: object) -> None:
    """Refuse an unknown fault when the knob is set, not when a request meets it."""
    if value not in CURSOR_FAULTS:
        msg = f"unknown list_cursor_fault {value!r}; known: {list(CURSOR_FAULTS)}"
        raise ValueError(msg)


def list_next_cursor(
    ids: list[int],
    *,
    after_id: int,
    page_last_id: int,
    size: int,
    fault: str = "none",
    fault_page: int = 2,
) -> str | None:
    """``paging.next.after`` for a list page of ``size`` records after ``after_id``.

    ``ids`` are the listed ids, ascending; ``page_last_id`` is the last id served. ``None``
    when nothing is left. Under a fault, pages from ``fault_page`` on (1-based, counted in
    pages of ``size``) answer with the faulty cursor instead of the honest one.
    """
    if bisect.bisect_right(ids, page_last_id) >= len(ids):
        return None
    honest = encode_after(page_last_id)
    if fault == "none":
        return honest
    page = bisect.bisect_right(ids, after_id) // size + 1
    if fault == "repeat" and page >= max(2, fault_page):
        return encode_after(after_id)  # the cursor this request came with
    start = max(3, fault_page)  # page 1 has no cursor, so page 2 is the first one to cycle to
    if fault == "cycle" and page >= start:
        previous_page_start = (page - 2) * size  # index of the first record of page - 1
        return encode_after(ids[previous_page_start - 1])
    return honest
