"""The SDK's standard tap tests, run against a HubSpot sandbox started at import time.

``get_tap_test_class`` instantiates the tap while pytest collects, so the sandbox must be up
before this module's body runs; it is stopped by a module-scoped fixture.
"""

from __future__ import annotations

import pytest
from singer_sdk.testing import SuiteConfig, get_tap_test_class

from sandbox.core.server import SandboxServer
from sandbox.hubspot import create_app
from tap_hubspot_contacts.tap import TapHubSpotContacts

_APP = create_app(burst_limit=0, search_rate_per_second=0)
_APP.seed("default", contacts=120, companies=30)
_SERVER = SandboxServer(_APP).start()

CONFIG = {
    "access_token": "sandbox-token",
    "api_url": _SERVER.url,
    "search_index_lag_seconds": 0,
    "requests_per_ten_seconds": 100_000,
    "search_requests_per_second": 10_000,
}

_Base = get_tap_test_class(
    TapHubSpotContacts,
    config=CONFIG,
    suite_config=SuiteConfig(max_records_limit=150),
)


class TestTapHubSpotContacts(_Base):  # type: ignore[misc, valid-type]
    """Standard tap tests (CLI, discovery, connection, final state, per-stream checks)."""

    @pytest.fixture(scope="class", autouse=True)
    @classmethod
    def _stop_server(cls):
        yield
        _SERVER.stop()
