"""A small HTTP client for a sandbox's ``/_sandbox/`` control endpoints.

Tests and benchmarks that run a sandbox in another process use it to seed data, set knobs
and read back what was stored and received.
"""

from __future__ import annotations

from typing import Any

import requests


class SandboxClient:
    """Talks to one running sandbox's control endpoints."""

    def __init__(self, base_url: str, timeout: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.session = requests.Session()

    def _url(self, path: str) -> str:
        return f"{self.base_url}/_sandbox/{path}"

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        response = self.session.request(method, self._url(path), json=body, timeout=self.timeout)
        response.raise_for_status()
        return response.json() if response.content else None

    def health(self) -> dict[str, Any]:
        """Return the health document."""
        return self._call("GET", "health")

    def state(self) -> dict[str, Any]:
        """Return everything the sandbox has stored."""
        return self._call("GET", "state")

    def requests(self) -> list[dict[str, Any]]:
        """Return every request received since the last clear."""
        return self._call("GET", "requests")["requests"]

    def clear_requests(self) -> None:
        """Empty the request journal."""
        self._call("DELETE", "requests")

    def knobs(self, **changes: Any) -> dict[str, Any]:
        """Change knobs (if any are given) and return them all."""
        if changes:
            return self._call("PATCH", "knobs", changes)
        return self._call("GET", "knobs")

    def seed(self, preset: str = "default", **params: Any) -> dict[str, Any]:
        """Load a deterministic data set."""
        return self._call("POST", "seed", {"preset": preset, **params})

    def reset(self) -> None:
        """Forget state, journal and knobs."""
        self._call("POST", "reset")
