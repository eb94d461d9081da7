"""HTTP client for Kustomer: host resolution, budgets, retries, 429s, same-origin paging.

One :class:`KustomerClient` is shared by every stream of a tap run, so the org-wide
per-minute budget and the search budget are counted once for the whole run.
"""

from __future__ import annotations

import collections
import email.utils
import ipaddress
import logging
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
from singer_sdk.exceptions import FatalAPIError

from tap_kustomer.auth import KustomerAuth
from tap_kustomer.config import redact_url

REGION_HOSTS = {
    "us": "https://api.kustomerapp.com",
    "eu": "https://api.prod2.kustomerapp.com",
    "in": "https://api.prod4.kustomerapp.com",
}
WINDOW_SECONDS = 60.0
LOOPBACK_NAMES = {"localhost"}


class KustomerAuthError(FatalAPIError):
    """401: the key is missing, wrong, expired, or from another region's pod."""


class KustomerForbiddenError(FatalAPIError):
    """403: the key lacks the role for this endpoint."""


class KustomerNotFoundError(FatalAPIError):
    """404."""


class KustomerBadRequestError(FatalAPIError):
    """400 (for search: a criterion, sort or page the API refuses)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def _is_loopback(host: str) -> bool:
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def resolve_base_url(config: dict[str, Any]) -> str:
    """The API origin from ``base_url``, else ``org`` (org host), else ``region``.

    Raises:
        ValueError: nothing to build a host from, or plain http to a non-loopback host.
    """
    if config.get("base_url"):
        base = str(config["base_url"]).rstrip("/")
    elif config.get("org"):
        base = f"https://{config['org']}.api.kustomerapp.com"
    elif config.get("region"):
        region = str(config["region"]).lower()
        if region not in REGION_HOSTS:
            msg = f"region must be one of {sorted(REGION_HOSTS)}, got {region!r}"
            raise ValueError(msg)
        base = REGION_HOSTS[region]
    else:
        msg = "set `org` (recommended: https://{org}.api.kustomerapp.com), `region` or `base_url`"
        raise ValueError(msg)
    parts = urlsplit(base)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        msg = f"base_url must be an http(s) URL, got {redact_url(base)!r}"
        raise ValueError(msg)
    if parts.username or parts.password:
        msg = "base_url must not carry credentials (user:password@); set api_key instead"
        raise ValueError(msg)
    if parts.scheme != "https" and not _is_loopback(parts.hostname):
        msg = "base_url must use https (plain http is allowed only for loopback hosts)"
        raise ValueError(msg)
    if base.endswith("/v1"):
        base = base[: -len("/v1")]
    return base


@dataclass
class Budget:
    """A client-side sliding-window budget: at most ``share`` x ``limit`` calls per minute."""

    name: str
    limit: int
    share: float
    clock: Callable[[], float] = time.monotonic
    calls: collections.deque[float] = field(default_factory=collections.deque)
    peak: int = 0
    total: int = 0
    waited: float = 0.0

    @property
    def allowed(self) -> int:
        """Calls allowed in any 60 s window."""
        return max(1, math.floor(self.limit * self.share))

    def _trim(self, now: float) -> None:
        while self.calls and self.calls[0] <= now - WINDOW_SECONDS:
            self.calls.popleft()

    def wait_needed(self) -> float:
        """Seconds to wait before the next call fits the budget (0 if it fits now)."""
        now = self.clock()
        self._trim(now)
        if len(self.calls) < self.allowed:
            return 0.0
        return max(0.0, self.calls[0] + WINDOW_SECONDS - now)

    def record(self) -> None:
        """Count one call made now."""
        now = self.clock()
        self._trim(now)
        self.calls.append(now)
        self.total += 1
        self.peak = max(self.peak, len(self.calls))


@dataclass
class RateReport:
    """What the run learned about the org's budget from the response headers."""

    server_limit: int | None = None
    lowest_remaining: int | None = None
    responses_429: int = 0
    waited_for_reset: float = 0.0
    retries: int = 0


def reset_wait_seconds(value: str | None, now: float) -> float | None:
    """Seconds until ``x-ratelimit-reset``: epoch seconds, epoch ms, seconds, or an HTTP date."""
    if value is None or not str(value).strip():
        return None
    text = str(value).strip()
    try:
        number = float(text)
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(text) if "," in text else None
        return None if parsed is None else parsed.timestamp() - now
    if number > 1e12:  # epoch milliseconds
        return number / 1000.0 - now
    if number > 1e9:  # epoch seconds
        return number - now
    return number  # seconds until the reset


