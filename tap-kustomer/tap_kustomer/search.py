"""Reading a time window through Kustomer search without looping or dropping records.

The search API caps a query at 100 pages (and, on one reading, 10,000 hits) and sees only
objects updated in the last two years; the archive search sees the older ones. This module
reads ``[cursor, upper)`` on ``<object>_updated_at`` ascending from both, merged into one
ascending sequence:

* **Keyset restarts.** A query is paged up to the cap, then a new query starts at the last
  ``updatedAt`` seen (``gte``). The ids already read at that timestamp are skipped, so records
  sharing it are read exactly once.
* **Ties past the cap.** If a whole capped query shares one ``updatedAt`` (a restart would
  return the same records again), that timestamp is read on its own, by ``createdAt`` with the
  same keyset rule, and the window then continues with ``gt``. If even one
  (``updatedAt``, ``createdAt``) pair holds more than a query's cap, the rest of that pair is
  unreachable through search: this is logged as an error with the count, never a loop.
* **Exhaustion** is decided from ``meta.total`` (not only from ``links.next``), so both readings
  of the cap (``next`` pointing past it, or ``next: null``) restart rather than stop early.

The :class:`Cursor` (timestamp, ids read at it, whether that timestamp is finished) is what the
stream stores in STATE, so a run killed mid-window resumes without skipping anything.
"""

from __future__ import annotations

import datetime as dt
import heapq
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from tap_kustomer.client import KustomerBadRequestError, KustomerClient

SEARCH_PATH = "/v1/customers/search"
ARCHIVE_PATH = "/v1/customers/archive/search"
API_MAX_PAGES = 100


