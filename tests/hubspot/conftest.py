"""Helpers for the HubSpot sandbox and tap tests: run the tap in-process, read its output."""

from __future__ import annotations

import contextlib
import io
import json
from collections import Counter
from typing import Any

import pytest

from tap_hubspot_contacts import client as client_module

TOKEN = "sandbox-token"
FAST_KNOBS = {"burst_limit": 0, "search_rate_per_second": 0}


class TapRun:
    """The messages one tap run wrote."""

    def __init__(self, messages: list[dict[str, Any]]) -> None:
        self.messages = messages

    def records(self, stream: str) -> list[dict[str, Any]]:
        return [
            m["record"] for m in self.messages if m["type"] == "RECORD" and m["stream"] == stream
        ]

    def ids(self, stream: str) -> Counter:
        return Counter(r["id"] for r in self.records(stream))

    def schema(self, stream: str) -> dict[str, Any]:
        return next(
            m["schema"] for m in self.messages if m["type"] == "SCHEMA" and m["stream"] == stream
        )

    @property
    def states(self) -> list[dict[str, Any]]:
        return [m["value"] for m in self.messages if m["type"] == "STATE"]

    @property
    def state(self) -> dict[str, Any]:
        return self.states[-1]


def make_config(url: str, **extra: Any) -> dict[str, Any]:
    config = {
        "access_token": TOKEN,
        "api_url": url,
        "search_index_lag_seconds": 0,
        "requests_per_ten_seconds": 100_000,
        "search_requests_per_second": 10_000,
        "rate_limit_share": 1.0,
    }
    config.update(extra)
    return config


def run_sync(config: dict[str, Any], state: dict[str, Any] | None = None) -> TapRun:
    run, error = run_sync_until_error(config, state)
    if error is not None:
        raise error
    return run


def run_sync_until_error(
    config: dict[str, Any], state: dict[str, Any] | None = None
) -> tuple[TapRun, Exception | None]:
    """One in-process sync: what it wrote, and the exception that stopped it (or None)."""
    from tap_hubspot_contacts.tap import TapHubSpotContacts

    buffer = io.StringIO()
    error: Exception | None = None
    with contextlib.redirect_stdout(buffer):
        try:
            tap = TapHubSpotContacts(config=config, state=state, setup_mapper=True)
            tap.sync_all()
        except Exception as exc:  # noqa: BLE001 (handed to the test)
            error = exc
    lines = buffer.getvalue().splitlines()
    return TapRun([json.loads(line) for line in lines if line.strip()]), error


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Retry and throttle waits are recorded instead of slept."""
    waited: list[float] = []
    monkeypatch.setattr(client_module, "SLEEP", waited.append)
    return waited


@pytest.fixture
def hubspot(sandbox_factory):
    """Start a HubSpot sandbox with the limits off (tests that need them turn them on)."""

    def start(seed: Any = None, **knobs: Any):
        return sandbox_factory("hubspot", seed=seed, **{**FAST_KNOBS, **knobs})

    return start


def requests_by_path(sandbox) -> Counter:
    return Counter(entry["path"] for entry in sandbox.requests())


@pytest.fixture
def tap_config():
    """``tap_config(url, **settings)``: a config for the sandbox with budgets out of the way."""
    return make_config


@pytest.fixture
def run_tap():
    """``run_tap(config, state=None) -> TapRun``: one in-process sync."""
    return run_sync


@pytest.fixture
def run_tap_until_error():
    """``run_tap_until_error(config, state=None) -> (TapRun, exception or None)``."""
    return run_sync_until_error
