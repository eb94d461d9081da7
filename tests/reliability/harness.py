"""Crash-and-resume machinery shared by the reliability tests and ``benchmarks/soak.py``.

The target runs as Meltano runs it: a subprocess (``python -m target_atlassian_csm``) fed
Singer lines on stdin, its STATE lines read from stdout. The CSM sandbox lives in *this*
process, so it survives every kill and can pull the trigger itself at an exact moment:

* ``submit_unanswered``: the k-th customer bulk submit is handled (CSM has the task) and the
  target is killed before it reads the answer: the ledger cannot know that task, so its
  records are sent again; this is the in-flight window that may be duplicated;
* ``before_poll``: killed on the first poll of the k-th task: the ledger has the task, and
  the next run must poll it instead of resubmitting its records;
* ``after_state``: killed right after the target wrote its k-th STATE line (the barrier
  just released a checkpoint, more tasks are in flight);
* ``mid_batch``: the feeder stops after line N (not a batch boundary) until what came before
  has landed, then kills: a batch is half filled in the target's buffer.

A rerun is fed what Meltano would resend: the SCHEMA messages, then every message after the
last STATE the killed run emitted (everything when it emitted none).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

KILL_POINTS = ("submit_unanswered", "before_poll", "after_state", "mid_batch")
CUSTOMER_BULK = "/customer/profile/bulk"


@dataclass
class Attempt:
    """One target process: how it ended and what it said."""

    states: list[dict[str, Any]]
    returncode: int
    killed: str | None
    kill_info: dict[str, Any]
    journal_start: int
    tasks_before: int
    stderr: str


@dataclass
class CrashReport:
    """A load split by kills, and what the sandbox holds afterwards."""

    attempts: list[Attempt] = field(default_factory=list)
    recovered_tasks: list[str] = field(default_factory=list)

    @property
    def kills(self) -> int:
        """Attempts that ended by SIGKILL."""
        return sum(1 for a in self.attempts if a.killed)


class KillSwitch:
    """Wraps a sandbox app's router so a request can SIGKILL the target (module docstring)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.pid: int | None = None
        self.point: str | None = None
        self.nth = 0
        self.fired = threading.Event()
        self.info: dict[str, Any] = {}
        self._submits = 0
        self._polled: list[str] = []
        self._lock = threading.Lock()
        self._route = app._route
        app._route = self._wrapped

    def arm(self, pid: int, point: str | None, nth: int) -> None:
        """Kill ``pid`` at the ``nth`` occurrence of ``point`` (None: never)."""
        with self._lock:
            self.pid, self.point, self.nth = pid, point, nth
            self._submits = 0
            self._polled = []
            self.fired.clear()
            self.info = {}

    def kill(self, why: dict[str, Any]) -> None:
        """SIGKILL the armed process once, noting where the load was."""
        with self._lock:
            if self.fired.is_set() or self.pid is None:
                return
            self.fired.set()
            self.info = {**why, "customers_in_csm": len(self.app.store.customers)}
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)

    def _from_armed(self, request: Any) -> bool:
        """The request comes from the armed process (the target names its pid in its
        User-Agent): a late request of an attempt killed before must not count, nor fire."""
        return self.pid is not None and f"pid {self.pid})" in request.headers.get("User-Agent", "")

    def _wrapped(self, request: Any) -> Any:
        if not self._from_armed(request):
            return self._route(request)
        point = self.point
        if point == "before_poll" and request.method == "GET" and "/tasks/" in request.path:
            task_id = request.path.rsplit("/", 1)[-1]
            with self._lock:
                first_poll = task_id not in self._polled
                if first_poll:
                    self._polled.append(task_id)
                polled = len(self._polled)
            task = self.app.board.tasks.get(task_id)
            is_customer = task is not None and task.spec.endpoint.endswith("customer/profile/bulk")
            if is_customer and first_poll and polled >= self.nth:
                self.kill({"task_id": task_id})
        response = self._route(request)
        if (
            point == "submit_unanswered"
            and request.method == "POST"
            and request.path.endswith(CUSTOMER_BULK)
            and response.status_code == 202
        ):
            with self._lock:
                self._submits += 1
                due = self._submits >= self.nth
            if due:
                self.kill({"unanswered_submit": json.loads(response.get_data())})
        return response


def wait_until_stable(app: Any, *, deadline: float, quiet: float = 0.6) -> None:
    """Wait until CSM holds customers and their number stopped moving for ``quiet`` s."""
    last, since = -1, time.monotonic()
    while time.monotonic() < deadline:
        with app.lock:
            app.advance()
            now_count = len(app.store.customers)
        if now_count != last:
            last, since = now_count, time.monotonic()
        elif now_count > 0 and time.monotonic() - since >= quiet:
            return
        time.sleep(0.05)


def replay_from(messages: list[dict[str, Any]], last_state: dict[str, Any] | None) -> list[Any]:
    """What Meltano resends after a crash: SCHEMAs, then what follows the last STATE."""
    if last_state is None:
        return list(messages)
    index = max(
        i for i, m in enumerate(messages) if m["type"] == "STATE" and m["value"] == last_state
    )
    schemas = {m["stream"]: m for m in messages[:index] if m["type"] == "SCHEMA"}
    return [*schemas.values(), *messages[index + 1 :]]


