"""Search criteria for the Kustomer sandbox: attribute names, operators, validation, sorting.

Criteria look like ``{"customer_updated_at": {"gte": "2024-01-01T00:00:00.000Z"}}``; ``and``
/ ``or`` / ``not`` take one criterion or a list of at most 20. The attribute name is
``<queryContext object>_<attribute>``; custom attributes are ``<object>_custom_<name>`` and
``kobject_custom_<klass>_<name>``.

What the docs list (the OAS search pages, kustomer-api.md §5) is served as documented:

* standard search filters on the "Standard attributes JSON schema" names and custom
  attributes, and sorts on the customer attributes of its sort list only ("Sorting based on
  other standard Object attributes is unavailable");
* archive search filters on its "Filterable attributes" and sorts on its sort list.

Anything else (``company_updated_at`` or ``conversation_updated_at`` sorts on standard search,
``kobject_<klass>_updated_at``...) follows the knobs ``undocumented_filters`` and
``undocumented_sorts``: ``refuse`` (400, the default: the strictest reading), ``ignore`` (left
out silently, as a lenient server would) or ``serve`` (evaluated, as both existing taps
assume).
"""

from __future__ import annotations

import operator
import random
import re
from collections.abc import Callable
from typing import Any

from sandbox.core.app import ApiError
from sandbox.kustomer.store import parse_time

SEARCH_CONTEXT = re.compile(
    r"^(company|customer|message|conversation|conversation_time|note|kobject|kobject_.*|work_session|work_item)$"
)
ARCHIVE_CONTEXT = re.compile(r"^(message|conversation|customer|kobject|kobject_.*|company)$")
BODY_KEYS = {
    "searchHash",
    "queryContext",
    "includeDeleted",
    "timeZone",
    "and",
    "or",
    "not",
    "sort",
    "aggs",
    "fields",
}
ARCHIVE_BODY_KEYS = {"queryContext", "includeDeleted", "timeZone", "and", "or", "not", "sort"}
OPERATORS = {"equals", "contains", "gte", "gt", "lte", "lt", "in", "not_set"}
RANGE_OPERATORS = {"gte": operator.ge, "gt": operator.gt, "lte": operator.le, "lt": operator.lt}
MAX_CRITERIA, MAX_SORTS = 20, 5

POLICIES = ("refuse", "ignore", "serve")


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


#: Standard search: the "Standard attributes JSON schema" of the OAS search page.
STANDARD_FILTERABLE = _words(
    """
    any_text customer_any_text customer_name customer_gender customer_presence
    customer_email customer_shared_email customer_phone customer_shared_phone customer_urls
    customer_address customer_locale customer_activity_at customer_last_seen_at
    customer_signed_up_at customer_last_message_sent_at customer_last_message_out_sent_at
    customer_last_message_unresponded_to_sent_at customer_last_message_at
    customer_externalId customer_shared_externalId customer_created_at customer_updated_at
    customer_modified_at customer_created_by customer_modified_by
    customer_satisfaction_avg_score customer_satisfaction_avg_rating
    customer_conversations_count customer_status customer_progressive_status
    customer_active_users customer_watchers customer_tags customer_sentiment
    customer_social_type customer_social_userid customer_social_username
    customer_shared_social_type customer_shared_social_userid
    customer_shared_social_username customer_default_lang customer_imported_at
    customer_imported company_any_text company_name company_tags company_default_lang
    company_imported_at company_imported message_any_text message_body message_channel
    message_size message_direction message_sent_at message_created_at message_updated_at
    message_created_by message_modified_by message_sentiment message_customer_id
    message_status message_error_at message_error_title message_external_id
    message_direction_type message_created_by_teams message_redacted message_redacted_at
    message_imported_at message_imported message_recipients message_sender message_shortcuts
    message_subject message_source message_attachment_count message_auto message_lang
    note_any_text note_body note_created_at note_modified_at note_updated_at note_created_by
    note_modified_by note_deleted note_user_mentions note_team_mentions
    note_attachment_count note_external_id note_customer_id note_conversation_id note_lang
    note_imported_at note_imported conversation_any_text conversation_name
    conversation_sentiment conversation_status conversation_sub_status
    conversation_created_at conversation_updated_at conversation_modified_at
    conversation_modified_by conversation_message_count conversation_note_count
    conversation_channels conversation_priority conversation_tags
    conversation_assigned_users conversation_assigned_teams conversation_last_message_at
    conversation_direction conversation_customer_id conversation_imported_at
    conversation_imported conversation_default_lang kobject_any_text kobject_created_at
    kobject_updated_at kobject_imported_at kobject_imported
    """
)
#: Custom attributes: ``<object>_custom_<name>``, ``kobject_custom_<klass>_<name>``.
CUSTOM_ATTRIBUTE = re.compile(
    r"^((customer|company|conversation|message|note)_custom_\w+|kobject_custom_\w+_\w+)$"
)
#: The sort list of standard search (customer attributes only).
STANDARD_SORTABLE = _words(
    """
    customer_name customer_gender customer_created_at customer_updated_at
    customer_modified_at customer_externalId customer_activity_at customer_last_seen_at
    customer_signed_up_at customer_lastmessage_preview customer_progressive_status
    customer_done customer_open customer_snoozed customer_last_message_sent_at
    customer_last_message_out_sent_at customer_last_message_unresponded_to_sent_at
    customer_last_message_at
    """
)
#: Archive search: its "Filterable attributes JSON Schema".
ARCHIVE_FILTERABLE = _words(
    """
    customer_any_text_new customer_id customer_created_at customer_updated_at
    customer_companyId company_created_at company_updated_at message_any_text
    message_created_at message_updated_at message_conversation_id conversation_any_text
    conversation_created_at conversation_updated_at conversation_customer_id
    kobject_any_text kobject_created_at kobject_updated_at
    """
)
#: Archive search: its sort list (with the two ``^kobject.*_..._at$`` patterns).
ARCHIVE_SORTABLE = re.compile(
    r"^(conversation_(created_at|updated_at|customer_id|deleted)"
    r"|customer_(companyId|created_at|updated_at|deleted)"
    r"|message_(id|created_at|updated_at)"
    r"|kobject.*_(created_at|updated_at)|company_(created_at|updated_at))$"
)


