"""Run the popular peer taps, unmodified, through the sandbox proxy into our target.

The flows run as a user runs them: ``meltano run <peer> target-atlassian-csm`` in a copy of
the root project, ``sandbox`` environment, the peers installed from PyPI by ``meltano install``
once per session (about 30 s with pip's cache warm, 45 s cold: what a user does, and what CI
can afford). Their HTTPS goes through the proxy on the port the environment names (8480), with
its CA in the project's ``.csm/proxy``, exactly the README's set-up; only the CSM URL, the
target's files and Meltano's database differ per test, by environment variable (see
``tests/e2e/conftest.py``). The proxy is mitmproxy's ``mitmdump`` from ``.venv-proxy`` (or
``$SANDBOX_MITMDUMP``); tests skip, saying what to install, when it is missing (in CI they
fail instead).

The helpers for running a tap's executable directly (``.venv-peers/<tap>``, ``run_pipe``) stay
for what Meltano hides: the path-by-path checks of the Kustomer peer tap's discovery.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from sandbox.proxy import PROXY_PORT, REPO_ROOT, SandboxProxy, find_mitmdump, routes_for
from tests.e2e.conftest import MELTANO, RUN_TIMEOUT, TARGET, Flow, MeltanoProject, _meltano_env

PEERS_DIR = Path(os.environ.get("PEER_TAPS_DIR", REPO_ROOT / ".venv-peers"))
TARGET_EXE = Path(sys.executable).with_name(TARGET)
#: The peer extractors of meltano/peers.meltano.yml with a flow (tap-kustomer--singer-io: not yet).
PEER_PLUGINS = (
    "tap-zendesk",
    "tap-hubspot--singer-io",
    "meltano-tap-hubspot",
    "tap-kustomer--singer-io",
)
#: venv name -> (executable, pip requirement), as in meltano/peers.meltano.yml
PEER_TAPS = {
    "tap-zendesk": ("tap-zendesk", "tap-zendesk==2.8.2"),
    "tap-hubspot": ("tap-hubspot", "tap-hubspot==4.5.0"),
    "meltano-tap-hubspot": ("tap-hubspot", "meltano-tap-hubspot==0.10.1"),
    "tap-kustomer": ("tap-kustomer", "tap-kustomer==1.1.0"),
}
TIMEOUT = 120


def _missing(message: str) -> None:
    """Skip locally; in CI (where `make test` installs the peers) a missing tap is a failure,
    so a broken install step cannot pass as a green run that tested nothing."""
    if os.environ.get("CI"):
        pytest.fail(f"{message} (CI installs it with `make peers`)")
    pytest.skip(message)


def peer_executable(venv: str) -> Path:
    """The tap's executable, or skip the test with the command that installs it."""
    exe, requirement = PEER_TAPS[venv]
    path = PEERS_DIR / venv / "bin" / exe
    if not path.exists():
        _missing(
            f"{venv} not installed: python3 -m venv .venv-peers/{venv} && "
            f".venv-peers/{venv}/bin/pip install '{requirement}'"
        )
    return path


@pytest.fixture
def mitmdump() -> str:
    """mitmdump's path, or skip with the install command."""
    found = find_mitmdump()
    if found is None:
        _missing(
            "mitmproxy not installed: python3 -m venv .venv-proxy && "
            '.venv-proxy/bin/pip install "mitmproxy>=11" (or set SANDBOX_MITMDUMP)'
        )
    return found


@pytest.fixture
def proxy_factory(mitmdump: str, tmp_path: Path) -> Iterator[Any]:
    """Start a proxy routing the given ``{api: sandbox}``; stopped at the end of the test."""
    started: list[SandboxProxy] = []

    def start(**sandboxes: Any) -> SandboxProxy:
        routes = routes_for({api: sb.url for api, sb in sandboxes.items()})
        proxy = SandboxProxy(routes, mitmdump=mitmdump, confdir=tmp_path / f"proxy{len(started)}")
        started.append(proxy.start())
        return proxy

    yield start
    for proxy in started:
        proxy.cleanup()


def _copy_project(root: Path) -> None:
    """The root project's files and a link to each package (so ``-e ./...`` pip URLs resolve)."""
    shutil.copy2(REPO_ROOT / "meltano.yml", root / "meltano.yml")
    (root / "meltano").mkdir()
    for included in (REPO_ROOT / "meltano").glob("*.meltano.yml"):
        shutil.copy2(included, root / "meltano" / included.name)
    for package in REPO_ROOT.iterdir():
        if (package / "pyproject.toml").is_file():
            (root / package.name).symlink_to(package, target_is_directory=True)


