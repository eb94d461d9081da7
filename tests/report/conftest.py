"""Loads with failures to report on, and the tools that look at a report as a person would.

``two_runs`` loads a CRM export twice into a CSM sandbox with the target in-process (the
settings as ``tests/target`` builds them): the first run creates a detail field, meets a 429,
and dead-letters records of every category (failed, rejected, warning); the second changes
three records and fails the same ones again. The browser is Debian's Chromium and the HTML
validator the Nu Html Checker (``vnu.jar``); ``make browser`` installs both (``make test``
does). Without them the browser tests skip locally, saying what to install, and fail in CI.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from target_atlassian_csm.ops.cli import main as ops_main
from tests.target.conftest import (
    RunResult,
    record_msg,
    run_target,
    schema_msg,
    started_csm,
    state_msg,
    target_config,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO_ROOT / "output" / "test-artifacts" / "report"
VNU_JAR = REPO_ROOT / ".venv-tools" / "node_modules" / "vnu-jar" / "build" / "dist" / "vnu.jar"
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)

STR = {"type": ["string", "null"]}
INT = {"type": ["integer", "null"]}
CUSTOMER_PROPS = {
    "id": {"type": "string"},
    "email": STR,
    "first_name": STR,
    "last_name": STR,
    "region": STR,
    "plan": STR,
    "seats": INT,
    "nps": INT,  # no such field on the site: create_missing_fields creates "Nps"
}
ORG_PROPS = {"id": {"type": "string"}, "name": STR, "industry": STR, "employees": INT}
CUSTOMERS = 600
#: The records that do not land, and why (each category of dead letter).
BAD = [
    {"id": "bad-email", "email": "not-an-email", "first_name": "Nope"},  # rejected
    {"id": "no-email", "email": None, "first_name": "Nobody"},  # rejected
    {"id": "bad-seats", "email": "seats@example.com", "seats": "many"},  # failed: schema
    {"id": "bad-plan", "email": "plan@example.com", "plan": "Platinum"},  # warning: dropped
]


def export(*, changed: set[int] = frozenset(), extra: list[dict[str, Any]] = ()) -> list[dict]:
    """Organizations, then customers (with the bad ones at the end)."""
    messages = [schema_msg("organizations", ORG_PROPS)]
    messages += [
        record_msg(
            "organizations",
            {"id": f"o{i}", "name": f"Org {i}", "industry": "Software", "employees": 10 + i},
        )
        for i in range(10)
    ]
    messages.append(schema_msg("customers", CUSTOMER_PROPS))
    for i in range(CUSTOMERS):
        customer = {
            "id": f"c{i}",
            "email": f"user{i}@example.com",
            "first_name": "User",
            "last_name": str(i),
            "region": ["AMER", "EMEA", "APAC"][i % 3],
            "plan": "Premium" if i in changed else ["Free", "Standard"][i % 2],
            "seats": i,
            "nps": i % 11,
        }
        messages.append(record_msg("customers", customer))
    messages += [record_msg("customers", r) for r in [*BAD, *extra]]
    messages.append(state_msg({"bookmarks": {"customers": CUSTOMERS}}))
    return messages


@dataclass
class Loaded:
    """Two runs' worth of ledger, dead letters and summaries, and the settings that made them."""

    config: dict[str, Any]
    config_path: Path
    results: list[RunResult]
    workdir: Path


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory: pytest.TempPathFactory) -> Loaded:
    """Two loads with failures, 429s and a created field (see the module docstring)."""
    workdir = tmp_path_factory.mktemp("report")
    # Tasks of about a second (0.01 s per record), so the timeline has several samples;
    # one 429 on the first request.
    with started_csm(seed="default", seconds_per_item=0.01, fail_next=[429]) as csm:
        config = target_config(
            csm,
            workdir,
            create_missing_fields=True,
            invalid_detail_policy="drop_field",
            batch_max_wait_seconds=1,
        )
        results = [run_target(config, export())]
        results.append(run_target(config, export(changed={1, 2, 3})))
    config_path = workdir / "config.json"
    config_path.write_text(json.dumps(config))
    return Loaded(config, config_path, results, workdir)


def run_ops(config_path: Path, *args: str) -> tuple[int, str]:
    """``target-atlassian-csm-ops --config <file> <args>`` in-process: exit status, stdout."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = ops_main(["--config", str(config_path), *args])
    return code, out.getvalue()


def _missing(message: str) -> None:
    """Skip locally; fail in CI, where `make test` installs the tools (see tests/peers)."""
    if os.environ.get("CI"):
        pytest.fail(f"{message} (CI installs it with `make browser`)")
    pytest.skip(message)


@pytest.fixture(scope="session")
def chromium() -> str:
    """Chromium's executable."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        _missing("Chromium not installed: apt-get install -y chromium (or `make browser`)")
    return str(found)


@pytest.fixture(scope="session")
def vnu() -> list[str]:
    """The command running the Nu Html Checker."""
    java = shutil.which("java")
    if java is None or not VNU_JAR.exists():
        _missing("the Nu Html Checker needs java and .venv-tools (`make browser`)")
    return [str(java), "-jar", str(VNU_JAR)]


def screenshot(
    chromium: str, page: Path, png: Path, profile: Path
) -> subprocess.CompletedProcess[str]:
    """Chromium's headless screenshot of ``page`` (1280 x 2000)."""
    return subprocess.run(
        [
            chromium,
            *CHROMIUM_FLAGS,
            f"--user-data-dir={profile}",
            f"--screenshot={png}",
            "--window-size=1280,2000",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def validate(vnu: list[str], pages: list[Path]) -> list[dict[str, Any]]:
    """The Nu Html Checker's messages (errors and warnings) about ``pages``."""
    done = subprocess.run(
        [*vnu, "--format", "json", *map(str, pages)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    return json.loads(done.stderr or done.stdout or '{"messages": []}')["messages"]