def _feed(proc: subprocess.Popen, lines: list[str], on_line: Callable[[int], None]) -> None:
    assert proc.stdin is not None
    try:
        for n, line in enumerate(lines, 1):
            proc.stdin.write(line)
            on_line(n)
        proc.stdin.close()
    except (BrokenPipeError, ValueError, OSError):
        pass


def run_attempt(
    config_path: Path,
    messages: list[Any],
    switch: KillSwitch,
    *,
    point: str | None,
    nth: int,
    workdir: Path,
    timeout: float = 600.0,
) -> Attempt:
    """Run the target once over ``messages``; kill it at ``point`` (None: let it finish)."""
    journal_start = len(switch.app.journal.entries())
    tasks_before = len(switch.app.board.tasks)
    lines = [(m if isinstance(m, str) else json.dumps(m)) + "\n" for m in messages]
    stderr_path = workdir / f"stderr-{time.monotonic_ns()}.log"
    with stderr_path.open("w") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "target_atlassian_csm", "--config", str(config_path)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            cwd=workdir,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        switch.arm(proc.pid, point if point != "mid_batch" else None, nth)
        states: list[dict[str, Any]] = []

        def read_stdout() -> None:
            assert proc.stdout is not None
            for raw in proc.stdout:
                if not raw.strip():
                    continue
                states.append(json.loads(raw))
                if point == "after_state" and len(states) >= nth:
                    switch.kill({"after_state": len(states)})

        def on_line(n: int) -> None:
            if point == "mid_batch" and n == nth:
                # Hold the input here until the full batches before line n have landed, so
                # the kill finds a partly filled batch in the buffer and customers in CSM.
                wait_until_stable(switch.app, deadline=time.monotonic() + 60)
                switch.kill({"line": n})

        reader = threading.Thread(target=read_stdout, daemon=True)
        feeder = threading.Thread(target=_feed, args=(proc, lines, on_line), daemon=True)
        reader.start()
        feeder.start()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise
        reader.join(timeout=10)
        feeder.join(timeout=10)
    killed = point if switch.fired.is_set() and proc.returncode == -signal.SIGKILL else None
    return Attempt(
        states=states,
        returncode=proc.returncode,
        killed=killed,
        kill_info=dict(switch.info),
        journal_start=journal_start,
        tasks_before=tasks_before,
        stderr=stderr_path.read_text(errors="replace"),
    )


def crash_and_resume(
    app: Any,
    config: dict[str, Any],
    messages: list[dict[str, Any]],
    kills: list[tuple[str, int]],
    workdir: Path,
) -> CrashReport:
    """Run the load, killing the target at each ``(point, nth)``, resuming each time."""
    config_path = workdir / "target-config.json"
    config_path.write_text(json.dumps(config))
    switch = KillSwitch(app)
    report = CrashReport()
    last_state: dict[str, Any] | None = None
    for point, nth in [*kills, (None, 0)]:
        attempt = run_attempt(
            config_path,
            replay_from(messages, last_state),
            switch,
            point=point,
            nth=nth,
            workdir=workdir,
        )
        report.attempts.append(attempt)
        if point is not None and attempt.killed is None:
            msg = f"kill {point}#{nth} did not happen (exit {attempt.returncode}):\n"
            raise AssertionError(msg + attempt.stderr[-3000:])
        if point is None and attempt.returncode != 0:
            msg = f"the unarmed run ended with exit {attempt.returncode}, not 0:\n"
            raise AssertionError(msg + attempt.stderr[-3000:])
        if attempt.states:
            last_state = attempt.states[-1]
        if "task_id" in attempt.kill_info:
            report.recovered_tasks.append(attempt.kill_info["task_id"])
    return report


# ------------------------------------------------------------------ what landed
def customer_items_per_task(app: Any) -> dict[str, list[str]]:
    """Emails (case-folded) each customer bulk task carried, by task id."""
    with app.lock:
        return {
            task.id: [str(i["payload"].get("email", "")).casefold() for i in task.items]
            for task in app.board.tasks.values()
            if task.spec.endpoint.endswith("customer/profile/bulk")
        }


def submitted_twice(app: Any) -> int:
    """Customer records carried by more than one task (beyond their first)."""
    counts = Counter(e for emails in customer_items_per_task(app).values() for e in emails)
    return sum(n - 1 for n in counts.values() if n > 1)


def expected_customer(i: int, orgs: int) -> dict[str, Any]:
    """What ``tests.target.conftest.crm_messages`` says customer ``i`` must look like in CSM."""
    return {
        "displayName": f"User {i}",
        "Region": [["AMER", "EMEA", "APAC"][i % 3]],
        "Plan": [["Free", "Standard"][i % 2]],
        "Seats": [str(i)],
        "Products": sorted(["Jira", "Loom"] if i % 2 else ["Confluence"]),
        "org": f"Org {i % orgs}",
    }


