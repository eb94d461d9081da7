"""HTTP access to HubSpot: paths, budgets, retries and error handling in one place.

Every request of a run goes through one :class:`HubSpotClient` owned by the tap, so the
search and burst budgets are shared by all streams, and one retry policy applies:

* 429 by ``policyName``: ``TEN_SECONDLY_ROLLING`` waits for the window (``Retry-After`` or the
  interval header, else 10 s); the search "secondly" limit waits 1 s x attempt; ``DAILY``
  stops the run (retrying cannot help until midnight in the portal's time zone);
* 5xx, 423, 477, 524 and dropped connections: exponential backoff;
* 401 with OAuth: one refresh, then fail; other 4xx: fail with HubSpot's category and
  message (never the request's headers).

All calls are reads (``POST`` search and batch read included), so retrying is safe.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode, urlsplit

import requests
from singer_sdk import Stream

from tap_hubspot_contacts.auth import build_auth
from tap_hubspot_contacts.errors import StopRun
from tap_hubspot_contacts.ratelimit import SlidingWindowBudget, UsageReport, effective_limit
from tap_hubspot_contacts.settings import api_url_problem

#: Replaced in tests to run retry and throttle waits without sleeping.
SLEEP = time.sleep
CLOCK = time.monotonic

RETRY_STATUSES = frozenset({423, 477, 500, 502, 503, 504, 524})
#: What to check, by HubSpot's answer to a request the tap cannot retry.
HINTS = {
    401: "check access_token (or the OAuth client_id, client_secret and refresh_token)",
    403: "the app lacks a scope: grant crm.objects.contacts.read, crm.objects.companies.read "
    "and crm.schemas.contacts.read / crm.schemas.companies.read",
}


class HubSpotAPIError(StopRun):
    """A request HubSpot refused for good (status, category and message kept)."""

    def __init__(self, status: int, category: str, message: str, path: str) -> None:
        hint = f" ({HINTS[status]})" if status in HINTS else ""
        super().__init__(f"HubSpot {status} {category} on {path}: {message}{hint}")
        self.status = status
        self.category = category


class DailyLimitReached(StopRun):
    """The portal's daily budget is spent (or the configured reserve reached)."""


class GaveUp(StopRun):
    """A request still failed after every retry (host unreachable, server down)."""


def check_api_url(url: str) -> str:
    """``https`` is required, except on loopback (the sandbox); no credentials in the URL."""
    problem = api_url_problem(url)
    if problem:
        raise ValueError(problem)
    return url.rstrip("/")


class Paths:
    """Endpoint paths for a date version (``2026-03``) or the legacy ``v3``/``v4`` ones."""

    def __init__(self, version: str) -> None:
        self.version = version

    def objects(self, object_type: str) -> str:
        """List endpoint; ``/search`` and ``/batch/read`` hang below it."""
        if self.version == "v3":
            return f"/crm/v3/objects/{object_type}"
        return f"/crm/objects/{self.version}/{object_type}"

    def properties(self, object_type: str) -> str:
        """Property definitions."""
        if self.version == "v3":
            return f"/crm/v3/properties/{object_type}"
        return f"/crm/properties/{self.version}/{object_type}"

    def associations(self, from_type: str, to_type: str) -> str:
        """v4-shaped association batch read."""
        if self.version == "v3":
            return f"/crm/v4/associations/{from_type}/{to_type}/batch/read"
        return f"/crm/associations/{self.version}/{from_type}/{to_type}/batch/read"


