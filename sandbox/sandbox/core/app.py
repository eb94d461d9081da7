"""The base WSGI application every API sandbox extends.

It owns what all sandboxes share, so each API module only states its own rules:

* routing (a werkzeug ``Map``; a rule with endpoint ``x`` is handled by method ``on_x``);
* the request journal and the adversity knobs (latency, 429, 5xx, dropped connections),
  applied to API paths but never to the ``/_sandbox/`` control endpoints;
* the control endpoints: health, state, requests, knobs, seed, reset.

Subclasses implement :meth:`rules`, :meth:`reset_state`, :meth:`state_snapshot`,
:meth:`error_response` (the API's own error body), and may add knobs in
:attr:`extra_knobs` and presets in :meth:`seed`.
"""

from __future__ import annotations

import contextlib
import copy
import json
import logging
import socket
import threading
import time
from collections.abc import Iterable
from typing import Any, ClassVar

from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from sandbox.core.adversity import DEFAULT_KNOBS, Adversity, Fault
from sandbox.core.clock import Clock, SystemClock
from sandbox.core.garble import GARBLE_KNOBS, Garbler, check_kinds
from sandbox.core.journal import RequestJournal

logger = logging.getLogger(__name__)

CONTROL_PREFIX = "/_sandbox/"


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """Return a JSON response."""
    return Response(
        json.dumps(body, separators=(",", ":")),
        status=status,
        headers=headers,
        mimetype="application/json",
    )


