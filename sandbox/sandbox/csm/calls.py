"""A thin HTTP caller for a running CSM sandbox, as tests drive it.

The sandbox's rules are tested over HTTP (what a client sees), on a ``ManualClock`` (so a
task's life, a key's retention or a search delay are stepped through, not slept through).
This holds the few calls every such test needs: one request with the default headers, a
bulk submit with a fresh key, a poll, and "submit and let the task end".
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import requests

from sandbox.core.clock import ManualClock

BASE = "/jsm/csm/cloudid/sandbox/api/v1"
AUTH = {"Authorization": "Bearer sandbox-token"}
HEADERS = {**AUTH, "X-ExperimentalApi": "opt-in"}
LATER = 3600.0  # enough for any default task to end


class CsmCalls:
    """Requests to one sandbox at ``url`` whose clock is ``clock``."""

    def __init__(self, url: str, clock: ManualClock) -> None:
        self.url = url
        self.clock = clock
        self.session = requests.Session()

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        headers: dict[str, str] | None = None,
        key: str | None = None,
        params: dict[str, Any] | None = None,
        prefix: str = BASE,
    ) -> requests.Response:
        """One request under ``prefix``; ``body`` is sent as JSON."""
        sent = dict(HEADERS if headers is None else headers)
        if key is not None:
            sent["Idempotency-Key"] = key
        data = None if body is None else json.dumps(body)
        if data is not None:
            sent.setdefault("Content-Type", "application/json")
        return self.session.request(
            method, f"{self.url}{prefix}/{path}", data=data, headers=sent, params=params, timeout=10
        )

    def submit(self, endpoint: str, body: Any, *, key: str | None = None) -> requests.Response:
        """POST a bulk body with ``key`` (a fresh one by default)."""
        return self.call("POST", endpoint, body, key=key or str(uuid.uuid4()))

    def task(self, task_id: str) -> requests.Response:
        """GET tasks/{id}."""
        return self.call("GET", f"tasks/{task_id}")

    def run(self, endpoint: str, body: Any, *, key: str | None = None) -> dict[str, Any]:
        """Submit, move the clock past the task's end, return the ended task."""
        response = self.submit(endpoint, body, key=key)
        if response.status_code != 202:
            msg = f"submit refused: {response.status_code} {response.text}"
            raise AssertionError(msg)
        self.clock.advance(LATER)
        polled = self.task(response.json()["id"])
        if polled.status_code != 200:
            msg = f"poll refused: {polled.status_code} {polled.text}"
            raise AssertionError(msg)
        return polled.json()


def profile(email: str | None = None, op: str = "UPSERT", **payload: Any) -> dict[str, Any]:
    """One customer profile item."""
    if email is not None:
        payload["email"] = email
    return {"operationType": op, "payload": payload}


def organization(name: str | None = None, op: str = "UPSERT", **payload: Any) -> dict[str, Any]:
    """One organization profile item."""
    if name is not None:
        payload["name"] = name
    return {"operationType": op, "payload": payload}


def customers(*items: dict[str, Any]) -> dict[str, Any]:
    """A customer profile bulk body."""
    return {"customerProfiles": list(items)}


def organizations(*items: dict[str, Any]) -> dict[str, Any]:
    """An organization profile bulk body."""
    return {"organizationProfiles": list(items)}


def detail(name: str, *values: str) -> dict[str, Any]:
    """One ``{name, values}`` detail."""
    return {"name": name, "values": list(values)}
