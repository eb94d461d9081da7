"""A user's own Meltano project, made fresh outside this repository, running our target.

What a user does, step by step: ``meltano init``; ``meltano add tap-hubspot`` (their tap, as
Meltano Hub defines it); ``meltano add target-atlassian-csm --from-ref <our definition>``;
``meltano select``; credentials in environment variables; ``meltano run tap-hubspot
target-atlassian-csm``. Three things differ from a user's machine, each by the means a user
would have too, nothing inside the project:

* the Hub is out of reach, so each tap is added ``--from-ref`` its Hub definition
  (``hub/``), its ``pip_url`` pinned to the PyPI release the peer tests use;
* our distributions are not on PyPI yet, so the wheels ``uv build`` makes are offered to
  Meltano's installer by ``UV_FIND_LINKS`` (the definition's ``pip_url`` is the PyPI name);
* the taps call the real hosts, so ``HTTPS_PROXY`` sends them to the sandbox proxy (a free
  port), whose CA they trust through ``SANDBOX_PROXY_CA`` (the ``sandbox-proxy-trust`` shim in
  their ``pip_url``, inert without it) and ``REQUESTS_CA_BUNDLE``.

A project is installed once per tap variant and session; each test gets its own Meltano
database (so its state starts empty), its own target files and its own sandboxes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from sandbox.core.server import SandboxServer
from sandbox.proxy import SandboxProxy, find_mitmdump, routes_for
from sandbox.pytest_plugin import RunningSandbox
from sandbox.registry import create_app
from tests.e2e.conftest import _meltano_env

ROOT = Path(__file__).resolve().parents[3]
HUB = Path(__file__).with_name("hub")
MELTANO = Path(sys.executable).with_name("meltano")
UV = Path(sys.executable).with_name("uv")
TARGET = "target-atlassian-csm"
TARGET_DEFINITION = ROOT / "plugins" / "loaders" / f"{TARGET}.yml"
TRUST_SHIM = ROOT / "sandbox" / "sandbox" / "proxy" / "trust"
TIMEOUT = 300
#: Hub definition file -> the pip_url used instead of the Hub's (unreachable) git URL.
PINNED = {
    "tap-hubspot--meltanolabs": f"meltano-tap-hubspot==0.10.1 {TRUST_SHIM}",
    "tap-hubspot--singer-io": f"tap-hubspot==4.5.0 {TRUST_SHIM}",
    "tap-zendesk--singer-io": "tap-zendesk==2.8.2",
}
DISTRIBUTIONS = ("target-atlassian-csm", "tap-hubspot-contacts", "tap-kustomer")


def missing(message: str) -> None:
    """Skip locally; fail in CI, where ``make test`` installs everything."""
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def run(
    args: list[str], cwd: Path, env: dict[str, str], timeout: float = TIMEOUT
) -> subprocess.CompletedProcess[str]:
    """Run a command, capturing its output."""
    return subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def build_wheels(out: Path) -> dict[str, Path]:
    """``uv build`` of our three distributions: {plugin name: wheel}."""
    wheels = {}
    for name in DISTRIBUTIONS:
        done = run(
            [str(UV), "build", "--wheel", "--out-dir", str(out), str(ROOT / name)],
            ROOT,
            {**os.environ, "UV_NO_PROGRESS": "1"},
        )
        assert done.returncode == 0, done.stderr[-3000:]
        dist = f"csm_connectors_{name.replace('-', '_')}-"
        (wheel,) = out.glob(f"{dist}*.whl")
        wheels[name] = wheel
    return wheels


@pytest.fixture(scope="session")
def wheelhouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with the wheels of our three distributions, built once per session."""
    out = tmp_path_factory.mktemp("wheelhouse")
    build_wheels(out)
    return out


