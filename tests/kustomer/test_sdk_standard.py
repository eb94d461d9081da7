"""The singer-sdk standard tap tests, against a seeded sandbox started at import time.

``get_tap_test_class`` builds the tap (and runs discovery) while pytest collects, so the
server must exist before the class is created.
"""

from __future__ import annotations

import atexit

from helpers import tap_config
from singer_sdk.testing import SuiteConfig, get_tap_test_class

from sandbox.core.server import SandboxServer
from sandbox.kustomer import create_app
from tap_kustomer.tap import TapKustomer

_app = create_app(rate_limit_per_minute=1_000_000, search_rate_limit_per_minute=1_000_000)
_app.seed("default", customers=30, old_fraction=0.3, deleted_fraction=0.0)
_server = SandboxServer(_app).start()
atexit.register(_server.stop)

TestTapKustomer = get_tap_test_class(
    TapKustomer,
    config=tap_config(_server.url, start_date="2000-01-01T00:00:00Z", page_size=50),
    suite_config=SuiteConfig(max_records_limit=60),
)
