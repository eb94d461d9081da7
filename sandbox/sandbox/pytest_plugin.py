"""pytest fixtures that start sandboxes on free loopback ports, one set per test.

``sandbox_factory(api, clock=None, seed=None, **knobs)`` starts any API and stops it after the
test; ``csm_sandbox``, ``hubspot_sandbox``, ``kustomer_sandbox`` and ``zendesk_sandbox`` are
the common cases with default knobs and no seed data.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from sandbox.core.app import SandboxApp
from sandbox.core.client import SandboxClient
from sandbox.core.clock import Clock
from sandbox.core.server import SandboxServer
from sandbox.registry import create_app


class RunningSandbox:
    """A sandbox started for a test: its URL, its app (for direct reads) and a client."""

    def __init__(self, server: SandboxServer) -> None:
        self.server = server
        self.app: SandboxApp = server.app
        self.url = server.url
        self.client = SandboxClient(server.url)

    def knobs(self, **changes: Any) -> dict[str, Any]:
        """Change knobs in place (no HTTP round trip)."""
        return self.app.set_knobs(**changes)

    def requests(self) -> list[dict[str, Any]]:
        """Every request received, as dicts."""
        return [e.to_dict() for e in self.app.journal.entries()]

    def state(self) -> dict[str, Any]:
        """Everything stored."""
        with self.app.lock:
            return self.app.state_snapshot()

    def stop(self) -> None:
        """Stop the server."""
        self.server.stop()


SandboxFactory = Callable[..., RunningSandbox]


@pytest.fixture
def sandbox_factory() -> Iterator[SandboxFactory]:
    """Start sandboxes on demand; all are stopped when the test ends."""
    started: list[RunningSandbox] = []

    def start(
        api: str,
        *,
        clock: Clock | None = None,
        seed: str | dict[str, Any] | None = None,
        **knobs: Any,
    ) -> RunningSandbox:
        app = create_app(api, clock=clock, **knobs)
        if seed is not None:
            params = {"preset": seed} if isinstance(seed, str) else dict(seed)
            app.seed(params.pop("preset", "default"), **params)
        running = RunningSandbox(SandboxServer(app).start())
        started.append(running)
        return running

    yield start
    for running in started:
        running.stop()


@pytest.fixture
def csm_sandbox(sandbox_factory: SandboxFactory) -> RunningSandbox:
    """A CSM sandbox with default knobs and no data."""
    return sandbox_factory("csm")


@pytest.fixture
def hubspot_sandbox(sandbox_factory: SandboxFactory) -> RunningSandbox:
    """A HubSpot sandbox with default knobs and no data."""
    return sandbox_factory("hubspot")


@pytest.fixture
def kustomer_sandbox(sandbox_factory: SandboxFactory) -> RunningSandbox:
    """A Kustomer sandbox with default knobs and no data."""
    return sandbox_factory("kustomer")


@pytest.fixture
def zendesk_sandbox(sandbox_factory: SandboxFactory) -> RunningSandbox:
    """A Zendesk sandbox with default knobs and no data."""
    return sandbox_factory("zendesk")
