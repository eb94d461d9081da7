"""Credentials: a static bearer token, or OAuth refresh on HubSpot's token endpoint.

Private-app tokens and Service Keys are both sent as ``Authorization: Bearer <token>``
(hubspot-api.md §4.1). OAuth access tokens live 30 minutes; they are refreshed from
``expires_in`` (with a margin) and once more if the API answers 401 EXPIRED_AUTHENTICATION.
The date-versioned token endpoint is tried first, then ``/oauth/v1`` (deprecated 2027-02-16)
if the first one does not exist. No secret is ever put in a log line or an exception.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import requests

from tap_hubspot_contacts.errors import StopRun

TOKEN_PATHS = ("/oauth/2026-03/token", "/oauth/v1/token")
#: Refresh this many seconds before the token says it expires.
EXPIRY_MARGIN_SECONDS = 120


class AuthError(StopRun):
    """The credentials were refused (no secret in the message)."""


class StaticToken:
    """A private-app token or Service Key."""

    can_refresh = False

    def __init__(self, token: str) -> None:
        self._token = token

    def header(self) -> str:
        """The ``Authorization`` header value."""
        return f"Bearer {self._token}"

    def invalidate(self) -> None:
        """A static token cannot be renewed."""


class OAuthRefresh:
    """Exchange a refresh token for access tokens, renewing them before they expire."""

    can_refresh = True

    def __init__(
        self,
        *,
        session: requests.Session,
        base_url: str,
        client_id: str,
        client_secret: str,
        refresh_token: str,
        timeout: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._session = session
        self._base_url = base_url.rstrip("/")
        self._client_id = client_id
        self._client_secret = client_secret
        self._refresh_token = refresh_token
        self._timeout = timeout
        self._clock = clock
        self._lock = threading.Lock()
        self._access_token: str | None = None
        self._expires_at = 0.0
        self.token_path: str | None = None
        self.refreshes = 0

    def header(self) -> str:
        """The ``Authorization`` header value, refreshing the token first if needed."""
        with self._lock:
            if self._access_token is None or self._clock() >= self._expires_at:
                self._refresh()
            return f"Bearer {self._access_token}"

    def invalidate(self) -> None:
        """Forget the access token so the next request refreshes it."""
        with self._lock:
            self._access_token = None

    def _refresh(self) -> None:
        form = {
            "grant_type": "refresh_token",
            "client_id": self._client_id,
            "client_secret": self._client_secret,
            "refresh_token": self._refresh_token,
        }
        paths = (self.token_path,) if self.token_path else TOKEN_PATHS
        last_status = None
        for path in paths:
            response = self._session.post(
                f"{self._base_url}{path}",
                data=form,
                headers={"Content-Type": "application/x-www-form-urlencoded"},
                timeout=self._timeout,
            )
            last_status = response.status_code
            if response.status_code in (404, 405):
                continue  # this portal/host does not serve that token endpoint version
            if response.status_code >= 400:
                raise AuthError(_describe_refusal(response))
            body = response.json()
            self._access_token = body["access_token"]
            expires_in = float(body.get("expires_in") or 1800)
            self._expires_at = self._clock() + max(0.0, expires_in - EXPIRY_MARGIN_SECONDS)
            if body.get("refresh_token"):
                self._refresh_token = body["refresh_token"]
            self.token_path = path
            self.refreshes += 1
            return
        msg = f"no OAuth token endpoint answered (last status {last_status})"
        raise AuthError(msg)


def _describe_refusal(response: requests.Response) -> str:
    try:
        body: Mapping[str, Any] = response.json()
    except ValueError:
        body = {}
    status = body.get("status") or body.get("category") or "error"
    message = body.get("message") or response.reason
    return (
        f"OAuth refresh refused ({response.status_code} {status}): {message} "
        "(check client_id, client_secret and refresh_token)"
    )


def build_auth(config: Mapping[str, Any], session: requests.Session, base_url: str) -> Any:
    """Pick the credential from the config: ``access_token`` wins over OAuth."""
    if config.get("access_token"):
        return StaticToken(config["access_token"])
    needed = ("client_id", "client_secret", "refresh_token")
    if all(config.get(k) for k in needed):
        return OAuthRefresh(
            session=session,
            base_url=base_url,
            client_id=config["client_id"],
            client_secret=config["client_secret"],
            refresh_token=config["refresh_token"],
            timeout=float(config.get("request_timeout", 60)),
        )
    missing = [k for k in needed if not config.get(k)]
    msg = f"set `access_token`, or all of client_id/client_secret/refresh_token (missing {missing})"
    raise AuthError(msg)
