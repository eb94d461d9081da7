"""The Kustomer API sandbox: ``create_app(clock=..., **knobs)``."""

from __future__ import annotations

from typing import Any

from sandbox.core.clock import Clock
from sandbox.kustomer.app import SEED_DEFAULTS, KustomerApp

__all__ = ["SEED_DEFAULTS", "KustomerApp", "create_app"]


def create_app(*, clock: Clock | None = None, **knobs: Any) -> KustomerApp:
    """Build a Kustomer sandbox with the given knobs (see ``KustomerApp.extra_knobs``)."""
    return KustomerApp(clock=clock, **knobs)
