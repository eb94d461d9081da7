"""Where a listing or a search goes next: pure decisions that refuse to follow a bad server.

The tap trusts HubSpot's paging only as far as the docs promise (reference hubspot-api.md
§1.1, §1.3), and stops with a clear error rather than loop, skip or repeat records:

* a list cursor is opaque, so the one thing a client can check is that it never comes back:
  :class:`CursorGuard` remembers the cursors of one listing and refuses a repeat (a server
  stuck on one cursor, or cycling between two, would otherwise be followed forever and its
  pages emitted again and again);
* a search page holds "up to" ``limit`` records, so a short page does not mean the end:
  :func:`search_has_more` reads ``paging.next`` only;
* the search keyset walks ``hs_object_id``, a number: :func:`keyset_id` reads it from a
  result, and a result whose id is no whole number stops the search phase with a message that
  names the record, instead of a bare ``int()`` error.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from tap_hubspot_contacts.errors import RepeatedCursor, ServerMisbehaved, UnplaceableRecord

WHOLE_NUMBER = re.compile(r"[0-9]+")


def _show(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


class CursorGuard:
    """The cursors one listing has used; a cursor seen before stops the listing."""

    def __init__(self, stream: str, listing: str, start: str | None = None) -> None:
        self.stream = stream
        self.listing = listing
        self.pages = 0
        self._seen: set[str] = {start or ""}  # "": the first page, asked without a cursor

    def follow(self, cursor: str | None) -> str | None:
        """Accept the next page's cursor (``None``: the listing is done), or stop."""
        self.pages += 1
        if cursor is None:
            return None
        if cursor in self._seen:
            msg = (
                f"{self.stream}: the {self.listing} answered page {self.pages} with the paging "
                f"cursor {_show(cursor)}, which it had already given in this listing; following "
                "it would read the same pages again (endless loop, duplicate records), so the "
                "run stops here; a rerun resumes from the last STATE"
            )
            raise RepeatedCursor(msg)
        self._seen.add(cursor)
        return cursor


def search_has_more(stream: str, page: Mapping[str, Any], *, after_id: int) -> bool:
    """Whether the search goes on: ``paging.next`` says so, a short page does not end it."""
    more = bool((page.get("paging") or {}).get("next"))
    if more and not page.get("results"):
        msg = (
            f"{stream}: search answered an empty page that says more results follow "
            f"(after hs_object_id {after_id}); asking again would repeat it, so the run stops "
            "here; a rerun resumes from the last STATE"
        )
        raise ServerMisbehaved(msg)
    return more


def keyset_id(obj: Mapping[str, Any], object_type: str) -> int:
    """The ``hs_object_id`` the keyset walks (the record's ``id`` if the property is absent)."""
    raw = (obj.get("properties") or {}).get("hs_object_id")
    if raw is None:
        raw = obj.get("id")
    text = str(raw).strip() if isinstance(raw, str | int) and not isinstance(raw, bool) else ""
    if WHOLE_NUMBER.fullmatch(text):
        return int(text)
    msg = (
        f"{object_type}: search returned the record with id {_show(obj.get('id'))} whose "
        f"hs_object_id is {_show(raw)}, not a whole number; the search phase pages by "
        "hs_object_id and cannot place it, so the run stops here (check that record in "
        "HubSpot; a rerun resumes from the last STATE)"
    )
    raise UnplaceableRecord(msg)
