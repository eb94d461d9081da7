"""Helpers to run the target in-process against a CSM sandbox and read what landed."""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from target_atlassian_csm.target import TargetAtlassianCSM


def schema_msg(stream: str, props: dict[str, Any], key: str = "id") -> dict[str, Any]:
    properties = {k: (v if isinstance(v, dict) else {"type": v}) for k, v in props.items()}
    return {
        "type": "SCHEMA",
        "stream": stream,
        "key_properties": [key],
        "schema": {"type": "object", "properties": properties},
    }


def record_msg(stream: str, record: dict[str, Any]) -> dict[str, Any]:
    return {"type": "RECORD", "stream": stream, "record": record}


def state_msg(value: dict[str, Any]) -> dict[str, Any]:
    return {"type": "STATE", "value": value}


ORG_PROPS = {
    "id": "string",
    "name": "string",
    "industry": ["string", "null"],
    "employees": ["integer", "null"],
    "website": ["string", "null"],
}
CUSTOMER_PROPS = {
    "id": "string",
    "email": ["string", "null"],
    "first_name": ["string", "null"],
    "last_name": ["string", "null"],
    "company": ["string", "null"],
    "region": ["string", "null"],
    "plan": ["string", "null"],
    "seats": ["integer", "null"],
    "products": {"type": ["array", "null"], "items": {"type": "string"}},
}


def crm_messages(
    orgs: int, customers: int, *, changed: Iterable[int] = (), state_every: int = 100
) -> list[dict[str, Any]]:
    """A generic CRM export: ``organizations`` then ``customers`` with STATE between."""
    changed = set(changed)
    messages = [schema_msg("organizations", ORG_PROPS)]
    for i in range(orgs):
        messages.append(
            record_msg(
                "organizations",
                {
                    "id": f"o{i}",
                    "name": f"Org {i}",
                    "industry": ["Software", "Retail"][i % 2],
                    "employees": 10 + i,
                    "website": f"org{i}.example.com",
                },
            )
        )
    messages.append(state_msg({"bookmarks": {"organizations": orgs}}))
    messages.append(schema_msg("customers", CUSTOMER_PROPS))
    for i in range(customers):
        messages.append(
            record_msg(
                "customers",
                {
                    "id": f"c{i}",
                    "email": f"user{i}@example.com",
                    "first_name": "User",
                    "last_name": str(i),
                    "company": f"Org {i % orgs}" if orgs else None,
                    "region": ["AMER", "EMEA", "APAC"][i % 3],
                    "plan": "Premium" if i in changed else ["Free", "Standard"][i % 2],
                    "seats": i,
                    "products": ["Jira", "Loom"] if i % 2 else ["Confluence"],
                },
            )
        )
        if (i + 1) % state_every == 0:
            messages.append(state_msg({"bookmarks": {"customers": i + 1}}))
    messages.append(state_msg({"bookmarks": {"customers": customers, "done": True}}))
    return messages


@dataclass
class RunResult:
    """What one target run produced."""

    states: list[dict[str, Any]]
    summary: dict[str, Any]
    dead_letters: list[dict[str, Any]]
    exit_code: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


def run_target(config: dict[str, Any], messages: Iterable[dict[str, Any] | str]) -> RunResult:
    """Run the target in-process over ``messages``; return its STATE lines and reports."""
    lines = "".join((m if isinstance(m, str) else json.dumps(m)) + "\n" for m in messages)
    out = io.StringIO()
    code = 0
    with contextlib.redirect_stdout(out):
        target = TargetAtlassianCSM(config=config)
        try:
            target.listen(io.StringIO(lines))
        except SystemExit as exc:
            code = int(exc.code or 0)
    states = [json.loads(line) for line in out.getvalue().splitlines() if line.strip()]
    summary_path = Path(config["summary_path"])
    summary = json.loads(summary_path.read_text()) if summary_path.exists() else {}
    dead_path = Path(config["dead_letter_path"])
    dead = [json.loads(x) for x in dead_path.read_text().splitlines()] if dead_path.exists() else []
    return RunResult(states, summary, dead, code)


