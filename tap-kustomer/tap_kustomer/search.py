"""Reading a time window of one object type through Kustomer search, without losing a row.

The search API caps a query (100 pages; on one reading 10,000 hits), sees only objects updated
in the last two years (the archive search sees the older ones), documents its sorts for
customer attributes only, and may answer in ways the docs allow: smaller pages, capped counts,
a refusal (400) of what it does not list. :class:`WindowReader` reads ``[cursor, upper)`` of
one object type in ascending time, on ``updatedAt`` (or ``createdAt``), choosing per endpoint
the best way the server accepts and falling back when it refuses one or cannot be trusted:

* ``keyset``: filter on the window and sort ascending; page to the cap, then restart at the
  last timestamp (``gte``, skipping the ids already read there). Cheapest; needs a sort the
  server honours. If a whole capped query shares one timestamp, that instant is read on its
  own by ``createdAt`` pieces. The order is checked as it comes: a timestamp lower than the
  one before, a record outside the filter, or fewer records than the first query counted
  (when that count is real) means the order cannot be trusted.
* ``pieces``: filter only (no sort): the window is cut into time pieces small enough for one
  query each (:mod:`tap_kustomer.pieces`), each read whole, checked against its count, and
  ordered on the client by (timestamp, id).
* ``scan``: no filter either (standard search documents no ``company_updated_at``): every
  object of the context in one query, if it fits, filtered and ordered on the client.
* ``list``: ``GET /v1/companies`` pages (companies only), for when even that does not fit.

On a refusal (400 on a query's first page) the reader moves to the next way from where it is;
on an order it cannot trust it re-reads the region from its start in the next way, skipping
the records it already emitted. The way that worked is kept in ``modes`` (the stream stores
it in STATE), so later runs start with it. Windows straddling the two-year edge are read as
regions (:func:`plan_regions`): archive only, both (around the edge, where the server's exact
line is unknown) and standard only.

The cursor (:class:`~tap_kustomer.cursor.Cursor`) advances with every record emitted, so STATE
written at any record resumes without skipping anything.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from singer_sdk.exceptions import FatalAPIError

from tap_kustomer import pieces
from tap_kustomer.client import KustomerClient
from tap_kustomer.cursor import Cursor, from_ms, iso, normalize, to_ms
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
    "Region",
    "SearchStats",
    "WindowReader",
    "iso",
    "normalize",
    "plan_regions",
]

EPOCH = "1970-01-01T00:00:00.000Z"
FAR_FUTURE = "3000-01-01T00:00:00.000Z"
DAY_MS = 86_400_000
#: Record attribute of each time field.
ATTRIBUTES = {"updated_at": "updatedAt", "created_at": "createdAt"}
#: Ids remembered per region to skip on a re-read; past this a re-read may repeat records.
DEDUPE_LIMIT = 200_000
STANDARD, ARCHIVE = "standard", "archive"


class Untrusted(Exception):
    """The server's answers cannot be trusted for a way of reading (see module doc)."""

    def __init__(self, what: str, detail: str) -> None:
        super().__init__(detail)
        self.what = what  # "order" | "filter" | "count"
        self.source = ""


class TooBig(Exception):
    """A whole-context query does not fit in one query."""


@dataclass(frozen=True)
class Region:
    """``[lo, hi)`` read from the archive search, the standard search, or both."""

    lo: str | None
    hi: str
    archive: bool
    standard: bool


def plan_regions(
    start: str | None,
    upper: str,
    *,
    archive_edge: str | None,
    standard_edge: str | None,
    in_archive: bool = True,
) -> list[Region]:
    """The regions of ``[start, upper)``: before, around and after the two-year edge.

    No archive record is updated at or after ``archive_edge``, no standard-search record
    before ``standard_edge`` (the edge +- a margin).
    """
    if not in_archive or archive_edge is None or standard_edge is None:
        cuts = [(None, None, False, True)]
    else:
        cuts = [
            (None, standard_edge, True, False),
            (standard_edge, archive_edge, True, True),
            (archive_edge, None, False, True),
        ]
    out = []
    for cut_lo, cut_hi, archive, standard in cuts:
        hi = upper if cut_hi is None else min(cut_hi, upper)
        lo = cut_lo
        if start is not None:
            lo = start if cut_lo is None else max(cut_lo, start)
        if lo is None or lo < hi:
            out.append(Region(lo, hi, archive, standard))
    return out


@dataclass
class _Pass:
    """One region's read: the time field, fixed criteria, and the ids emitted so far."""

    field_name: str
    base: tuple[dict[str, Any], ...] = ()
    emitted: set[str] = field(default_factory=set)
    #: ids the server returned in the window, when a real count is to be checked against
    observed: set[str] | None = None

    @property
    def name(self) -> str:
        """The record attribute of the time field."""
        return ATTRIBUTES[self.field_name]


