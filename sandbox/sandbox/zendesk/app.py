"""The Zendesk Support sandbox: users, organizations, their custom fields, the exports.

It follows ``reference/zendesk-api.md`` §1 and ``specs/zendesk/support-oas.yaml``:

* incremental exports: users cursor-based (``/api/v2/incremental/users/cursor``:
  ``start_time`` on the first call, then ``cursor``; ``after_cursor``/``after_url``,
  ``end_of_stream``), users and organizations time-based (``/api/v2/incremental/users``,
  ``/api/v2/incremental/organizations``: ``count``, ``end_time``, ``next_page``,
  ``end_of_stream``; the next call starts at ``end_time``, so the last item may come again,
  and a page never ends inside a run of equal timestamps). ``per_page`` ≤ 1000 (default
  1000); items changed in the last minute are held back; 10 requests per minute on
  ``/incremental/*`` (``incremental_rate_per_minute``), 429 with ``Retry-After``;
* field definitions: ``/api/v2/user_fields`` and ``/api/v2/organization_fields`` (offset
  paging, or cursor paging with ``page[size]`` ≤ 100), one by id or key, ``/{id}/options``;
* plain reads: ``/api/v2/users``, ``/api/v2/organizations`` (offset or cursor), one by id,
  ``/api/v2/search`` for ``type:user`` / ``type:organization`` with ``updated>``/``updated<``;
* auth: OAuth bearer tokens or ``{email}/token:{api_token}`` Basic; 401
  ``Couldn't authenticate you``; ``/api/v2/oauth/tokens/current`` answers for a token;
* every path also with the ``.json`` suffix the clients add.

Other Support resources (tickets, groups, macros...) are out of scope: they answer 403 with
Zendesk's "Access to this resource is restricted" body, as an account without that product
or permission does, so clients that probe them (tap-zendesk's discovery) skip them.

Controls beyond the shared ones: ``POST /_sandbox/modify`` (change a user or organization,
bumping ``updated_at``) and ``POST /_sandbox/add`` (create one).
"""

from __future__ import annotations

import base64
import binascii
import copy
import datetime as dt
import re
from typing import Any, ClassVar
from urllib.parse import urlencode

from werkzeug.routing import Rule
from werkzeug.wrappers import Request, Response

from sandbox.core.app import ApiError, SandboxApp, json_response
from sandbox.core.clock import Clock
from sandbox.core.ratelimit import WindowLimiter
from sandbox.zendesk import store as data
from sandbox.zendesk.store import Record, Store

RESTRICTED = (
    "Access to this resource is restricted. Please contact the account administrator for "
    "assistance."
)
KINDS = {"users": "user", "organizations": "organization"}
FIELDS_OF = {"users": "user_fields", "organizations": "organization_fields"}


def _encode_cursor(updated: int, record_id: int) -> str:
    """Opaque cursor in Zendesk's observed shape (``1576613539.0||467|`` base64)."""
    return base64.b64encode(f"{updated}.0||{record_id}|".encode()).decode()


def _decode_cursor(cursor: str) -> tuple[int, int]:
    try:
        text = base64.b64decode(cursor.encode(), validate=True).decode()
        stamp, _, rest = text.partition("||")
        return int(float(stamp)), int(rest.strip("|"))
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise ApiError(400, "InvalidCursor", description=f"Invalid cursor {cursor!r}") from exc


def _parse_time(value: str, *, what: str = "start_time") -> int:
    """Epoch seconds; an ISO-8601 datetime is tolerated (tap-zendesk's discovery sends one)."""
    text = value.strip()
    if re.fullmatch(r"-?\d+(\.\d+)?", text):
        return int(float(text))
    try:
        parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ApiError(400, "InvalidValue", description=f"{what} is invalid") from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return int(parsed.timestamp())