def check_crm_landed(app: Any, orgs: int, customers: int) -> list[str]:
    """Differences between the sandbox and the CRM export; empty when every value is right."""
    state = app.state_snapshot()
    problems: list[str] = []
    by_email = Counter(c["email"].casefold() for c in state["customers"])
    dupes = [e for e, n in by_email.items() if n > 1]
    if dupes:
        problems.append(f"{len(dupes)} emails stored twice")
    names = Counter(o["name"].casefold() for o in state["organizations"])
    if len(names) != orgs or any(n > 1 for n in names.values()):
        problems.append(f"{len(state['organizations'])} organizations, expected {orgs}")
    org_names = {o["id"]: o["name"] for o in state["organizations"]}
    stored = {c["email"].casefold(): c for c in state["customers"]}
    if len(stored) != customers:
        problems.append(f"{len(stored)} customers, expected {customers}")
    for i in range(customers):
        c = stored.get(f"user{i}@example.com")
        if c is None:
            problems.append(f"user{i} missing")
            continue
        want = expected_customer(i, orgs)
        got = {
            "displayName": c["displayName"],
            "Region": c["details"].get("Region"),
            "Plan": c["details"].get("Plan"),
            "Seats": c["details"].get("Seats"),
            "Products": sorted(c["details"].get("Products") or []),
            "org": ",".join(org_names.get(x, x) for x in c["organizationIds"]),
        }
        if got != want:
            problems.append(f"user{i}: {got} != {want}")
        if len(problems) > 20:
            break
    return problems


# ----------------------------------------------------------------------- taps
@dataclass
class TapAttempt:
    """One tap process: the record ids it emitted and its last STATE."""

    ids: Counter
    last_state: dict[str, Any] | None
    returncode: int
    killed: bool
    stderr: str = ""


def run_tap_attempt(
    module: str,
    config_path: Path,
    state: dict[str, Any] | None,
    *,
    stream: str,
    kill_after: int | None,
    workdir: Path,
) -> TapAttempt:
    """Run a tap as a subprocess; SIGKILL it after ``kill_after`` records of ``stream``."""
    args = [sys.executable, "-m", module, "--config", str(config_path)]
    if state is not None:
        state_path = workdir / f"state-{time.monotonic_ns()}.json"
        state_path.write_text(json.dumps(state))
        args += ["--state", str(state_path)]
    stderr_path = workdir / f"{module}-stderr-{time.monotonic_ns()}.log"
    stderr = stderr_path.open("w")
    proc = subprocess.Popen(
        args,
        stdout=subprocess.PIPE,
        stderr=stderr,
        text=True,
        cwd=workdir,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    ids: Counter = Counter()
    last_state = None
    killed = False
    assert proc.stdout is not None
    for raw in proc.stdout:
        message = json.loads(raw)
        if message["type"] == "RECORD" and message["stream"] == stream:
            ids[str(message["record"]["id"])] += 1
        elif message["type"] == "STATE":
            last_state = message["value"]
        if kill_after is not None and not killed and sum(ids.values()) >= kill_after:
            proc.send_signal(signal.SIGKILL)
            killed = True
            break
    proc.wait(timeout=120)
    stderr.close()
    text = stderr_path.read_text(errors="replace")
    return TapAttempt(ids, last_state, proc.returncode, killed, text)


def hubspot_tap_config(url: str, *, checkpoint_records: int) -> dict[str, Any]:
    """tap-hubspot-contacts against a sandbox, unthrottled (the test is not about budgets)."""
    return {
        "access_token": "sandbox-token",
        "api_url": url,
        "search_index_lag_seconds": 0,
        "requests_per_ten_seconds": 100_000,
        "search_requests_per_second": 10_000,
        "rate_limit_share": 1.0,
        "checkpoint_records": checkpoint_records,
    }


def kustomer_tap_config(url: str, *, page_size: int) -> dict[str, Any]:
    """tap-kustomer against a sandbox, unthrottled, reading from before any seeded record."""
    return {
        "api_key": "sandbox-kustomer-key",
        "base_url": url,
        "index_lag_seconds": 0,
        "rate_limit_per_minute": 100_000,
        "search_rate_limit_per_minute": 100_000,
        "rate_limit_share": 1.0,
        "max_retry_wait_seconds": 0.01,
        "start_date": "2000-01-01T00:00:00Z",
        "page_size": page_size,
    }


def tap_kill_and_resume(
    module: str,
    config: dict[str, Any],
    *,
    stream: str,
    kill_after: list[int],
    workdir: Path,
) -> list[TapAttempt]:
    """Kill a tap after each count in ``kill_after`` records, resuming from its last STATE."""
    config_path = workdir / f"{module}-config.json"
    config_path.write_text(json.dumps(config))
    attempts: list[TapAttempt] = []
    state: dict[str, Any] | None = None
    for limit in [*kill_after, None]:
        attempt = run_tap_attempt(
            module, config_path, state, stream=stream, kill_after=limit, workdir=workdir
        )
        attempts.append(attempt)
        if limit is not None and not attempt.killed:
            msg = f"{module} ended before {limit} records: the kill proves nothing"
            raise AssertionError(msg)
        state = attempt.last_state or state
    return attempts
