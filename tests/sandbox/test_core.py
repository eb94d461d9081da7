"""The shared sandbox machinery: journal, knobs, injected faults, control endpoints."""

from __future__ import annotations

import pytest
import requests
from werkzeug.routing import Rule
from werkzeug.wrappers import Request, Response

from sandbox.core import ManualClock, SandboxApp, SandboxClient, SandboxServer, WindowLimiter
from sandbox.core.app import json_response


class CounterApp(SandboxApp):
    """A one-endpoint API: POST /count increments a counter."""

    name = "counter"
    extra_knobs = {"step": 1}

    def rules(self) -> list[Rule]:
        return [Rule("/count", methods=["POST"], endpoint="count")]

    def reset_state(self) -> None:
        self.count = 0

    def state_snapshot(self) -> dict:
        return {"count": self.count}

    def on_count(self, request: Request) -> Response:
        with self.lock:
            self.count += self.knobs["step"]
            return json_response({"count": self.count})


@pytest.fixture
def server():
    with SandboxServer(CounterApp()) as srv:
        yield srv


def test_journal_records_requests_with_secrets_redacted(server):
    requests.post(f"{server.url}/count", json={"a": 1}, headers={"Authorization": "Bearer s3cret"})
    entries = SandboxClient(server.url).requests()
    assert len(entries) == 1
    assert entries[0]["body"] == {"a": 1}
    assert entries[0]["status"] == 200
    assert entries[0]["headers"]["Authorization"] == "<redacted>"
    assert "s3cret" not in str(entries)


def test_knobs_change_behaviour_and_unknown_knobs_are_refused(server):
    client = SandboxClient(server.url)
    client.knobs(step=5)
    assert requests.post(f"{server.url}/count").json() == {"count": 5}
    bad = requests.patch(f"{server.url}/_sandbox/knobs", json={"stpe": 2})
    assert bad.status_code == 400
    assert "unknown knob" in bad.json()["error"]


def test_scripted_faults_are_served_in_order(server):
    server.app.set_knobs(fail_next=[429, 503])
    statuses = [requests.post(f"{server.url}/count").status_code for _ in range(3)]
    assert statuses == [429, 503, 200]
    assert server.app.state_snapshot() == {"count": 1}


def test_drop_before_does_not_apply_and_drop_after_does(server):
    server.app.set_knobs(fail_next=["drop_before"])
    with pytest.raises(requests.ConnectionError):
        requests.post(f"{server.url}/count", timeout=5)
    assert server.app.state_snapshot() == {"count": 0}
    server.app.set_knobs(fail_next=["drop_after"])
    with pytest.raises(requests.ConnectionError):
        requests.post(f"{server.url}/count", timeout=5)
    assert server.app.state_snapshot() == {"count": 1}


def test_fault_rates_are_seeded_and_repeatable():
    def run() -> list[int]:
        app = CounterApp(rate_429=0.3, random_seed=7)
        with SandboxServer(app) as srv:
            return [requests.post(f"{srv.url}/count").status_code for _ in range(40)]

    first, second = run(), run()
    assert first == second
    assert 0 < first.count(429) < 40


def test_faults_skip_paths_outside_fault_paths(server):
    server.app.set_knobs(rate_5xx=1.0, fault_paths="^/other")
    assert requests.post(f"{server.url}/count").status_code == 200


def test_control_endpoints_reset_and_unknown_routes(server):
    client = SandboxClient(server.url)
    requests.post(f"{server.url}/count")
    assert client.state() == {"count": 1}
    client.reset()
    assert client.state() == {"count": 0}
    assert client.requests() == []
    assert requests.get(f"{server.url}/nope").status_code == 404
    assert client.health()["api"] == "counter"


def test_window_limiter_refuses_past_the_limit_and_resets_with_the_window():
    clock = ManualClock(start=1000.0)
    limiter = WindowLimiter(2, 10, clock)
    assert [limiter.take().allowed for _ in range(3)] == [True, True, False]
    refused = limiter.take()
    assert refused.retry_after(clock.now()) == 10
    clock.advance(10)
    decision = limiter.take()
    assert decision.allowed
    assert decision.remaining == 1
