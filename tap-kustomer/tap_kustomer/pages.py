"""When a search query has given everything: decided from what the server answered.

A query's pages are read until the server says there is no more, never from our own page
size or a count the server may cap. A search engine can serve smaller pages than asked (a
``pageSize`` above the API's maximum, a server-side clamp: ``meta.pageSize`` then says the
size served) and can report ``meta.total`` only up to a limit (10,000 hits by default), so
``page x page_size >= total`` is no proof of the end. The rules (:func:`after_page`):

* an empty page, or one shorter than the size served, ends the query;
* a page at the last page the caps allow, with or without ``links.next``, is the cap;
* a full page without ``links.next`` before that is UNSURE: the end, or the server's own cap
  answered with ``next: null`` (one reading of the API; a count capped at the same number
  would look complete). The caller asks for the next page: empty means the end, a refusal
  (400, as past the documented 100 pages) the cap, records that there was more;
* otherwise, read the next page.

``meta.total`` never decides: a capped count only ever under-counts, so it can show that
records are missing (fewer read than counted), never that none are.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any


class After(enum.Enum):
    """What to do after a page."""

    MORE = "more"  # read the next page
    END = "end"  # the query has no more records
    CAP = "cap"  # the query may have more, past what one query can page to
    UNSURE = "unsure"  # a full page without links.next: ask for the next one to know


@dataclass(frozen=True)
class Page:
    """One answered search page."""

    number: int
    records: list[dict[str, Any]]
    size: int  # the page size the server served
    total: int | None  # meta.total as sent (None if absent or not a number)
    has_next: bool  # links.next present


def read_page(body: dict[str, Any], number: int, asked: int) -> Page:
    """A :class:`Page` from a JSON:API search answer (asked for ``asked`` per page)."""
    meta = body.get("meta") if isinstance(body.get("meta"), dict) else {}
    served = meta.get("pageSize")
    size = served if isinstance(served, int) and not isinstance(served, bool) and served > 0 else 0
    total = meta.get("total")
    data = body.get("data")
    records = [r for r in data if isinstance(r, dict)] if isinstance(data, list) else []
    links = body.get("links") if isinstance(body.get("links"), dict) else {}
    if not size:
        # no meta.pageSize: a page shorter than asked that still links to a next page is
        # the server's own size, not the end
        size = len(records) if links.get("next") and 0 < len(records) < asked else asked
    return Page(
        number=number,
        records=records,
        size=min(size, asked),
        total=total if isinstance(total, int) and not isinstance(total, bool) else None,
        has_next=bool(links.get("next")),
    )


def cap_pages(size: int, *, max_pages: int, max_hits: int) -> int:
    """The pages one query may read at ``size`` per page: the page cap and the hit cap."""
    pages = max(1, max_pages)
    if max_hits > 0:
        pages = max(1, min(pages, max_hits // max(1, size)))
    return pages


def after_page(page: Page, *, last_page: int) -> After:
    """What follows ``page``; ``last_page`` is the last page the caps allow."""
    if not page.records or len(page.records) < page.size:
        return After.END
    if page.number >= last_page:
        return After.CAP
    return After.MORE if page.has_next else After.UNSURE
