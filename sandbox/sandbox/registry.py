"""Which API sandboxes exist, where their code lives and their default ports.

Modules are imported lazily so a missing or broken API module only affects that API.
Each module exposes ``create_app(*, clock=None, **knobs) -> SandboxApp``.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

from sandbox.core.app import SandboxApp
from sandbox.core.clock import Clock


@dataclass(frozen=True)
class ApiEntry:
    """One sandboxed API."""

    name: str
    module: str
    default_port: int
    description: str


APIS: dict[str, ApiEntry] = {
    entry.name: entry
    for entry in (
        ApiEntry("csm", "sandbox.csm", 8401, "Atlassian Customer Service Management (target)"),
        ApiEntry("hubspot", "sandbox.hubspot", 8402, "HubSpot CRM contacts and companies"),
        ApiEntry("kustomer", "sandbox.kustomer", 8403, "Kustomer org (customers, companies, ...)"),
        ApiEntry("zendesk", "sandbox.zendesk", 8404, "Zendesk Support users and organizations"),
    )
}


def create_app(api: str, *, clock: Clock | None = None, **knobs: Any) -> SandboxApp:
    """Build the sandbox app for ``api``."""
    try:
        entry = APIS[api]
    except KeyError:
        msg = f"unknown sandbox API {api!r}; known: {', '.join(APIS)}"
        raise ValueError(msg) from None
    module = importlib.import_module(entry.module)
    return module.create_app(clock=clock, **knobs)


def available() -> list[str]:
    """Names of the APIs whose module can be imported."""
    names = []
    for name, entry in APIS.items():
        try:
            importlib.import_module(entry.module)
        except ImportError:
            continue
        names.append(name)
    return names
