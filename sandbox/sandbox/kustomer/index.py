"""Search at scale: each query's hits kept in sort order, so a page costs a slice, not a sort.

A tap reads a search page by page (200 pages of 500 for 100,000 customers), and the plain way,
filtering and sorting every stored object of the context for every page, took 1.3-2 s a page
at that size on a shared 2-core machine: the end-to-end benchmark measured the sandbox, not
the connectors (``benchmarks/README.md``, note C). So the sandbox keeps, per store and store
version (every write goes through ``Store.add`` / ``Store.touch``, which bump it; a new seed is
a new ``Store``):

* a *view* per (context, attributes sorted on): every object of the context in the order
  the plain sort gives (``search.sort_order``, as ``sort_records`` does, over the whole pool),
  each with its ``updatedAt`` and deleted flag;
* a *hit list* per (view, criteria): the view's objects the criteria match, in view order.

A page then keeps the hit list's objects inside the window (``updatedAt`` before or after the
cutoff, which moves with the clock) and the live ones unless ``includeDeleted``, and slices.
The first page of a query still reads every object once (the criteria); the next pages of the
same query read only its hits.

Why the answers are the same: a stable sort orders by key, then by position in its input, so
sorting a filtered pool gives the filtered sorted pool, provided the keys are totally ordered.
That holds when every non-null value of a sort key is a string, or every one a number (not
NaN); otherwise, and whenever a getter or the criteria raise on any stored object (an invalid
date, an unhashable value: errors the plain path raises only for objects in the window),
:meth:`SearchIndex.hits` returns None and the caller takes the plain path, which answers as
before, errors included. What comes after the sort (unstable ties, out-of-order hits, paging,
the caps) is applied by the caller to the same ordered list as before.
"""

from __future__ import annotations

import contextlib
import gc
import math
import weakref
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator
from typing import Any

from sandbox.kustomer.search import Getter, sort_order
from sandbox.kustomer.store import Store

#: (updatedAt, deleted, object), in the order of the query's sort.
Entry = tuple[str, bool, dict[str, Any]]
#: Kept per store version; a tap's full read uses a few views and a few dozen hit lists.
MAX_VIEWS, MAX_HIT_LISTS = 8, 32


@contextlib.contextmanager
def _no_collection() -> Iterator[None]:
    """No cyclic garbage collection while a view or hit list is built.

    A build allocates a tuple per stored object, and the collections that triggers walk the
    whole store (~1,000,000 objects at 100,000 customers): measured, a view of 100,000
    customers took 2.2-3.3 s with collection and 0.9-1.0 s without. Nothing built here is
    garbage; reference counting still frees whatever is.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _totally_ordered(values: list[Any]) -> bool:
    """Whether the non-null ``values`` compare as a total order: all strings, or all numbers."""
    present = [v for v in values if v is not None]
    if all(isinstance(v, str) for v in present):
        return True
    return all(isinstance(v, int) or (isinstance(v, float) and not math.isnan(v)) for v in present)


class SearchIndex:
    """Views and hit lists of one store version (see the module doc)."""

    def __init__(self) -> None:
        self._store: weakref.ref[Store] | None = None
        self._version = -1
        self._views: OrderedDict[Hashable, list[Entry] | None] = OrderedDict()
        self._hits: OrderedDict[Hashable, list[Entry] | None] = OrderedDict()
        self.stats = {"views": 0, "hit_lists": 0, "reused": 0, "plain": 0}

    def _follow(self, store: Store) -> None:
        """Forget everything when the store was replaced or written to since."""
        if self._store is None or self._store() is not store or store.version != self._version:
            self._store = weakref.ref(store)
            self._version = store.version
            self._views.clear()
            self._hits.clear()

    def hits(
        self,
        store: Store,
        *,
        view_key: Hashable,
        pool: Callable[[], list[dict[str, Any]]],
        keys: list[tuple[Getter, bool]],
        criteria_key: Hashable,
        predicate: Callable[[dict[str, Any]], bool],
    ) -> list[Entry] | None:
        """The objects of ``pool()`` that ``predicate`` matches, in ``sort_records`` order.

        The window and the deleted flag are not applied (each entry carries what they need).
        None: take the plain path. ``view_key`` and ``criteria_key`` must name ``keys`` and
        ``predicate`` (the same keys give the same getters and criteria).
        """
        self._follow(store)
        view = self._cached(self._views, view_key, lambda: self._view(pool(), keys))
        if view is None:
            self.stats["plain"] += 1
            return None
        found = self._cached(
            self._hits, (view_key, criteria_key), lambda: self._select(view, predicate)
        )
        if found is None:
            self.stats["plain"] += 1
        return found

    def _cached(
        self,
        table: OrderedDict[Hashable, list[Entry] | None],
        key: Hashable,
        build: Callable[[], list[Entry] | None],
    ) -> list[Entry] | None:
        if key in table:
            table.move_to_end(key)
            self.stats["reused"] += 1
            return table[key]
        with _no_collection():
            value = build()
        table[key] = value
        limit = MAX_VIEWS if table is self._views else MAX_HIT_LISTS
        while len(table) > limit:
            table.popitem(last=False)
        return value

    def _view(
        self, pool: list[dict[str, Any]], keys: list[tuple[Getter, bool]]
    ) -> list[Entry] | None:
        self.stats["views"] += 1
        try:
            columns = [([getter(o) for o in pool], desc) for getter, desc in keys]
            if not all(_totally_ordered(values) for values, _ in columns):
                return None
            updated = [o["attributes"]["updatedAt"] for o in pool]
            if not all(isinstance(u, str) for u in updated):
                return None
            deleted = [bool(o["attributes"].get("deleted")) for o in pool]
            order = sort_order([o["id"] for o in pool], columns)
        except Exception:  # noqa: BLE001 - the plain path raises it again where it did
            return None
        return [(updated[i], deleted[i], pool[i]) for i in order]

    def _select(
        self, view: list[Entry], predicate: Callable[[dict[str, Any]], bool]
    ) -> list[Entry] | None:
        self.stats["hit_lists"] += 1
        try:
            return [entry for entry in view if predicate(entry[2])]
        except Exception:  # noqa: BLE001 - the plain path raises it again where it did
            return None