def iso(value: dt.datetime) -> str:
    """A datetime in Kustomer's format (UTC, milliseconds, ``Z``)."""
    value = value.astimezone(dt.UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def normalize(value: str) -> str:
    """Any ISO timestamp string to Kustomer's format, so string order is time order."""
    text = value.replace("Z", "+00:00")
    parsed = dt.datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return iso(parsed)


@dataclass
class Cursor:
    """Position in an ascending read.

    Everything before ``ts`` is read, and at ``ts`` the ``ids`` (all of them when ``done``).
    """

    ts: str | None = None
    ids: list[str] = field(default_factory=list)
    done: bool = False
    _set: set[str] = field(default_factory=set, repr=False)

    def __post_init__(self) -> None:
        self._set = set(self.ids)

    def seen(self, key: str, obj_id: str) -> bool:
        """Whether the record (``key`` = its timestamp) is at or before the cursor."""
        if self.ts is None or key > self.ts:
            return False
        if key < self.ts:
            return True
        return self.done or obj_id in self._set

    def advance(self, key: str, obj_id: str) -> None:
        """Record that the record has been read (call in ascending order)."""
        if self.ts is None or key > self.ts:
            self.ts, self.ids, self.done, self._set = key, [], False, set()
        if obj_id not in self._set:
            self._set.add(obj_id)
            self.ids.append(obj_id)

    def copy(self) -> Cursor:
        """An independent copy."""
        return Cursor(self.ts, list(self.ids), self.done)

    def to_state(self) -> dict[str, Any]:
        """JSON for STATE (shares the id list; no copy per record)."""
        return {"ts": self.ts, "ids": self.ids, "done": self.done}

    @classmethod
    def from_state(cls, value: Any) -> Cursor | None:
        """Read :meth:`to_state` output back, or None."""
        if not isinstance(value, dict) or not value.get("ts"):
            return None
        return cls(
            normalize(str(value["ts"])),
            [str(i) for i in value.get("ids") or []],
            bool(value.get("done")),
        )


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


class WindowReader:
    """Reads one object type (``queryContext``) by ``updatedAt`` window; see the module doc."""

    def __init__(
        self,
        client: KustomerClient,
        *,
        context: str,
        prefix: str,
        page_size: int,
        max_hits: int,
        max_pages: int = API_MAX_PAGES,
        include_deleted: bool = True,
        logger: logging.Logger,
        kind: str = "search",
    ) -> None:
        self.client = client
        self.context = context
        self.prefix = prefix
        self.page_size = page_size
        cap = max(1, min(max_pages, API_MAX_PAGES))
        if max_hits > 0:
            cap = max(1, min(cap, max_hits // page_size))
        self.max_pages = cap
        self.include_deleted = include_deleted
        self.logger = logger
        self.kind = kind
        self.stats = SearchStats()

    # ------------------------------------------------------------------ queries
    def _page(
        self, archive: bool, filters: list[dict[str, Any]], sort_attr: str, page: int
    ) -> dict[str, Any] | None:
        body: dict[str, Any] = {
            "queryContext": self.context,
            "and": filters,
            "sort": [{sort_attr: "asc"}],
        }
        if self.include_deleted:
            body["includeDeleted"] = True
        try:
            response = self.client.request(
                "POST",
                ARCHIVE_PATH if archive else SEARCH_PATH,
                params={"page": page, "pageSize": self.page_size},
                body=body,
                search=True,
                kind=("archive_" if archive else "") + self.kind,
            )
        except KustomerBadRequestError:
            if page == 1:
                raise
            # the API's page/hit cap is lower than configured: treat as the cap
            self.stats.refused_pages += 1
            self.logger.warning(
                "%s search refused page %d; treating it as the page cap (lower max_hits_per_query)",
                self.context,
                page,
            )
            return None
        self.stats.pages += 1
        return response

    def keyset(
        self,
        *,
        archive: bool,
        field_name: str,
        attr_name: str,
        base: list[dict[str, Any]],
        upper: str | None,
        cursor: Cursor,
        on_stuck: Callable[[Cursor], Iterator[dict[str, Any]]],
    ) -> Iterator[dict[str, Any]]:
        """Yield records ascending on ``attr_name`` after ``cursor`` (mutated as it goes)."""
        search_attr = f"{self.prefix}_{field_name}"
        while True:
            filters = list(base)
            if cursor.ts is not None:
                filters.append({search_attr: {"gt" if cursor.done else "gte": cursor.ts}})
            if upper is not None:
                filters.append({search_attr: {"lt": upper}})
            start = cursor.ts
            progressed = False
            self.stats.queries += 1
            page = 1
            while True:
                body = self._page(archive, filters, search_attr, page)
                if body is None:
                    break
                data = body.get("data") or []
                total = (body.get("meta") or {}).get("total")
                for record in data:
                    key = (record.get("attributes") or {}).get(attr_name)
                    if not isinstance(key, str):
                        self.logger.warning(
                            "%s %s has no %s; skipped", self.context, record.get("id"), attr_name
                        )
                        continue
                    key = normalize(key)
                    if cursor.ts is not None and key < cursor.ts:
                        self.stats.out_of_order += 1
                        yield record  # the API did not sort: pass it on, keep the cursor
                        continue
                    if cursor.seen(key, record["id"]):
                        continue
                    if cursor.ts != key:
                        progressed = True
                    cursor.advance(key, record["id"])
                    yield record
                nxt = (body.get("links") or {}).get("next")
                if (
                    not data
                    or (total is not None and page * self.page_size >= total)
                    or (total is None and not nxt)
                ):
                    return
                if page >= self.max_pages or not nxt:
                    break
                page += 1
            self.stats.restarts += 1
            if not progressed and cursor.ts is not None and cursor.ts == start:
                yield from on_stuck(cursor)

    # ------------------------------------------------------------- ties, merge
    def _ties(self, archive: bool) -> Callable[[Cursor], Iterator[dict[str, Any]]]:
        def read_tie(cursor: Cursor) -> Iterator[dict[str, Any]]:
            stamp = cursor.ts
            assert stamp is not None
            self.stats.tie_splits += 1
            self.logger.info(
                "%s: more than one query's worth of records share updatedAt %s; "
                "reading it by createdAt",
                self.context,
                stamp,
            )
            attr = f"{self.prefix}_updated_at"
            base = [{attr: {"gte": stamp}}, {attr: {"lte": stamp}}]
            sub = Cursor()
            for record in self.keyset(
                archive=archive,
                field_name="created_at",
                attr_name="createdAt",
                base=base,
                upper=None,
                cursor=sub,
                on_stuck=self._give_up(stamp),
            ):
                key = normalize(record["attributes"]["updatedAt"])
                if key != stamp or cursor.seen(key, record["id"]):
                    continue
                cursor.advance(key, record["id"])
                yield record
            cursor.done = True

        return read_tie

    def _give_up(self, stamp: str) -> Callable[[Cursor], Iterator[dict[str, Any]]]:
        def give_up(sub: Cursor) -> Iterator[dict[str, Any]]:
            self.stats.unreachable += 1
            self.logger.error(
                "%s: more than %d records share updatedAt %s and createdAt %s; search cannot page "
                "past them, the rest of that instant is skipped",
                self.context,
                self.max_pages * self.page_size,
                stamp,
                sub.ts,
            )
            sub.done = True
            return iter(())

        return give_up

    def read(
        self, cursor: Cursor, upper: str, *, archive: bool, standard: bool
    ) -> Iterator[dict[str, Any]]:
        """Yield every record with ``updatedAt`` in ``(cursor, upper)`` ascending.

        ``cursor`` advances as records are yielded; ``archive`` / ``standard`` choose the
        endpoints to merge.
        """
        sources = [flag for flag, wanted in ((True, archive), (False, standard)) if wanted]
        streams = [
            self.keyset(
                archive=flag,
                field_name="updated_at",
                attr_name="updatedAt",
                base=[],
                upper=upper,
                cursor=cursor.copy(),
                on_stuck=self._ties(flag),
            )
            for flag in sources
        ]
        merged = heapq.merge(*streams, key=lambda r: normalize(r["attributes"]["updatedAt"]))
        for record in merged:
            key = normalize(record["attributes"]["updatedAt"])
            if cursor.ts is not None and key < cursor.ts:
                yield record
                continue
            if cursor.seen(key, record["id"]):
                continue
            cursor.advance(key, record["id"])
            yield record
