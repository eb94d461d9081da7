"""End-to-end fixtures: the root Meltano project, run as a user runs it, against sandboxes.

One ``meltano install`` serves the whole session: the project is copied to a temporary folder
(``meltano.yml``, the included ``meltano/*.meltano.yml`` files and a link to every package
folder, so the ``-e ./tap-...`` pip URLs resolve) and its plugins are installed there once.
Each test then gets its own system database (so its Meltano state starts empty), its own
ledger, dead-letter and summary files, and sandboxes on free ports. Those differences reach
Meltano the way a user would pass them, by environment variables, so the commands themselves
are exactly the README's: ``meltano run <tap> target-atlassian-csm``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
MELTANO = Path(sys.executable).with_name("meltano")
TARGET = "target-atlassian-csm"
#: Plugins the two flows need; peers declared in meltano/*.meltano.yml are not installed here.
PLUGINS = ("tap-hubspot-contacts", "tap-kustomer", TARGET)
RUN_TIMEOUT = 240


def _meltano_env(extra: dict[str, str]) -> dict[str, str]:
    """The caller's environment without any plugin or Meltano setting, plus ``extra``.

    Settings a developer exported for a real site (``TARGET_ATLASSIAN_CSM_*`` ...) must not
    leak into a test run.
    """
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("TAP_", "TARGET_", "MELTANO_", "SANDBOX_"))
    }
    env.update(
        MELTANO_SEND_ANONYMOUS_USAGE_STATS="false",
        MELTANO_CLI_DISABLE_VERSION_CHECK="true",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


@dataclass
class MeltanoProject:
    """The temporary copy of the root project, with its plugins installed."""

    root: Path


@pytest.fixture(scope="session")
def meltano_project(tmp_path_factory: pytest.TempPathFactory) -> MeltanoProject:
    """Copy the project and run ``meltano install`` for the flows' plugins, once."""
    root = tmp_path_factory.mktemp("meltano-project")
    shutil.copy2(ROOT / "meltano.yml", root / "meltano.yml")
    if (ROOT / "meltano").is_dir():
        (root / "meltano").mkdir()
        for included in (ROOT / "meltano").glob("*.meltano.yml"):
            shutil.copy2(included, root / "meltano" / included.name)
    for package in ROOT.iterdir():
        if (package / "pyproject.toml").is_file():
            (root / package.name).symlink_to(package, target_is_directory=True)
    done = subprocess.run(
        [str(MELTANO), "install", *PLUGINS],
        cwd=root,
        env=_meltano_env({"MELTANO_DATABASE_URI": f"sqlite:///{root / 'install.db'}"}),
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    return MeltanoProject(root)


@dataclass
class RunResult:
    """One ``meltano run``: its exit status, log and the target's summary file."""

    returncode: int
    log: str
    summary: dict[str, Any]
    seconds: float

    def entity(self, name: str) -> dict[str, int]:
        """The summary counts of ``customer`` or ``organization``."""
        return self.summary["entities"][name]


@dataclass
class Flow:
    """``meltano run <tap> target-atlassian-csm`` in the shared project, isolated per test."""

    project: MeltanoProject
    tap: str
    work: Path
    urls: dict[str, str]
    runs: list[RunResult] = field(default_factory=list)

    @property
    def state_id(self) -> str:
        """Meltano's state id for the job in the default environment."""
        return f"sandbox:{self.tap}-to-{TARGET}"

    @property
    def ledger(self) -> Path:
        """The target's ledger for this test."""
        return self.work / "csm" / "ledger.sqlite"

    def env(self) -> dict[str, str]:
        """What a user would export to point the project at these sandboxes and files."""
        csm = self.work / "csm"
        url_settings = {
            "hubspot": "TAP_HUBSPOT_CONTACTS_API_URL",
            "kustomer": "TAP_KUSTOMER_BASE_URL",
            "csm": "TARGET_ATLASSIAN_CSM_BASE_URL",
        }
        return _meltano_env(
            {
                **{url_settings[api]: url for api, url in self.urls.items()},
                "MELTANO_DATABASE_URI": f"sqlite:///{self.work / 'meltano.db'}",
                "TARGET_ATLASSIAN_CSM_LEDGER_PATH": str(self.ledger),
                "TARGET_ATLASSIAN_CSM_DEAD_LETTER_PATH": str(csm / "dead-letters.jsonl"),
                "TARGET_ATLASSIAN_CSM_SUMMARY_PATH": str(csm / "summary.json"),
            }
        )

    def meltano(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Any meltano command in the project, with this test's environment."""
        return subprocess.run(
            [str(MELTANO), *args],
            cwd=self.project.root,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT,
            check=False,
        )

    def run(self, *options: str) -> RunResult:
        """``meltano run [options] <tap> target-atlassian-csm``; fails the test if it fails."""
        summary_path = self.work / "csm" / "summary.json"
        summary_path.unlink(missing_ok=True)
        started = time.monotonic()
        done = self.meltano("run", *options, self.tap, TARGET)
        seconds = time.monotonic() - started
        assert done.returncode == 0, done.stderr[-6000:]
        result = RunResult(
            done.returncode, done.stderr, json.loads(summary_path.read_text()), seconds
        )
        self.runs.append(result)
        return result

    def state(self) -> dict[str, Any]:
        """The job's state as Meltano's backend stores it (``meltano state get``)."""
        done = self.meltano("state", "get", self.state_id)
        assert done.returncode == 0, done.stderr[-3000:]
        return json.loads(done.stdout)


FlowFactory = Callable[[str, dict[str, str]], Flow]


@pytest.fixture
def flow_factory(meltano_project: MeltanoProject, tmp_path: Path) -> FlowFactory:
    """Build a :class:`Flow` for a tap and the sandboxes' URLs."""

    def build(tap: str, urls: dict[str, str]) -> Flow:
        return Flow(meltano_project, tap, tmp_path, urls)

    return build


# --------------------------------------------------------------------- CSM read-backs
def csm_bulk_identities(requests: list[dict[str, Any]]) -> dict[str, list[str]]:
    """Emails and organization names sent in accepted profile bulk requests, per entity."""
    sent: dict[str, list[str]] = {"customer": [], "organization": []}
    for entry in requests:
        if entry["method"] != "POST" or not (200 <= (entry["status"] or 0) < 300):
            continue
        body = entry["body"]
        if isinstance(body, str | bytes):
            body = json.loads(body)
        if entry["path"].endswith("/customer/profile/bulk"):
            sent["customer"] += [p["payload"]["email"] for p in body["customerProfiles"]]
        elif entry["path"].endswith("/organization/profile/bulk"):
            sent["organization"] += [p["payload"]["name"] for p in body["organizationProfiles"]]
    return sent


def csm_holdings(state: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """CSM organizations by name and customers by lower-cased email, with org names."""
    orgs = {o["name"]: o for o in state["organizations"]}
    names = {o["id"]: o["name"] for o in state["organizations"]}
    customers: dict[str, Any] = {}
    for c in state["customers"]:
        key = c["email"].casefold()
        assert key not in customers, f"duplicate customer {c['email']}"
        customers[key] = {**c, "organizations": {names[i] for i in c["organizationIds"]}}
    assert len(orgs) == len(state["organizations"]), "duplicate organization names"
    return orgs, customers