#: Sandbox knobs for tests that are not about rate limits: no burst limit, so a test's
#: unpaced client is not held for the sandbox's 10 s window.
FAST = {"rate_limit_requests": 0}


@pytest.fixture
def csm(sandbox_factory):
    """A CSM sandbox with the default fields and fast tasks."""
    return sandbox_factory("csm", seed="default", **FAST)


@pytest.fixture
def config(csm, tmp_path):
    """Target settings pointing at the ``csm`` sandbox, files under tmp_path."""
    return target_config(csm, tmp_path)


def target_config(sandbox: Any, tmp_path: Path, **overrides: Any) -> dict[str, Any]:
    base = {
        "base_url": sandbox.url,
        "cloud_id": sandbox.app.knobs.get("cloud_id", "sandbox"),
        "access_token": sandbox.app.knobs.get("oauth_token", "sandbox-token"),
        "ledger_path": str(tmp_path / "ledger.sqlite"),
        "dead_letter_path": str(tmp_path / "dead.jsonl"),
        "summary_path": str(tmp_path / "summary.json"),
        "batch_max_wait_seconds": 0.2,
        "max_requests_per_second": 0,
        "state_every_records": 1,
        "state_every_seconds": 0,
    }
    base.update(overrides)
    return base


def bulk_requests(sandbox: Any, entity: str = "customer") -> list[dict[str, Any]]:
    """The profile bulk submits the sandbox received for ``entity``."""
    suffix = f"/{entity}/profile/bulk"
    return [r for r in sandbox.requests() if r["method"] == "POST" and r["path"].endswith(suffix)]


def items_sent(sandbox: Any, entity: str = "customer") -> list[dict[str, Any]]:
    key = "customerProfiles" if entity == "customer" else "organizationProfiles"
    return [item for r in bulk_requests(sandbox, entity) for item in (r["body"] or {}).get(key, [])]


@contextlib.contextmanager
def started_csm(seed: str | None = "default", **knobs: Any):
    """A CSM sandbox outside pytest's fixtures (for hypothesis tests: one per example)."""
    from sandbox.core.server import SandboxServer
    from sandbox.pytest_plugin import RunningSandbox
    from sandbox.registry import create_app

    app = create_app("csm", **{**FAST, **knobs})
    if seed is not None:
        app.seed(seed)
    running = RunningSandbox(SandboxServer(app).start())
    try:
        yield running
    finally:
        running.stop()


def run_target_within(
    seconds: float, config: dict[str, Any], messages: Iterable[dict[str, Any] | str]
) -> RunResult:
    """:func:`run_target`, failing the test if the run has not ended within ``seconds``."""
    import threading

    box: dict[str, Any] = {}

    def work() -> None:
        try:
            box["result"] = run_target(config, list(messages))
        except BaseException as exc:  # noqa: BLE001 - re-raised in the test's thread
            box["error"] = exc

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        pytest.fail(f"the target did not end within {seconds:.0f}s (a hang)")
    if "error" in box:
        raise box["error"]
    return box["result"]


def customer_made_in_csm(sandbox: Any, payload: dict[str, Any], *, timeout: float = 30) -> None:
    """A customer made in CSM by someone else (an agent, an earlier tool), before our load.

    Sent straight to the sandbox's profile bulk endpoint; returns once its task has ended.
    """
    import time

    import requests

    answer = requests.post(
        f"{sandbox.url}/jsm/csm/cloudid/sandbox/api/v1/customer/profile/bulk",
        json={"customerProfiles": [{"operationType": "CREATE", "payload": payload}]},
        headers={
            "Authorization": "Bearer sandbox-token",
            "Idempotency-Key": f"made-elsewhere-{payload['email']}",
            "X-ExperimentalApi": "opt-in",
        },
        timeout=10,
    )
    assert answer.status_code == 202, answer.text
    deadline = time.monotonic() + timeout
    while sandbox.app.customer_by_email(payload["email"]) is None:  # its task ends
        assert time.monotonic() < deadline, "the task never ended"
        time.sleep(0.05)
