"""The HubSpot CRM sandbox: contacts, companies, properties, associations, OAuth.

It follows ``reference/hubspot-api.md``:

* objects list (``limit`` ≤ 100, opaque ``after`` cursor, ``properties`` in the query string,
  414 past ``max_url_length``), batch read (≤ 100 inputs, 207 with ``errors``), search
  (≤ 200 per page, ``total``, offset ``after``, 400 at 10,000 results, archived never found,
  optional index lag), under both ``/crm/v3/...`` and date-versioned ``/crm/objects/2026-03/...``;
* properties (``/crm/v3/properties/{type}``), v4 association batch read (≤ 1,000 inputs,
  per-record paging, ``typeId`` 1 = primary, 279 = unlabeled);
* auth: private-app / service-key bearer tokens and OAuth refresh on ``/oauth/v1/token`` and
  ``/oauth/2026-03/token``; 401 ``INVALID_AUTHENTICATION`` / ``EXPIRED_AUTHENTICATION``;
* limits: a burst budget per 10 s (``X-HubSpot-RateLimit-*`` headers, 429
  ``TEN_SECONDLY_ROLLING``), search 5/s (429 "secondly limit", no rate headers), a daily
  budget (429 ``DAILY``; daily headers omitted for OAuth tokens).

Pages and cursors follow the strict reading of the docs (``sandbox.hubspot.paging``): a search
page may hold fewer records than asked while ``paging.next`` says more remain (knobs
``search_page_clamp``, default 100, and ``list_page_clamp``); ``list_cursor_fault`` makes
the list endpoint repeat a cursor or cycle between two; ``object_id_overrides`` serves a
record's id as text that is not a number.

Controls beyond the shared ones: ``POST /_sandbox/modify | archive | restore | merge |
associate`` (also callable as methods) change records the way HubSpot would.
"""

from __future__ import annotations

import copy
import re
import uuid
from typing import Any, ClassVar
from urllib.parse import parse_qs

from werkzeug.routing import Rule
from werkzeug.wrappers import Request, Response

from sandbox.core.app import ApiError, SandboxApp, json_response
from sandbox.core.clock import Clock
from sandbox.core.ratelimit import RateDecision, WindowLimiter
from sandbox.hubspot import seed as seeding
from sandbox.hubspot.paging import (
    check_cursor_fault,
    decode_after,
    list_next_cursor,
    served_size,
)
from sandbox.hubspot.properties import company_properties, contact_properties
from sandbox.hubspot.store import CrmObject, ObjectStore, iso_ms, parse_time_ms

OBJECT_TYPES = {
    "contacts": "contacts",
    "0-1": "contacts",
    "companies": "companies",
    "0-2": "companies",
}
MODIFIED_PROPERTY = {"contacts": "lastmodifieddate", "companies": "hs_lastmodifieddate"}
DEFAULT_PROPERTIES = {
    "contacts": [
        "firstname",
        "lastname",
        "email",
        "createdate",
        "lastmodifieddate",
        "hs_object_id",
    ],
    "companies": ["name", "domain", "createdate", "hs_lastmodifieddate", "hs_object_id"],
}
ALWAYS_RETURNED = {
    "contacts": ["createdate", "lastmodifieddate", "hs_object_id"],
    "companies": ["createdate", "hs_lastmodifieddate", "hs_object_id"],
}
VERSION_RE = re.compile(r"^(v3|\d{4}-\d{2})$")
CATEGORIES = {
    400: "VALIDATION_ERROR",
    401: "INVALID_AUTHENTICATION",
    403: "MISSING_SCOPES",
    404: "OBJECT_NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    414: "URI_TOO_LONG",
    429: "RATE_LIMITS",
}
TYPE_LABELS = {1: "Primary", 2: "Primary", 279: None, 280: None}
REVERSE_TYPE = {1: 2, 279: 280}


