"""``meltano.yml`` against the plugins it declares and the sandboxes it points at (no meltano run).

Meltano passes only declared settings to a plugin, so a setting a tap adds but ``meltano.yml``
does not declare is silently unusable; a secret not marked ``sensitive`` would be printed by
``meltano config list``. These checks catch both when a tap changes.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from sandbox.registry import APIS, create_app

ROOT = Path(__file__).resolve().parents[2]
TAPS = ("tap-hubspot-contacts", "tap-kustomer")


def _project() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "meltano.yml").read_text())


def _plugin(kind: str, name: str) -> dict[str, Any]:
    return next(p for p in _project()["plugins"][kind] if p["name"] == name)


def _environment(name: str) -> dict[str, dict[str, Any]]:
    env = next(e for e in _project()["environments"] if e["name"] == name)
    plugins = (env.get("config") or {}).get("plugins") or {}
    return {p["name"]: p.get("config") or {} for kind in plugins.values() for p in kind}


@pytest.mark.parametrize("tap", TAPS)
def test_every_tap_setting_is_declared_with_kind_label_and_secrecy(tap: str) -> None:
    """The declared settings are exactly the tap's ``--about`` settings, secrets sensitive."""
    about = json.loads(
        subprocess.run(
            [str(Path(sys.executable).with_name(tap)), "--about", "--format=json"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    declared = {s["name"]: s for s in _plugin("extractors", tap)["settings"]}
    properties = about["settings"]["properties"]
    assert set(declared) == set(properties)
    for name, spec in properties.items():
        setting = declared[name]
        for key in ("kind", "label", "description"):
            assert setting.get(key), f"{name}: no {key}"
        assert bool(setting.get("sensitive")) == bool(spec.get("secret") or spec.get("writeOnly"))
    assert set(about["capabilities"]) <= set(_plugin("extractors", tap)["capabilities"])


def test_sandbox_environment_points_at_the_sandboxes_with_their_credentials() -> None:
    """Default ports of the sandbox registry, and the credentials the sandbox apps accept."""
    config = _environment("sandbox")
    assert _project()["default_environment"] == "sandbox"
    assert config["tap-hubspot-contacts"]["api_url"].endswith(f":{APIS['hubspot'].default_port}")
    assert config["tap-kustomer"]["base_url"].endswith(f":{APIS['kustomer'].default_port}")
    assert config["target-atlassian-csm"]["base_url"].endswith(f":{APIS['csm'].default_port}")
    hubspot, kustomer, csm = (create_app(api) for api in ("hubspot", "kustomer", "csm"))
    assert config["tap-hubspot-contacts"]["access_token"] in hubspot.knobs["access_tokens"]
    assert config["tap-kustomer"]["api_key"] == kustomer.knobs["api_key"]
    assert config["target-atlassian-csm"]["access_token"] == csm.knobs["oauth_token"]
    assert config["target-atlassian-csm"]["cloud_id"] == csm.knobs["cloud_id"]


def test_prod_holds_nothing_secret_and_keeps_its_own_ledger() -> None:
    """Prod takes credentials from the environment; its files never mix with the sandbox's."""
    prod, sandbox = _environment("prod"), _environment("sandbox")
    for plugin, config in prod.items():
        kind = "loaders" if plugin.startswith("target-") else "extractors"
        secret = {s["name"] for s in _plugin(kind, plugin)["settings"] if s.get("sensitive")}
        assert not secret & set(config), plugin
        assert "cloud_id" not in config
    paths = ("ledger_path", "dead_letter_path", "summary_path")
    target = "target-atlassian-csm"
    for path in paths:
        assert prod[target][path] != sandbox[target][path]
        assert "/.meltano/csm/prod/" in prod[target][path]
        assert "/.meltano/csm/sandbox/" in sandbox[target][path]


def test_peer_files_are_included() -> None:
    """Peer taps live in their own files under ``meltano/``."""
    assert "./meltano/*.meltano.yml" in _project()["include_paths"]
