"""One search query, page by page, with what the run has learnt about the server's paging.

The client owns budgets and retries; this module owns one query's pages. It asks for the
configured ``page_size`` once, then for the size the server serves (``meta.pageSize``), so
a clamped server is paged at its own size; a 400 on a page after the first is the server's
page cap (lower than configured), remembered for the rest of the run; a 400 on the first page
is :class:`QueryRefused`: the API does not take that filter or sort.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from tap_kustomer.client import KustomerBadRequestError, KustomerClient
from tap_kustomer.pages import After, Page, after_page, cap_pages, read_page

SEARCH_PATH = "/v1/customers/search"
ARCHIVE_PATH = "/v1/customers/archive/search"
API_MAX_PAGES = 100


class QueryRefused(Exception):
    """The API answered 400 to a query's first page (a criterion or sort it does not take)."""


@dataclass
class SearchStats:
    """Counters for the run log and the benchmark."""

    queries: int = 0
    pages: int = 0
    restarts: int = 0
    tie_splits: int = 0
    unreachable: int = 0
    out_of_order: int = 0
    refused_pages: int = 0
    refused_queries: int = 0
    pieces: int = 0
    overflows: int = 0
    rereads: int = 0
    fallbacks: list[str] = field(default_factory=list)


@dataclass
class Query:
    """One query's pages; after iterating, ``ending`` says END or CAP."""

    pager: Pager
    archive: bool
    body: dict[str, Any]
    ending: After | None = None
    total: int | None = None  # meta.total of the first page
    cap_records: int = 0  # what one query can return at the size served
    read: int = 0

    @property
    def complete(self) -> bool:
        """Whether the query returned every record it matches."""
        return self.ending is After.END

    def __iter__(self) -> Iterator[Page]:
        pager = self.pager
        pager.stats.queries += 1
        number, asked, unsure = 1, pager.page_size, False
        while True:
            try:
                body = pager.client.request(
                    "POST",
                    ARCHIVE_PATH if self.archive else SEARCH_PATH,
                    params={"page": number, "pageSize": asked},
                    body=self.body,
                    search=True,
                    kind=("archive_" if self.archive else "") + pager.kind,
                )
            except KustomerBadRequestError as exc:
                if number == 1:
                    pager.stats.refused_queries += 1
                    raise QueryRefused(str(exc)) from None
                pager.learn_page_cap(number - 1)
                self.ending = After.CAP
                return
            pager.stats.pages += 1
            page = read_page(body, number, asked)
            pager.learn_size(page.size)
            if number == 1:
                self.total = page.total
            self.read += len(page.records)
            self.cap_records = pager.cap_records
            outcome = after_page(page, last_page=pager.last_page)
            if unsure and not page.records:
                self.ending = After.END  # the page after an unsure one is empty: the end
                return
            yield page
            if outcome not in (After.MORE, After.UNSURE):
                self.ending = outcome
                return
            unsure = outcome is After.UNSURE
            number, asked = number + 1, page.size


class Pager:
    """Runs the search queries of one object type; remembers the server's paging."""

    def __init__(
        self,
        client: KustomerClient,
        *,
        page_size: int,
        max_pages: int,
        max_hits: int,
        kind: str,
        logger: logging.Logger,
        stats: SearchStats,
    ) -> None:
        self.client = client
        self.page_size = max(1, page_size)
        self.max_pages = max(1, min(max_pages, API_MAX_PAGES))
        self.max_hits = max_hits
        self.kind = kind
        self.logger = logger
        self.stats = stats
        self.served = self.page_size
        self.server_pages: int | None = None

    @property
    def last_page(self) -> int:
        """The last page one query may read at the size served."""
        pages = cap_pages(self.served, max_pages=self.max_pages, max_hits=self.max_hits)
        return min(pages, self.server_pages) if self.server_pages else pages

    @property
    def cap_records(self) -> int:
        """The records one query can return."""
        return self.last_page * self.served

    def learn_size(self, size: int) -> None:
        """The server served ``size`` per page (smaller than asked: it clamps)."""
        if 0 < size < self.served:
            self.logger.info(
                "%s: the API serves %d per page (asked %d); paging at its size",
                self.kind,
                size,
                self.served,
            )
            self.served = size

    def learn_page_cap(self, pages: int) -> None:
        """The server refused the page after ``pages``: its cap is lower than configured."""
        self.stats.refused_pages += 1
        pages = max(1, pages)
        if self.server_pages is None or pages < self.server_pages:
            self.logger.warning(
                "%s: the API refused page %d; reading at most %d pages per query "
                "(lower max_hits_per_query or max_pages_per_query to match)",
                self.kind,
                pages + 1,
                pages,
            )
            self.server_pages = pages

    def query(self, *, archive: bool, body: dict[str, Any]) -> Query:
        """A query to iterate."""
        return Query(self, archive, body)