class ZendeskApp(SandboxApp):
    """A stateful stand-in for Zendesk Support's user and organization APIs."""

    name = "zendesk"
    extra_knobs: ClassVar[dict[str, Any]] = {
        "require_auth": True,
        "access_tokens": ["sandbox-token"],
        "api_tokens": {"admin@sandbox.zendesk.example": "sandbox-api-token"},
        "export_max_per_page": 1000,
        "export_hold_back_seconds": 60,
        "incremental_rate_per_minute": 10,
        "list_max_per_page": 100,
        "dropdown_type_name": "dropdown",  # or "tagger", the older name
        "public_host": "https://sandbox.zendesk.com",
    }

    def __init__(self, *, clock: Clock | None = None, **knobs: Any) -> None:
        self._incremental_limiter: WindowLimiter | None = None
        super().__init__(clock=clock, **knobs)

    # ----------------------------------------------------------------- routing
    def rules(self) -> list[Rule]:
        """Each path with and without ``.json``."""
        paths = [
            ("/api/v2/incremental/users/cursor", "users_cursor"),
            ("/api/v2/incremental/<any(users,organizations):kind>", "time_export"),
            ("/api/v2/<any(user_fields,organization_fields):kind>", "fields"),
            ("/api/v2/<any(user_fields,organization_fields):kind>/<key>", "field"),
            ("/api/v2/<any(user_fields,organization_fields):kind>/<int:fid>/options", "options"),
            ("/api/v2/<any(users,organizations):kind>", "list"),
            ("/api/v2/<any(users,organizations):kind>/<int:rid>", "show"),
            ("/api/v2/search", "search"),
            ("/api/v2/oauth/tokens/current", "current_token"),
            ("/api/v2/<path:other>", "restricted"),
        ]
        rules = []
        for path, endpoint in paths:
            rules.append(Rule(path, methods=["GET"], endpoint=endpoint))
            if "<path:" not in path:
                rules.append(Rule(f"{path}.json", methods=["GET"], endpoint=endpoint))
        return rules

    # ------------------------------------------------------------------- state
    def reset_state(self) -> None:
        """No users or organizations; the field definitions of the seed."""
        self.store = Store()
        self._incremental_limiter = None
        self._set_fields(data.DEFAULT_BASE)

    def _set_fields(self, base: int) -> None:
        host = self.knobs["public_host"]
        kind = self.knobs["dropdown_type_name"]
        self.store.user_fields = data.build_fields(
            data.USER_FIELD_SPECS,
            resource="user_fields",
            id_base=data.FIELD_ID_BASE,
            base=base,
            dropdown_type=kind,
            host=host,
        )
        self.store.organization_fields = data.build_fields(
            data.ORG_FIELD_SPECS,
            resource="organization_fields",
            id_base=data.FIELD_ID_BASE + 500,
            base=base,
            dropdown_type=kind,
            host=host,
        )

    def state_snapshot(self) -> dict[str, Any]:
        """Users, organizations and field definitions."""
        return self.store.snapshot()

    def seed(self, preset: str = "default", **params: Any) -> dict[str, Any]:
        """Presets ``default`` and ``empty``.

        Params: ``organizations`` (5), ``users`` (20 end users, plus the admin),
        ``without_email`` (1 user with no email), ``deleted_users`` (1, ``active: false``),
        ``multiselect_values`` (true: multiselect fields carry lists), ``base`` (epoch),
        ``step`` (60 s between records).
        """
        presets = {"default": {}, "empty": {"organizations": 0, "users": 0, "admin": False}}
        if preset not in presets:
            msg = f"zendesk sandbox has no seed preset {preset!r}; known: {sorted(presets)}"
            raise ApiError(400, msg)
        opts = {
            "organizations": 5,
            "users": 20,
            "without_email": 1,
            "deleted_users": 1,
            "multiselect_values": True,
            "admin": True,
            "base": data.DEFAULT_BASE,
            "step": 60,
            **presets[preset],
        }
        unknown = sorted(set(params) - set(opts))
        if unknown:
            msg = f"unknown seed param(s) {unknown}; known: {sorted(opts)}"
            raise ApiError(400, msg)
        opts.update(params)
        host = self.knobs["public_host"]
        base, step, multi = int(opts["base"]), int(opts["step"]), bool(opts["multiselect_values"])
        with self.lock:
            self.store = Store()
            self._set_fields(base)
            orgs = [
                data.org_body(i, base, step, host, multiselect=multi)
                for i in range(int(opts["organizations"]))
            ]
            for body in orgs:
                self._put("organizations", body)
            org_ids = [o["id"] for o in orgs]
            n_users = int(opts["users"])
            no_email = set(range(n_users - 1, n_users - 1 - int(opts["without_email"]), -1))
            deleted = set(range(n_users - 1 - len(no_email), n_users - 1 - len(no_email)
                                - int(opts["deleted_users"]), -1))  # fmt: skip
            if opts["admin"]:
                self._put("users", data.admin_body(base, host))
            for i in range(n_users):
                body = data.user_body(
                    i,
                    base,
                    step,
                    host,
                    org_ids,
                    multiselect=multi,
                    without_email=i in no_email,
                    deleted=i in deleted,
                )
                self._put("users", body)
        return {
            "preset": preset,
            **opts,
            "user_ids": sorted(self.store.users),
            "organization_ids": sorted(self.store.organizations),
        }

    def _put(self, kind: str, body: dict[str, Any]) -> Record:
        record = Record(int(body["id"]), body, data_epoch(body["updated_at"]))
        getattr(self.store, kind)[record.id] = record
        return record

    # ---------------------------------------------------------------- controls
    def _control(self, request: Request, action: str) -> Response:
        if request.method == "POST" and action in ("modify", "add"):
            try:
                body = self.json_body(request)
                with self.lock:
                    return json_response(getattr(self, action)(**body))
            except ApiError as exc:
                return json_response({"error": exc.message}, exc.status)
            except (ValueError, TypeError, KeyError) as exc:
                return json_response({"error": str(exc)}, 400)
        return super()._control(request, action)

    def modify(
        self, kind: str, id: Any, changes: dict[str, Any], at: float | None = None
    ) -> dict[str, Any]:
        """Change a user or organization as an agent would: ``updated_at`` moves to ``at``.

        Custom values in ``changes[user_fields|organization_fields]`` are merged key by key.
        """
        with self.lock:
            records = getattr(self.store, kind)
            record = records.get(int(id))
            if record is None:
                raise ApiError(404, "RecordNotFound", description="Not found")
            fields_key = FIELDS_OF[kind]
            for key, value in changes.items():
                if key == fields_key:
                    record.body[fields_key] = {**record.body.get(fields_key, {}), **value}
                elif key in ("id", "url", "created_at", "updated_at"):
                    msg = f"{key} is read-only"
                    raise ValueError(msg)
                else:
                    record.body[key] = copy.deepcopy(value)
            stamp = int(self.clock.now() if at is None else at)
            record.updated = stamp
            record.body["updated_at"] = data.iso(stamp)
            return copy.deepcopy(record.body)

    def add(self, kind: str, body: dict[str, Any], at: float | None = None) -> dict[str, Any]:
        """Create a user or organization (an id is given unless the body has one)."""
        with self.lock:
            records = getattr(self.store, kind)
            base_id = data.USER_ID_BASE if kind == "users" else data.ORG_ID_BASE
            new_id = int(body.get("id") or max([base_id, *records]) + 1)
            stamp = int(self.clock.now() if at is None else at)
            full = {
                "id": new_id,
                "url": f"{self.knobs['public_host']}/api/v2/{kind}/{new_id}.json",
                FIELDS_OF[kind]: {},
                **copy.deepcopy(body),
                "created_at": data.iso(stamp),
                "updated_at": data.iso(stamp),
            }
            full["id"] = new_id
            self._put(kind, full)
            return copy.deepcopy(full)

    # ------------------------------------------------------------ auth, errors
    def error_response(
        self, status: int, message: str, headers: dict[str, str] | None = None, **extra: Any
    ) -> Response:
        """Zendesk's shapes: ``{"error": "Title", "description": "..."}``."""
        if status == 401:
            body: dict[str, Any] = {"error": "Couldn't authenticate you"}
        elif status == 403 and message == RESTRICTED:
            body = {"error": {"title": "Forbidden", "message": RESTRICTED}}
        elif status == 404 and "description" not in extra:
            body = {"error": "InvalidEndpoint", "description": "Not found"}
        elif status == 429:
            body = {"error": "APIRateLimitExceeded", "description": message}
        else:
            body = {"error": message, **extra}
        return json_response(body, status, headers)

    def before_request(self, request: Request) -> Response | None:
        """Check the credentials, then the incremental-export rate limit."""
        if self.knobs["require_auth"] and not self._authorized(request):
            return self.error_response(401, "Couldn't authenticate you")
        if "/incremental/" in request.path:
            limiter = self._limiter()
            decision = limiter.take()
            if not decision.allowed:
                wait = decision.retry_after(self.clock.now())
                return self.error_response(
                    429,
                    f"Number of allowed incremental export API requests per minute exceeded "
                    f"({decision.limit})",
                    {"Retry-After": str(wait)},
                )
        return None

    def _limiter(self) -> WindowLimiter:
        limit = int(self.knobs["incremental_rate_per_minute"])
        if self._incremental_limiter is None or self._incremental_limiter.limit != limit:
            self._incremental_limiter = WindowLimiter(limit, 60, self.clock)
        return self._incremental_limiter

    def _authorized(self, request: Request) -> bool:
        header = request.headers.get("Authorization", "")
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer":
            return value.strip() in self.knobs["access_tokens"]
        if scheme.lower() == "basic":
            try:
                text = base64.b64decode(value.strip()).decode()
            except (ValueError, binascii.Error, UnicodeDecodeError):
                return False
            user, _, secret = text.partition(":")
            email, token_marker, _ = user.partition("/token")
            return bool(token_marker) and self.knobs["api_tokens"].get(email) == secret
        return False

    # --------------------------------------------------------------- helpers
    @staticmethod
    def _base(request: Request) -> str:
        """The public origin the client used (the proxy keeps Host and says https)."""
        scheme = request.headers.get("X-Forwarded-Proto", request.scheme)
        return f"{scheme}://{request.host}"

    def _per_page(self, request: Request, maximum: int, default: int) -> int:
        raw = request.args.get("per_page") or request.args.get("page[size]")
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError as exc:
            raise ApiError(400, "InvalidValue", description="per_page must be a number") from exc
        if value < 1:
            raise ApiError(400, "InvalidValue", description="per_page must be positive")
        return min(value, maximum)

    def _visible(self, kind: str) -> list[Record]:
        """Export order, without what changed within the hold-back window."""
        cutoff = self.clock.now() - float(self.knobs["export_hold_back_seconds"])
        return [r for r in self.store.ordered(kind) if r.updated <= cutoff]

    def _start_time(self, request: Request) -> int:
        raw = request.args.get("start_time")
        if raw is None:
            raise ApiError(400, "InvalidValue", description="start_time is required")
        start = _parse_time(raw)
        if start > self.clock.now():
            raise ApiError(400, "InvalidValue", description="start_time is in the future")
        return start

    # --------------------------------------------------------------- exports
    def on_users_cursor(self, request: Request) -> Response:
        """``GET /api/v2/incremental/users/cursor``: resume after the cursor's (time, id)."""
        per_page = self._per_page(request, self.knobs["export_max_per_page"], 1000)
        cursor = request.args.get("cursor")
        with self.lock:
            items = self._visible("users")
            if cursor:
                after = _decode_cursor(cursor)
                remaining = [r for r in items if r.sort_key() > after]
            else:
                start = self._start_time(request)
                remaining = [r for r in items if r.updated >= start]
                after = (start - 1, 2**62)
            page = remaining[:per_page]
            last = page[-1].sort_key() if page else after
            after_cursor = _encode_cursor(*last)
            base = self._base(request)
            body = {
                "users": [copy.deepcopy(r.body) for r in page],
                "after_cursor": after_cursor,
                "after_url": f"{base}/api/v2/incremental/users/cursor.json?"
                + urlencode({"cursor": after_cursor, "per_page": per_page}),
                "before_cursor": None,
                "before_url": None,
                "end_of_stream": len(remaining) <= per_page,
            }
        return json_response(body)

    def on_time_export(self, request: Request, kind: str) -> Response:
        """``GET /api/v2/incremental/{users|organizations}``: time-based, from ``start_time``."""
        per_page = self._per_page(request, self.knobs["export_max_per_page"], 1000)
        with self.lock:
            start = self._start_time(request)
            remaining = [r for r in self._visible(kind) if r.updated >= start]
            page = remaining[:per_page]
            # never end a page inside a run of equal timestamps: the next call would loop
            while (
                len(page) < len(remaining)
                and page
                and remaining[len(page)].updated == page[-1].updated
            ):
                page.append(remaining[len(page)])
            end_time = page[-1].updated if page else start
            base = self._base(request)
            body = {
                kind: [copy.deepcopy(r.body) for r in page],
                "count": len(page),
                "end_time": end_time,
                "next_page": f"{base}/api/v2/incremental/{kind}.json?"
                + urlencode({"start_time": end_time, "per_page": per_page}),
                "end_of_stream": len(page) < per_page,
            }
        return json_response(body)

    # ------------------------------------------------------------- definitions
    def _paged(self, request: Request, key: str, items: list[dict[str, Any]]) -> Response:
        """Offset paging (``page``, ``per_page``) or cursor paging (``page[size]``)."""
        maximum = int(self.knobs["list_max_per_page"])
        base = f"{self._base(request)}{request.path}"
        if "page[size]" in request.args or "page[after]" in request.args:
            size = self._per_page(request, maximum, maximum)
            start = 0
            if request.args.get("page[after]"):
                start = _decode_offset(request.args["page[after]"])
            chunk = items[start : start + size]
            more = start + size < len(items)
            after = _encode_offset(start + size) if chunk else None
            before = _encode_offset(start) if chunk else None
            body: dict[str, Any] = {
                key: chunk,
                "meta": {"has_more": more, "after_cursor": after, "before_cursor": before},
                "links": {
                    "next": f"{base}?" + urlencode({"page[size]": size, "page[after]": after})
                    if more
                    else None,
                    "prev": None,
                },
            }
            return json_response(body)
        size = self._per_page(request, maximum, maximum)
        try:
            page = max(1, int(request.args.get("page", 1)))
        except ValueError as exc:
            raise ApiError(400, "InvalidValue", description="page must be a number") from exc
        chunk = items[(page - 1) * size : page * size]
        more = page * size < len(items)
        body = {
            key: chunk,
            "next_page": f"{base}?" + urlencode({"page": page + 1, "per_page": size})
            if more
            else None,
            "previous_page": f"{base}?" + urlencode({"page": page - 1, "per_page": size})
            if page > 1
            else None,
            "count": len(items),
        }
        return json_response(body)

    def on_fields(self, request: Request, kind: str) -> Response:
        """``GET /api/v2/{user_fields|organization_fields}``, in position order."""
        with self.lock:
            items = copy.deepcopy(getattr(self.store, kind))
        return self._paged(request, kind, sorted(items, key=lambda f: f["position"]))

    def _find_field(self, kind: str, key: str) -> dict[str, Any]:
        for item in getattr(self.store, kind):
            if str(item["id"]) == key or item["key"] == key:
                return item
        raise ApiError(404, "RecordNotFound", description="Not found")

    def on_field(self, request: Request, kind: str, key: str) -> Response:  # noqa: ARG002
        """One definition by id or key."""
        with self.lock:
            item = copy.deepcopy(self._find_field(kind, key))
        return json_response({kind[:-1]: item})

    def on_options(self, request: Request, kind: str, fid: int) -> Response:
        """A dropdown or multiselect field's options."""
        with self.lock:
            item = self._find_field(kind, str(fid))
            options = copy.deepcopy(item.get("custom_field_options") or [])
        return self._paged(request, "custom_field_options", options)

    # ------------------------------------------------------------------ reads
    def on_list(self, request: Request, kind: str) -> Response:
        """``GET /api/v2/{users|organizations}`` in id order."""
        with self.lock:
            items = [copy.deepcopy(r.body) for _, r in sorted(getattr(self.store, kind).items())]
        return self._paged(request, kind, items)

    def on_show(self, request: Request, kind: str, rid: int) -> Response:  # noqa: ARG002
        """One user or organization."""
        with self.lock:
            record = getattr(self.store, kind).get(rid)
            if record is None:
                raise ApiError(404, "RecordNotFound", description="Not found")
            return json_response({KINDS[kind]: copy.deepcopy(record.body)})

    def on_search(self, request: Request) -> Response:
        """``type:user`` / ``type:organization`` with ``updated>`` / ``updated<`` terms."""
        query = request.args.get("query", "")
        kind_match = re.search(r"type:(user|organization)\b", query)
        if kind_match is None:
            raise ApiError(
                400,
                "InvalidSearch",
                description="the sandbox searches type:user and type:organization only",
            )
        kind = f"{kind_match.group(1)}s"
        after = [_parse_time(v, what="updated>") for v in re.findall(r"updated>(\S+)", query)]
        before = [_parse_time(v, what="updated<") for v in re.findall(r"updated<(\S+)", query)]
        with self.lock:
            found = [
                {**copy.deepcopy(r.body), "result_type": kind_match.group(1)}
                for r in self.store.ordered(kind)
                if all(r.updated > a for a in after) and all(r.updated < b for b in before)
            ]
        response = self._paged(request, "results", found)
        return response

    def on_current_token(self, request: Request) -> Response:
        """The bearer token's own description (tap-zendesk checks its expiry)."""
        header = request.headers.get("Authorization", "")
        token = header.partition(" ")[2].strip()
        return json_response(
            {
                "token": {
                    "id": 1,
                    "token": f"{token[:4]}...",
                    "client_id": 1,
                    "scopes": ["read"],
                    "expires_at": None,
                    "created_at": data.iso(data.DEFAULT_BASE),
                }
            }
        )

    def on_restricted(self, request: Request, other: str) -> Response:  # noqa: ARG002
        """Any other Support resource: out of this sandbox's scope, answered as forbidden."""
        return self.error_response(403, RESTRICTED)


def data_epoch(text: str) -> int:
    """Epoch seconds of a stored ISO timestamp."""
    return _parse_time(text, what="updated_at")


def _encode_offset(offset: int) -> str:
    return base64.urlsafe_b64encode(f"o:{offset}".encode()).decode()


def _decode_offset(token: str) -> int:
    try:
        text = base64.urlsafe_b64decode(token.encode()).decode()
        if not text.startswith("o:"):
            raise ValueError(text)
        return int(text[2:])
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise ApiError(400, "InvalidCursor", description=f"Invalid cursor {token!r}") from exc


def create_app(*, clock: Clock | None = None, **knobs: Any) -> ZendeskApp:
    """Build a Zendesk sandbox with the given knobs (see ``ZendeskApp.extra_knobs``)."""
    return ZendeskApp(clock=clock, **knobs)