class KustomerClient:
    """Sends every request of a run; see the module docstring."""

    def __init__(
        self,
        config: dict[str, Any],
        *,
        logger: logging.Logger,
        user_agent: str,
        session: requests.Session | None = None,
    ) -> None:
        self.base_url = resolve_base_url(config)
        self.origin = urlsplit(self.base_url)[:2]
        self.logger = logger
        self.session = session or requests.Session()
        self.session.auth = KustomerAuth(str(config["api_key"]))
        self.session.headers["User-Agent"] = user_agent
        self.session.headers["Accept"] = "application/json"
        share = float(config.get("rate_limit_share", 0.8))
        self.org_budget = Budget("org", int(config.get("rate_limit_per_minute") or 300), share)
        self._org_limit_from_server = not config.get("rate_limit_per_minute")
        self.search_budget = Budget(
            "search", int(config.get("search_rate_limit_per_minute", 100)), share
        )
        self.share = share
        self.max_retries = int(config.get("max_retries", 6))
        self.max_wait = float(config.get("max_retry_wait_seconds", 120))
        self.timeout = float(config.get("request_timeout_seconds", 120))
        self.report = RateReport()
        self.requests_by_kind: collections.Counter[str] = collections.Counter()
        self.sleep: Callable[[float], None] = time.sleep
        self.now: Callable[[], float] = time.time

    # --------------------------------------------------------------------- urls
    def url(self, path_or_link: str) -> str:
        """Absolute URL for a path or a ``links.next``; other origins are refused."""
        if path_or_link.startswith(("http://", "https://")):
            absolute = path_or_link
        else:
            absolute = urljoin(self.base_url + "/", path_or_link.lstrip("/"))
        if urlsplit(absolute)[:2] != self.origin:
            msg = f"refusing to follow a link to another origin ({urlsplit(absolute).hostname})"
            raise FatalAPIError(msg)
        return absolute

    # ----------------------------------------------------------------- requests
    def _throttle(self, search: bool) -> None:
        budgets = [self.org_budget, self.search_budget] if search else [self.org_budget]
        while True:
            wait = max(b.wait_needed() for b in budgets)
            if wait <= 0:
                break
            for b in budgets:
                b.waited += wait if b.wait_needed() > 0 else 0.0
            self.sleep(wait)
        for b in budgets:
            b.record()

    def _observe(self, response: requests.Response) -> None:
        headers = response.headers
        try:
            limit = int(headers["x-ratelimit-limit"])
            remaining = int(headers["x-ratelimit-remaining"])
        except (KeyError, ValueError):
            return
        self.report.server_limit = limit
        if self._org_limit_from_server and limit > 0 and limit != self.org_budget.limit:
            self.logger.info("Org rate limit from the API: %d requests/minute", limit)
            self.org_budget.limit = limit
        if self.report.lowest_remaining is None or remaining < self.report.lowest_remaining:
            self.report.lowest_remaining = remaining
        reserve = math.floor(limit * (1 - self.share))
        if limit > 0 and remaining <= reserve and response.status_code != 429:
            # the rest of this window belongs to the org's other integrations
            wait = reset_wait_seconds(headers.get("x-ratelimit-reset"), self.now())
            wait = min(self.max_wait, max(1.0, wait if wait is not None else WINDOW_SECONDS))
            self.logger.info(
                "Org budget nearly spent (%d of %d left); waiting %.1f s for the reset",
                remaining,
                limit,
                wait,
            )
            self.report.waited_for_reset += wait
            self.sleep(wait)

    def _retry_wait(self, attempt: int) -> float:
        return min(self.max_wait, 2.0**attempt)

    def request(
        self,
        method: str,
        path_or_link: str,
        *,
        params: dict[str, Any] | None = None,
        body: Any = None,
        search: bool = False,
        kind: str = "get",
    ) -> dict[str, Any]:
        """Send one request with budgets and retries; return the JSON body.

        Raises:
            KustomerAuthError: 401.
            KustomerForbiddenError: 403.
            KustomerNotFoundError: 404.
            KustomerBadRequestError: other 4xx.
            FatalAPIError: retries exhausted.
        """
        url = self.url(path_or_link)
        path = urlsplit(url).path
        rate_limited = 0
        attempt = 0
        while True:
            self._throttle(search)
            self.requests_by_kind[kind] += 1
            try:
                response = self.session.request(
                    method, url, params=params, json=body, timeout=self.timeout
                )
            except (
                requests.ConnectionError,
                requests.Timeout,
                requests.exceptions.ChunkedEncodingError,
            ) as exc:
                attempt += 1
                if attempt > self.max_retries:
                    msg = f"{method} {path} failed after {attempt} tries: {type(exc).__name__}"
                    raise FatalAPIError(msg) from None
                self.report.retries += 1
                wait = self._retry_wait(attempt)
                self.logger.warning(
                    "%s %s: %s; retrying in %.1f s", method, path, type(exc).__name__, wait
                )
                self.sleep(wait)
                continue
            self._observe(response)
            status = response.status_code
            if status == 429:
                rate_limited += 1
                self.report.responses_429 += 1
                if rate_limited > max(self.max_retries, 10):
                    msg = f"{method} {path}: still rate limited after {rate_limited} waits"
                    raise FatalAPIError(msg)
                wait = reset_wait_seconds(response.headers.get("x-ratelimit-reset"), self.now())
                if wait is None:
                    wait = reset_wait_seconds(response.headers.get("Retry-After"), self.now())
                wait = min(self.max_wait, max(1.0, wait if wait is not None else WINDOW_SECONDS))
                self.report.waited_for_reset += wait
                self.logger.warning(
                    "429 from %s %s; waiting %.1f s for the rate-limit reset", method, path, wait
                )
                self.sleep(wait)
                continue
            if status >= 500:
                attempt += 1
                if attempt > self.max_retries:
                    msg = f"{method} {path} failed with {status} after {attempt} tries"
                    raise FatalAPIError(msg)
                self.report.retries += 1
                wait = self._retry_wait(attempt)
                self.logger.warning("%s %s: %d; retrying in %.1f s", method, path, status, wait)
                self.sleep(wait)
                continue
            if status >= 400:
                detail = self._error_text(response)
                msg = f"{status} from {method} {path}: {detail}"
                if status == 401:
                    raise KustomerAuthError(
                        f"{msg} (check api_key, and that the host matches the key's region)"
                    )
                if status == 403:
                    raise KustomerForbiddenError(msg)
                if status == 404:
                    raise KustomerNotFoundError(msg)
                raise KustomerBadRequestError(msg, status)
            answer, problem = _read_answer(response)
            if problem is None:
                return answer
            # A body cut short or replaced by a proxy's page is retried like a dropped
            # connection; well-formed JSON of the wrong shape is not (it would repeat), and
            # reading it as an empty page would end the stream early: a silent skip.
            what = f"{method} {path} answered {status} with {problem}"
            if problem.startswith("JSON") or attempt >= self.max_retries:
                raise FatalAPIError(
                    f"{what}: stopping rather than skipping records; "
                    "a rerun resumes from the last STATE"
                )
            attempt += 1
            self.report.retries += 1
            wait = self._retry_wait(attempt)
            self.logger.warning("%s; retrying in %.1f s", what, wait)
            self.sleep(wait)

    @staticmethod
    def _error_text(response: requests.Response) -> str:
        try:
            body = response.json()
        except ValueError:
            return response.text[:300]
        errors = body.get("errors") if isinstance(body, dict) else None
        if isinstance(errors, list) and errors:
            first = errors[0] or {}
            return str(first.get("detail") or first.get("title") or first.get("message") or first)[
                :300
            ]
        return str(body)[:300]

    # ------------------------------------------------------------------- paging
    def get_pages(
        self, path: str, params: dict[str, Any] | None = None, *, kind: str = "get"
    ) -> Iterator[list[dict[str, Any]]]:
        """GET a page/pageSize list and follow ``links.next`` (same origin) to the end."""
        link: str | None = path
        query = dict(params or {})
        seen: set[str] = set()
        while link:
            body = self.request("GET", link, params=query, kind=kind)
            query = {}  # links.next carries the query
            data = body.get("data") or []
            yield data if isinstance(data, list) else [data]
            nxt = (body.get("links") or {}).get("next")
            if not nxt or not data or nxt in seen:
                break
            seen.add(nxt)
            link = nxt

    def summary(self) -> str:
        """One line: how close the run came to each budget."""
        org, search = self.org_budget, self.search_budget
        parts = [
            f"org budget peak {org.peak}/{org.limit} req/min "
            f"({100 * org.peak / max(1, org.limit):.0f}%)",
            f"search budget peak {search.peak}/{search.limit} req/min "
            f"({100 * search.peak / max(1, search.limit):.0f}%)",
            f"requests {org.total} (search {search.total})",
            f"throttled {org.waited + search.waited:.1f} s",
            f"429s {self.report.responses_429}",
        ]
        if self.report.lowest_remaining is not None:
            parts.append(
                "lowest x-ratelimit-remaining "
                f"{self.report.lowest_remaining}/{self.report.server_limit}"
            )
        return "Kustomer rate budget: " + ", ".join(parts)


def _read_answer(response: requests.Response) -> tuple[dict[str, Any], str | None]:
    """The JSON body and None, or an empty dict and what is wrong with it.

    Every Kustomer endpoint the tap reads answers a JSON:API document with ``data``.
    """
    if not response.content:
        return {}, "an empty body"
    try:
        body = response.json()
    except ValueError:
        kind = response.headers.get("Content-Type", "unknown type")
        return {}, f"a body that is not valid JSON ({len(response.content)} bytes, {kind})"
    if not isinstance(body, dict) or not isinstance(body.get("data"), list | dict):
        keys = sorted(body)[:10] if isinstance(body, dict) else type(body).__name__
        return {}, f"JSON without a data list or object (keys: {keys})"
    return body, None
