"""README.md's "Add to your Meltano project", every command in order, on a fresh project.

The commands are read from the README itself (the first ``bash`` block of that section) and
run one by one; a line of a kind this test does not know fails it, so the README cannot grow
a step nobody ran. What a user's machine has and this one has not is supplied as in
``conftest.py``, never by changing a command: the Hub's ``tap-hubspot`` definition (the
MeltanoLabs variant) by ``--from-ref`` when the README says ``meltano add tap-hubspot``; our
wheels by ``UV_FIND_LINKS``; the real hosts by the sandbox proxy; and for each ``export`` of a
placeholder (``...``) the sandbox's value. Then it checks what the README says happens: the
settings come from the environment with secrets redacted, the first run loads every company
and every contact with an email, contacts without one are dead letters, and the next run sends
only what changed.
"""

from __future__ import annotations

import json
import os
import re
import shlex
from pathlib import Path
from typing import Any

import pytest

from sandbox.proxy import SandboxProxy, find_mitmdump, routes_for
from tests.e2e.conftest import _meltano_env
from tests.e2e.user.conftest import MELTANO, ROOT, hub_definition, missing, run
from tests.peers.conftest import add_csm_fields, csm_by_email, csm_by_name, profile_items

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SECTION = "## Add to your Meltano project"


def readme_commands() -> list[str]:
    """The command lines of the section's first bash block, comments dropped."""
    text = (ROOT / "README.md").read_text()
    section = text[text.index(SECTION) :]
    block = re.search(r"```bash\n(.*?)```", section, re.DOTALL)
    assert block, f"no bash block under {SECTION!r}"
    lines = [" ".join(shlex.split(line, comments=True)) for line in block.group(1).splitlines()]
    return [line for line in lines if line]


def test_the_readme_user_path_is_the_literal_command_with_the_needed_settings() -> None:
    """The section shows the --from-ref line, the literal run and the credentials to set."""
    commands = readme_commands()
    assert "meltano run tap-hubspot target-atlassian-csm" in commands
    assert any(c.startswith("meltano add target-atlassian-csm --from-ref ") for c in commands)
    exported = {c.split()[1].split("=")[0] for c in commands if c.startswith("export ")}
    assert {"TARGET_ATLASSIAN_CSM_CLOUD_ID", "TARGET_ATLASSIAN_CSM_ACCESS_TOKEN"} <= exported
    # Meltano 4.4 takes the type from the name; `meltano add loader ...` adds it twice
    assert not [c for c in commands if re.match(r"meltano add (extractor|loader)s? ", c)]
    assert not [c for c in commands if re.match(r"meltano config [a-z]+-", c)]


@pytest.fixture
def sandboxes(sandbox_factory: Any, tmp_path: Path) -> Any:
    """HubSpot with contacts (some without email) and companies, an empty CSM site with the
    fields HubSpot's properties land in, and the proxy to HubSpot on a free port."""
    mitmdump = find_mitmdump()
    if mitmdump is None:
        missing("mitmproxy not installed: `make peers` installs it in .venv-proxy")
    hubspot = sandbox_factory(
        "hubspot",
        # 52 contacts: number 49 has no email (a dead letter), and it is not the last one
        # changed, which a bookmark-inclusive tap would read again (issue 13 item 3)
        seed={"preset": "default", "contacts": 52, "companies": 5},
        burst_limit=0,
        search_rate_per_second=0,
    )
    csm = sandbox_factory("csm", seed="empty", rate_limit_requests=0)
    add_csm_fields(
        csm,
        {
            "customer": [("Job Title", "TEXT", [])],
            "organization": [("Domain", "TEXT", []), ("Industry", "TEXT", [])],
        },
    )
    proxy = SandboxProxy(
        routes_for({"hubspot": hubspot.url}), mitmdump=mitmdump, confdir=tmp_path / "proxy"
    ).start()
    yield hubspot, csm, proxy
    proxy.cleanup()


