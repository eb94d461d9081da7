"""Fixtures for tap-kustomer and the Kustomer sandbox (and the e2e Meltano project's)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

# the Meltano project of tests/e2e, for this folder's `meltano run` tests
from tests.e2e.conftest import flow_factory, meltano_project  # noqa: F401

sys.path.insert(0, str(Path(__file__).parent))

OPEN_BUDGETS = {"rate_limit_per_minute": 1_000_000, "search_rate_limit_per_minute": 1_000_000}


@pytest.fixture
def kustomer(sandbox_factory):
    """Start a Kustomer sandbox with wide-open budgets: ``kustomer(seed={...}, **knobs)``."""

    def start(seed=None, **knobs):
        return sandbox_factory("kustomer", seed=seed, **{**OPEN_BUDGETS, **knobs})

    return start