@pytest.fixture(scope="session")
def peer_project(tmp_path_factory: pytest.TempPathFactory) -> MeltanoProject:
    """A copy of the project with the target and the peer taps ``meltano install``-ed, once."""
    if find_mitmdump() is None:
        _missing(
            "mitmproxy not installed: python3 -m venv .venv-proxy && "
            '.venv-proxy/bin/pip install "mitmproxy>=11" (or set SANDBOX_MITMDUMP)'
        )
    root = tmp_path_factory.mktemp("peer-project")
    _copy_project(root)
    done = subprocess.run(
        [str(MELTANO), "install", TARGET, *PEER_PLUGINS],
        cwd=root,
        env=_meltano_env({"MELTANO_DATABASE_URI": f"sqlite:///{root / 'install.db'}"}),
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT * 2,
        check=False,
    )
    if done.returncode != 0:
        _missing(
            f"meltano install of the peer taps failed (PyPI reachable?):\n{done.stderr[-3000:]}"
        )
    return MeltanoProject(root)


@pytest.fixture
def meltano_proxy(peer_project: MeltanoProject) -> Iterator[Any]:
    """Start the proxy where the ``sandbox`` environment points the peers: port 8480, CA in
    the project's ``.csm/proxy`` (kept for the session, so mitmproxy makes it once)."""
    started: list[SandboxProxy] = []

    def start(**sandboxes: Any) -> SandboxProxy:
        routes = routes_for({api: sb.url for api, sb in sandboxes.items()})
        proxy = SandboxProxy(routes, confdir=peer_project.root / ".csm" / "proxy", port=PROXY_PORT)
        try:
            started.append(proxy.start())
        except RuntimeError as exc:
            pytest.fail(f"the proxy could not listen on {PROXY_PORT} (one already running?): {exc}")
        return proxy

    yield start
    for proxy in started:
        proxy.stop()


@pytest.fixture
def peer_flow(peer_project: MeltanoProject, tmp_path: Path) -> Any:
    """``meltano run <peer> target-atlassian-csm`` against a CSM sandbox, isolated per test."""

    def build(tap: str, csm: Any) -> Flow:
        return Flow(peer_project, tap, tmp_path, {"csm": csm.url})

    return build


def dead_letters(flow: Flow) -> list[dict[str, Any]]:
    """The dead letters (errors and warnings) the flow's target wrote."""
    path = flow.work / "csm" / "dead-letters.jsonl"
    return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []


@dataclass
class PipeRun:
    """What one ``tap | target`` run produced."""

    tap_code: int
    target_code: int
    tap_stderr: str
    target_stderr: str
    states: list[dict[str, Any]]
    summary: dict[str, Any]
    dead_letters: list[dict[str, Any]]

    def last_state(self) -> dict[str, Any]:
        """The last STATE the target confirmed (what Meltano would store)."""
        assert self.states, f"target emitted no STATE\n{self.target_stderr[-3000:]}"
        return self.states[-1]

    def check(self) -> PipeRun:
        """Fail with both logs unless both sides exited 0."""
        assert self.tap_code == 0, f"tap failed ({self.tap_code}):\n{self.tap_stderr[-4000:]}"
        assert self.target_code == 0, (
            f"target failed ({self.target_code}):\n{self.target_stderr[-4000:]}"
        )
        return self


def target_config(csm: Any, workdir: Path, **overrides: Any) -> dict[str, Any]:
    """Target settings for the CSM sandbox, files under ``workdir`` (one ledger per test)."""
    config = {
        "base_url": csm.url,
        "cloud_id": csm.app.knobs.get("cloud_id", "sandbox"),
        "access_token": csm.app.knobs.get("oauth_token", "sandbox-token"),
        "ledger_path": str(workdir / "ledger.sqlite"),
        "dead_letter_path": str(workdir / "dead.jsonl"),
        "summary_path": str(workdir / "summary.json"),
        "batch_max_wait_seconds": 0.2,
        "max_requests_per_second": 0,
        "state_every_records": 1000,
        "state_every_seconds": 0,
        "max_failure_rate": 1.0,  # tests assert the dead letters themselves
    }
    config.update(overrides)
    return config


def write_json(path: Path, value: Any) -> Path:
    """Write ``value`` as JSON and return the path."""
    path.write_text(json.dumps(value))
    return path


