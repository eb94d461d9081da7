"""The Kustomer API sandbox (``/work/shared/reference/kustomer-api.md``).

Rules served, each with its source:

* Bearer API key on every ``/v1`` call; 401 otherwise (§2). Errors are ``{"errors": [...]}``
  in the JSON:API form (§8).
* One org-wide per-minute budget for every call and a separate per-minute budget for search
  calls (100/min for API keys); ``x-ratelimit-limit`` / ``-remaining`` / ``-reset`` on every
  answer; 429 until the window resets (§3). The reset header is epoch seconds by default or
  seconds-to-reset (knob ``ratelimit_reset_format``), the two readings of §3.
* JSON:API envelopes, ``page``/``pageSize`` pagination with ``links.next`` as a relative
  path, ``null`` on the last page (§4). Maximum page sizes: lists 100, users/teams 500,
  search 500; larger values are clamped.
* ``POST /v1/customers/search``: every ``queryContext``, ``and``/``or``/``not``, operators,
  ``sort`` (ties broken by id), ``includeDeleted``, ``idsOnly``; only objects updated within
  the last two years (knob ``search_window_days``); at most 100 pages and (knob
  ``search_max_hits``) 10,000 hits per query, past which a page is a 400 (§5).
* ``POST /v1/customers/archive/search``: the objects older than the window, no notes, the
  short filterable and sortable attribute lists (§5).
* What search does with what the docs do not list (``sandbox.kustomer.search``): knobs
  ``undocumented_filters`` / ``undocumented_sorts`` = ``refuse`` (400; default) | ``ignore``
  | ``serve``.
* Search answers as a search engine may: pages clamped to ``search_page_max`` (500, the
  documented maximum; ``meta.pageSize`` says the size served), ``meta.total`` saturating at
  ``search_total_cap`` (10,000, a search engine's default count; 0 = exact), and
  ``search_out_of_order`` (a fraction of the hits out of the asked order, the same order
  for every page of a query).
* GET lists and per-parent lists, single objects, ``/v1/klasses``, ``/v1/klasses/{name}``
  (KObjects, ``fromDate``), ``/v1/metadata/{resource}``, users, teams, tags (§6); users and
  tags take ``deleted=true|false`` (default: live ones). Knob ``unavailable`` =
  ``{"users": 403, "tags": 404, ...}`` refuses a resource (a key without the role, a plan
  without the feature).

Sandbox controls beyond the core ones: ``POST /_sandbox/modify`` changes records as an update
would (``{"kind": "customer", "count": 3}`` or ``"ids": [...]``, optional ``deleted``,
``attributes``, ``at``), so tests can change some and rerun.
"""

from __future__ import annotations

import json
import math
from typing import Any, ClassVar
from urllib.parse import urlencode

from werkzeug.routing import Rule
from werkzeug.wrappers import Request, Response

from sandbox.core.app import ApiError, SandboxApp, json_response
from sandbox.core.clock import Clock
from sandbox.core.ratelimit import RateDecision, WindowLimiter
from sandbox.kustomer import search as s
from sandbox.kustomer.index import SearchIndex
from sandbox.kustomer.store import DAY, ORG_ID, Seeder, Store, iso, parse_time

LIST_MAX, PEOPLE_MAX, SEARCH_MAX = 100, 500, 500
SEED_DEFAULTS: dict[str, Any] = {
    "companies": 5,
    "customers": 20,
    "conversations_per_customer": 2,
    "messages_per_conversation": 3,
    "notes_per_conversation": 1,
    "users": 4,
    "deactivated_users": 1,
    "teams": 2,
    "tags": 5,
    "klasses": 2,
    "kobjects_per_klass": 8,
    "old_fraction": 0.25,
    "reopened_fraction": 0.3,
    "deleted_fraction": 0.05,
    "duplicate_email_fraction": 0.15,
    "same_timestamp_customers": 0,
    "same_timestamp_messages": 0,
    "big_conversation_messages": 0,
    "multiselect_attributes": False,  # True: customers get a multi-select (contactChannelsStr)
    "random_seed": 7,
}
#: GET list paths -> stored kind.
LISTS = {
    "customers": "customer",
    "companies": "company",
    "conversations": "conversation",
    "messages": "message",
    "notes": "note",
    "users": "user",
    "teams": "team",
    "tags": "tag",
}