class HubSpotApp(SandboxApp):
    """A stateful stand-in for HubSpot's CRM APIs (see the module docstring)."""

    name = "hubspot"
    extra_knobs: ClassVar[dict[str, Any]] = {
        # limits (hubspot-api.md §1, §3, §4.2; Professional tier by default)
        "burst_limit": 190,
        "burst_window_seconds": 10,
        "search_rate_per_second": 5,
        "daily_limit": 625_000,
        "list_max_limit": 100,
        "search_max_limit": 200,
        "search_max_results": 10_000,
        # pages and cursors (sandbox.hubspot.paging): "up to" `limit` per search page is read
        # strictly, a search page holds at most 100 (HubSpot's size before the 2024 raise to
        # 200) while `paging.next` says more remain; list pages are served as asked
        "list_page_clamp": 0,
        "search_page_clamp": 100,
        "list_cursor_fault": "none",  # or "repeat" | "cycle"
        "list_cursor_fault_page": 2,
        # record id -> text served as its `id` and `hs_object_id` (documented as numeric)
        "object_id_overrides": {},
        "search_max_filter_groups": 5,
        "search_max_filters_per_group": 6,
        "search_max_filters_total": 18,
        "search_max_sorts": 1,
        "search_index_lag_ms": 0,
        "batch_read_max_inputs": 100,
        "associations_max_inputs": 1000,
        "association_page_size": 500,
        "max_url_length": 16_000,
        # value encodings where the reference is split
        "date_value_format": "iso",  # or "epoch_ms" (spec example)
        # auth
        "require_auth": True,
        "access_tokens": ["sandbox-token"],
        "oauth_client_id": "sandbox-client-id",
        "oauth_client_secret": "sandbox-client-secret",
        "oauth_refresh_token": "sandbox-refresh-token",
        "oauth_expires_in": 1800,
        "oauth_token_versions": ["v1", "2026-03"],
    }

    def __init__(self, *, clock: Clock | None = None, **knobs: Any) -> None:
        self._limiters: dict[tuple[str, int, float], WindowLimiter] = {}
        super().__init__(clock=clock, **knobs)

    def set_knobs(self, **changes: Any) -> dict[str, Any]:
        """Refuse an unknown cursor fault when it is set, then as the shared knobs."""
        if "list_cursor_fault" in changes:
            check_cursor_fault(changes["list_cursor_fault"])
        return super().set_knobs(**changes)

    # ----------------------------------------------------------------- routing
    def rules(self) -> list[Rule]:
        """Both the v3 paths and the date-versioned ones."""
        rules: list[Rule] = []
        for prefix in ("/crm/v3/objects/<obj>", "/crm/objects/<version>/<obj>"):
            rules += [
                Rule(prefix, methods=["GET"], endpoint="list"),
                Rule(f"{prefix}/batch/read", methods=["POST"], endpoint="batch_read"),
                Rule(f"{prefix}/search", methods=["POST"], endpoint="search"),
                Rule(f"{prefix}/<object_id>", methods=["GET"], endpoint="read"),
            ]
        rules += [
            Rule("/crm/v3/properties/<obj>", methods=["GET"], endpoint="properties"),
            Rule("/crm/properties/<version>/<obj>", methods=["GET"], endpoint="properties"),
            Rule(
                "/crm/v4/associations/<obj>/<to_obj>/batch/read",
                methods=["POST"],
                endpoint="associations",
            ),
            Rule(
                "/crm/associations/<version>/<obj>/<to_obj>/batch/read",
                methods=["POST"],
                endpoint="associations",
            ),
            Rule("/oauth/<version>/token", methods=["POST"], endpoint="token"),
            Rule(
                "/account-info/v3/api-usage/daily/private-apps",
                methods=["GET"],
                endpoint="daily_usage",
            ),
        ]
        return rules

    # ------------------------------------------------------------------- state
    def reset_state(self) -> None:
        """No records, definitions for the standard and every-type custom properties."""
        self.stores = {
            "contacts": ObjectStore("contacts", MODIFIED_PROPERTY["contacts"]),
            "companies": ObjectStore("companies", MODIFIED_PROPERTY["companies"]),
        }
        self._set_definitions(0)
        self.associations: dict[int, list[tuple[int, list[int]]]] = {}
        self.oauth_tokens: dict[str, float] = {}
        self._token_seq = 0
        self._limiters = {}
        self.daily_used = 0
        self.limit_refusals = {"TEN_SECONDLY_ROLLING": 0, "SECONDLY": 0, "DAILY": 0}

    def _set_definitions(self, extra: int) -> None:
        self.stores["contacts"].definitions = {p["name"]: p for p in contact_properties(extra)}
        self.stores["companies"].definitions = {p["name"]: p for p in company_properties(extra)}

    def state_snapshot(self) -> dict[str, Any]:
        """Every record (raw string values), the associations and the counters."""
        out: dict[str, Any] = {}
        for name, store in self.stores.items():
            out[name] = {
                str(o.id): {
                    "properties": dict(o.properties),
                    "createdAt": iso_ms(o.created_ms),
                    "updatedAt": iso_ms(o.updated_ms),
                    "archived": o.archived,
                    "archivedAt": iso_ms(o.archived_ms) if o.archived_ms else None,
                }
                for o in store.objects.values()
            }
        out["associations"] = {
            str(k): [{"companyId": str(c), "typeIds": t} for c, t in v]
            for k, v in self.associations.items()
        }
        out["daily_used"] = self.daily_used
        out["limit_refusals"] = dict(self.limit_refusals)
        return out

    # -------------------------------------------------------------------- seed
    def seed(self, preset: str = "default", **params: Any) -> dict[str, Any]:
        """Presets: ``default`` (params below), ``empty``, ``same_timestamp``, ``many_properties``.

        Params: ``contacts`` (100), ``companies`` (20), ``same_timestamp`` (0),
        ``archived_contacts`` (1%), ``archived_companies`` (2%), ``merged_contacts`` (0.5%),
        ``merged_companies`` (2%), ``extra_properties`` (0), ``base_ms``, ``step_ms`` (60 s).
        """
        presets = {
            "default": {},
            "empty": {"contacts": 0, "companies": 0},
            "same_timestamp": {
                "contacts": 15_000,
                "companies": 300,
                "same_timestamp": 15_000,
                "merged_contacts": 0,
                "archived_contacts": 0,
            },
            "many_properties": {"extra_properties": 1000},
        }
        if preset not in presets:
            msg = f"hubspot sandbox has no seed preset {preset!r}; known: {sorted(presets)}"
            raise ApiError(400, msg)
        merged = {**presets[preset], **params}
        known = {
            "contacts", "companies", "same_timestamp", "archived_contacts",
            "archived_companies", "merged_contacts", "merged_companies",
            "extra_properties", "base_ms", "step_ms",
        }  # fmt: skip
        unknown = sorted(set(merged) - known)
        if unknown:
            msg = f"unknown seed param(s) {unknown}; known: {sorted(known)}"
            raise ApiError(400, msg)
        n_contacts = int(merged.get("contacts", 100))
        n_companies = int(merged.get("companies", 20))
        opts = {
            "contacts": n_contacts,
            "companies": n_companies,
            "same_timestamp": min(int(merged.get("same_timestamp", 0)), n_contacts),
            "archived_contacts": int(merged.get("archived_contacts", n_contacts // 100)),
            "archived_companies": int(merged.get("archived_companies", n_companies // 50)),
            "merged_contacts": int(merged.get("merged_contacts", n_contacts // 200)),
            "merged_companies": int(merged.get("merged_companies", n_companies // 50)),
            "extra_properties": int(merged.get("extra_properties", 0)),
            "base_ms": int(merged.get("base_ms", seeding.DEFAULT_BASE_MS)),
            "step_ms": int(merged.get("step_ms", 60_000)),
        }
        with self.lock:
            self._load(opts)
        return {
            "preset": preset,
            **opts,
            "live_contacts": len(self.stores["contacts"].active_ids()),
            "live_companies": len(self.stores["companies"].active_ids()),
        }

    def _load(self, opts: dict[str, Any]) -> None:
        self.stores["contacts"].objects.clear()
        self.stores["companies"].objects.clear()
        self._set_definitions(opts["extra_properties"])
        built = seeding.build(
            contacts=opts["contacts"],
            companies=opts["companies"],
            same_timestamp=opts["same_timestamp"],
            extra_properties=opts["extra_properties"],
            base_ms=opts["base_ms"],
            step_ms=opts["step_ms"],
        )
        for obj in built["companies"]:
            self.stores["companies"].objects[obj.id] = obj
        for obj in built["contacts"]:
            self.stores["contacts"].objects[obj.id] = obj
        self.associations = built["associations"]
        for name in ("contacts", "companies"):
            store = self.stores[name]
            store.invalidate()
            ids = store.active_ids()
            absorbed: dict[int, int] = {}
            for primary, secondaries in seeding.plan_merges(ids, opts[f"merged_{name}"]):
                base = max(store.objects[i].updated_ms for i in (primary, *secondaries))
                for secondary in secondaries:
                    self._merge(name, primary, secondary, base + 60_000, relink=False)
                    absorbed[secondary] = primary
            if name == "companies":
                self._relink_companies(absorbed)  # one pass for all the seeded merges
            live = store.active_ids()
            count = opts[f"archived_{name}"]
            if count > 0 and live:
                step = max(1, len(live) // count)
                for i in live[step // 2 :: step][:count]:
                    obj = store.objects[i]
                    obj.archived, obj.archived_ms = True, obj.updated_ms + 86_400_000
            store.invalidate()
        self._count_company_contacts()

    def _count_company_contacts(self) -> None:
        counts: dict[int, int] = {}
        for links in self.associations.values():
            for company_id, _ in links:
                counts[company_id] = counts.get(company_id, 0) + 1
        for obj in self.stores["companies"].objects.values():
            obj.properties["num_associated_contacts"] = str(counts.get(obj.id, 0))

    # ---------------------------------------------------------------- controls
    def _control(self, request: Request, action: str) -> Response:
        if request.method == "POST" and action in (
            "modify",
            "archive",
            "restore",
            "merge",
            "associate",
        ):
            try:
                body = self.json_body(request) if request.get_data() else {}
                with self.lock:
                    return json_response(getattr(self, action)(**body))
            except ApiError as exc:
                return json_response({"error": exc.message}, exc.status)
            except (ValueError, TypeError, KeyError) as exc:
                return json_response({"error": str(exc)}, 400)
        return super()._control(request, action)

    def _now_ms(self) -> int:
        return int(self.clock.now() * 1000)

    def _pick(
        self, object_type: str, ids: list[Any] | None, count: int | None, fraction: float | None
    ) -> list[int]:
        store = self.stores[object_type]
        if ids is not None:
            return [int(i) for i in ids]
        live = store.active_ids()
        if count is None:
            count = round(len(live) * float(fraction or 0.01))
        count = max(0, min(count, len(live)))
        if not count:
            return []
        step = len(live) / count
        return [live[int(k * step)] for k in range(count)]

    def modify(
        self,
        object_type: str = "contacts",
        *,
        ids: list[Any] | None = None,
        count: int | None = None,
        fraction: float | None = None,
        at_ms: int | None = None,
        property: str = "cf_text",
        value: str | None = None,
    ) -> dict[str, Any]:
        """Write a property on some live records, bumping their last-modified time.

        Records: explicit ``ids``, a ``count`` or a ``fraction`` (1% by default), evenly
        spread; the time is ``at_ms`` (default: the sandbox clock's now).
        """
        with self.lock:
            store = self.stores[object_type]
            at = self._now_ms() if at_ms is None else int(at_ms)
            chosen = self._pick(object_type, ids, count, fraction)
            for i in chosen:
                obj = store.objects[i]
                obj.properties[property] = value if value is not None else f"modified at {at}"
                store.touch(obj, at)
            return {"modified": [str(i) for i in chosen], "at": iso_ms(at)}

    def archive(
        self,
        object_type: str = "contacts",
        ids: list[Any] | None = None,
        count: int | None = None,
        at_ms: int | None = None,
    ) -> dict[str, Any]:
        """Archive (soft-delete) records; HubSpot leaves their last-modified untouched."""
        with self.lock:
            store = self.stores[object_type]
            at = self._now_ms() if at_ms is None else int(at_ms)
            chosen = self._pick(object_type, ids, count if ids is None else None, 0.0)
            for i in chosen:
                obj = store.objects[i]
                obj.archived, obj.archived_ms = True, at
            store.invalidate()
            return {"archived": [str(i) for i in chosen], "at": iso_ms(at)}

    def restore(
        self, object_type: str = "contacts", ids: list[Any] | None = None, at_ms: int | None = None
    ) -> dict[str, Any]:
        """Restore archived records (a write: last-modified moves)."""
        with self.lock:
            store = self.stores[object_type]
            at = self._now_ms() if at_ms is None else int(at_ms)
            for i in ids or []:
                obj = store.objects[int(i)]
                obj.archived, obj.archived_ms = False, None
                store.touch(obj, at)
            return {"restored": [str(i) for i in ids or []], "at": iso_ms(at)}

    def merge(
        self,
        object_type: str = "contacts",
        primary: Any = None,
        secondary: Any = None,
        at_ms: int | None = None,
    ) -> dict[str, Any]:
        """Merge ``secondary`` into ``primary``: the secondary id stops existing."""
        with self.lock:
            at = self._now_ms() if at_ms is None else int(at_ms)
            self._merge(object_type, int(primary), int(secondary), at)
            obj = self.stores[object_type].objects[int(primary)]
            return {
                "primary": str(primary),
                "hs_merged_object_ids": obj.properties["hs_merged_object_ids"],
            }

    def _merge(
        self, object_type: str, primary: int, secondary: int, at: int, *, relink: bool = True
    ) -> None:
        """Merge one record; ``relink=False`` leaves a company's contacts to the caller."""
        store = self.stores[object_type]
        if primary not in store.objects or secondary not in store.objects:
            raise ApiError(404, "Object not found", category="OBJECT_NOT_FOUND")
        keep, gone = store.objects[primary], store.objects.pop(secondary)
        ids = [x for x in keep.properties.get("hs_merged_object_ids", "").split(";") if x]
        ids += [str(secondary)]
        ids += [x for x in gone.properties.get("hs_merged_object_ids", "").split(";") if x]
        keep.properties["hs_merged_object_ids"] = ";".join(dict.fromkeys(ids))
        if object_type == "contacts":
            links = self.associations.pop(secondary, [])
            have = {c for c, _ in self.associations.get(primary, [])}
            self.associations.setdefault(primary, []).extend(
                (c, [279]) for c, _ in links if c not in have
            )
        elif relink:
            self._relink_companies({secondary: primary})
        store.touch(keep, at)

    def _relink_companies(self, absorbed: dict[int, int]) -> None:
        """Point the contacts of merged-away companies at the company that absorbed them.

        One pass over every contact's links, however many merges: a pass per merge was
        quadratic (2,000 company merges by 1,000,000 contacts when seeding 1,000,000).
        Seeded merges never absorb a primary, so one lookup per link is the same as merging
        one by one.
        """
        if not absorbed:
            return
        for contact_links in self.associations.values():
            for k, (company_id, types) in enumerate(contact_links):
                if company_id in absorbed:
                    contact_links[k] = (absorbed[company_id], types)

    def associate(
        self,
        contact_id: Any,
        company_id: Any,
        primary: bool = False,
        at_ms: int | None = None,
    ) -> dict[str, Any]:
        """Associate a contact with a company.

        Only a primary change writes a property (``associatedcompanyid``) and so bumps the
        contact's last-modified.
        """
        with self.lock:
            contact, company = int(contact_id), int(company_id)
            links = [
                (c, [t for t in types if t != 1] if primary else types)
                for c, types in self.associations.get(contact, [])
                if c != company
            ]
            links.insert(0, (company, [1, 279]) if primary else (company, [279]))
            if not primary:
                links.sort(key=lambda link: 1 not in link[1])
            self.associations[contact] = links
            if primary:
                store = self.stores["contacts"]
                obj = store.objects[contact]
                obj.properties["associatedcompanyid"] = str(company)
                store.touch(obj, self._now_ms() if at_ms is None else int(at_ms))
            return {"contact": str(contact), "companies": [str(c) for c, _ in links]}

    # -------------------------------------------------------- errors and limits
    def error_response(
        self, status: int, message: str, headers: dict[str, str] | None = None, **extra: Any
    ) -> Response:
        """HubSpot's ``Error`` body: status, message, correlationId, category (+ extras)."""
        body: dict[str, Any] = {
            "status": "error",
            "message": message,
            "correlationId": str(uuid.uuid4()),
        }
        if status != 429:
            body["category"] = CATEGORIES.get(
                status, "INTERNAL_ERROR" if status >= 500 else "ERROR"
            )
        body.update(extra)
        return json_response(body, status, headers)

    def _limiter(self, name: str, limit: int, window: float) -> WindowLimiter:
        key = (name, int(limit), float(window))
        if key not in self._limiters:
            self._limiters[key] = WindowLimiter(int(limit), float(window), self.clock)
        return self._limiters[key]

    def _rate_headers(self, decision: RateDecision, *, oauth: bool) -> dict[str, str]:
        headers = {
            "X-HubSpot-RateLimit-Interval-Milliseconds": str(int(decision.window_seconds * 1000)),
            "X-HubSpot-RateLimit-Max": str(decision.limit),
            "X-HubSpot-RateLimit-Remaining": str(decision.remaining),
        }
        if not oauth:
            daily = int(self.knobs["daily_limit"])
            headers["X-HubSpot-RateLimit-Daily"] = str(daily)
            headers["X-HubSpot-RateLimit-Daily-Remaining"] = str(max(0, daily - self.daily_used))
        return headers

    def _ten_secondly_429(self, headers: dict[str, str] | None = None) -> Response:
        self.limit_refusals["TEN_SECONDLY_ROLLING"] += 1
        return self.error_response(
            429,
            "You have reached your ten_secondly_rolling limit.",
            headers,
            errorType="RATE_LIMIT",
            policyName="TEN_SECONDLY_ROLLING",
            requestId=str(uuid.uuid4()),
        )

    def rate_limited_response(self) -> Response:
        """An injected 429 looks like the burst limit's."""
        window = float(self.knobs["burst_window_seconds"])
        return self._ten_secondly_429(
            {
                "X-HubSpot-RateLimit-Interval-Milliseconds": str(int(window * 1000)),
                "X-HubSpot-RateLimit-Max": str(self.knobs["burst_limit"]),
                "X-HubSpot-RateLimit-Remaining": "0",
            }
        )

    def _authenticate(self, request: Request) -> bool:
        """Check the bearer token; returns True for OAuth tokens."""
        header = request.headers.get("Authorization", "")
        token = header[7:].strip() if header[:7].lower() == "bearer " else ""
        if token and token in self.knobs["access_tokens"]:
            return False
        if token in self.oauth_tokens:
            if self.oauth_tokens[token] <= self.clock.now():
                raise ApiError(
                    401,
                    "The OAuth token used to make this call expired.",
                    category="EXPIRED_AUTHENTICATION",
                )
            return True
        raise ApiError(
            401,
            "Authentication credentials not found. This API supports OAuth 2.0 authentication"
            " and you can find more details at https://developers.hubspot.com/docs/methods/auth/"
            "oauth-overview",
            category="INVALID_AUTHENTICATION",
        )

    def before_request(self, request: Request) -> Response | None:
        """Auth, then the daily budget, then the search or burst budget."""
        request.environ["hubspot.headers"] = {}
        if request.path.startswith("/oauth/"):
            return None
        oauth = self._authenticate(request) if self.knobs["require_auth"] else False
        daily = int(self.knobs["daily_limit"])
        if daily > 0 and self.daily_used >= daily:
            self.limit_refusals["DAILY"] += 1
            return self.error_response(
                429,
                "You have reached your daily limit.",
                errorType="RATE_LIMIT",
                policyName="DAILY",
                requestId=str(uuid.uuid4()),
            )
        if request.path.endswith("/search"):
            decision = self._limiter("search", self.knobs["search_rate_per_second"], 1.0).take()
            if not decision.allowed:
                self.limit_refusals["SECONDLY"] += 1
                return self.error_response(
                    429,
                    "You have reached your secondly limit.",
                    errorType="RATE_LIMIT",
                    policyName="SECONDLY",
                    requestId=str(uuid.uuid4()),
                )
            self.daily_used += 1
            return None  # search responses carry no rate-limit headers
        decision = self._limiter(
            "burst", self.knobs["burst_limit"], self.knobs["burst_window_seconds"]
        ).take()
        headers = self._rate_headers(decision, oauth=oauth)
        if not decision.allowed:
            return self._ten_secondly_429(headers)
        self.daily_used += 1
        headers = self._rate_headers(decision, oauth=oauth)
        request.environ["hubspot.headers"] = headers
        return None

    def _route(self, request: Request) -> Response:
        response = super()._route(request)
        for key, value in (request.environ.get("hubspot.headers") or {}).items():
            response.headers.setdefault(key, value)
        return response

    # ---------------------------------------------------------------- helpers
    def _store(self, obj: str, version: str | None = None) -> ObjectStore:
        if version is not None and not VERSION_RE.match(version):
            raise ApiError(404, f"Unknown API version {version!r}")
        try:
            return self.stores[OBJECT_TYPES[obj]]
        except KeyError:
            raise ApiError(404, f"Unable to infer object type from: {obj}") from None

    def _render(
        self,
        store: ObjectStore,
        obj: CrmObject,
        properties: list[str] | None,
        associations: list[str] | None = None,
    ) -> dict[str, Any]:
        names = properties if properties else DEFAULT_PROPERTIES[store.object_type]
        wanted = [n for n in names if n in store.definitions]
        wanted += [n for n in ALWAYS_RETURNED[store.object_type] if n not in wanted]
        epoch_dates = self.knobs["date_value_format"] == "epoch_ms"
        values: dict[str, str | None] = {}
        for name in wanted:
            value = obj.properties.get(name)
            if epoch_dates and value and store.definitions.get(name, {}).get("type") == "date":
                value = str(parse_time_ms(value))
            values[name] = value
        shown_id = self.knobs["object_id_overrides"].get(str(obj.id))
        if shown_id is not None:
            values["hs_object_id"] = shown_id
        body: dict[str, Any] = {
            "id": str(obj.id) if shown_id is None else shown_id,
            "properties": values,
            "createdAt": iso_ms(obj.created_ms),
            "updatedAt": iso_ms(obj.updated_ms),
            "archived": obj.archived,
        }
        if obj.archived:
            body["archivedAt"] = iso_ms(obj.archived_ms or obj.updated_ms)
        if associations and store.object_type == "contacts" and "companies" in associations:
            results = []
            for company_id, types in self.associations.get(obj.id, []):
                if 1 in types:
                    results.append({"id": str(company_id), "type": "contact_to_company"})
                results.append({"id": str(company_id), "type": "contact_to_company_unlabeled"})
            if results:
                body["associations"] = {"companies": {"results": results}}
        return body

    @staticmethod
    def _csv(request: Request, name: str) -> list[str] | None:
        values = request.args.getlist(name)
        if not values:
            return None
        return [v.strip() for item in values for v in item.split(",") if v.strip()]

    @staticmethod
    def _flag(request: Request, name: str) -> bool:
        return request.args.get(name, "false").lower() == "true"

    @staticmethod
    def _int(value: Any, name: str) -> int:
        try:
            return int(value)
        except (TypeError, ValueError):
            raise ApiError(400, f"Invalid integer for {name}: {value!r}") from None

    # --------------------------------------------------------------- endpoints
    def on_list(self, request: Request, obj: str, version: str | None = None) -> Response:
        """``GET /crm/v3/objects/{type}``: cursor paging, properties in the query string."""
        store = self._store(obj, version)
        if len(request.full_path) > int(self.knobs["max_url_length"]):
            raise ApiError(414, "URI Too Long")
        limit = self._int(request.args.get("limit", 10), "limit")
        if not 1 <= limit <= int(self.knobs["list_max_limit"]):
            msg = f"limit must be between 1 and {self.knobs['list_max_limit']}, got {limit}"
            raise ApiError(400, msg)
        archived = self._flag(request, "archived")
        after = request.args.get("after")
        after_id = decode_after(after) if after else 0
        size = served_size(limit, self.knobs["list_page_clamp"])
        with self.lock:
            page = store.page_after(archived=archived, after_id=after_id, limit=size)
            properties = self._csv(request, "properties")
            assoc = self._csv(request, "associations")
            results = [self._render(store, o, properties, assoc) for o in page]
            body: dict[str, Any] = {"results": results}
            token = None
            if page:
                token = list_next_cursor(
                    store.archived_ids() if archived else store.active_ids(),
                    after_id=after_id,
                    page_last_id=page[-1].id,
                    size=size,
                    fault=self.knobs["list_cursor_fault"],
                    fault_page=int(self.knobs["list_cursor_fault_page"]),
                )
            if token is not None:
                body["paging"] = {
                    "next": {"after": token, "link": f"{request.base_url}?after={token}"}
                }
        return json_response(body)

    def on_read(
        self, request: Request, obj: str, object_id: str, version: str | None = None
    ) -> Response:
        """``GET /crm/v3/objects/{type}/{id}``."""
        store = self._store(obj, version)
        archived = self._flag(request, "archived")
        with self.lock:
            found = store.objects.get(int(object_id)) if object_id.isdigit() else None
            if found is None or found.archived != archived:
                raise ApiError(404, "Object not found. objectId are usually numeric.")
            body = self._render(
                store, found, self._csv(request, "properties"), self._csv(request, "associations")
            )
        return json_response(body)

    def on_batch_read(self, request: Request, obj: str, version: str | None = None) -> Response:
        """``POST .../batch/read``: ≤ 100 inputs, properties in the body, 207 on misses."""
        store = self._store(obj, version)
        body = self.json_body(request)
        inputs = body.get("inputs")
        if not isinstance(inputs, list) or not inputs:
            raise ApiError(400, "inputs must be a non-empty list")
        if len(inputs) > int(self.knobs["batch_read_max_inputs"]):
            msg = f"Too many inputs: {len(inputs)} > {self.knobs['batch_read_max_inputs']}"
            raise ApiError(400, msg)
        if body.get("propertiesWithHistory") and len(inputs) > 50:
            raise ApiError(400, "Batch read with propertiesWithHistory is limited to 50 inputs")
        archived = self._flag(request, "archived")
        id_property = body.get("idProperty")
        started = iso_ms(self._now_ms())
        results, missing = [], []
        with self.lock:
            by_value: dict[str, CrmObject] = {}
            if id_property:
                by_value = {
                    str(o.properties.get(id_property, "")).lower(): o
                    for o in store.objects.values()
                    if o.properties.get(id_property)
                }
            for item in inputs:
                key = str((item or {}).get("id", ""))
                if id_property:
                    found = by_value.get(key.lower())
                else:
                    found = store.objects.get(int(key)) if key.isdigit() else None
                if found is None or found.archived != archived:
                    missing.append(key)
                    continue
                results.append(self._render(store, found, body.get("properties")))
        out: dict[str, Any] = {
            "status": "COMPLETE",
            "results": results,
            "startedAt": started,
            "completedAt": iso_ms(self._now_ms()),
        }
        if missing:
            out["numErrors"] = 1
            out["errors"] = [
                {
                    "status": "error",
                    "category": "OBJECT_NOT_FOUND",
                    "message": "Could not get some objects, they may be deleted or not exist.",
                    "context": {"ids": missing},
                    "errors": [],
                }
            ]
            return json_response(out, 207)
        return json_response(out)

    def _validate_search(self, body: dict[str, Any]) -> tuple[int, int, list[tuple[str, bool]]]:
        knobs = self.knobs
        limit = self._int(body.get("limit", 10), "limit")
        if not 1 <= limit <= int(knobs["search_max_limit"]):
            msg = f"limit must be between 1 and {knobs['search_max_limit']}, got {limit}"
            raise ApiError(400, msg)
        after = self._int(body.get("after", 0) or 0, "after")
        cap = int(knobs["search_max_results"])
        if after >= cap:
            msg = f"Paging past {cap} results is not supported; narrow the filters"
            raise ApiError(400, msg, subCategory="SEARCH_PAGING_LIMIT")
        groups = body.get("filterGroups") or []
        if len(groups) > int(knobs["search_max_filter_groups"]):
            raise ApiError(400, f"Too many filter groups (max {knobs['search_max_filter_groups']})")
        total = 0
        for group in groups:
            filters = group.get("filters") or []
            if len(filters) > int(knobs["search_max_filters_per_group"]):
                msg = f"Too many filters in a group (max {knobs['search_max_filters_per_group']})"
                raise ApiError(400, msg)
            total += len(filters)
        if total > int(knobs["search_max_filters_total"]):
            raise ApiError(400, f"Too many filters (max {knobs['search_max_filters_total']})")
        sorts: list[tuple[str, bool]] = []
        for item in body.get("sorts") or []:
            if isinstance(item, str):  # the spec's array<string> reading
                sorts.append((item.lstrip("-"), item.startswith("-")))
            else:
                sorts.append((item["propertyName"], item.get("direction") == "DESCENDING"))
        if len(sorts) > int(knobs["search_max_sorts"]):
            raise ApiError(400, f"Too many sorts (max {knobs['search_max_sorts']})")
        if len(body.get("query") or "") > 3000:
            raise ApiError(400, "query is limited to 3000 characters")
        return limit, after, sorts

    def on_search(self, request: Request, obj: str, version: str | None = None) -> Response:
        """``POST .../search``: filters, one sort, offset paging, 10,000-result cap.

        A page holds ``limit`` records, or fewer under ``search_page_clamp``; ``paging.next``
        is there whenever records remain past it.
        """
        store = self._store(obj, version)
        body = self.json_body(request)
        limit, after, sorts = self._validate_search(body)
        size = served_size(limit, self.knobs["search_page_clamp"])
        cap = int(self.knobs["search_max_results"])
        visible = self._now_ms() - int(self.knobs["search_index_lag_ms"])
        with self.lock:
            found = store.search(body.get("filterGroups") or [], sorts, body.get("query"), visible)
            page = found[after : min(after + size, cap)]
            results = [self._render(store, o, body.get("properties")) for o in page]
        out: dict[str, Any] = {"total": len(found), "results": results}
        if after + size < len(found):
            out["paging"] = {"next": {"after": str(after + size)}}
        return json_response(out)

    def on_properties(self, request: Request, obj: str, version: str | None = None) -> Response:
        """``GET /crm/v3/properties/{type}``: every definition, no paging."""
        store = self._store(obj, version)
        archived = self._flag(request, "archived")
        with self.lock:
            results = [
                copy.deepcopy(p) for p in store.definitions.values() if p["archived"] == archived
            ]
        return json_response({"results": results})

    def on_associations(
        self, request: Request, obj: str, to_obj: str, version: str | None = None
    ) -> Response:
        """v4 ``POST associations/{from}/{to}/batch/read``: ≤ 1,000 inputs, per-record paging."""
        from_store = self._store(obj, version)
        to_store = self._store(to_obj)
        body = self.json_body(request)
        inputs = body.get("inputs")
        if not isinstance(inputs, list) or not inputs:
            raise ApiError(400, "inputs must be a non-empty list")
        if len(inputs) > int(self.knobs["associations_max_inputs"]):
            msg = f"Too many inputs: {len(inputs)} > {self.knobs['associations_max_inputs']}"
            raise ApiError(400, msg)
        page_size = int(self.knobs["association_page_size"])
        results, missing = [], []
        started = iso_ms(self._now_ms())
        with self.lock:
            reverse: dict[int, list[tuple[int, list[int]]]] = {}
            if from_store.object_type == "companies":
                for contact_id, links in self.associations.items():
                    for company_id, types in links:
                        reverse.setdefault(company_id, []).append(
                            (contact_id, [REVERSE_TYPE.get(t, t) for t in types])
                        )
            for item in inputs:
                key = str((item or {}).get("id", ""))
                found = from_store.objects.get(int(key)) if key.isdigit() else None
                if found is None or found.archived:
                    missing.append(key)
                    continue
                if from_store.object_type == to_store.object_type:
                    links = []
                elif from_store.object_type == "contacts":
                    links = self.associations.get(found.id, [])
                else:
                    links = reverse.get(found.id, [])
                links = [
                    (i, t)
                    for i, t in links
                    if i in to_store.objects and not to_store.objects[i].archived
                ]
                if not links:
                    continue
                offset = self._int(item.get("after") or 0, "after")
                chunk = links[offset : offset + page_size]
                entry: dict[str, Any] = {
                    "from": {"id": key},
                    "to": [
                        {
                            "toObjectId": other,
                            "associationTypes": [
                                {
                                    "category": "HUBSPOT_DEFINED",
                                    "typeId": t,
                                    "label": TYPE_LABELS.get(t),
                                }
                                for t in types
                            ],
                        }
                        for other, types in chunk
                    ],
                }
                if offset + page_size < len(links):
                    entry["paging"] = {"next": {"after": str(offset + page_size)}}
                results.append(entry)
        out: dict[str, Any] = {
            "status": "COMPLETE",
            "results": results,
            "startedAt": started,
            "completedAt": iso_ms(self._now_ms()),
        }
        if missing:
            out["numErrors"] = len(missing)
            out["errors"] = [
                {
                    "status": "error",
                    "category": "OBJECT_NOT_FOUND",
                    "message": f"No {obj} is found with ID {key}",
                    "context": {"fromObjectId": [key]},
                    "errors": [],
                }
                for key in missing
            ]
            return json_response(out, 207)
        return json_response(out)

    def on_token(self, request: Request, version: str) -> Response:
        """OAuth refresh (form body): returns a 30-minute access token."""
        if version not in self.knobs["oauth_token_versions"]:
            raise ApiError(404, f"No such resource: POST {request.path}")
        form = {k: v[-1] for k, v in parse_qs(request.get_data(as_text=True)).items()}
        if form.get("grant_type") != "refresh_token":
            return json_response(
                {"status": "BAD_GRANT_TYPE", "message": "grant_type must be refresh_token"}, 400
            )
        if (
            form.get("client_id") != self.knobs["oauth_client_id"]
            or form.get("client_secret") != self.knobs["oauth_client_secret"]
        ):
            return json_response(
                {"status": "BAD_CLIENT_ID", "message": "missing or unknown client_id/secret"}, 400
            )
        if form.get("refresh_token") != self.knobs["oauth_refresh_token"]:
            return json_response(
                {"status": "BAD_REFRESH_TOKEN", "message": "missing or unknown refresh token"},
                400,
            )
        with self.lock:
            self._token_seq += 1
            token = f"oauth-{self._token_seq}-{uuid.uuid4().hex}"
            expires_in = int(self.knobs["oauth_expires_in"])
            self.oauth_tokens[token] = self.clock.now() + expires_in
        return json_response(
            {
                "token_type": "bearer",
                "access_token": token,
                "refresh_token": form["refresh_token"],
                "expires_in": expires_in,
            }
        )

    def on_daily_usage(self, request: Request) -> Response:  # noqa: ARG002
        """The private-app daily usage document."""
        return json_response(
            {
                "results": [
                    {
                        "name": "private-apps-api-calls-daily",
                        "usageLimit": int(self.knobs["daily_limit"]),
                        "currentUsage": self.daily_used,
                        "collectedAt": iso_ms(self._now_ms()),
                        "fetchStatus": "SUCCESS",
                        "resetsAt": iso_ms((self._now_ms() // 86_400_000 + 1) * 86_400_000),
                    }
                ]
            }
        )


def create_app(*, clock: Clock | None = None, **knobs: Any) -> HubSpotApp:
    """Build the HubSpot sandbox (the registry's entry point)."""
    return HubSpotApp(clock=clock, **knobs)