class HubSpotClient:
    """One session, one credential, two budgets, one retry policy (module docstring)."""

    def __init__(self, config: Mapping[str, Any], logger: logging.Logger) -> None:
        self.config = config
        self.logger = logger
        self.base_url = check_api_url(config.get("api_url") or "https://api.hubapi.com")
        self.host = urlsplit(self.base_url).netloc
        self.paths = Paths(config.get("api_version") or "2026-03")
        self.timeout = float(config.get("request_timeout", 60))
        self.max_tries = int(config.get("max_retries", 6)) + 1
        self.max_url_length = int(config.get("max_url_length", 8000))
        self.session = requests.Session()
        self.session.headers["User-Agent"] = config.get("user_agent") or "tap-hubspot-contacts"
        self.auth = build_auth(config, self.session, self.base_url)
        share = float(config.get("rate_limit_share", 0.8))
        self.burst = SlidingWindowBudget(
            "burst",
            effective_limit(int(config.get("requests_per_ten_seconds", 100)), share),
            10.0,
            clock=CLOCK,
            sleep=SLEEP,
        )
        self.search_budget = SlidingWindowBudget(
            "search",
            effective_limit(float(config.get("search_requests_per_second", 5)), share),
            1.0,
            clock=CLOCK,
            sleep=SLEEP,
        )
        self.share = share
        self.daily_reserve = int(config.get("daily_request_reserve", 1000))
        self.max_requests = config.get("max_requests_per_run")
        self.usage = UsageReport()
        self._random = random.Random(7)

    # ------------------------------------------------------------------ public
    def get(self, path: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """GET and return the JSON body."""
        return self.request("GET", path, params=params)

    def post(self, path: str, body: Any, params: Mapping[str, Any] | None = None) -> Any:
        """POST JSON and return the JSON body (207 multi-status included)."""
        return self.request("POST", path, params=params, body=body)

    def url_length(self, path: str, params: Mapping[str, Any]) -> int:
        """How long a GET URL would be, to stay clear of 414 URI Too Long."""
        return len(self.base_url) + len(path) + 1 + len(urlencode(params, doseq=True))

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
    ) -> Any:
        """Send with budgets and the retry policy; return the parsed JSON body."""
        is_search = path.endswith("/search")
        refreshed = False
        for attempt in range(1, self.max_tries + 1):
            self._check_run_budget()
            (self.search_budget if is_search else self.burst).acquire()
            self.usage.requests += 1
            self.usage.search_requests += int(is_search)
            try:
                response = self.session.request(
                    method,
                    f"{self.base_url}{path}",
                    params=params,
                    json=body,
                    headers={"Authorization": self.auth.header()},
                    timeout=self.timeout,
                )
            except (
                requests.ConnectionError,
                requests.Timeout,
                requests.exceptions.ChunkedEncodingError,
            ) as exc:
                wait = self._backoff(attempt)
                self._retry_or_raise(attempt, wait, f"{type(exc).__name__} on {path}", exc)
                continue
            status = response.status_code
            self.usage.by_status[status] = self.usage.by_status.get(status, 0) + 1
            self.usage.observe_headers(response.headers)
            self._adapt_to_headers(response.headers)
            if status < 300:
                self._check_daily(response.headers)
                body, problem = _read_answer(response)
                if problem is None:
                    return body
                # A body cut short or replaced by a proxy's page is retried like a dropped
                # connection; a well-formed answer of the wrong shape is not (it would repeat).
                what = f"{method} {path} answered {status} with {problem}"
                if problem.startswith("JSON"):
                    raise UnexpectedAnswer(
                        f"{what}: stopping rather than skipping records; "
                        "a rerun resumes from the last STATE"
                    )
                self._retry_or_raise(attempt, self._backoff(attempt), what)
                continue
            error = _error_body(response)
            if status == 429:
                wait = self._rate_limit_wait(response, error, attempt, path)
                self._retry_or_raise(attempt, wait, f"429 {error.get('policyName')} on {path}")
                continue
            if status == 401 and self.auth.can_refresh and not refreshed:
                refreshed = True
                self.auth.invalidate()
                self.logger.info("HubSpot answered 401 on %s; refreshing the OAuth token", path)
                continue
            if status in RETRY_STATUSES:
                wait = self._backoff(attempt)
                self._retry_or_raise(attempt, wait, f"{status} on {path}")
                continue
            raise HubSpotAPIError(
                status,
                str(error.get("category") or error.get("status") or "ERROR"),
                str(error.get("message") or response.reason),
                path,
            )
        msg = f"gave up on {path} at {self.host} after {self.max_tries} attempts"
        raise GaveUp(msg)

    def report(self) -> list[str]:
        """Lines describing how close the run came to each limit."""
        return self.usage.lines(self.burst, self.search_budget)

    # ----------------------------------------------------------------- helpers
    def _retry_or_raise(
        self, attempt: int, wait: float, what: str, cause: Exception | None = None
    ) -> None:
        if attempt >= self.max_tries:
            msg = f"{what} at {self.host}: giving up after {attempt} attempts"
            if cause is not None:
                msg += " (check api_url and the network)"
            raise GaveUp(msg) from cause
        self.usage.retries += 1
        self.logger.warning(
            "%s at %s; attempt %d of %d failed, retrying in %.1f s",
            what,
            self.host,
            attempt,
            self.max_tries,
            wait,
        )
        SLEEP(wait)

    def _backoff(self, attempt: int) -> float:
        base = min(30.0, 0.5 * 2 ** (attempt - 1))
        return base * (0.75 + self._random.random() / 2)

    def _rate_limit_wait(
        self, response: requests.Response, error: Mapping[str, Any], attempt: int, path: str
    ) -> float:
        policy = str(error.get("policyName") or "").upper()
        message = str(error.get("message") or "").lower()
        self.usage.rate_limited[policy or "UNKNOWN"] = (
            self.usage.rate_limited.get(policy or "UNKNOWN", 0) + 1
        )
        if policy == "DAILY":
            msg = (
                f"HubSpot's daily API limit is spent (429 DAILY on {path}); the run stops here "
                "and resumes from its last STATE after the portal's midnight reset"
            )
            raise DailyLimitReached(msg)
        retry_after = _float(response.headers.get("Retry-After"))
        if policy in ("SECONDLY", "") and ("secondly" in message or path.endswith("/search")):
            return retry_after if retry_after is not None else 1.0 * attempt
        if retry_after is not None:
            return retry_after
        interval = _float(response.headers.get("X-HubSpot-RateLimit-Interval-Milliseconds"))
        return (interval / 1000.0) if interval else 10.0

    def _adapt_to_headers(self, headers: Mapping[str, str]) -> None:
        """If HubSpot reports a smaller burst limit than configured, follow it."""
        api_max = _float(headers.get("X-HubSpot-RateLimit-Max"))
        interval = _float(headers.get("X-HubSpot-RateLimit-Interval-Milliseconds"))
        if api_max and interval and interval > 0:
            per_ten_seconds = api_max * 10_000.0 / interval
            self.burst.lower_to(effective_limit(per_ten_seconds, self.share))

    def _check_daily(self, headers: Mapping[str, str]) -> None:
        remaining = _float(headers.get("X-HubSpot-RateLimit-Daily-Remaining"))
        if remaining is not None and remaining < self.daily_reserve:
            msg = (
                f"only {int(remaining)} requests of the portal's daily budget remain, below "
                f"daily_request_reserve={self.daily_reserve}; stopping (resume from STATE later)"
            )
            raise DailyLimitReached(msg)

    def _check_run_budget(self) -> None:
        if self.max_requests is not None and self.usage.requests >= int(self.max_requests):
            msg = f"max_requests_per_run={self.max_requests} reached; stopping"
            raise DailyLimitReached(msg)


