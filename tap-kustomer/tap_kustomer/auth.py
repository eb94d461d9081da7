"""Bearer API-key authentication; the key never appears in a repr or a log line."""

from __future__ import annotations

import requests


class KustomerAuth(requests.auth.AuthBase):
    """Adds ``Authorization: Bearer <API key>`` to every request."""

    def __init__(self, api_key: str) -> None:
        if not api_key:
            msg = "api_key is required"
            raise ValueError(msg)
        self._api_key = api_key

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        """Set the header."""
        request.headers["Authorization"] = f"Bearer {self._api_key}"
        return request

    def __repr__(self) -> str:
        return "KustomerAuth(api_key=<redacted>)"
