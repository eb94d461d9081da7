"""The Zendesk sandbox's answers to tap-zendesk, checked against Zendesk's own OpenAPI file.

singer-io tap-zendesk 2.8.2 (unmodified, ``make peers``) calls ``https://sandbox.zendesk.com``;
the sandbox HTTPS proxy (mitmproxy) sends that to Prism, in proxy mode with
``zendesk/support-oas.yaml``, in front of the Zendesk sandbox. Discovery (which probes every
resource) and a sync of what the sandbox serves (users and organizations, with their field
definitions) run through it; any request or answer that breaks the spec fails, except the
spec's gaps listed with their reasons in ``tests/contract/specs.py``.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections import Counter
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from tests.contract.conftest import PrismFactory, spec_file
from tests.contract.specs import ZENDESK_ACCEPTED, ZENDESK_OAS, unexplained, zendesk_spec
from tests.peers.conftest import peer_executable, select_streams

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

#: the resources the Zendesk sandbox serves (the rest answer 403, as for a plan without them)
SERVED = {"users", "organizations"}
TIMEOUT = 300


def _tap(exe: Path, args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [str(exe), *args],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=TIMEOUT,
        check=False,
    )
    assert done.returncode == 0, f"tap-zendesk {args[-1]} failed:\n{done.stderr[-4000:]}"
    return done


def test_zendesk_sandbox_answers_tap_zendesk_within_zendesks_spec(
    sandbox_factory: Any, prism_factory: PrismFactory, proxy_factory: Any, tmp_path: Path
) -> None:
    exe = peer_executable("tap-zendesk")
    zendesk = sandbox_factory("zendesk", seed="default", incremental_rate_per_minute=0)
    spec = zendesk_spec(spec_file(ZENDESK_OAS), tmp_path / "zendesk-oas.json")
    prism = prism_factory(spec, zendesk.url)
    proxy = proxy_factory(zendesk=SimpleNamespace(url=prism.url))
    config = tmp_path / "config.json"
    config.write_text(
        json.dumps(
            {
                "subdomain": "sandbox",
                "access_token": zendesk.app.knobs.get("oauth_token", "sandbox-token"),
                "start_date": "2000-01-01T00:00:00Z",
            }
        )
    )
    catalog = json.loads(_tap(exe, ["--config", str(config), "--discover"], proxy.env()).stdout)
    selected = tmp_path / "catalog.json"
    selected.write_text(json.dumps(select_streams(catalog, SERVED)))
    synced = _tap(exe, ["--config", str(config), "--catalog", str(selected)], proxy.env())
    prism.stop()

    records = Counter(
        message["stream"]
        for message in map(json.loads, synced.stdout.splitlines())
        if message.get("type") == "RECORD"
    )
    state = zendesk.state()
    assert records["users"] == len(state["users"])
    assert records["organizations"] == len(state["organizations"])
    assert prism.requests(), "nothing went through Prism"
    violations = prism.violations()
    broken = unexplained(violations, ZENDESK_ACCEPTED)
    assert not broken, "breaches of Zendesk's spec:\n" + "\n".join(map(str, broken[:40]))
    unused = [a.reason for a in ZENDESK_ACCEPTED if not any(a.matches(v) for v in violations)]
    assert not unused, f"accepted gaps that no longer occur (remove them): {unused}"
