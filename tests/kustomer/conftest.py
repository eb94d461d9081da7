"""Fixtures for tap-kustomer and the Kustomer sandbox."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

OPEN_BUDGETS = {"rate_limit_per_minute": 1_000_000, "search_rate_limit_per_minute": 1_000_000}


@pytest.fixture
def kustomer(sandbox_factory):
    """Start a Kustomer sandbox with wide-open budgets: ``kustomer(seed={...}, **knobs)``."""

    def start(seed=None, **knobs):
        return sandbox_factory("kustomer", seed=seed, **{**OPEN_BUDGETS, **knobs})

    return start
