"""The CSM sandbox app: routes, authentication, required headers, rate limits, idempotency.

Paths live under ``/jsm/csm/cloudid/{cloudId}/api/v1``, and Jira's user search under
``/ex/jira/{cloudId}/rest/api/3`` (or ``/rest/api/3`` on a site URL); another cloudId is a
404. What each request goes through, in order:

1. the site's burst limiter counts every API request, refused or not (429 with
   ``Retry-After`` and ``RateLimit-Reason``), and every API response gets the
   ``X-RateLimit-*`` headers, injected faults included;
2. ``Authorization``: ``Bearer <oauth_token>`` or ``Basic base64(basic_email:basic_api_token)``,
   else 401; then tasks are moved forward to the clock's now; then the cloudId (404);
3. bulk and task endpoints: ``X-ExperimentalApi: opt-in`` (exactly) unless
   ``experimental_header_required`` is off, else 412;
4. bulk endpoints: ``Idempotency-Key`` (400 when missing), replay or clash (keys are kept
   ``idempotency_retention_seconds``), structural validation (400, remembered under the
   key), the task cap (400, not remembered), then a new task and 202.

The single-record endpoints (profile reads and fetches, deletes, Jira's user search) answer
at once, with no key and no task: :mod:`sandbox.csm.records` (mixed in).

Readings taken where the contract is silent: the limiter is checked before authentication
(it counts all requests of the site, so unauthenticated floods are throttled too); creating a
detail field answers 200 with ``{name, type}``.

Definitions bulk body (``POST {entity}/details/definitions/bulk``), as in reference §2.7:
``{"detailFields": [{"name": "Tier", "type": {"name": "SELECT", "options": ["A", "B"]}}]}``;
any clash (with existing fields or within the request), unknown type or overflow past 50
fields refuses the whole request with a 400 and nothing is created.

The core's ``_handle`` and ``_route`` are extended (not replaced): ``_handle`` to stamp the
rate-limit headers on every API response, including the core's injected faults, which never
reach ``before_request``; ``_route`` to hold the app lock while a request reads or changes
state, so the threaded server never interleaves two handlers.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import random
import re
import threading
from typing import Any, ClassVar

from werkzeug.routing import Rule
from werkzeug.wrappers import Request, Response

from sandbox.core.app import CONTROL_PREFIX, ApiError, SandboxApp, json_response
from sandbox.core.clock import Clock
from sandbox.core.ratelimit import RateDecision
from sandbox.csm.idempotency import (
    CLASH_MESSAGE,
    MAX_KEY_LENGTH,
    IdempotencyStore,
    Outcome,
    fingerprint,
)
from sandbox.csm.knobs import CHOICES, CSM_KNOBS
from sandbox.csm.operations import Failure, Readings, apply_definitions, apply_item
from sandbox.csm.ratelimit import SiteLimiter, budget_headers, retry_headers
from sandbox.csm.records import RecordEndpoints, record_rules
from sandbox.csm.seed import seed_store
from sandbox.csm.store import Store
from sandbox.csm.tasks import FAILED, FINISHED, Task, TaskBoard, submit_answer
from sandbox.csm.validate import (
    BULK_SPECS,
    MAX_FIELDS_PER_ENTITY,
    BulkSpec,
    check_bulk,
    check_definition,
    check_definitions,
)

API_PREFIX = "/jsm/csm/cloudid/<cloud_id>/api/v1"
CLOUD_RE = re.compile(r"^/(?:jsm/csm/cloudid|ex/jira)/([^/]+)/")
TASK_CAP_MESSAGE = "Maximum number of tasks reached"
COUNTERS = (
    "submits",
    "tasks_created",
    "replays",
    "idempotency_clashes",
    "validation_errors",
    "task_cap_refusals",
    "rate_limited",
    "unauthorized",
    "precondition_failed",
    "polls",
    "tasks_finished",
    "tasks_failed",
    "items_failed",
    "customers_deleted",
    "organizations_deleted",
    "profile_fetches",
    "user_searches",
)


class CsmApp(SandboxApp, RecordEndpoints):
    """Atlassian Customer Service Management, as ``docs/csm-api-choices.md`` reads it."""

    name = "csm"
    extra_knobs: ClassVar[dict[str, Any]] = CSM_KNOBS

    def __init__(self, *, clock: Clock | None = None, **knobs: Any) -> None:
        self._local = threading.local()
        super().__init__(clock=clock, **knobs)

    # ---------------------------------------------------------------- framework
    def rules(self) -> list[Rule]:
        """The API's routes."""
        rules = [
            Rule(
                f"{API_PREFIX}/{endpoint}",
                endpoint="bulk",
                methods=["POST"],
                defaults={"bulk": endpoint},
            )
            for endpoint in BULK_SPECS
        ]
        entity = "<any(customer, organization):entity>"
        rules += [
            Rule(f"{API_PREFIX}/tasks/<task_id>", endpoint="task", methods=["GET"]),
            Rule(f"{API_PREFIX}/{entity}/details", endpoint="fields", methods=["GET", "POST"]),
        ]
        return [*rules, *record_rules(API_PREFIX)]

    def reset_state(self) -> None:
        """Forget every record, task, key and counter."""
        self.store = Store(str(self.knobs["cloud_id"]))
        self.board = TaskBoard(self.store.site_uuid)
        self.idempotency = IdempotencyStore()
        self.limiter = SiteLimiter(self.clock)
        self._rng_seed = self.knobs["random_seed"]
        self._rng = random.Random(self._rng_seed)
        self._order_rng = random.Random(f"task-order:{self._rng_seed}")
        self.counters: dict[str, int] = dict.fromkeys(COUNTERS, 0)

    def set_knobs(self, **changes: Any) -> dict[str, Any]:
        """Change knobs; a value outside a knob's readings is refused like an unknown knob."""
        for name, value in changes.items():
            allowed = CHOICES.get(name)
            if allowed is not None and value not in allowed:
                msg = f"{name} must be one of {allowed}, got {value!r}"
                raise ValueError(msg)
        return super().set_knobs(**changes)

    def seed(self, preset: str = "default", **params: Any) -> dict[str, Any]:
        """Replace the stored data with a preset (see :mod:`sandbox.csm.seed`)."""
        with self.lock:
            self.reset_state()
            return seed_store(self.store, preset, params)

    def state_snapshot(self) -> dict[str, Any]:
        """Records, fields, tasks and counters, after moving tasks up to now."""
        with self.lock:
            self.advance()
            state = self.store.snapshot()
            state["tasks"] = [t.state() for t in self.board.tasks.values()]
            state["counters"] = {
                **self.counters,
                "rate_limit_refusals": self.limiter.refused,
                "idempotency_keys": len(self.idempotency),
                "idempotency_keys_expired": self.idempotency.expired,
                "tasks_forgotten": self.board.forgotten,
            }
            return state

    def rate_limited_response(self) -> Response:
        """An injected 429, with Atlassian's headers (the budget ones are added later)."""
        with self.lock:
            self.counters["rate_limited"] += 1
        return self.error_response(429, "Rate limit exceeded", retry_headers(1))

    def _handle(self, request: Request) -> Response:
        if request.path.startswith(CONTROL_PREFIX):
            return super()._handle(request)
        with self.lock:
            decision = self.limiter.take(
                int(self.knobs["rate_limit_requests"]),
                float(self.knobs["rate_limit_window_seconds"]),
            )
        self._local.decision = decision
        response = super()._handle(request)
        response.headers.update(budget_headers(decision, refused=response.status_code == 429))
        return response

    def _route(self, request: Request) -> Response:
        with self.lock:
            return super()._route(request)

    def before_request(self, request: Request) -> Response | None:
        """Rate limit, authentication, task progress, then the site's cloudId."""
        decision: RateDecision | None = getattr(self._local, "decision", None)
        if decision is not None and not decision.allowed:
            self.counters["rate_limited"] += 1
            wait = decision.retry_after(self.clock.now())
            return self.error_response(429, "Rate limit exceeded", retry_headers(wait))
        if not self._authorized(request.headers.get("Authorization", "")):
            self.counters["unauthorized"] += 1
            return self.error_response(401, "Client must be authenticated to access this resource.")
        self.advance()
        match = CLOUD_RE.match(request.path)
        if match and match.group(1) != str(self.knobs["cloud_id"]):
            return self.error_response(404, f"No site with cloudId {match.group(1)!r}")
        return None

    # ------------------------------------------------------------------ helpers
    def _authorized(self, header: str) -> bool:
        scheme, _, credentials = header.strip().partition(" ")
        credentials = credentials.strip()
        if scheme.lower() == "bearer":
            return hmac.compare_digest(credentials, str(self.knobs["oauth_token"]))
        if scheme.lower() == "basic":
            try:
                decoded = base64.b64decode(credentials, validate=True).decode()
            except (binascii.Error, UnicodeDecodeError):
                return False
            expected = f"{self.knobs['basic_email']}:{self.knobs['basic_api_token']}"
            return hmac.compare_digest(decoded, expected)
        return False

    def _require_experimental(self, request: Request) -> None:
        if not self.knobs["experimental_header_required"]:
            return
        if request.headers.get("X-ExperimentalApi", "").strip() != "opt-in":
            self.counters["precondition_failed"] += 1
            raise ApiError(
                412, "This is an experimental API: send the header 'X-ExperimentalApi: opt-in'"
            )

    def advance(self) -> None:
        """Move every task forward in time order up to the clock's now; forget what expired."""
        with self.lock:
            now = self.clock.now()
            slots = int(self.knobs["processing_slots"]) or int(self.knobs["task_cap"])
            self.board.advance(now, slots, self._finish, self._order())
            self.board.forget_ended(now, float(self.knobs["task_retention_seconds"]))
            self.idempotency.prune(now, float(self.knobs["idempotency_retention_seconds"]))

    def _order(self) -> random.Random | None:
        """The generator of the ``random`` task order (None for ``fifo``)."""
        self._follow_seed()
        return self._order_rng if self.knobs["task_order"] == "random" else None

    def _follow_seed(self) -> None:
        if self.knobs["random_seed"] != self._rng_seed:
            self._rng_seed = self.knobs["random_seed"]
            self._rng = random.Random(self._rng_seed)
            self._order_rng = random.Random(f"task-order:{self._rng_seed}")

    def _readings(self, at: float) -> Readings:
        return Readings(
            at=at,
            empty_values=str(self.knobs["profile_empty_values"]),
            association_mode=str(self.knobs["association_mode"]),
            associations_ignored=bool(self.knobs["profile_associations_ignored"]),
            details_by_email=bool(self.knobs["details_bulk_by_email"]),
        )

    def _finish(self, task: Task) -> None:
        if task.fails:
            task.status = FAILED
            if task.fail_applies:
                self._apply(task)
            self.counters["tasks_failed"] += 1
            return
        task.failures = self._apply(task)
        task.status = FINISHED
        self.counters["tasks_finished"] += 1
        self.counters["items_failed"] += len(task.failures)

    def _apply(self, task: Task) -> list[Failure]:
        if task.definitions is not None:
            return apply_definitions(self.store, task.spec, task.definitions)
        failures: list[Failure] = []
        readings = self._readings(task.ended_at or self.clock.now())
        for index, item in enumerate(task.items):
            failures.extend(apply_item(self.store, task.spec, index, item, readings))
        return failures

    def _draw_failure(self) -> bool:
        rate = float(self.knobs["fail_task_rate"])
        if rate <= 0:
            return False
        self._follow_seed()
        return self._rng.random() < rate

    def _queue_delay(self) -> float:
        """``queue_delay_seconds``, or a draw below it in the ``random`` order."""
        delay = float(self.knobs["queue_delay_seconds"])
        order = self._order()
        return delay if order is None or delay <= 0 else order.uniform(0.0, delay)

    def _api_base(self, request: Request, cloud_id: str) -> str:
        return f"{request.host_url.rstrip('/')}/jsm/csm/cloudid/{cloud_id}/api/v1"

    # ------------------------------------------------------------------- bulk
    def on_bulk(self, request: Request, cloud_id: str, bulk: str) -> Response:
        """POST any bulk endpoint: validate, deduplicate by key, create a task."""
        spec = BULK_SPECS[bulk]
        now = self.clock.now()
        self._require_experimental(request)
        self.counters["submits"] += 1
        key = request.headers.get("Idempotency-Key", "").strip()
        if not key:
            raise ApiError(400, "The Idempotency-Key header is required")
        if len(key) > MAX_KEY_LENGTH:
            raise ApiError(400, f"Idempotency-Key is longer than {MAX_KEY_LENGTH} characters")
        request_print = fingerprint(spec.endpoint, request.get_data(cache=True))
        known = self.idempotency.get(key)  # expired keys were pruned by before_request
        if known is not None:
            return self._replay(request, cloud_id, key, known, request_print)
        try:
            items, units, definitions = self._validate(spec, request)
        except ApiError as exc:
            self.counters["validation_errors"] += 1
            self.idempotency.remember(key, Outcome(request_print, error=exc.message, at=now))
            raise
        active = self.board.counted_active(now, float(self.knobs["task_timeout_seconds"]))
        if active >= int(self.knobs["task_cap"]):
            self.counters["task_cap_refusals"] += 1
            raise ApiError(400, TASK_CAP_MESSAGE)
        task = self.board.submit(
            spec,
            items,
            units,
            created_at=now,
            ready_at=now + self._queue_delay(),
            duration=float(self.knobs["task_overhead_seconds"])
            + units * float(self.knobs["seconds_per_item"]),
            fails=self._draw_failure(),
            fail_applies=bool(self.knobs["fail_task_applies"]),
            definitions=definitions,
        )
        self.counters["tasks_created"] += 1
        self.idempotency.remember(key, Outcome(request_print, task_id=task.id, at=now))
        self.advance()  # a zero-length schedule may start the task at once
        body = task.submit_answer(self.knobs["dialect"], self._api_base(request, cloud_id))
        return json_response(body, 202)

    def _validate(
        self, spec: BulkSpec, request: Request
    ) -> tuple[list[dict[str, Any]], int, list[Any] | None]:
        items, units = check_bulk(
            spec,
            self.json_body(request),
            details_by_email=bool(self.knobs["details_bulk_by_email"]),
        )
        if spec.kind != "definitions":
            return items, units, None
        definitions = check_definitions(
            items,
            existing=list(self.store.fields[spec.entity]),
            boolean_supported=bool(self.knobs["boolean_type_supported"]),
        )
        return items, units, definitions

    def _replay(
        self, request: Request, cloud_id: str, key: str, known: Outcome, request_print: str
    ) -> Response:
        if known.fingerprint != request_print:
            self.counters["idempotency_clashes"] += 1
            raise ApiError(400, CLASH_MESSAGE.format(key=key))
        self.counters["replays"] += 1
        if known.error is not None:
            raise ApiError(400, known.error)
        # the task itself may be forgotten already when keys outlive task results (knobs)
        base = self._api_base(request, cloud_id)
        return json_response(submit_answer(str(known.task_id), self.knobs["dialect"], base), 202)

    # ------------------------------------------------------------------ tasks
    def on_task(self, request: Request, cloud_id: str, task_id: str) -> Response:  # noqa: ARG002
        """GET tasks/{taskId}."""
        self._require_experimental(request)
        self.counters["polls"] += 1
        task = self.board.tasks.get(task_id)
        if task is None:
            raise ApiError(404, f"Task {task_id} not found")
        body = task.answer(
            self.knobs["dialect"], with_entity_ids=bool(self.knobs["failure_entity_ids"])
        )
        return json_response(body)

    # ----------------------------------------------------------------- fields
    def on_fields(self, request: Request, cloud_id: str, entity: str) -> Response:  # noqa: ARG002
        """GET (list) or POST (create one) detail field definitions."""
        fields = self.store.fields[entity]
        if request.method == "GET":
            return json_response({"results": [f.to_api() for f in fields.values()]})
        definition = check_definition(
            self.json_body(request),
            taken=list(fields),
            boolean_supported=bool(self.knobs["boolean_type_supported"]),
        )
        if len(fields) >= MAX_FIELDS_PER_ENTITY:
            raise ApiError(400, f"at most {MAX_FIELDS_PER_ENTITY} detail fields per entity")
        created = self.store.add_field(entity, definition.name, definition.type, definition.options)
        api = created.to_api()
        return json_response({"name": api["name"], "type": api["type"]})

    # ----------------------------------------------------------- test helpers
    def customer_by_email(self, email: str) -> dict[str, Any] | None:
        """The stored customer with this email (read-back shape), after moving tasks."""
        with self.lock:
            self.advance()
            customer = self.store.customer_by_email(email)
            return self.store.customer_state(customer) if customer else None

    def organization_by_name(self, name: str) -> dict[str, Any] | None:
        """The stored organization with this name (read-back shape), after moving tasks."""
        with self.lock:
            self.advance()
            organization = self.store.organization_by_name(name)
            return self.store.organization_state(organization) if organization else None

    def task_state(self, task_id: str) -> dict[str, Any] | None:
        """One task in the read-back shape, after moving tasks."""
        with self.lock:
            self.advance()
            task = self.board.tasks.get(task_id)
            return task.state() if task else None


def create_app(*, clock: Clock | None = None, **knobs: Any) -> CsmApp:
    """Build the CSM sandbox (the registry's entry point)."""
    return CsmApp(clock=clock, **knobs)