def _errors(status: int, message: str, **extra: Any) -> dict[str, Any]:
    code = {
        400: "bad_request",
        401: "unauthorized",
        403: "forbidden",
        404: "not_found",
        405: "method_not_allowed",
        429: "too_many_requests",
    }.get(status, "server_error")
    return {
        "errors": [{"status": status, "code": code, "title": message, "detail": message, **extra}]
    }


class KustomerApp(SandboxApp):
    """A stateful Kustomer org."""

    name = "kustomer"
    extra_knobs: ClassVar[dict[str, Any]] = {
        "api_key": "sandbox-kustomer-key",
        "rate_limit_per_minute": 1000,
        "search_rate_limit_per_minute": 100,
        "ratelimit_reset_format": "epoch",  # or "delta"
        "search_window_days": 730,
        "search_max_pages": 100,
        "search_max_hits": 10_000,  # 0: only the page cap applies
        "page_cap_next": "link",  # "link": next points past the cap (then 400); "null"
        "unstable_ties": False,  # True: equal sort keys come back in a per-query shuffled order
        "undocumented_filters": "refuse",  # "ignore" | "serve" (see sandbox.kustomer.search)
        "undocumented_sorts": "refuse",  # "ignore" | "serve"
        "search_page_max": SEARCH_MAX,  # the server's clamp on a search pageSize
        "search_total_cap": 10_000,  # meta.total saturates here (0: exact)
        "search_out_of_order": 0.0,  # share of hits returned out of the asked order
        "unavailable": {},  # {"users": 403, "teams": 404, "tags": 403, ...}
    }

    def __init__(self, *, clock: Clock | None = None, **knobs: Any) -> None:
        super().__init__(clock=clock, **knobs)

    # ---------------------------------------------------------------- routing
    def rules(self) -> list[Rule]:
        """Every endpoint the sandbox serves."""
        r = [
            Rule("/v1/customers/search", methods=["POST"], endpoint="search"),
            Rule("/v1/customers/archive/search", methods=["POST"], endpoint="archive_search"),
            Rule("/v1/auth/tokens/current", methods=["GET"], endpoint="token"),
            Rule("/v1/users/current", methods=["GET"], endpoint="current_user"),
            # The singer-io tap checks its key on the same path with a trailing slash.
            Rule("/v1/users/current/", methods=["GET"], endpoint="current_user"),
            Rule("/v1/metadata/<resource>", methods=["GET"], endpoint="metadata"),
            Rule("/v1/klasses", methods=["GET"], endpoint="klasses"),
            Rule("/v1/klasses/<name>", methods=["GET"], endpoint="kobjects"),
            Rule("/v1/klasses/<name>/<obj_id>", methods=["GET"], endpoint="kobject"),
            Rule("/v1/conversations/<obj_id>/messages", methods=["GET"], endpoint="conv_messages"),
            Rule("/v1/conversations/<obj_id>/notes", methods=["GET"], endpoint="conv_notes"),
            Rule("/v1/customers/<obj_id>/conversations", methods=["GET"], endpoint="cust_convs"),
            Rule("/v1/customers/<obj_id>/notes", methods=["GET"], endpoint="cust_notes"),
            Rule("/v1/customers/<obj_id>/messages", methods=["GET"], endpoint="cust_messages"),
        ]
        for path in LISTS:
            r.append(Rule(f"/v1/{path}", methods=["GET"], endpoint="list", defaults={"path": path}))
            r.append(
                Rule(
                    f"/v1/{path}/<obj_id>", methods=["GET"], endpoint="one", defaults={"path": path}
                )
            )
        return r

    def reset_state(self) -> None:
        """Empty org, fresh budgets."""
        self.store = Store()
        self.search_index = SearchIndex()
        self.org_limiter = WindowLimiter(int(self.knobs["rate_limit_per_minute"]), 60, self.clock)
        self.search_limiter = WindowLimiter(
            int(self.knobs["search_rate_limit_per_minute"]), 60, self.clock
        )
        self.rate_stats = {"requests": 0, "search_requests": 0, "refused": 0, "search_refused": 0}

    def set_knobs(self, **changes: Any) -> dict[str, Any]:
        """Knobs; the rate-limit knobs resize the live limiters."""
        out = super().set_knobs(**changes)
        if hasattr(self, "org_limiter"):
            self.org_limiter.limit = int(self.knobs["rate_limit_per_minute"])
            self.search_limiter.limit = int(self.knobs["search_rate_limit_per_minute"])
        return out

    def state_snapshot(self) -> dict[str, Any]:
        """Every stored object, by kind, plus the rate counters."""
        return {
            "objects": {kind: list(table.values()) for kind, table in self.store.objects.items()},
            "metadata": self.store.metadata,
            "rate": dict(self.rate_stats),
        }

    # ------------------------------------------------------------------- seed
    def seed(self, preset: str = "default", **params: Any) -> dict[str, Any]:
        """``default`` (or ``empty``): a deterministic org; every SEED_DEFAULTS key may be given."""
        if preset not in ("default", "empty"):
            raise ApiError(400, f"unknown preset {preset!r}; use 'default' or 'empty'")
        unknown = sorted(set(params) - set(SEED_DEFAULTS))
        if unknown:
            raise ApiError(
                400, f"unknown seed parameter(s) {unknown}; known: {sorted(SEED_DEFAULTS)}"
            )
        if preset == "empty":
            self.store = Store()
            return {"preset": "empty"}
        p = {**SEED_DEFAULTS, **params}
        with self.lock:
            self.store = Store()
            seeder = Seeder(
                self.store,
                self.clock.now(),
                float(self.knobs["search_window_days"]),
                int(p["random_seed"]),
            )
            return seeder.run(p)

    def modify(
        self,
        kind: str,
        *,
        ids: list[str] | None = None,
        count: int | None = None,
        at: str | None = None,
        deleted: bool | None = None,
        attributes: dict[str, Any] | None = None,
    ) -> list[str]:
        """Update records as the API would; ``count`` picks the first N (id order)."""
        with self.lock:
            table = self.store.objects.get(kind)
            if not table:
                raise ApiError(400, f"no records of kind {kind!r}")
            chosen = list(ids) if ids else list(table)[: int(count or 1)]
            missing = [i for i in chosen if i not in table]
            if missing:
                raise ApiError(404, f"unknown {kind} ids {missing}")
            stamp = parse_time(at) if at else iso(self.clock.now())
            for obj_id in chosen:
                self.store.touch(kind, obj_id, stamp, deleted=deleted, attributes=attributes)
            return chosen

    def _control(self, request: Request, action: str) -> Response:
        if action == "modify" and request.method == "POST":
            try:
                body = dict(self.json_body(request))
                kind = body.pop("kind")
                return json_response({"modified": self.modify(kind, **body)})
            except ApiError as exc:
                return json_response({"error": exc.message}, exc.status)
            except (KeyError, TypeError, ValueError) as exc:
                return json_response({"error": f"bad modify request: {exc}"}, 400)
        return super()._control(request, action)

    # ------------------------------------------------------- auth, rate limits
    def error_response(
        self, status: int, message: str, headers: dict[str, str] | None = None, **extra: Any
    ) -> Response:
        """Kustomer's error body (§8)."""
        return json_response(_errors(status, message, **extra), status, headers)

    def _reset_value(self, decision: RateDecision) -> str:
        if self.knobs["ratelimit_reset_format"] == "delta":
            return str(decision.retry_after(self.clock.now()))
        return str(math.ceil(decision.reset_at))

    def _rate_headers(self, decision: RateDecision) -> dict[str, str]:
        return {
            "x-ratelimit-limit": str(decision.limit),
            "x-ratelimit-remaining": str(decision.remaining),
            "x-ratelimit-reset": self._reset_value(decision),
        }

    def rate_limited_response(self) -> Response:
        """An injected 429 carries the real window's headers."""
        now = self.clock.now()
        window = 60.0
        reset_at = math.floor(now / window) * window + window
        decision = RateDecision(
            False, int(self.knobs["rate_limit_per_minute"]), 0, window, reset_at
        )
        return self.error_response(429, "Rate limit exceeded", self._rate_headers(decision))

    def before_request(self, request: Request) -> Response | None:
        """401 without the key; 429 past the org budget or the search budget."""
        auth = request.headers.get("Authorization", "")
        if auth != f"Bearer {self.knobs['api_key']}":
            return self.error_response(401, "Unauthorized: missing or invalid API key")
        resource = request.path.split("/")[2] if request.path.startswith("/v1/") else ""
        refused = (self.knobs["unavailable"] or {}).get(resource)
        if refused:
            status = int(refused)
            why = "Forbidden: the key lacks the role" if status == 403 else "Not found"
            return self.error_response(status, f"{why} for /v1/{resource}")
        decision = self.org_limiter.take()
        self.rate_stats["requests"] += 1
        request.environ["kustomer.rate"] = decision
        if not decision.allowed:
            self.rate_stats["refused"] += 1
            return self.error_response(429, "Rate limit exceeded", self._rate_headers(decision))
        if request.method == "POST" and request.path.endswith("/search"):
            self.rate_stats["search_requests"] += 1
            search_decision = self.search_limiter.take()
            if not search_decision.allowed:
                self.rate_stats["search_refused"] += 1
                headers = self._rate_headers(decision)
                headers["x-ratelimit-reset"] = self._reset_value(search_decision)
                return self.error_response(429, "Search rate limit exceeded", headers)
        return None

    def _route(self, request: Request) -> Response:
        response = super()._route(request)
        decision = request.environ.get("kustomer.rate")
        if decision is not None and "x-ratelimit-limit" not in response.headers:
            for key, value in self._rate_headers(decision).items():
                response.headers[key] = value
        return response

    # ------------------------------------------------------------- envelopes
    @staticmethod
    def _page_args(request: Request, maximum: int) -> tuple[int, int]:
        try:
            page = int(request.args.get("page", 1))
            size = int(request.args.get("pageSize", 100))
        except ValueError as exc:
            raise ApiError(400, "page and pageSize must be integers") from exc
        if page < 1 or size < 1:
            raise ApiError(400, "page and pageSize must be at least 1")
        return page, min(size, maximum)

    @staticmethod
    def _link(path: str, args: dict[str, Any], page: int, size: int) -> str:
        query = {k: v for k, v in args.items() if k not in ("page", "pageSize")}
        query.update(page=page, pageSize=size)
        return f"{path}?{urlencode(query)}"

    def _paged(
        self,
        request: Request,
        records: list[dict[str, Any]],
        maximum: int = LIST_MAX,
        *,
        with_total: bool = False,
    ) -> Response:
        page, size = self._page_args(request, maximum)
        args = request.args.to_dict()
        start = (page - 1) * size
        chunk = records[start : start + size]
        more = start + size < len(records)
        meta: dict[str, Any] = {"pageSize": size, "page": page}
        if with_total:
            meta.update(total=len(records), totalPages=math.ceil(len(records) / size))
        last = max(1, math.ceil(len(records) / size))
        return json_response(
            {
                "meta": meta,
                "data": chunk,
                "links": {
                    "self": self._link(request.path, args, page, size),
                    "first": self._link(request.path, args, 1, size),
                    "prev": self._link(request.path, args, page - 1, size) if page > 1 else None,
                    "next": self._link(request.path, args, page + 1, size) if more else None,
                    "last": self._link(request.path, args, last, size),
                },
            }
        )

    # ------------------------------------------------------------------ search
    def on_search(self, request: Request) -> Response:
        """Standard search: objects updated within the window."""
        return self._search(request, archive=False)

    def on_archive_search(self, request: Request) -> Response:
        """Archive search: objects older than the window; no notes."""
        return self._search(request, archive=True)

    def _kind_for(self, context: str) -> str | None:
        obj, klass = s.object_name(context)
        if obj == "kobject":
            return f"kobject.{klass}" if klass else None
        return obj

    def _search(self, request: Request, *, archive: bool) -> Response:
        body = self.json_body(request)
        if not isinstance(body, dict):
            raise ApiError(400, "Search body must be an object")
        allowed = s.ARCHIVE_BODY_KEYS if archive else s.BODY_KEYS
        extra = sorted(set(body) - allowed)
        if extra:
            raise ApiError(400, f"Unknown search properties {extra}")
        context = body.get("queryContext")
        pattern = s.ARCHIVE_CONTEXT if archive else s.SEARCH_CONTEXT
        if not isinstance(context, str) or not pattern.match(context):
            raise ApiError(400, f"Invalid queryContext {context!r}")
        filters, sorts = self.knobs["undocumented_filters"], self.knobs["undocumented_sorts"]
        if filters not in s.POLICIES or sorts not in s.POLICIES:
            raise ApiError(500, f"sandbox knobs: undocumented_* must be one of {s.POLICIES}")
        predicate = s.compile_criteria(body, context, archive=archive, policy=filters)
        keys = s.compile_sort(body, context, archive=archive, policy=sorts)
        page, size = self._page_args(
            request, max(1, min(SEARCH_MAX, int(self.knobs["search_page_max"])))
        )
        max_pages = int(self.knobs["search_max_pages"])
        max_hits = int(self.knobs["search_max_hits"])
        if max_hits > 0:
            max_pages = min(max_pages, max(1, math.ceil(max_hits / size)))
        if page > max_pages:
            raise ApiError(400, f"Search pagination is limited to {max_pages} pages of {size}")
        cutoff = iso(self.clock.now() - float(self.knobs["search_window_days"]) * DAY)
        include_deleted = bool(body.get("includeDeleted"))
        with self.lock:
            kind = self._kind_for(context)

            def pool() -> list[dict[str, Any]]:
                if kind is None:  # plain "kobject": every Klass
                    return [
                        o
                        for k, t in self.store.objects.items()
                        if k.startswith("kobject.")
                        for o in t.values()
                    ]
                return self.store.all(kind)

            # the index answers as the plain filter and sort below, or not at all (None)
            indexed = self.search_index.hits(
                self.store,
                view_key=(
                    context,
                    tuple(s.sort_names(body, context, archive=archive, policy=sorts)),
                ),
                pool=pool,
                keys=keys,
                criteria_key=json.dumps(
                    [archive, filters, body.get("and"), body.get("or"), body.get("not")]
                ),
                predicate=predicate,
            )
            if indexed is not None:
                ordered = [
                    o
                    for updated, deleted, o in indexed
                    if (updated < cutoff) == archive and (include_deleted or not deleted)
                ]
            else:
                hits = [
                    o
                    for o in pool()
                    if (o["attributes"]["updatedAt"] < cutoff) == archive
                    and (include_deleted or not o["attributes"].get("deleted"))
                    and predicate(o)
                ]
                ordered = s.sort_records(hits, keys)
            if self.knobs["unstable_ties"] and keys:
                ordered = self._shuffle_ties(ordered, keys)
            ordered = s.displace(
                ordered,
                float(self.knobs["search_out_of_order"]),
                json.dumps([request.path, body], sort_keys=True),
            )
        total = len(ordered)
        cap = int(self.knobs["search_total_cap"])
        reported = min(total, cap) if cap > 0 else total
        start = (page - 1) * size
        chunk = ordered[start : start + size]
        if request.args.get("idsOnly") in ("true", "1"):
            chunk = [{"type": o["type"], "id": o["id"]} for o in chunk]
        more = start + size < total
        capped = page >= max_pages
        nxt = None
        if more and (not capped or self.knobs["page_cap_next"] == "link"):
            nxt = self._link(request.path, request.args.to_dict(), page + 1, size)
        args = request.args.to_dict()
        return json_response(
            {
                "meta": {
                    "pageSize": size,
                    "page": page,
                    "total": reported,
                    "totalPages": math.ceil(reported / size) if reported else 0,
                    "aggregations": {},
                },
                "data": chunk,
                "links": {
                    "self": self._link(request.path, args, page, size),
                    "first": self._link(request.path, args, 1, size),
                    "prev": self._link(request.path, args, page - 1, size) if page > 1 else None,
                    "next": nxt,
                    "last": self._link(
                        request.path, args, max(1, math.ceil(reported / size)), size
                    ),
                },
            }
        )

    def _shuffle_ties(
        self, ordered: list[dict[str, Any]], keys: list[tuple[Any, bool]]
    ) -> list[dict[str, Any]]:
        import random  # noqa: PLC0415

        rng = random.Random(self.journal.total)  # a different order on every request
        out: list[dict[str, Any]] = []
        group: list[dict[str, Any]] = []
        prev = None
        for o in ordered:
            key = tuple(g(o) for g, _ in keys)
            if group and key != prev:
                rng.shuffle(group)
                out.extend(group)
                group = []
            group.append(o)
            prev = key
        rng.shuffle(group)
        out.extend(group)
        return out

    # ---------------------------------------------------------------- GET APIs
    def on_token(self, request: Request) -> Response:  # noqa: ARG002
        """The key's own token record."""
        return json_response(
            {
                "data": {
                    "type": "token",
                    "id": "sandbox-token",
                    "attributes": {
                        "name": "sandbox",
                        "roles": ["org.permission.customer.read"],
                        "org": ORG_ID,
                    },
                }
            }
        )

    def on_current_user(self, request: Request) -> Response:  # noqa: ARG002
        """The machine user behind the key."""
        return json_response(
            {
                "data": {
                    "type": "user",
                    "id": "6a0000000000000000000000",
                    "attributes": {"name": "API machine user", "userType": "machine"},
                }
            }
        )

    def on_metadata(self, request: Request, resource: str) -> Response:  # noqa: ARG002
        """Custom attribute metadata for ``customer``, ``company``, ..., ``kobject.<name>``."""
        with self.lock:
            props = self.store.metadata.get(resource)
        if props is None:
            raise ApiError(404, f"No metadata for resource {resource!r}")
        return json_response(
            {
                "data": {
                    "type": "metadata",
                    "id": resource,
                    "attributes": {"properties": props},
                    "relationships": {
                        "org": {
                            "links": {"self": f"/v1/orgs/{ORG_ID}"},
                            "data": {"type": "org", "id": ORG_ID},
                        }
                    },
                    "links": {"self": f"/v1/metadata/{resource}"},
                }
            }
        )

    def on_klasses(self, request: Request) -> Response:
        """Klasses, filtered by ``status`` (default ``enabled``)."""
        status = request.args.get("status", "enabled")
        with self.lock:
            rows = [k for k in self.store.all("klass") if k["attributes"].get("status") == status]
        return self._paged(request, rows)

    def on_kobjects(self, request: Request, name: str) -> Response:
        """KObjects of one Klass (by name), optionally ``fromDate`` on ``updatedAt``."""
        kind = f"kobject.{name}"
        from_date = (
            parse_time(request.args.get("fromDate")) if request.args.get("fromDate") else None
        )
        with self.lock:
            if kind not in self.store.objects and not any(
                k["attributes"]["name"] == name for k in self.store.all("klass")
            ):
                raise ApiError(404, f"No Klass named {name!r}")
            rows = [
                o
                for o in self.store.all(kind)
                if not o["attributes"].get("deleted")
                and (from_date is None or o["attributes"]["updatedAt"] >= from_date)
            ]
        return self._paged(request, rows)

    def on_kobject(self, request: Request, name: str, obj_id: str) -> Response:  # noqa: ARG002
        """One KObject."""
        with self.lock:
            obj = self.store.get(f"kobject.{name}", obj_id)
        if obj is None:
            raise ApiError(404, f"No {name} KObject {obj_id}")
        return json_response({"data": obj})

    def on_list(self, request: Request, path: str) -> Response:
        """GET /v1/<objects>: non-deleted objects, oldest id first (users, tags: ``deleted``)."""
        kind = LISTS[path]
        maximum = PEOPLE_MAX if kind in ("user", "team") else LIST_MAX
        with self.lock:
            rows = self.store.all(kind)
        if kind in ("tag", "user") and request.args.get("deleted") == "true":
            rows = [o for o in rows if o["attributes"].get("deleted")]
        else:
            rows = [o for o in rows if not o["attributes"].get("deleted")]
        if kind in ("conversation", "message") and request.args.get("sort") == "desc":
            rows = rows[::-1]
        return self._paged(request, rows, maximum, with_total=kind == "customer")

    def on_one(self, request: Request, path: str, obj_id: str) -> Response:  # noqa: ARG002
        """GET /v1/<objects>/<id>."""
        with self.lock:
            obj = self.store.get(LISTS[path], obj_id)
        if obj is None:
            raise ApiError(404, f"No {LISTS[path]} {obj_id}")
        return json_response({"data": obj})

    def _children(self, request: Request, parent: str, obj_id: str, kind: str) -> Response:
        with self.lock:
            if self.store.get(parent, obj_id) is None:
                raise ApiError(404, f"No {parent} {obj_id}")
            rows = self.store.children_of(parent, obj_id, kind)
            from_date = (
                parse_time(request.args.get("fromDate")) if request.args.get("fromDate") else None
            )
            if from_date:
                rows = [o for o in rows if o["attributes"]["createdAt"] >= from_date]
        return self._paged(request, rows)

    def on_conv_messages(self, request: Request, obj_id: str) -> Response:
        """Messages of one conversation."""
        return self._children(request, "conversation", obj_id, "message")

    def on_conv_notes(self, request: Request, obj_id: str) -> Response:
        """Notes of one conversation (deleted ones included, with their flag)."""
        return self._children(request, "conversation", obj_id, "note")

    def on_cust_convs(self, request: Request, obj_id: str) -> Response:
        """Conversations of one customer (``fromDate`` on ``createdAt``)."""
        return self._children(request, "customer", obj_id, "conversation")

    def on_cust_notes(self, request: Request, obj_id: str) -> Response:
        """Notes of one customer."""
        return self._children(request, "customer", obj_id, "note")

    def on_cust_messages(self, request: Request, obj_id: str) -> Response:
        """Messages of one customer."""
        return self._children(request, "customer", obj_id, "message")
