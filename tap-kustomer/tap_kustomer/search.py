"""Reading a time window of one object type through Kustomer search, without losing a row.

The search API caps a query (100 pages; on one reading 10,000 hits), sees only objects updated
in the last two years (the archive search sees the older ones), documents its sorts for
customer attributes only, and may answer in ways the docs allow: smaller pages, capped counts,
a refusal (400) of what it does not list. :class:`WindowReader` reads ``[cursor, upper)`` of
one object type in ascending time, on ``updatedAt`` (or ``createdAt``), from each endpoint
(:class:`Source`: archive and standard search, overlapping around the two-year edge whose
exact place the client cannot know), merged into one ascending sequence, each id once.

Each endpoint is read the best way the server accepts, falling back when it refuses one or
cannot be trusted; every way yields ascending timestamps:

* ``keyset``: filter on the window and sort ascending; page to the cap, then restart at the
  last timestamp (``gte``, skipping the ids already read there). Cheapest; needs a sort the
  server honours. If a whole capped query shares one timestamp, that instant is read on its
  own by ``createdAt``. The order is checked as it comes: a timestamp lower than the one
  before, a record outside the filter, or fewer records than the first query counted means
  the order cannot be trusted.
* ``pieces``: filter only (no sort): the window is cut into time pieces small enough for one
  query each (:mod:`tap_kustomer.pieces`), each read whole, checked against its count, and
  ordered on the client by (timestamp, id).
* ``scan``: no filter either (standard search documents no ``company_updated_at``): every
  object of the context in one query, if it fits, filtered and ordered on the client.
* ``list``: ``GET /v1/companies`` pages (companies only), for when even that does not fit.

On a refusal (400 on a query's first page) or an answer it cannot trust, the endpoint moves to
its next way and the window is read again from its start, the records already emitted being
skipped. The way that worked is kept in ``modes`` (the stream stores it in STATE), so later
runs start with it.

The cursor (:class:`~tap_kustomer.cursor.Cursor`) advances with every record emitted, so STATE
written at any record resumes without skipping anything.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from singer_sdk.exceptions import FatalAPIError

from tap_kustomer import pieces
from tap_kustomer.client import KustomerClient
from tap_kustomer.cursor import Cursor, from_ms, iso, normalize, to_ms
from tap_kustomer.held import Held
from tap_kustomer.ids import IdSet
from tap_kustomer.pages import After
from tap_kustomer.query import (
    API_MAX_PAGES,
    ARCHIVE_PATH,
    SEARCH_PATH,
    Pager,
    QueryRefused,
    SearchStats,
)

__all__ = [
    "API_MAX_PAGES",
    "ARCHIVE_PATH",
    "SEARCH_PATH",
    "Cursor",
    "SearchStats",
    "Source",
    "WindowReader",
    "iso",
    "normalize",
    "plan_sources",
]

EPOCH = "1970-01-01T00:00:00.000Z"
FAR_FUTURE = "3000-01-01T00:00:00.000Z"
DAY_MS = 86_400_000
#: Record attribute of each time field.
ATTRIBUTES = {"updated_at": "updatedAt", "created_at": "createdAt"}
#: Ids remembered per window to skip on a re-read; past this a re-read may repeat records.
DEDUPE_LIMIT = 200_000
STANDARD, ARCHIVE = "standard", "archive"
WAYS = ("keyset", "pieces", "scan", "list")

Keyed = tuple[str, dict[str, Any]]  # (timestamp, record)


class Untrusted(Exception):
    """The server's answers cannot be trusted for a way of reading (see module doc)."""

    def __init__(self, what: str, detail: str) -> None:
        super().__init__(detail)
        self.what = what  # "order" | "filter" | "count" | "refused" | "too big"
        self.source = ""


class TooBig(Exception):
    """A whole-context query does not fit in one query."""


@dataclass(frozen=True)
class Source:
    """One endpoint and the part of the window it is read for: ``[lo, hi)``."""

    archive: bool
    lo: str | None
    hi: str


def plan_sources(
    start: str | None,
    upper: str,
    *,
    archive_edge: str | None,
    standard_edge: str | None,
    in_archive: bool = True,
) -> list[Source]:
    """The endpoints ``[start, upper)`` is read from.

    No archive record is updated at or after ``archive_edge``, no standard-search record
    before ``standard_edge`` (the two-year edge +- a margin): between the two, both are read.
    """
    out = []
    if in_archive and archive_edge is not None and (start is None or start < archive_edge):
        out.append(Source(True, start, min(archive_edge, upper)))
    standard_lo = standard_edge if in_archive and standard_edge is not None else None
    if start is not None and (standard_lo is None or start > standard_lo):
        standard_lo = start
    if standard_lo is None or standard_lo < upper:
        out.append(Source(False, standard_lo, upper))
    return out


