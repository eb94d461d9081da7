"""Shared fixtures of the CSM sandbox tests: a manual clock and a client bound to a site.

Tests that move the sandbox's clock (retention windows, task timings) ask for ``clock``; the
``csm`` fixture answers with a ``CsmCalls`` client whose ``app`` is the running sandbox, so a
test can both send requests and read what the site holds.
"""

from __future__ import annotations

import pytest

from sandbox.core import ManualClock
from sandbox.csm.calls import CsmCalls


@pytest.fixture
def clock():
    return ManualClock()


@pytest.fixture
def csm(sandbox_factory, clock):
    running = sandbox_factory("csm", clock=clock, seed="default")
    calls = CsmCalls(running.url, clock)
    calls.app = running.app
    return calls