@dataclass
class Project:
    """A fresh ``meltano init`` project; ``env`` is what every command in it gets."""

    root: Path
    env: dict[str, str]
    tap: str = "tap-hubspot"

    def meltano(self, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
        """``meltano <args>`` in the project, with ``extra`` environment variables."""
        return run([str(MELTANO), *args], self.root, {**self.env, **extra})

    def check(self, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
        """Like :meth:`meltano`, failing the test when the command fails."""
        done = self.meltano(*args, **extra)
        assert done.returncode == 0, f"meltano {' '.join(args)}:\n{done.stderr[-4000:]}"
        return done


def hub_definition(variant: str, folder: Path) -> Path:
    """The Hub definition of ``variant`` with its pip_url pinned, written into ``folder``."""
    definition = yaml.safe_load((HUB / f"{variant}.yml").read_text())
    definition["pip_url"] = PINNED[variant]
    path = folder / f"{variant}.yml"
    path.write_text(yaml.safe_dump(definition, sort_keys=False))
    return path


def new_project(folder: Path, wheelhouse: Path) -> Project:
    """``meltano init`` in ``folder`` (the project is ``folder/project``)."""
    env = _meltano_env(
        {
            "MELTANO_DATABASE_URI": f"sqlite:///{folder / 'install.db'}",
            "UV_FIND_LINKS": str(wheelhouse),
        }
    )
    done = run([str(MELTANO), "init", "project", "--no-usage-stats"], folder, env)
    assert done.returncode == 0, done.stderr[-3000:]
    return Project(folder / "project", env)


ProjectFactory = Callable[[str], Project]


@pytest.fixture(scope="session")
def user_project(tmp_path_factory: pytest.TempPathFactory, wheelhouse: Path) -> ProjectFactory:
    """``user_project(variant)``: a fresh project with the Hub's tap and our target, cached."""
    made: dict[str, Project] = {}

    def make(variant: str) -> Project:
        if variant not in made:
            folder = tmp_path_factory.mktemp(f"user-{variant}")
            project = new_project(folder, wheelhouse)
            tap = variant.split("--", maxsplit=1)[0]
            project.tap = tap
            project.check("add", tap, "--from-ref", str(hub_definition(variant, folder)))
            project.check("add", TARGET, "--from-ref", str(TARGET_DEFINITION))
            for stream in STREAMS[tap]:
                project.check("select", tap, stream, "*")
            made[variant] = project
        return made[variant]

    return make


#: The streams a CSM migration reads from each tap (customers and their organizations).
STREAMS = {"tap-hubspot": ("contacts", "companies"), "tap-zendesk": ("users", "organizations")}


# ----------------------------------------------------------------------------- one run
@dataclass
class Outcome:
    """One ``meltano run``: exit status, log and what the target wrote."""

    returncode: int
    log: str
    summary: dict[str, Any]
    seconds: float


@dataclass
class UserFlow:
    """``meltano run <tap> target-atlassian-csm`` in a user project, isolated per test."""

    project: Project
    work: Path
    settings: dict[str, str]
    proxy: SandboxProxy
    runs: list[Outcome] = field(default_factory=list)

    @property
    def state_id(self) -> str:
        """Meltano's state id for the job in the project's default environment (``dev``)."""
        return f"dev:{self.project.tap}-to-{TARGET}"

    def env(self) -> dict[str, str]:
        """Credentials and settings, as a user exports them, plus this test's isolation."""
        csm = self.work / "csm"
        return {
            **self.settings,
            "MELTANO_DATABASE_URI": f"sqlite:///{self.work / 'meltano.db'}",
            "TARGET_ATLASSIAN_CSM_LEDGER_PATH": str(csm / "ledger.sqlite"),
            "TARGET_ATLASSIAN_CSM_DEAD_LETTER_PATH": str(csm / "dead-letters.jsonl"),
            "TARGET_ATLASSIAN_CSM_SUMMARY_PATH": str(csm / "summary.json"),
            # Number settings with a fraction, as a user exports them (Meltano 4.4.1 failed
            # on these while the definitions said kind: decimal).
            "TARGET_ATLASSIAN_CSM_STATE_EVERY_SECONDS": "2.5",
            "TARGET_ATLASSIAN_CSM_PROGRESS_INTERVAL_SECONDS": "7.5",
            "HTTPS_PROXY": self.proxy.url,
            "https_proxy": self.proxy.url,
            "NO_PROXY": "127.0.0.1,localhost",
            "no_proxy": "127.0.0.1,localhost",
            "REQUESTS_CA_BUNDLE": str(self.proxy.ca_cert),
            "SSL_CERT_FILE": str(self.proxy.ca_cert),
            "SANDBOX_PROXY_CA": str(self.proxy.ca_cert),
        }

    def meltano(self, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
        """Any meltano command with this flow's environment."""
        return self.project.meltano(*args, **{**self.env(), **extra})

    def run(self, **extra: str) -> Outcome:
        """The literal ``meltano run <tap> target-atlassian-csm``; its outcome, not checked."""
        summary = self.work / "csm" / "summary.json"
        summary.unlink(missing_ok=True)
        started = time.monotonic()
        done = self.meltano("run", self.project.tap, TARGET, **extra)
        outcome = Outcome(
            done.returncode,
            done.stderr,
            json.loads(summary.read_text()) if summary.exists() else {},
            time.monotonic() - started,
        )
        self.runs.append(outcome)
        return outcome

    def loads(self, **extra: str) -> Outcome:
        """:meth:`run`, failing the test unless it exits 0."""
        outcome = self.run(**extra)
        assert outcome.returncode == 0, outcome.log[-6000:]
        return outcome

    def state(self) -> dict[str, Any]:
        """The job's stored state (``{}`` when Meltano stored none)."""
        done = self.meltano("state", "get", self.state_id)
        assert done.returncode == 0, done.stderr[-3000:]
        return json.loads(done.stdout or "{}") or {}


class Bench:
    """Sandboxes, and flows whose taps reach them through a proxy, for one test or module.

    ``sandbox(api, seed=..., **knobs)`` starts one on a free port, ``flow(variant, settings,
    **sandboxes)`` starts the proxy to those sandboxes and returns the flow; ``close()`` stops
    everything this bench started.
    """

    def __init__(self, user_project: ProjectFactory, work: Path) -> None:
        self.user_project = user_project
        self.work = work
        self.sandboxes: list[RunningSandbox] = []
        self.proxies: list[SandboxProxy] = []

    def sandbox(self, api: str, *, seed: str | dict[str, Any] | None = None, **knobs: Any) -> Any:
        """Start a sandbox (as the ``sandbox_factory`` fixture does, for any scope)."""
        app = create_app(api, **knobs)
        if seed is not None:
            params = {"preset": seed} if isinstance(seed, str) else dict(seed)
            app.seed(params.pop("preset", "default"), **params)
        running = RunningSandbox(SandboxServer(app).start())
        self.sandboxes.append(running)
        return running

    def flow(self, variant: str, settings: dict[str, str], **sandboxes: Any) -> UserFlow:
        """The flow of ``variant``'s project, its taps proxied to ``sandboxes``."""
        mitmdump = find_mitmdump()
        if mitmdump is None:
            missing("mitmproxy not installed: `make peers` installs it in .venv-proxy")
        project = self.user_project(variant)
        routes = routes_for({api: sb.url for api, sb in sandboxes.items()})
        proxy = SandboxProxy(routes, mitmdump=mitmdump, confdir=self.work / "proxy")
        self.proxies.append(proxy.start())
        return UserFlow(project, self.work, settings, proxy)

    def close(self) -> None:
        """Stop the proxies and sandboxes this bench started."""
        for proxy in self.proxies:
            proxy.cleanup()
        for running in self.sandboxes:
            running.stop()


@pytest.fixture
def bench(user_project: ProjectFactory, tmp_path: Path) -> Iterator[Bench]:
    """A :class:`Bench` for one test."""
    made = Bench(user_project, tmp_path)
    yield made
    made.close()


def csm_settings(csm: Any) -> dict[str, str]:
    """The target's credentials for the CSM sandbox, as environment variables."""
    return {
        "TARGET_ATLASSIAN_CSM_BASE_URL": csm.url,
        "TARGET_ATLASSIAN_CSM_CLOUD_ID": csm.app.knobs["cloud_id"],
        "TARGET_ATLASSIAN_CSM_ACCESS_TOKEN": csm.app.knobs["oauth_token"],
    }