@dataclass(frozen=True)
class _Bounds:
    """``[lo, end)`` (``(lo, end)`` when ``lo_done``)."""

    lo: str
    lo_done: bool
    end: str


@dataclass
class _Fetched:
    """One piece's records (held out of memory), or the fact that it did not fit in a query."""

    held: Held = field(default_factory=Held)
    overflow: bool = False
    reported: int | None = None  # meta.total of an overflowing query
    lowest: str | None = None  # the lowest timestamp an overflowing query showed
    one_instant: bool = False  # every record an overflowing query showed shares one timestamp


class WindowReader:
    """Reads one object type (``queryContext``) by time window; see the module doc."""

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
        modes: dict[str, str] | None = None,
        list_path: str | None = None,
    ) -> None:
        self.client = client
        self.context = context
        self.prefix = prefix
        self.include_deleted = include_deleted
        self.logger = logger
        self.kind = kind
        self.stats = SearchStats()
        self.pager = Pager(
            client,
            page_size=page_size,
            max_pages=max_pages,
            max_hits=max_hits,
            kind=kind,
            logger=logger,
            stats=self.stats,
        )
        self.modes = modes if modes is not None else {}
        self.list_path = list_path
        self._spans: dict[str, int] = {}
        self._cache: dict[str, Held] = {}
        #: a day past the reader's start: nothing real is stamped later
        self._future_ms = int(time.time() * 1000) + DAY_MS

    # ------------------------------------------------------------------ helpers
    def _attr(self, field_name: str) -> str:
        return f"{self.prefix}_{field_name}"

    @staticmethod
    def _key_of(archive: bool, field_name: str) -> str:
        return f"{ARCHIVE if archive else STANDARD}:{field_name}"

    def mode(self, archive: bool, field_name: str) -> str:
        """The way an endpoint is read (``keyset`` until it proves otherwise)."""
        return self.modes.get(self._key_of(archive, field_name), "keyset")

    def _body(self, criteria: list[dict[str, Any]], sort_attr: str | None) -> dict[str, Any]:
        body: dict[str, Any] = {"queryContext": self.context}
        if criteria:
            body["and"] = criteria
        if sort_attr:
            body["sort"] = [{sort_attr: "asc"}]
        if self.include_deleted:
            body["includeDeleted"] = True
        return body

    @staticmethod
    def _bounds(attr: str, lo: str | None, lo_done: bool, hi: str | None) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        if lo is not None:
            out.append({attr: {"gt" if lo_done else "gte": lo}})
        if hi is not None:
            out.append({attr: {"lt": hi}})
        return out

    @staticmethod
    def _outside(key: str, lo: str | None, lo_done: bool, hi: str | None) -> bool:
        below = lo is not None and (key < lo or (lo_done and key == lo))
        return below or (hi is not None and key >= hi)

    def _key(self, record: dict[str, Any], attr_name: str) -> str | None:
        value = (record.get("attributes") or {}).get(attr_name)
        if not isinstance(value, str) or not record.get("id"):
            self.logger.warning(
                "%s %s has no %s; skipped", self.context, record.get("id"), attr_name
            )
            return None
        return normalize(value)

    def _more_than_a_query(self, total: int | None) -> bool:
        """Whether a query's count says it holds more than one query returns.

        (A count below the cap may itself be capped: that is found by reading to the cap.)
        """
        return total is not None and total >= self.pager.cap_records

    @staticmethod
    def _take(record: dict[str, Any], key: str, cursor: Cursor) -> bool:
        """Whether ``record`` is new to ``cursor`` (then the cursor moves past it)."""
        if cursor.seen(key, record["id"]):
            return False
        cursor.advance(key, record["id"])
        return True

    @staticmethod
    def _new(entries: Iterable[Any], cursor: Cursor) -> Iterator[Any]:
        """The held entries (ascending) the cursor has not passed, checked as each is reached."""
        for entry in entries:
            if not cursor.seen(entry[0], entry[1]):
                yield entry

    # ------------------------------------------------------------------ reading
    def read(
        self,
        cursor: Cursor,
        sources: list[Source],
        *,
        field_name: str = "updated_at",
    ) -> Iterator[dict[str, Any]]:
        """Yield every record of ``sources`` after ``cursor``, ascending, each id once.

        ``cursor`` advances as records are yielded.
        """
        start, emitted = cursor.copy(), IdSet()
        # standard search first: the merge starts each reader in turn, and a refusal learnt
        # there (undocumented sorts are on standard search) then costs no archive query
        sources = sorted(sources, key=lambda src: src.archive)
        try:
            while True:
                readers = [self._one(src, start.copy(), field_name, ()) for src in sources]
                try:
                    for key, record in heapq.merge(*readers, key=lambda kr: (kr[0], kr[1]["id"])):
                        if record["id"] in emitted or not self._take(record, key, cursor):
                            continue
                        if len(emitted) < DEDUPE_LIMIT:
                            emitted.add_new(record["id"])
                        yield record
                    return
                except Untrusted as exc:
                    self._fall_back(exc.source == ARCHIVE, field_name, exc.what, str(exc))
                    cursor.set_to(start)  # read again; what was emitted is skipped
        finally:
            self.release()

    def release(self) -> None:
        """Drop the whole reads held for this window (a later window reads them afresh)."""
        for held in self._cache.values():
            held.close()
        self._cache.clear()

    def _one(
        self, src: Source, cursor: Cursor, field_name: str, base: tuple[dict[str, Any], ...]
    ) -> Iterator[Keyed]:
        """One endpoint's records of ``[src.lo, src.hi)`` after ``cursor``, ascending."""
        if src.lo is not None:
            cursor.move_to(src.lo)
        mode = self.mode(src.archive, field_name)
        try:
            if mode == "keyset":
                yield from self._keyset(src, cursor, field_name, base)
            elif mode == "pieces":
                yield from self._pieces(src, cursor, field_name, base)
            else:
                yield from self._whole(src, cursor, field_name)
        except QueryRefused as exc:
            raise self._blame(src, Untrusted("refused", str(exc))) from None
        except TooBig as exc:
            raise self._blame(src, Untrusted("too big", str(exc))) from None
        except Untrusted as exc:
            raise self._blame(src, exc) from None

    @staticmethod
    def _blame(src: Source, exc: Untrusted) -> Untrusted:
        if not exc.source:
            exc.source = ARCHIVE if src.archive else STANDARD
        return exc

    def _fall_back(self, archive: bool, field_name: str, what: str, detail: str) -> None:
        """Move an endpoint to its next way of reading, or stop the run saying why."""
        mode = self.mode(archive, field_name)
        ways = [w for w in WAYS if w != "list" or (self.list_path and not archive)]
        later = ways[ways.index(mode) + 1 :] if mode in ways else []
        if what == "filter":  # the time filter itself is not applied: pieces need it
            later = [w for w in later if w != "pieces"]
        where = ARCHIVE if archive else STANDARD
        if not later:
            msg = (
                f"{self.context}: {where} search cannot be read completely ({what}: {detail}); "
                "no documented way is left"
            )
            raise FatalAPIError(msg)
        self.modes[self._key_of(archive, field_name)] = later[0]
        if what == "order":
            self.stats.out_of_order += 1
        self.stats.fallbacks.append(f"{where}:{field_name} {mode} -> {later[0]} ({what})")
        self.logger.warning(
            "%s: %s search, %s reading %s (%s); reading it %s",
            self.kind,
            where,
            mode,
            "refused" if what == "refused" else "not trusted",
            detail,
            {
                "pieces": "by time pieces without a sort, ordered here",
                "scan": "whole, without a time filter, filtered and ordered here",
                "list": f"from GET {self.list_path} pages, filtered here",
            }[later[0]],
        )

    # ------------------------------------------------------------------- keyset
    def _keyset(
        self, src: Source, cursor: Cursor, field_name: str, base: tuple[dict[str, Any], ...]
    ) -> Iterator[Keyed]:
        attr, name = self._attr(field_name), ATTRIBUTES[field_name]
        first_total: int | None = None
        observed: IdSet | None = None
        first = True
        while True:
            lo, lo_done = cursor.ts, cursor.done
            body = self._body([*base, *self._bounds(attr, lo, lo_done, src.hi)], attr)
            query = self.pager.query(archive=src.archive, body=body)
            progressed, previous = False, None
            for page in query:
                if first and page.number == 1:
                    # a count capped by the server only under-counts: reading fewer than it
                    # says is proof of a loss, whatever the count is
                    first_total = query.total if (query.total or 0) <= DEDUPE_LIMIT else None
                    observed = IdSet() if first_total else None
                for record in page.records:
                    key = self._key(record, name)
                    if key is None:
                        continue
                    if self._outside(key, lo, lo_done, src.hi):
                        msg = f"{name} {key} outside the filter [{lo}, {src.hi})"
                        raise Untrusted("filter", msg)
                    if previous is not None and key < previous:
                        raise Untrusted("order", f"{name} {key} came after {previous}")
                    previous = key
                    if observed is not None:
                        observed.add(record["id"])
                        if first_total is not None and len(observed) >= first_total:
                            observed = None  # the count is reached: nothing left to check
                    if self._take(record, key, cursor):
                        progressed = progressed or key != lo
                        yield key, record
            first = False
            if query.ending is not After.CAP:
                if first_total and observed is not None and len(observed) < first_total:
                    msg = f"the query counted {first_total}, its pages held {len(observed)}"
                    raise Untrusted("count", msg)
                return
            self.stats.restarts += 1
            if not progressed and cursor.ts == lo and lo is not None:
                yield from self._instant(src, cursor, field_name, base, observed)

    def _instant(
        self,
        src: Source,
        cursor: Cursor,
        field_name: str,
        base: tuple[dict[str, Any], ...],
        observed: IdSet | None = None,
    ) -> Iterator[Keyed]:
        """Every record at ``cursor.ts`` (more than a query's worth), read by ``createdAt``.

        ``observed`` (the keyset's count check) gets every id the instant holds.
        """
        stamp = cursor.ts
        assert stamp is not None
        if field_name != "updated_at":
            self.stats.unreachable += 1
            self.logger.error(
                "%s: more than %d records share %s %s; search cannot page past them, the "
                "rest of that instant is skipped",
                self.context,
                self.pager.cap_records,
                ATTRIBUTES[field_name],
                stamp,
            )
            cursor.finish_instant()
            return
        self.stats.tie_splits += 1
        self.logger.info(
            "%s: more than one query's worth of records share updatedAt %s; reading it by "
            "createdAt",
            self.context,
            stamp,
        )
        attr = self._attr("updated_at")
        pinned = (*base, {attr: {"gte": stamp}}, {attr: {"lte": stamp}})
        sub, whole = Cursor(), Source(src.archive, None, FAR_FUTURE)
        if self.mode(src.archive, "updated_at") == "keyset":
            found = self._keyset(whole, sub, "created_at", pinned)
        else:
            found = self._pieces(whole, sub, "created_at", pinned)
        for _, record in found:
            key = normalize(record["attributes"]["updatedAt"])
            if key != stamp:
                continue
            if observed is not None:
                observed.add(record["id"])
            if self._take(record, key, cursor):
                yield key, record
        cursor.finish_instant()

    # ------------------------------------------------------------------- pieces
    def _pieces(
        self, src: Source, cursor: Cursor, field_name: str, base: tuple[dict[str, Any], ...]
    ) -> Iterator[Keyed]:
        """Read ``[cursor, src.hi)`` as consecutive time pieces, each whole in one query."""
        span_key = f"{src.archive}:{field_name}:{bool(base)}"
        hi_ms = to_ms(src.hi)
        while True:
            lo, lo_done = cursor.ts or EPOCH, cursor.done
            lo_ms = to_ms(lo)
            if lo_ms >= hi_ms:
                return
            span = self._spans.get(span_key)
            end_ms = hi_ms if span is None else min(hi_ms, lo_ms + span)
            if lo_ms >= self._future_ms:  # nothing is stamped in the future: one query
                end_ms = hi_ms
            elif end_ms > self._future_ms:
                end_ms = self._future_ms
            while True:
                bounds = _Bounds(lo, lo_done, from_ms(end_ms))
                fetched = self._fetch(src.archive, bounds, field_name, base)
                if not fetched.overflow:
                    break
                self.stats.overflows += 1
                if end_ms - lo_ms <= 1:
                    break  # one millisecond holds more than a query
                # size from the lowest timestamp seen (nothing is known between lo and it)
                base_ms = max(lo_ms, to_ms(fetched.lowest)) if fetched.lowest else lo_ms
                if fetched.one_instant:  # a query's worth at one instant: up to it, then it
                    end_ms = base_ms if base_ms > lo_ms else lo_ms + 1
                elif end_ms - base_ms > 1:
                    cap = self.pager.cap_records
                    end_ms = base_ms + pieces.shrink(end_ms - base_ms, fetched.reported, cap)
                else:
                    end_ms = base_ms if base_ms > lo_ms else lo_ms + 1
            self.stats.pieces += 1
            if fetched.overflow:  # more than a query at one millisecond: read it on its own
                cursor.move_to(lo)
                if not cursor.done:
                    yield from self._instant(src, cursor, field_name, base)
            else:
                held, count = fetched.held, len(fetched.held)
                try:
                    # ordered by (timestamp, id) from what is held; each record decoded again
                    # only as it is emitted
                    for key, record in held.records(self._new(held.ordered(), cursor)):
                        cursor.advance(key, record["id"])
                        yield key, record
                finally:
                    held.close()
                self._spans[span_key] = pieces.next_span(
                    end_ms - lo_ms, count, self.pager.cap_records
                )
            cursor.move_to(from_ms(end_ms))

    def _fetch(
        self, archive: bool, bounds: _Bounds, field_name: str, base: tuple[dict[str, Any], ...]
    ) -> _Fetched:
        """Every record of the piece, or ``overflow``; a short count is read once more."""
        attr, name = self._attr(field_name), ATTRIBUTES[field_name]
        criteria = self._bounds(attr, bounds.lo, bounds.lo_done, bounds.end)
        body = self._body([*base, *criteria], None)
        for attempt in (1, 2):
            got = _Fetched()
            query = self.pager.query(archive=archive, body=body)
            for page in query:
                for record in page.records:
                    key = self._key(record, name)
                    if key is None:
                        continue
                    if self._outside(key, bounds.lo, bounds.lo_done, bounds.end):
                        msg = f"{name} {key} outside the filter [{bounds.lo}, {bounds.end})"
                        raise Untrusted("filter", msg)
                    got.held.put(key, record)
                    if got.lowest is None or key < got.lowest:
                        got.lowest = key
                if page.number == 1 and self._more_than_a_query(query.total):
                    query.ending = After.CAP  # counted past the cap: no use reading it out
                    break
            if not query.complete:
                keys, held = got.held.keys(), len(got.held)
                got.held.close()
                return _Fetched(
                    overflow=True,
                    reported=query.total,
                    lowest=got.lowest,
                    one_instant=len(keys) == 1 and held > 1,
                )
            total = query.total  # a capped count only under-counts: fewer read is a loss
            if total is None or len(got.held) >= total:
                return got
            if attempt == 1:  # records moved while paging (an update shifts the pages)
                self.stats.rereads += 1
                got.held.close()
                continue
            self.logger.warning(
                "%s: the API counted %d records in [%s, %s) but its pages held %d",
                self.context,
                total,
                bounds.lo,
                bounds.end,
                len(got.held),
            )
        return got

    # ---------------------------------------------------------------- whole reads
    def _whole(self, src: Source, cursor: Cursor, field_name: str) -> Iterator[Keyed]:
        """Scan or list mode: the whole context, filtered to the window and ordered here."""
        held = self._everything(src.archive, field_name)
        # ascending: the window's part ends at the first entry at or past src.hi
        chosen = itertools.takewhile(lambda entry: entry[0] < src.hi, held.ordered())
        for key, record in held.records(self._new(chosen, cursor)):
            cursor.advance(key, record["id"])
            yield key, record

    def _everything(self, archive: bool, field_name: str) -> Held:
        """Every object of the context (scan: one query; list: GET pages), once per window.

        Held out of memory (:mod:`tap_kustomer.held`), keyed on ``field_name``.
        """
        listing = self.mode(archive, field_name) == "list"
        key = f"{ARCHIVE if archive else STANDARD}:{'list' if listing else 'scan'}:{field_name}"
        if key not in self._cache:
            name = ATTRIBUTES[field_name]
            self._cache[key] = self._list_all(name) if listing else self._scan_all(archive, name)
        return self._cache[key]

    def _hold(self, held: Held, record: Any, name: str) -> None:
        if isinstance(record, dict) and record.get("id"):
            key = self._key(record, name)
            if key is not None:
                held.put(key, record)

    def _scan_all(self, archive: bool, name: str) -> Held:
        held = Held()
        query = self.pager.query(archive=archive, body=self._body([], None))
        for page in query:
            if page.number == 1 and self._more_than_a_query(query.total):
                query.ending = After.CAP
                break
            for record in page.records:
                self._hold(held, record, name)
        if not query.complete:
            held.close()
            msg = f"more {self.context} objects than one query returns ({self.pager.cap_records})"
            raise TooBig(msg)
        return held

    def _list_all(self, name: str) -> Held:
        assert self.list_path is not None
        self.logger.warning(
            "%s: reading every page of GET %s (it lists live objects only: deletions are not "
            "seen this way)",
            self.context,
            self.list_path,
        )
        held = Held()
        for page in self.client.get_pages(self.list_path, {"pageSize": 100}, kind=self.kind):
            for record in page:
                self._hold(held, record, name)
        return held
