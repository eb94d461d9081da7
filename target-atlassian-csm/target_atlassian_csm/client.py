"""HTTP access to the CSM REST API: auth, pacing, retries, and tolerant response reading.

Requests follow the reference (``docs/csm-api-choices.md``); responses are read in both
dialects the docs use (``id`` / ``taskId``; ``FINISHED`` / ``COMPLETED``; failures with
``entityId`` / ``index``). Transient trouble (connection errors, 429, 5xx) is retried here,
waiting for ``Retry-After`` when the server says how long; everything a caller must decide
about (a full task cap, a rejected request, bad credentials) is raised as its own exception.
Secrets never appear in messages: errors name the method, path, status and the server's text.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import json
import logging
import os
import random
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit

import backoff
import requests

from target_atlassian_csm.pacing import Pacer
from target_atlassian_csm.summary import RunSummary

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
RUNNING, DONE, FAILED = "running", "done", "failed"
_STATUS_MAP = {
    "NOT_STARTED": RUNNING,
    "IN_PROGRESS": RUNNING,
    "PROCESSING": RUNNING,
    "QUEUED": RUNNING,
    "FINISHED": DONE,
    "COMPLETED": DONE,
    "FAILED": FAILED,
}


class CsmError(Exception):
    """Base of the client's errors."""


class FatalApiError(CsmError):
    """Nothing more can be done this run (credentials, permissions, retries exhausted)."""


class RequestRejected(CsmError):
    """The server refused this request (a 4xx other than the cases below)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message


class TaskCapReached(CsmError):
    """400 ``Maximum number of tasks reached``: the site's task slots are full."""


class IdempotencyClash(RequestRejected):
    """The key was used before with another body."""


class NotFoundError(RequestRejected):
    """404."""


@dataclass(frozen=True)
class Failure:
    """One failure reported by a task, in either dialect."""

    error: str
    index: int | None = None
    entity_id: str | None = None
    operated_on: str | None = None
    operated_on_ids: tuple[str, ...] = ()
    raw: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TaskStatus:
    """A task's state, normalised: ``running``, ``done`` or ``failed``."""

    task_id: str
    state: str
    raw_status: str
    failures: tuple[Failure, ...] = ()


def check_base_url(base_url: str) -> str:
    """The URL without a trailing /; refuses credentials in it, and http off loopback.

    Plain http is allowed on loopback only (the sandbox). Messages never repeat what could
    be a secret.
    """
    parts = urlsplit(base_url)
    if parts.username or parts.password:
        msg = (
            "base_url must not carry credentials (user:token@host): set access_token, or "
            "user_email and api_token, instead"
        )
        raise ValueError(msg)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        msg = f"base_url must be an http(s) URL, got {base_url!r}"
        raise ValueError(msg)
    if parts.scheme != "https" and parts.hostname not in LOOPBACK_HOSTS:
        msg = f"base_url must use https (plain http is allowed on loopback only): {base_url!r}"
        raise ValueError(msg)
    return base_url.rstrip("/")


def encode_body(body: Any) -> bytes:
    """Canonical JSON bytes (UTF-8, keys sorted): what is sent."""
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False, sort_keys=True).encode()


def parse_task(body: Mapping[str, Any], task_id: str) -> TaskStatus:
    """Read a task status answer in either dialect."""
    raw_status = str(body.get("status") or "").upper()
    failures = []
    for item in body.get("failures") or []:
        if not isinstance(item, Mapping):
            failures.append(Failure(error=str(item)))
            continue
        index = item.get("index")
        failures.append(
            Failure(
                error=str(
                    item.get("error")
                    or item.get("message")
                    or item.get("errorMessage")
                    or "unspecified failure"
                ),
                index=int(index) if isinstance(index, int | str) and str(index).isdigit() else None,
                entity_id=str(item["entityId"]) if item.get("entityId") is not None else None,
                operated_on=str(item["operatedOn"]) if item.get("operatedOn") else None,
                operated_on_ids=tuple(str(x) for x in item.get("operatedOnIds") or ()),
                raw=item,
            )
        )
    return TaskStatus(
        task_id=str(body.get("id") or body.get("taskId") or task_id),
        state=_STATUS_MAP.get(raw_status, RUNNING),
        raw_status=raw_status,
        failures=tuple(failures),
    )