@dataclass(frozen=True)
class _Bounds:
    """``[lo, end)`` (``(lo, end)`` when ``lo_done``)."""

    lo: str
    lo_done: bool
    end: str


@dataclass
class _Fetched:
    """One piece's records from every source, or the fact that it did not fit."""

    records: dict[str, tuple[str, dict[str, Any]]] = field(default_factory=dict)
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
        self._cache: dict[str, list[dict[str, Any]]] = {}
        #: a day past the reader's start: nothing real is stamped later
        self._future_ms = int(time.time() * 1000) + DAY_MS

    # ------------------------------------------------------------------ helpers
    def _attr(self, field_name: str) -> str:
        return f"{self.prefix}_{field_name}"

    @staticmethod
    def _source(archive: bool, field_name: str) -> str:
        return f"{ARCHIVE if archive else STANDARD}:{field_name}"

    def mode(self, archive: bool, field_name: str) -> str:
        """The way an endpoint is read (``keyset`` until it proves otherwise)."""
        return self.modes.get(self._source(archive, field_name), "keyset")

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

    @staticmethod
    def _emit(record: dict[str, Any], key: str, cursor: Cursor, emitted: set[str]) -> bool:
        rid = record["id"]
        if cursor.seen(key, rid) or rid in emitted:
            return False
        cursor.advance(key, rid)
        if len(emitted) < DEDUPE_LIMIT:
            emitted.add(rid)
        return True

    # ------------------------------------------------------------------ reading
    def read(
        self,
        cursor: Cursor,
        regions: list[Region],
        *,
        field_name: str = "updated_at",
        base: tuple[dict[str, Any], ...] = (),
    ) -> Iterator[dict[str, Any]]:
        """Yield every record of ``regions`` (ascending, contiguous) after ``cursor``.

        ``cursor`` advances as records are yielded and ends at the last region's end.
        """
        for region in regions:
            if cursor.ts is not None and cursor.ts >= region.hi:
                continue
            run = _Pass(field_name, base)
            if region.archive and region.standard:
                yield from self._region_both(region, cursor, run)
            else:
                yield from self._region_one(region.archive, region, cursor, run)
            cursor.move_to(region.hi)

    def _region_one(
        self, archive: bool, region: Region, cursor: Cursor, run: _Pass
    ) -> Iterator[dict[str, Any]]:
        start = cursor.copy()
        while True:
            mode = self.mode(archive, run.field_name)
            try:
                if mode == "keyset":
                    yield from self._keyset(archive, region, cursor, run)
                elif mode == "pieces":
                    yield from self._pieces((archive,), region, cursor, run)
                else:
                    yield from self._whole(archive, region, cursor, run)
                return
            except QueryRefused as exc:
                self._fall_back(archive, run.field_name, "refused", str(exc))
            except Untrusted as exc:
                self._fall_back(archive, run.field_name, exc.what, str(exc))
                cursor.set_to(start)
            except TooBig as exc:
                self._fall_back(archive, run.field_name, "too big", str(exc))

    def _region_both(self, region: Region, cursor: Cursor, run: _Pass) -> Iterator[dict[str, Any]]:
        start = cursor.copy()
        while True:
            try:
                yield from self._pieces((True, False), region, cursor, run)
                return
            except (QueryRefused, Untrusted, TooBig) as exc:
                archive = getattr(exc, "source", "") == ARCHIVE
                what = getattr(exc, "what", "refused" if isinstance(exc, QueryRefused) else "")
                self._fall_back(archive, run.field_name, what or "too big", str(exc))
                if isinstance(exc, Untrusted):
                    cursor.set_to(start)

    def _fall_back(self, archive: bool, field_name: str, what: str, detail: str) -> None:
        """Move an endpoint to its next way of reading, or stop the run saying why."""
        key = self._source(archive, field_name)
        mode = self.mode(archive, field_name)
        ways = ["keyset", "pieces", "scan"]
        if self.list_path and not archive:
            ways.append("list")
        later = ways[ways.index(mode) + 1 :] if mode in ways else []
        if what == "filter":  # the time filter itself is not applied: pieces need it
            later = [w for w in later if w != "pieces"]
        if not later:
            msg = (
                f"{self.context}: {ARCHIVE if archive else STANDARD} search cannot be read "
                f"completely ({what}: {detail}); no documented way is left"
            )
            raise FatalAPIError(msg)
        self.modes[key] = later[0]
        if what == "order":
            self.stats.out_of_order += 1
        note = f"{key} {mode} -> {later[0]} ({what})"
        self.stats.fallbacks.append(note)
        self.logger.warning(
            "%s: %s search, %s reading %s (%s); reading it %s",
            self.kind,
            ARCHIVE if archive else STANDARD,
            mode,
            "refused" if what == "refused" else "not trusted",
            detail,
            {
                "pieces": "by time pieces without a sort, ordered here",
                "scan": "whole, without a time filter, filtered and ordered here",
                "list": "from GET " + str(self.list_path) + " pages, filtered here",
            }[later[0]],
        )

    # ------------------------------------------------------------------- keyset
    def _keyset(
        self, archive: bool, region: Region, cursor: Cursor, run: _Pass
    ) -> Iterator[dict[str, Any]]:
        attr, name = self._attr(run.field_name), run.name
        first_total: int | None = None
        first = True
        while True:
            lo, lo_done = cursor.ts, cursor.done
            body = self._body([*run.base, *self._bounds(attr, lo, lo_done, region.hi)], attr)
            query = self.pager.query(archive=archive, body=body)
            progressed, previous = False, None
            for page in query:
                if first and page.number == 1:
                    # a count capped by the server only under-counts: reading fewer than it
                    # says is proof of a loss whatever the count is
                    first_total = query.total if (query.total or 0) <= DEDUPE_LIMIT else None
                    run.observed = set() if first_total else None
                for record in page.records:
                    key = self._key(record, name)
                    if key is None:
                        continue
                    if self._outside(key, lo, lo_done, region.hi):
                        msg = f"{name} {key} outside the filter [{lo}, {region.hi})"
                        raise Untrusted("filter", msg)
                    if previous is not None and key < previous:
                        raise Untrusted("order", f"{name} {key} came after {previous}")
                    previous = key
                    if run.observed is not None:
                        run.observed.add(record["id"])
                        if first_total is not None and len(run.observed) >= first_total:
                            run.observed = None  # the count is reached: nothing to check
                    if self._emit(record, key, cursor, run.emitted):
                        progressed = progressed or key != lo
                        yield record
            first = False
            if query.ending is not After.CAP:
                held = len(run.observed) if run.observed is not None else None
                if first_total and held is not None and held < first_total:
                    msg = f"the query counted {first_total}, its pages held {held}"
                    raise Untrusted("count", msg)
                return
            self.stats.restarts += 1
            if not progressed and cursor.ts == lo and lo is not None:
                yield from self._instant(archive, cursor, run)

    def _instant(self, archive: bool, cursor: Cursor, run: _Pass) -> Iterator[dict[str, Any]]:
        """Every record at ``cursor.ts`` (more than a query's worth), read by ``createdAt``."""
        stamp = cursor.ts
        assert stamp is not None
        if run.field_name != "updated_at":
            self.stats.unreachable += 1
            self.logger.error(
                "%s: more than %d records share %s %s; search cannot page past them, the "
                "rest of that instant is skipped",
                self.context,
                self.pager.cap_records,
                run.name,
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
        pinned = _Pass("created_at", (*run.base, {attr: {"gte": stamp}}, {attr: {"lte": stamp}}))
        sub, region = Cursor(), Region(None, FAR_FUTURE, archive, not archive)
        if self.mode(archive, "updated_at") == "keyset":
            records = self._keyset(archive, region, sub, pinned)
        else:
            records = self._pieces((archive,), region, sub, pinned)
        for record in records:
            key = normalize(record["attributes"]["updatedAt"])
            if key != stamp:
                continue
            if run.observed is not None:
                run.observed.add(record["id"])
            if self._emit(record, key, cursor, run.emitted):
                yield record
        cursor.finish_instant()

    # ------------------------------------------------------------------- pieces
    def _pieces(
        self, sources: tuple[bool, ...], region: Region, cursor: Cursor, run: _Pass
    ) -> Iterator[dict[str, Any]]:
        """Read ``region`` as consecutive time pieces, each whole in one query per source."""
        span_key = f"{run.field_name}:{sources}:{bool(run.base)}"
        hi_ms = to_ms(region.hi)
        if cursor.ts is None:
            cursor.move_to(region.lo or EPOCH)
        while True:
            lo, lo_done = cursor.ts or EPOCH, cursor.done
            lo_ms = to_ms(lo)
            if lo_ms >= hi_ms:
                return
            span = self._spans.get(span_key)
            end_ms = hi_ms if span is None else min(hi_ms, lo_ms + span)
            future_ms = self._future_ms
            if lo_ms >= future_ms:  # nothing is stamped in the future: one query to the end
                end_ms = hi_ms
            elif end_ms > future_ms:
                end_ms = future_ms
            while True:
                fetched = self._fetch(sources, _Bounds(lo, lo_done, from_ms(end_ms)), run)
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
            if fetched.overflow:
                yield from self._instant_piece(sources, cursor, run, lo)
            else:
                ordered = sorted(fetched.records.values(), key=lambda kr: (kr[0], kr[1]["id"]))
                for key, record in ordered:
                    if self._emit(record, key, cursor, run.emitted):
                        yield record
                self._spans[span_key] = pieces.next_span(
                    end_ms - lo_ms, len(fetched.records), self.pager.cap_records
                )
            cursor.move_to(from_ms(end_ms))

    def _instant_piece(
        self, sources: tuple[bool, ...], cursor: Cursor, run: _Pass, lo: str
    ) -> Iterator[dict[str, Any]]:
        """A millisecond holding more than a query: each source's instant, by ``createdAt``."""
        cursor.move_to(lo)
        if cursor.ts != lo or cursor.done:
            return
        for archive in sources:
            yield from self._instant(archive, cursor, run)
            cursor.done = False  # the next source's records at lo are still to read
        cursor.finish_instant()

    def _fetch(self, sources: tuple[bool, ...], bounds: _Bounds, run: _Pass) -> _Fetched:
        """Every record of the piece from each source, or ``overflow``."""
        out = _Fetched()
        for archive in sources:
            try:
                if self.mode(archive, run.field_name) in ("scan", "list"):
                    for record in self._everything(archive):
                        key = self._key(record, run.name)
                        if key is not None and not self._outside(
                            key, bounds.lo, bounds.lo_done, bounds.end
                        ):
                            out.records[record["id"]] = (key, record)
                    continue
                got = self._fetch_one(archive, bounds, run)
            except (QueryRefused, Untrusted, TooBig) as exc:
                exc.source = ARCHIVE if archive else STANDARD  # type: ignore[union-attr]
                raise
            if got.overflow:
                return got
            out.records.update(got.records)
        return out

    def _fetch_one(self, archive: bool, bounds: _Bounds, run: _Pass) -> _Fetched:
        attr, name = self._attr(run.field_name), run.name
        criteria = self._bounds(attr, bounds.lo, bounds.lo_done, bounds.end)
        body = self._body([*run.base, *criteria], None)
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
                    got.records[record["id"]] = (key, record)
                    if got.lowest is None or key < got.lowest:
                        got.lowest = key
            if not query.complete:
                keys = {key for key, _ in got.records.values()}
                return _Fetched(
                    overflow=True,
                    reported=query.total,
                    lowest=got.lowest,
                    one_instant=len(keys) == 1 and len(got.records) > 1,
                )
            total = query.total  # a capped count only under-counts: fewer read is a loss
            if total is None or len(got.records) >= total:
                return got
            if attempt == 1:  # records moved while paging (an update shifts the pages)
                self.stats.rereads += 1
                continue
            self.logger.warning(
                "%s: the API counted %d records in [%s, %s) but its pages held %d",
                self.context,
                total,
                bounds.lo,
                bounds.end,
                len(got.records),
            )
        return got

    # ---------------------------------------------------------------- whole reads
    def _everything(self, archive: bool) -> list[dict[str, Any]]:
        """Every object of the context (scan: one query; list: GET pages), once per run."""
        listing = bool(self.list_path) and not archive and self._listing()
        key = f"{ARCHIVE if archive else STANDARD}:{'list' if listing else 'scan'}"
        if key not in self._cache:
            self._cache[key] = self._list_all() if listing else self._scan_all(archive)
        return self._cache[key]

    def _listing(self) -> bool:
        return any(self.modes.get(self._source(False, f)) == "list" for f in ATTRIBUTES)

    def _scan_all(self, archive: bool) -> list[dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        query = self.pager.query(archive=archive, body=self._body([], None))
        for page in query:
            for record in page.records:
                if record.get("id"):
                    found[record["id"]] = record
        if not query.complete:
            msg = f"more {self.context} objects than one query returns ({self.pager.cap_records})"
            raise TooBig(msg)
        return list(found.values())

    def _list_all(self) -> list[dict[str, Any]]:
        assert self.list_path is not None
        self.logger.warning(
            "%s: reading every page of GET %s (it lists live objects only: deletions are not "
            "seen this way)",
            self.context,
            self.list_path,
        )
        found: dict[str, dict[str, Any]] = {}
        for page in self.client.get_pages(self.list_path, {"pageSize": 100}, kind=self.kind):
            for record in page:
                if isinstance(record, dict) and record.get("id"):
                    found[record["id"]] = record
        return list(found.values())

    def _whole(
        self, archive: bool, region: Region, cursor: Cursor, run: _Pass
    ) -> Iterator[dict[str, Any]]:
        """Scan or list mode: the whole context, filtered to the region and ordered here."""
        chosen = []
        for record in self._everything(archive):
            key = self._key(record, run.name)
            if key is None or key >= region.hi or (region.lo is not None and key < region.lo):
                continue
            chosen.append((key, record))
        for key, record in sorted(chosen, key=lambda kr: (kr[0], kr[1]["id"])):
            if self._emit(record, key, cursor, run.emitted):
                yield record