def test_every_readme_command_in_order_on_a_fresh_project(
    sandboxes: Any, tmp_path: Path, wheelhouse: Path
) -> None:
    hubspot, csm, proxy = sandboxes
    knobs = hubspot.app.knobs
    sandbox_values = {
        "TAP_HUBSPOT_ACCESS_TOKEN": knobs["access_tokens"][0],
        "TARGET_ATLASSIAN_CSM_CLOUD_ID": csm.app.knobs["cloud_id"],
        "TARGET_ATLASSIAN_CSM_ACCESS_TOKEN": csm.app.knobs["oauth_token"],
    }
    env = _meltano_env(
        {
            "CSM_CONNECTORS": str(ROOT),
            "UV_FIND_LINKS": str(wheelhouse),
            "TARGET_ATLASSIAN_CSM_BASE_URL": csm.url,  # the sandbox instead of api.atlassian.com
        }
    )
    # only the pipeline goes through the proxy: the installer must still reach PyPI
    network = {
        "HTTPS_PROXY": proxy.url,
        "NO_PROXY": "127.0.0.1,localhost",
        "REQUESTS_CA_BUNDLE": str(proxy.ca_cert),
        "SANDBOX_PROXY_CA": str(proxy.ca_cert),
    }
    cwd = tmp_path
    outputs: dict[str, list[Any]] = {}
    for line in readme_commands():
        for command in (part.strip() for part in line.split("&&")):
            words = shlex.split(os.path.expandvars(command.replace("$CSM_CONNECTORS", str(ROOT))))
            if words[0] == "cd":
                cwd = cwd / words[1]
                continue
            if words[0] == "export":
                name, _, value = words[1].partition("=")
                if value == "...":
                    assert name in sandbox_values, f"README exports {name}: no sandbox value known"
                    value = sandbox_values[name]
                env[name] = value
                continue
            assert words[0] == "meltano", f"README command this test does not know: {command}"
            if words[1:] == ["add", "tap-hubspot"]:  # the Hub lookup, offline
                words += ["--from-ref", str(hub_definition("tap-hubspot--meltanolabs", tmp_path))]
            done = run([str(MELTANO), *words[1:]], cwd, env | network if "run" in words else env)
            assert done.returncode == 0, f"{command}:\n{done.stderr[-4000:]}"
            outputs.setdefault(" ".join(words[1:3]), []).append(done)

    # `meltano config list target-atlassian-csm`: set from the environment, secret redacted
    listing = "\n".join(d.stdout + d.stderr for d in outputs["config list"])
    for name in ("cloud_id", "access_token"):
        variable = f"TARGET_ATLASSIAN_CSM_{name.upper()}"
        assert f"from the {variable} variable in the environment" in listing
    assert sandbox_values["TARGET_ATLASSIAN_CSM_ACCESS_TOKEN"] not in listing
    assert "(redacted)" in listing

    # the first run: every company, every contact with an email; the others dead letters
    state = hubspot.state()
    contacts = [c["properties"] for c in state["contacts"].values() if not c["archived"]]
    companies = [c["properties"] for c in state["companies"].values() if not c["archived"]]
    assert set(csm_by_email(csm)) == {c["email"] for c in contacts if c.get("email")}
    assert set(csm_by_name(csm)) == {c["name"] for c in companies}
    (dead,) = [p for p in cwd.rglob("dead-letters*.jsonl") if "venv" not in p.parts]
    errors = [e for e in map(json.loads, dead.read_text().splitlines()) if e["severity"] == "error"]
    without_email = [c for c in contacts if not c.get("email")]
    assert without_email
    assert len(errors) == len(without_email)

    # "each later meltano run ... reads and sends only what changed since"
    email = min(c["email"] for c in contacts if c.get("email"))
    contact_id = next(
        k for k, c in state["contacts"].items() if c["properties"].get("email") == email
    )
    hubspot.app.modify("contacts", ids=[int(contact_id)], property="jobtitle", value="Tester")
    csm.app.journal.clear()
    last = readme_commands()[-1]
    assert last == "meltano run tap-hubspot target-atlassian-csm"
    done = run([str(MELTANO), *shlex.split(last)[1:]], cwd, env | network)
    assert done.returncode == 0, done.stderr[-4000:]
    assert [p["email"] for p in profile_items(csm, "customer")] == [email]
    assert profile_items(csm, "organization") == []