class UnexpectedAnswer(StopRun):
    """A 2xx answer the tap cannot read as a page of results."""


def _read_answer(response: requests.Response) -> tuple[Any, str | None]:
    """The JSON body and None, or None and what is wrong with it.

    Every endpoint this client calls answers ``{"results": [...], ...}``; reading a body
    without that list as an empty page would end the stream early and skip records silently.
    """
    if not response.content:
        return None, "an empty body"
    try:
        body = response.json()
    except ValueError:
        kind = response.headers.get("Content-Type", "unknown type")
        return None, f"a body that is not valid JSON ({len(response.content)} bytes, {kind})"
    if not isinstance(body, dict) or not isinstance(body.get("results"), list):
        keys = sorted(body)[:10] if isinstance(body, dict) else type(body).__name__
        return None, f"JSON without a results list (keys: {keys})"
    return body, None


def _error_body(response: requests.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _float(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


class HubSpotStream(Stream):
    """Base for this tap's streams: they talk to HubSpot through the tap's client.

    The SDK's ``RESTStream`` drives one endpoint with one paginator; a HubSpot object sync
    combines list or search pages with batch reads and association reads under shared
    budgets, so streams call the tap's :class:`HubSpotClient` and override ``get_records``.
    """

    @property
    def client(self) -> HubSpotClient:
        """The tap's shared client."""
        return self._tap.client  # type: ignore[attr-defined]
