"""The read side of the site: request bodies of the fetches, and Jira's user search.

Kept apart from the bulk validation because reads answer at once (no task, no key) and their
limits are their own (reference §4):

* ``POST organization/fetch``: "up to 50 organizations, fetched by organization id or name";
  body ``{"organizationIds": [str]}`` and/or ``{"organizationNames": [str]}``, ≤ 50 in total;
* ``POST customer/profile/fetch``: "up to 25 customer profiles"; body
  ``{"customerIds": [str]}``; fetching by email is not documented (§9 q9), so
  ``{"emails": [str]}`` is taken only with the ``profile_fetch_by_email`` knob;
* ``POST organization/profile/fetch``: "up to 25 organization profiles"; body
  ``{"organizationIds": [str]}``.

Readings where the docs are silent: the limit counts the entries sent (duplicates included);
an empty list is no error (nothing is found); any other top-level key is a 400, so a client
that relies on an undocumented key finds out here rather than on a live site. Answers are
``{"results": [...]}`` in request order, each record once, missing ones left out.

Jira user search (``GET /rest/api/3/user/search``, the fallback a live app uses to find a
customer's id by email, §4 option (c), FIELD S18): Jira documents that ``query`` "is matched
against user attributes (displayName, and emailAddress) ... The string can match the prefix
of the attribute's value", and ``accountId`` "is matched exactly"; one of them is required;
``startAt`` (default 0) and ``maxResults`` (default 50, at most 1000) page the list. The
sandbox matches case-insensitively: ``prefix`` (default) matches the start of the email or of
any word of the display name, so a client must pick the exact email among the hits;
``exact`` matches the whole email only. A customer becomes findable
``user_search_delay_seconds`` after it was created (FIELD S18: "minutes after").
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sandbox.core.app import ApiError
from sandbox.csm.store import Customer

MAX_ORGANIZATION_FETCH = 50
MAX_PROFILE_FETCH = 25
USER_SEARCH_DEFAULT_RESULTS = 50
USER_SEARCH_MAX_RESULTS = 1000


def _bad(message: str) -> ApiError:
    return ApiError(400, message)


def _str_list(body: dict[str, Any], key: str) -> list[str]:
    values = body.get(key, [])
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise _bad(f"'{key}' must be an array of strings")
    return values


def check_lookup(body: Any, keys: tuple[str, ...], limit: int, what: str) -> dict[str, list[str]]:
    """Check a fetch body made of the arrays ``keys`` (at least one); return them by key."""
    if not isinstance(body, dict):
        raise _bad("Request body must be a JSON object")
    unknown = sorted(set(body) - set(keys))
    if unknown:
        raise _bad(f"unknown field(s) {unknown}; this request takes {' and/or '.join(keys)}")
    if not body:
        raise _bad(f"{' or '.join(repr(k) for k in keys)} is required")
    found = {key: _str_list(body, key) for key in keys}
    total = sum(len(v) for v in found.values())
    if total > limit:
        raise _bad(f"at most {limit} {what} per request, got {total}")
    return found


def check_fetch(body: Any) -> tuple[list[str], list[str]]:
    """Check an ``organization/fetch`` body; return (ids, names)."""
    found = check_lookup(
        body, ("organizationIds", "organizationNames"), MAX_ORGANIZATION_FETCH, "organizations"
    )
    return found["organizationIds"], found["organizationNames"]


def unique_by_id(records: Iterable[Any]) -> list[Any]:
    """The records found, each once, in the order first found (None skipped)."""
    seen: dict[str, Any] = {}
    for record in records:
        if record is not None:
            seen.setdefault(record.id, record)
    return list(seen.values())


# ---------------------------------------------------------------- user search
def user_search_paging(args: Mapping[str, str]) -> tuple[str | None, str | None, int, int]:
    """``(query, accountId, startAt, maxResults)`` of a user search, or a 400."""
    query = args.get("query")
    account_id = args.get("accountId")
    if not (query and query.strip()) and not account_id:
        raise _bad("One of 'query' or 'accountId' parameters must be provided")
    start = _non_negative(args, "startAt", 0)
    size = _non_negative(args, "maxResults", USER_SEARCH_DEFAULT_RESULTS)
    return query, account_id, start, min(size, USER_SEARCH_MAX_RESULTS)


def _non_negative(args: Mapping[str, str], name: str, default: int) -> int:
    raw = args.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise _bad(f"'{name}' must be an integer") from None
    if value < 0:
        raise _bad(f"'{name}' must not be negative")
    return value


def user_matches(customer: Customer, query: str, mode: str) -> bool:
    """Whether ``query`` finds ``customer`` (``prefix``: Jira's rule; ``exact``: email only)."""
    wanted = query.strip().casefold()
    email = customer.email.casefold()
    if mode == "exact":
        return email == wanted
    words = customer.display_name.casefold().split()
    return email.startswith(wanted) or any(w.startswith(wanted) for w in words)


def findable(customer: Customer, now: float, delay: float) -> bool:
    """Whether the user search sees ``customer`` yet."""
    return now - customer.created_at >= delay


def user_answer(customer: Customer) -> dict[str, Any]:
    """One user of the search's answer: a customer account."""
    return {
        "accountId": customer.id,
        "accountType": "customer",
        "emailAddress": customer.email,
        "displayName": customer.display_name,
        "active": True,
    }