class ApiError(Exception):
    """Raised by a handler to answer with the API's own error shape."""

    def __init__(self, status: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.extra = extra


class _DroppedConnection(Exception):
    """Internal: the connection was closed on purpose."""


class SandboxApp:
    """Base class for an API sandbox (see the module docstring)."""

    name: ClassVar[str] = "base"
    #: API-specific knobs and their defaults; merged over the adversity knobs.
    extra_knobs: ClassVar[dict[str, Any]] = {}

    def __init__(self, *, clock: Clock | None = None, **knobs: Any) -> None:
        self.clock: Clock = clock or SystemClock()
        self.lock = threading.RLock()
        self.journal = RequestJournal()
        self.adversity = Adversity()
        self.garbler = Garbler()
        self.url_map = Map(self.rules())
        self._initial_knobs = knobs
        self.knobs: dict[str, Any] = {}
        self.reset()

    # ----------------------------------------------------------------- to override
    def rules(self) -> list[Rule]:
        """Return the API's URL rules; endpoint ``x`` is handled by method ``on_x``."""
        return []

    def reset_state(self) -> None:
        """Forget all stored data (called at start and on reset)."""

    def state_snapshot(self) -> dict[str, Any]:
        """Return everything stored, JSON-serialisable."""
        return {}

    def seed(self, preset: str = "default", **params: Any) -> dict[str, Any]:
        """Load a deterministic data set; return a summary of what was loaded."""
        msg = f"{self.name} sandbox has no seed preset {preset!r}"
        raise ApiError(400, msg, params=params)

    def error_response(
        self, status: int, message: str, headers: dict[str, str] | None = None, **extra: Any
    ) -> Response:
        """Return the API's own error body for ``status``."""
        return json_response({"message": message, **extra}, status, headers)

    def rate_limited_response(self) -> Response:
        """The answer to an injected 429 (APIs override to add their headers)."""
        return self.error_response(429, "Too many requests", {"Retry-After": "1"})

    def before_request(self, request: Request) -> Response | None:  # noqa: ARG002
        """Check auth, headers or rate limits before routing; return a response to stop."""
        return None

    # ------------------------------------------------------------------- machinery
    def reset(self) -> None:
        """Back to a fresh sandbox: state, journal and knobs."""
        with self.lock:
            knobs = copy.deepcopy(DEFAULT_KNOBS)
            knobs.update(copy.deepcopy(GARBLE_KNOBS))
            knobs.update(copy.deepcopy(self.extra_knobs))
            self.knobs = knobs
            self.set_knobs(**self._initial_knobs)
            self.journal.clear()
            self.reset_state()

    def set_knobs(self, **changes: Any) -> dict[str, Any]:
        """Change knobs by name; unknown names are an error, so typos do not pass silently."""
        with self.lock:
            unknown = sorted(set(changes) - set(self.knobs))
            if unknown:
                msg = f"unknown knob(s) {unknown}; known: {sorted(self.knobs)}"
                raise ValueError(msg)
            for key, value in changes.items():
                if key == "fail_next":
                    for spec in value:
                        Fault.parse(spec)  # raises on a spec that is not a fault
                if key == "garble_next":
                    check_kinds(value)
                if key == "journal_bodies":
                    self.journal.keep_bodies = bool(value)
                self.knobs[key] = copy.deepcopy(value)
            return copy.deepcopy(self.knobs)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        """WSGI entry point."""
        request = Request(environ)
        try:
            response = self._handle(request)
        except _DroppedConnection:
            return []
        return response(environ, start_response)

    def _handle(self, request: Request) -> Response:
        path = request.path
        if path.startswith(CONTROL_PREFIX):
            return self._control(request, path[len(CONTROL_PREFIX) :])
        raw = request.get_data(cache=True)
        entry = self.journal.record(
            at=self.clock.now(),
            method=request.method,
            path=path,
            query={k: request.args.getlist(k) for k in request.args},
            headers=dict(request.headers.items()),
            raw_body=raw,
        )
        delay = self.adversity.latency_seconds(self.knobs)
        if delay:
            time.sleep(delay)
        fault = self.adversity.decide(self.knobs, path)
        if fault is not None:
            entry.fault = fault.kind
        if fault and fault.kind == "drop_before":
            self._drop(request)
        if fault and fault.kind == "429":
            response = self.rate_limited_response()
        elif fault and fault.kind == "5xx":
            status = fault.status or 500
            response = self.error_response(status, "Injected server error")
        else:
            response = self._route(request)
            garbled = self.garbler.apply(self.knobs, path, response)
            if garbled is not None:
                entry.fault = f"garbled_{garbled}"
        if fault and fault.kind == "drop_after":
            self._drop(request)
        entry.status = response.status_code
        return response

    def _route(self, request: Request) -> Response:
        try:
            stop = self.before_request(request)
            if stop is not None:
                return stop
            adapter = self.url_map.bind_to_environ(request.environ)
            endpoint, args = adapter.match()
            return getattr(self, f"on_{endpoint}")(request, **args)
        except ApiError as exc:
            return self.error_response(exc.status, exc.message, **exc.extra)
        except NotFound:
            return self.error_response(404, f"No such resource: {request.method} {request.path}")
        except MethodNotAllowed:
            return self.error_response(405, f"Method not allowed: {request.method}")
        except HTTPException as exc:
            return self.error_response(exc.code or 500, exc.description or "error")
        except Exception:  # a sandbox bug must show as a 500, not a dead socket
            logger.exception("sandbox %s failed on %s %s", self.name, request.method, request.path)
            return self.error_response(500, "Internal sandbox error")

    @staticmethod
    def _drop(request: Request) -> None:
        sock = request.environ.get("werkzeug.socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        raise _DroppedConnection

    @staticmethod
    def json_body(request: Request) -> Any:
        """Parse the request body as JSON or raise a 400."""
        raw = request.get_data(cache=True)
        if not raw:
            raise ApiError(400, "Request body is required")
        try:
            return json.loads(raw)
        except ValueError as exc:
            raise ApiError(400, f"Malformed JSON body: {exc}") from exc

    # ----------------------------------------------------------- control endpoints
    def _control(self, request: Request, action: str) -> Response:
        try:
            if action == "health":
                return json_response({"ok": True, "api": self.name})
            if action == "state":
                with self.lock:
                    return json_response(self.state_snapshot())
            if action == "requests" and request.method == "GET":
                entries = [e.to_dict() for e in self.journal.entries()]
                return json_response({"total": self.journal.total, "requests": entries})
            if action == "requests" and request.method == "DELETE":
                self.journal.clear()
                return json_response({"ok": True})
            if action == "knobs" and request.method == "GET":
                return json_response(self.knobs)
            if action == "knobs" and request.method in ("PATCH", "POST"):
                return json_response(self.set_knobs(**self.json_body(request)))
            if action == "seed" and request.method == "POST":
                params = dict(self.json_body(request))
                preset = params.pop("preset", "default")
                with self.lock:
                    return json_response(self.seed(preset, **params))
            if action == "reset" and request.method == "POST":
                self.reset()
                return json_response({"ok": True})
        except ApiError as exc:
            return json_response({"error": exc.message, **exc.extra}, exc.status)
        except (ValueError, TypeError) as exc:
            return json_response({"error": str(exc)}, 400)
        return json_response({"error": f"unknown control action {request.method} {action}"}, 404)