def error_message(response: requests.Response) -> str:
    """The server's own words, from ``message``, ``errorMessage`` or ``errors``."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:500] or response.reason or ""
    if isinstance(body, Mapping):
        for key in ("message", "errorMessage"):
            if body.get(key):
                return str(body[key])
        if body.get("errors"):
            return json.dumps(body["errors"])[:500]
    return json.dumps(body)[:500]


def retry_after_seconds(response: requests.Response, now: float | None = None) -> float | None:
    """How long the server asks us to wait: ``Retry-After`` (seconds or date), else the reset."""
    now = time.time() if now is None else now
    header = response.headers.get("Retry-After")
    if header:
        text = header.strip()
        if text.replace(".", "", 1).isdigit():
            return float(text)
        try:
            when = email.utils.parsedate_to_datetime(text)
            return max(0.0, when.timestamp() - now)
        except (TypeError, ValueError):
            pass
    reset = response.headers.get("X-RateLimit-Reset")
    if reset:
        try:
            when = dt.datetime.fromisoformat(reset.strip().replace("Z", "+00:00"))
            return max(0.0, when.timestamp() - now)
        except ValueError:
            return None
    return None


class CsmClient:
    """One CSM site's REST API (thread-safe; one HTTP session per thread)."""

    def __init__(
        self,
        *,
        base_url: str,
        cloud_id: str,
        access_token: str | None = None,
        user_email: str | None = None,
        api_token: str | None = None,
        max_requests_per_second: float = 10.0,
        timeout: float = 60.0,
        max_retries: int = 8,
        max_backoff_seconds: float = 60.0,
        summary: RunSummary | None = None,
        logger: logging.Logger | None = None,
    ) -> None:
        self.base_url = check_base_url(base_url)
        self.api_root = f"{self.base_url}/jsm/csm/cloudid/{cloud_id}/api/v1"
        #: Jira's platform API of the same site (user search: the documented way to find a
        #: customer's id by email, csm-api.md §4 option (c)).
        self.jira_root = f"{self.base_url}/ex/jira/{cloud_id}/rest/api/3"
        self._fetch_by_email: bool | None = None  # learnt on first use
        if access_token:
            self._auth_header = f"Bearer {access_token}"
        elif user_email and api_token:
            self._auth_header = requests.auth._basic_auth_str(user_email, api_token)  # noqa: SLF001
        else:
            msg = "CSM credentials missing: set access_token, or user_email and api_token"
            raise ValueError(msg)
        self.timeout = timeout
        self.max_retries = max_retries
        self.max_backoff_seconds = max_backoff_seconds
        self.pacer = Pacer(max_requests_per_second)
        self.summary = summary or RunSummary()
        self.logger = logger or logging.getLogger("target_atlassian_csm.client")
        self._local = threading.local()
        self.stop_event = threading.Event()

    @classmethod
    def from_config(
        cls,
        config: Mapping[str, Any],
        summary: RunSummary | None = None,
        logger: logging.Logger | None = None,
    ) -> CsmClient:
        """The client of the site the target's settings name (ValueError when they cannot)."""
        return cls(
            base_url=config["base_url"],
            cloud_id=config["cloud_id"],
            access_token=config.get("access_token"),
            user_email=config.get("user_email"),
            api_token=config.get("api_token"),
            max_requests_per_second=float(config["max_requests_per_second"]),
            timeout=float(config["request_timeout_seconds"]),
            max_retries=int(config["max_retries"]),
            summary=summary,
            logger=logger,
        )

    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            session.headers.update(
                {
                    "Authorization": self._auth_header,
                    "Accept": "application/json",
                    "Content-Type": "application/json",
                    "X-ExperimentalApi": "opt-in",
                    # The pid lets a site's logs (and the kill tests) tell runs apart.
                    "User-Agent": f"target-atlassian-csm (pid {os.getpid()})",
                }
            )
            self._local.session = session
        return session

    def _sleep(self, seconds: float) -> None:
        if self.stop_event.wait(seconds):
            msg = "stopping: the run was interrupted while waiting to retry"
            raise FatalApiError(msg)

    def request(
        self,
        method: str,
        path: str,
        *,
        body: bytes | None = None,
        idempotency_key: str | None = None,
        kind: str = "other",
        root: str | None = None,
        retries: int | None = None,
    ) -> Any:
        """Send one request, retrying transient failures; return the parsed JSON answer.

        Each retry is logged with the host, the attempt and the wait, so a site that does not
        answer is visible at once rather than after minutes of silence.
        """
        url = f"{root or self.api_root}/{path.lstrip('/')}"
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
        waits = backoff.expo(base=2, factor=0.5, max_value=self.max_backoff_seconds)
        next(waits)  # the generator's first value is a priming None
        problem = ""
        attempts = (self.max_retries if retries is None else retries) + 1
        self._local.throttled = False
        for attempt in range(1, attempts + 1):
            self.pacer.wait()
            self._local.sent_at = time.monotonic()
            try:
                response = self._session().request(
                    method, url, data=body, headers=headers, timeout=self.timeout
                )
            except (requests.ConnectionError, requests.Timeout) as exc:
                self.summary.request("connection_errors")
                problem = f"connection error ({type(exc).__name__})"
                if attempt < attempts:
                    wait = random.uniform(0, next(waits))
                    self._log_retry(
                        method, path, problem, attempt=attempt, attempts=attempts, wait=wait
                    )
                    self._sleep(wait)
                continue
            self.summary.request(kind)
            status = response.status_code
            if status in (429, 503):
                self.summary.request("throttled_429" if status == 429 else "unavailable_503")
                self._local.throttled = True
                wait = retry_after_seconds(response)
                wait = wait if wait is not None else random.uniform(0, next(waits))
                if response.headers.get("X-RateLimit-Remaining", "").strip() == "0":
                    # The site's budget is spent: every lane waits. A 429 that says nothing
                    # about the budget holds only this request, so one refused poll does not
                    # idle the task slots of the others (they get their own 429 if it is global).
                    self.pacer.pause(wait)
                problem = f"{status} ({error_message(response)})"
                self.logger.info("CSM asked to slow down (%s): waiting %.1fs", status, wait)
                self._sleep(wait)
                continue
            if status >= 500:
                self.summary.request("server_errors")
                problem = f"{status} ({error_message(response)})"
                if attempt < attempts:
                    wait = random.uniform(0, next(waits))
                    self._log_retry(
                        method, path, problem, attempt=attempt, attempts=attempts, wait=wait
                    )
                    self._sleep(wait)
                continue
            if status < 400:
                return response.json() if response.content else {}
            self._raise_for(method, path, status, error_message(response))
        host = urlsplit(self.base_url).netloc
        msg = (
            f"CSM {method} {host} {path} failed after {attempts} attempts; last: {problem}. "
            "Nothing after the last emitted STATE is lost: rerun to resume."
        )
        raise FatalApiError(msg)

    def last_sent(self) -> tuple[float | None, bool]:
        """This thread's last request: when its last attempt went out, and whether refused.

        The send time is ``time.monotonic()`` (None before any request); refused means an
        earlier attempt of it was answered 429/503.
        Task timing counts from send times, not answers: the server sees a request about when
        it is sent, so a task's age at a poll is the poll's send time minus the submit's,
        whatever the round trip (see :mod:`.polling`).
        """
        return getattr(self._local, "sent_at", None), getattr(self._local, "throttled", False)

    def _log_retry(
        self, method: str, path: str, problem: str, *, attempt: int, attempts: int, wait: float
    ) -> None:
        self.logger.warning(
            "CSM %s %s %s: %s; retry %d of %d in %.1fs",
            method,
            urlsplit(self.base_url).netloc,
            path,
            problem,
            attempt,
            attempts - 1,
            wait,
        )

    @staticmethod
    def _raise_for(method: str, path: str, status: int, message: str) -> None:
        where = f"CSM {method} {path}"
        if status in (401, 403):
            msg = f"{where}: {status} {message!r}: check the credentials and the site's permissions"
            raise FatalApiError(msg)
        if status == 412:
            msg = f"{where}: 412 {message!r}: the experimental opt-in header was refused"
            raise FatalApiError(msg)
        if status == 400 and "maximum number of tasks" in message.lower():
            raise TaskCapReached(message)
        if status in (400, 409, 422) and "same request data" in message.lower():
            raise IdempotencyClash(status, message)
        if status == 404:
            raise NotFoundError(status, message)
        raise RequestRejected(status, message)

    # ------------------------------------------------------------------- operations
    def submit(self, endpoint: str, body: bytes, key: str) -> str:
        """POST a bulk request; return the task id."""
        answer = self.request("POST", endpoint, body=body, idempotency_key=key, kind="submits")
        task_id = answer.get("id") or answer.get("taskId")
        if not task_id:
            msg = f"CSM POST {endpoint}: the answer has no task id: {json.dumps(answer)[:300]}"
            raise FatalApiError(msg)
        return str(task_id)

    def task(self, task_id: str) -> TaskStatus:
        """GET a task's status."""
        return parse_task(self.request("GET", f"tasks/{task_id}", kind="polls"), task_id)

    def detail_fields(self, entity: str, *, retries: int | None = None) -> dict[str, Any]:
        """GET the detail fields of ``customer`` or ``organization``."""
        return self.request("GET", f"{entity}/details", kind="field_reads", retries=retries)

    def create_detail_field(
        self, entity: str, name: str, type_name: str, options: list[str] | None = None
    ) -> dict[str, Any]:
        """POST one detail field definition."""
        kind: dict[str, Any] = {"name": type_name}
        if options:
            kind["options"] = options
        body = encode_body({"name": name, "type": kind})
        return self.request("POST", f"{entity}/details", body=body, kind="field_writes")

    def fetch_organizations(self, names: list[str]) -> list[dict[str, Any]]:
        """POST organization/fetch by names (≤ 50); return ``[{id, name}]`` for those found."""
        answer = self.request(
            "POST",
            "organization/fetch",
            body=encode_body({"organizationNames": names}),
            kind="lookups",
        )
        return [r for r in _results(answer) if r.get("id")]

    def fetch_profiles(self, entity: str, ids: list[str]) -> list[dict[str, Any]]:
        """POST {entity}/profile/fetch by CSM ids (<= 25): the profiles CSM holds."""
        key = "customerIds" if entity == "customer" else "organizationIds"
        answer = self.request(
            "POST",
            f"{entity}/profile/fetch",
            body=encode_body({key: ids}),
            kind="profile_reads",
        )
        return [r for r in _results(answer) if r.get("id")]

    def delete_record(self, entity: str, csm_id: str) -> bool:
        """DELETE one customer account or organization; False when CSM has no such record."""
        path = f"customer/account/{csm_id}" if entity == "customer" else f"organization/{csm_id}"
        try:
            self.request("DELETE", path, kind="deletes")
        except NotFoundError:
            return False
        return True

    def find_customer_ids(self, emails: list[str]) -> dict[str, str]:
        """CSM customer ids by case-folded email, for those CSM knows (<= 25 emails).

        The reference documents no look-up by email. ``customer/profile/fetch`` is tried with
        ``{"emails": [...]}`` (unknown whether CSM takes it; a refusal is remembered), and
        what it does not find is looked up with Jira's user search, which a live app uses
        for this (csm-api.md §4). Both readings are in docs/csm-api-choices.md.
        """
        wanted = {e.casefold(): e for e in emails}
        found: dict[str, str] = {}
        if self._fetch_by_email is not False:
            try:
                answer = self.request(
                    "POST",
                    "customer/profile/fetch",
                    body=encode_body({"emails": list(wanted.values())}),
                    kind="lookups",
                )
                self._fetch_by_email = True
            except RequestRejected as exc:
                self._fetch_by_email = False
                self.logger.info(
                    "CSM does not fetch profiles by email (%s): using Jira's user search.",
                    exc.status,
                )
            else:
                for item in _results(answer):
                    email = str(item.get("email") or item.get("emailAddress") or "").casefold()
                    csm_id = item.get("id") or item.get("customerId") or item.get("accountId")
                    if email in wanted and csm_id:
                        found[email] = str(csm_id)
        for key, email in wanted.items():
            if key in found:
                continue
            answer = self.request(
                "GET",
                f"user/search?query={quote(email)}&maxResults=10",
                root=self.jira_root,
                kind="lookups",
            )
            for user in _results(answer):
                if str(user.get("emailAddress") or "").casefold() == key and user.get("accountId"):
                    found[key] = str(user["accountId"])
                    break
        return found


def _results(answer: Any) -> list[Mapping[str, Any]]:
    """The items of a list answer, in the shapes the APIs use (a list, results, values)."""
    if isinstance(answer, Mapping):
        answer = answer.get("results", answer.get("values", []))
    return [item for item in answer or [] if isinstance(item, Mapping)]


def profile_semantic(entity: str, profile: Mapping[str, Any]) -> dict[str, Any]:
    """A CSM profile in the ledger's semantic form (what a rollback restores)."""
    identity = profile.get("email") if entity == "customer" else profile.get("name")
    out: dict[str, Any] = {"identity": str(identity or "")}
    if entity == "customer" and profile.get("displayName"):
        out["displayName"] = str(profile["displayName"])
    details = {
        str(d["name"]): [str(v) for v in d.get("values") or []]
        for d in profile.get("details") or []
        if isinstance(d, Mapping) and d.get("name") and d.get("values")
    }
    if details:
        out["details"] = {k: details[k] for k in sorted(details)}
    organizations = [
        f"name:{str(o.get('name')).casefold()}"
        for o in profile.get("organizations") or []
        if isinstance(o, Mapping) and o.get("name")
    ]
    if organizations:
        out["organizations"] = sorted(set(organizations))
    return out