def documented_filter(name: str, *, archive: bool) -> bool:
    """Whether the docs list ``name`` as a filter of that search."""
    if archive:
        return name in ARCHIVE_FILTERABLE
    return name in STANDARD_FILTERABLE or bool(CUSTOM_ATTRIBUTE.match(name))


def documented_sort(name: str, *, archive: bool) -> bool:
    """Whether the docs list ``name`` as a sort of that search."""
    return bool(ARCHIVE_SORTABLE.match(name)) if archive else name in STANDARD_SORTABLE


Getter = Callable[[dict[str, Any]], Any]
TIME_ATTRS = {
    "created_at": "createdAt",
    "updated_at": "updatedAt",
    "modified_at": "modifiedAt",
    "imported_at": "importedAt",
    "sent_at": "sentAt",
    "deleted_at": "deletedAt",
}


def _attr(name: str) -> Getter:
    return lambda o: o["attributes"].get(name)


def _rel(name: str) -> Getter:
    def get(o: dict[str, Any]) -> Any:
        data = (o.get("relationships", {}).get(name) or {}).get("data")
        return data.get("id") if isinstance(data, dict) else None

    return get


def _company(o: dict[str, Any]) -> Any:
    return _rel("company")(o) or o["attributes"].get("company")


def _emails(o: dict[str, Any]) -> list[str]:
    return [e.get("email", "") for e in o["attributes"].get("emails") or []]


def object_name(context: str) -> tuple[str, str | None]:
    """``kobject_order`` -> (``kobject``, ``order``); others -> (context, None)."""
    if context.startswith("kobject_"):
        return "kobject", context[len("kobject_") :]
    return context, None


def resolve(context: str, name: str) -> tuple[Getter, bool]:
    """The getter for attribute ``name`` in ``context``, and whether it is a time."""
    obj, klass = object_name(context)
    prefixes = [f"kobject_{klass}_", "kobject_"] if klass else [f"{obj}_"]
    rest = None
    for prefix in prefixes:
        if name.startswith(prefix):
            rest = name[len(prefix) :]
            break
    if rest is None:
        if name == "any_text":
            return (lambda o: " ".join(str(v) for v in o["attributes"].values())), False
        raise ApiError(400, f"Unknown search attribute {name!r} for queryContext {context!r}")
    if rest.startswith("custom_"):
        field = rest[len("custom_") :]
        if klass and field.startswith(f"{klass}_"):
            field = field[len(klass) + 1 :]
        return (lambda o: (o["attributes"].get("custom") or {}).get(field)), field.endswith("At")
    if rest in TIME_ATTRS:
        return _attr(TIME_ATTRS[rest]), True
    table: dict[str, Getter] = {
        "id": lambda o: o["id"],
        "deleted": lambda o: bool(o["attributes"].get("deleted")),
        "externalId": _attr("externalId"),
        "external_id": _attr("externalId"),
        "name": _attr("name"),
        "email": _emails,
        "companyId": _company,
        "company_id": _company,
        "customer_id": _rel("customer"),
        "conversation_id": _rel("conversation"),
        "status": _attr("status"),
        "channel": _attr("channel"),
        "channels": _attr("channels"),
        "direction": _attr("direction"),
        "priority": _attr("priority"),
        "tags": _attr("tags"),
        "title": _attr("title"),
        "body": _attr("body"),
        "any_text": lambda o: " ".join(str(v) for v in o["attributes"].values()),
        "any_text_new": lambda o: " ".join(str(v) for v in o["attributes"].values()),
    }
    if rest not in table:
        raise ApiError(400, f"Unknown search attribute {name!r} for queryContext {context!r}")
    return table[rest], False