def run_pipe(
    tap_command: list[str],
    tap_env: dict[str, str],
    target_cfg: dict[str, Any],
    workdir: Path,
) -> PipeRun:
    """Run ``tap | target-atlassian-csm`` and collect the target's STATE and reports."""
    config_path = write_json(workdir / "target.json", target_cfg)
    for name in ("dead_letter_path", "summary_path"):
        Path(target_cfg[name]).unlink(missing_ok=True)
    tap_err = (workdir / "tap.stderr").open("w+")
    target_err = (workdir / "target.stderr").open("w+")
    env = {**os.environ, **tap_env}
    tap = subprocess.Popen(tap_command, stdout=subprocess.PIPE, stderr=tap_err, env=env)
    target_env = {
        k: v for k, v in os.environ.items() if "proxy" not in k.lower() and "CA_BUNDLE" not in k
    }
    target = subprocess.Popen(
        [str(TARGET_EXE), "--config", str(config_path)],
        stdin=tap.stdout,
        stdout=subprocess.PIPE,
        stderr=target_err,
        env=target_env,
    )
    assert tap.stdout is not None
    tap.stdout.close()
    try:
        out, _ = target.communicate(timeout=TIMEOUT)
        tap.wait(timeout=TIMEOUT)
    finally:
        for process in (tap, target):
            if process.poll() is None:
                process.kill()
                process.wait()
    tap_err.seek(0)
    target_err.seek(0)
    # a target writes each confirmed state value as one JSON line (no message envelope)
    states = [json.loads(line) for line in out.decode().splitlines() if line.strip()]
    summary_path = Path(target_cfg["summary_path"])
    dead_path = Path(target_cfg["dead_letter_path"])
    return PipeRun(
        tap_code=tap.returncode,
        target_code=target.returncode,
        tap_stderr=tap_err.read(),
        target_stderr=target_err.read(),
        states=states,
        summary=json.loads(summary_path.read_text()) if summary_path.exists() else {},
        dead_letters=[json.loads(x) for x in dead_path.read_text().splitlines()]
        if dead_path.exists()
        else [],
    )


def select_streams(catalog: dict[str, Any], names: set[str]) -> dict[str, Any]:
    """Mark ``names`` selected (stream-level metadata), everything else unselected."""
    found = set()
    for stream in catalog["streams"]:
        chosen = stream["tap_stream_id"] in names
        found.update([stream["tap_stream_id"]] if chosen else [])
        for entry in stream.get("metadata", []):
            if entry.get("breadcrumb") == []:
                entry["metadata"]["selected"] = chosen
    missing = names - found
    assert not missing, f"streams {sorted(missing)} not in the catalog"
    return catalog


def discover(tap: Path, config: Path, env: dict[str, str], flag: str = "--discover") -> dict:
    """Run the tap's discovery through the proxy and return the catalog."""
    done = subprocess.run(
        [str(tap), "--config", str(config), flag],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=TIMEOUT,
        check=False,
    )
    assert done.returncode == 0, f"discovery failed:\n{done.stderr[-4000:]}"
    return json.loads(done.stdout)


def csm_by_email(csm: Any) -> dict[str, dict[str, Any]]:
    """The CSM sandbox's customers keyed by email."""
    return {c["email"]: c for c in csm.state()["customers"]}


def csm_by_name(csm: Any) -> dict[str, dict[str, Any]]:
    """The CSM sandbox's organizations keyed by name."""
    return {o["name"]: o for o in csm.state()["organizations"]}


def add_csm_fields(csm: Any, fields: dict[str, list[tuple[str, str, list[str]]]]) -> None:
    """Define detail fields on the CSM site (what a CSM admin does before a migration)."""
    with csm.app.lock:
        for entity, items in fields.items():
            for name, type_name, options in items:
                csm.app.store.add_field(entity, name, type_name, options)


def profile_items(csm: Any, entity: str) -> list[dict[str, Any]]:
    """Every profile the target submitted to CSM's bulk endpoint for ``entity``."""
    key = "customerProfiles" if entity == "customer" else "organizationProfiles"
    suffix = f"/{entity}/profile/bulk"
    return [
        item["payload"]  # each item is {"operationType": "UPSERT", "payload": {...}}
        for r in csm.requests()
        if r["method"] == "POST" and r["path"].endswith(suffix)
        for item in (r["body"] or {}).get(key, [])
    ]