def _norm(value: Any, is_time: bool) -> Any:
    if is_time:
        parsed = parse_time(value)
        if parsed is None:
            raise ApiError(400, f"Invalid date {value!r} in search criteria")
        return parsed
    return value.lower() if isinstance(value, str) else value


def _target(op: str, expected: Any, is_time: bool) -> Any:
    """What ``op`` compares an object's values with.

    The normalised value, or for ``in`` the set of them (``not_set`` takes ``expected`` as it
    is). Raises as :func:`_norm` does.
    """
    if op == "not_set":
        return expected
    if op == "in":
        return {_norm(e, is_time) for e in (expected if isinstance(expected, list) else [expected])}
    return _norm(expected, is_time)


def _matches(actual: Any, op: str, expected: Any, is_time: bool) -> bool:
    """Whether ``actual`` passes ``op`` against the criterion's own value ``expected``."""
    return _matches_target(actual, op, _target(op, expected, is_time), is_time)


def _matches_target(actual: Any, op: str, target: Any, is_time: bool) -> bool:
    """:func:`_matches` with the criterion's value already turned by :func:`_target`."""
    values = actual if isinstance(actual, list) else [actual]
    if op == "not_set":
        empty = actual in (None, "", []) or values == [None]
        return empty if target in (True, "true", None) else not empty
    values = [
        v.lower() if isinstance(v, str) and not is_time else v for v in values if v is not None
    ]
    if op == "in":
        return any(v in target for v in values)
    for v in values:
        if op == "equals" and v == target:
            return True
        if op == "contains" and isinstance(v, str) and str(target) in re.findall(r"[\w@.+-]+", v):
            return True
        try:
            if (op == "gte" and v >= target) or (op == "gt" and v > target):
                return True
            if (op == "lte" and v <= target) or (op == "lt" and v < target):
                return True
        except TypeError:
            continue
    return False


def _test(getter: Getter, op: str, expected: Any, is_time: bool) -> Callable[[Any], bool]:
    """One operator of one criterion as a test of an object.

    The criterion's value is turned (a date parsed, a string lowered) once here rather than
    for every object (parsing a date per object was most of a search's time at 100,000
    objects). A value that does not turn (an invalid date: 400) is left to each test, as
    before: the error comes only when an object reaches that test.
    """
    try:
        target = _target(op, expected, is_time)
    except Exception:  # noqa: BLE001 - raised again, per object, by the plain test below
        return lambda o: _matches(getter(o), op, expected, is_time)
    compare = RANGE_OPERATORS.get(op)
    if compare is None or not isinstance(target, str):
        return lambda o: _matches_target(getter(o), op, target, is_time)

    def in_range(o: dict[str, Any]) -> bool:  # the usual case (a time window) without lists
        value = getter(o)
        if isinstance(value, str):
            return compare(value if is_time else value.lower(), target)
        return _matches_target(value, op, target, is_time)

    return in_range


def _as_list(value: Any, where: str) -> list[dict[str, Any]]:
    items = value if isinstance(value, list) else [value]
    if len(items) > MAX_CRITERIA:
        raise ApiError(400, f"{where} takes at most {MAX_CRITERIA} criteria")
    if not all(isinstance(i, dict) for i in items):
        raise ApiError(400, f"{where} criteria must be objects")
    return items


def compile_criteria(
    body: dict[str, Any], context: str, *, archive: bool, policy: str = "serve"
) -> Callable[[dict[str, Any]], bool]:
    """Turn the body's ``and``/``or``/``not`` into one predicate (400 on a bad criterion).

    ``policy`` says what an attribute the docs do not list gets: ``refuse`` (400),
    ``ignore`` (the criterion matches everything) or ``serve``.
    """

    def one(criterion: dict[str, Any]) -> Callable[[dict[str, Any]], bool]:
        if set(criterion) & {"and", "or", "not"}:
            return compile_criteria(criterion, context, archive=archive, policy=policy)
        tests = []
        for name, ops in criterion.items():
            if not documented_filter(name, archive=archive):
                if policy == "refuse":
                    where = "archive search" if archive else "search"
                    raise ApiError(400, f"Attribute {name!r} is not filterable in {where}")
                if policy == "ignore":
                    continue
            getter, is_time = resolve(context, name)
            if not isinstance(ops, dict) or not ops or set(ops) - OPERATORS:
                raise ApiError(400, f"Invalid operator in criterion for {name!r}: {ops!r}")
            tests.extend(_test(getter, op, val, is_time) for op, val in ops.items())

        def check(o: dict[str, Any]) -> bool:
            return all(test(o) for test in tests)

        return check

    ands = [one(c) for c in _as_list(body["and"], "and")] if body.get("and") else []
    ors = [one(c) for c in _as_list(body["or"], "or")] if body.get("or") else []
    nots = [one(c) for c in _as_list(body["not"], "not")] if body.get("not") else []

    def predicate(o: dict[str, Any]) -> bool:
        if not all(p(o) for p in ands):
            return False
        if ors and not any(p(o) for p in ors):
            return False
        return not any(p(o) for p in nots)

    return predicate


def compile_sort(
    body: dict[str, Any], context: str, *, archive: bool, policy: str = "serve"
) -> list[tuple[Getter, bool]]:
    """The body's ``sort`` as (getter, descending) pairs; ties are then broken by id.

    ``policy`` as for :func:`compile_criteria`, for sorts the docs do not list.
    """
    return [(getter, desc) for _, getter, desc in _sort_keys(body, context, archive, policy)]


def sort_names(
    body: dict[str, Any], context: str, *, archive: bool, policy: str = "serve"
) -> list[tuple[str, bool]]:
    """The sort :func:`compile_sort` serves, as (attribute, descending) pairs.

    What names the order, whichever endpoint was asked: standard and archive search share it
    when they serve the same attributes.
    """
    return [(name, desc) for name, _, desc in _sort_keys(body, context, archive, policy)]


def _sort_keys(
    body: dict[str, Any], context: str, archive: bool, policy: str
) -> list[tuple[str, Getter, bool]]:
    raw = body.get("sort") or []
    items = raw if isinstance(raw, list) else [raw]
    if len(items) > MAX_SORTS:
        raise ApiError(400, f"sort takes at most {MAX_SORTS} attributes")
    keys = []
    for item in items:
        if not isinstance(item, dict):
            raise ApiError(400, "sort items must be objects")
        for name, direction in item.items():
            if direction not in ("asc", "desc"):
                raise ApiError(400, f"Invalid sort direction {direction!r}")
            if not documented_sort(name, archive=archive):
                if policy == "refuse":
                    where = " in archive search" if archive else ""
                    raise ApiError(400, f"Sorting on {name!r} is unavailable{where}")
                if policy == "ignore":
                    continue
            getter, _ = resolve(context, name)
            keys.append((name, getter, direction == "desc"))
    return keys


def sort_records(
    records: list[dict[str, Any]], keys: list[tuple[Getter, bool]]
) -> list[dict[str, Any]]:
    """Stable multi-key sort; missing values sort first; equal keys keep id order."""
    columns = [([getter(o) for o in records], desc) for getter, desc in keys]
    return [records[i] for i in sort_order([o["id"] for o in records], columns)]


def sort_order(ids: list[str], columns: list[tuple[list[Any], bool]]) -> list[int]:
    """The positions of records in :func:`sort_records` order.

    From their ids and each sort key's values (``(values, descending)``, the first key first):
    each value is read once, not once per comparison. Equal keys keep id order, then input
    order.
    """
    order = sorted(range(len(ids)), key=ids.__getitem__)
    for values, desc in reversed(columns):
        order.sort(
            key=lambda i, v=values: (v[i] is not None, v[i] if v[i] is not None else ""),
            reverse=desc,
        )
    return order


def displace(records: list[dict[str, Any]], fraction: float, seed: str) -> list[dict[str, Any]]:
    """Move ``fraction`` of ``records`` to other places: a server not honouring its sort.

    The same query (``seed``) always gets the same order, so paging through it stays
    consistent, as a search engine's would.
    """
    if fraction <= 0 or len(records) < 2:
        return records
    rng = random.Random(seed)
    out = list(records)
    count = max(1, round(fraction * len(out)))
    for _ in range(count):
        moved = out.pop(rng.randrange(len(out)))
        out.insert(rng.randrange(len(out) + 1), moved)
    return out
