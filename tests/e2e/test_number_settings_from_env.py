"""Number settings given in environment variables, as Meltano hands them to each plugin.

Meltano 4.4.1 cannot pass a ``kind: decimal`` setting from an environment variable: it makes
a ``Decimal`` of the text and then fails to write the plugin's config (``TypeError: Object
of type Decimal is not JSON serializable``, in ``meltano run`` and ``meltano config print``).
The plugin definitions therefore declare number settings ``kind: string`` and each plugin
reads such text as the number it spells. These tests ask Meltano itself (this repository's
project, whose plugin entries are generated from the same definitions) for every number
setting of the three plugins set to a fraction in its environment variable, and hand what
Meltano resolved to the plugin.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from singer_sdk.exceptions import ConfigValidationError

from tap_hubspot_contacts.tap import TapHubSpotContacts
from tap_kustomer.tap import TapKustomer
from target_atlassian_csm.settings import numbers_from_text
from target_atlassian_csm.target import TargetAtlassianCSM

ROOT = Path(__file__).resolve().parents[2]
MELTANO = Path(sys.executable).parent / "meltano"
PLUGINS: dict[str, Any] = {
    "target-atlassian-csm": TargetAtlassianCSM,
    "tap-hubspot-contacts": TapHubSpotContacts,
    "tap-kustomer": TapKustomer,
}


def base_config(plugin: str, request: pytest.FixtureRequest) -> dict[str, Any]:
    """Enough for the plugin to start: the taps discover their streams from a sandbox."""
    if plugin == "tap-hubspot-contacts":
        hubspot = request.getfixturevalue("hubspot_sandbox")
        return {"access_token": hubspot.app.knobs["access_tokens"][0], "api_url": hubspot.url}
    if plugin == "tap-kustomer":
        kustomer = request.getfixturevalue("kustomer_sandbox")
        return {"api_key": kustomer.app.knobs["api_key"], "base_url": kustomer.url}
    return {
        "base_url": "http://127.0.0.1:9",
        "cloud_id": "site-1",
        "access_token": "csm-token-5f1c",
    }


def number_settings(plugin: str) -> list[str]:
    """Every setting of the plugin's schema that takes a number with a fraction."""
    names = []
    for name, prop in PLUGINS[plugin].config_jsonschema["properties"].items():
        types = prop.get("type")
        if "number" in (types if isinstance(types, list) else [types]):
            names.append(name)
    return names


def env_var(plugin: str, name: str) -> str:
    return f"{plugin}_{name}".upper().replace("-", "_")


def inside_bounds(plugin: str, name: str) -> str:
    """A value with a fraction that the setting's bounds allow."""
    prop = PLUGINS[plugin].config_jsonschema["properties"][name]
    low = float(prop.get("minimum", prop.get("exclusiveMinimum", 0)))
    high = float(prop.get("maximum", prop.get("exclusiveMaximum", low + 10)))
    return repr(low + (high - low) * 0.375)


@pytest.mark.parametrize("plugin", sorted(PLUGINS))
def test_meltano_passes_every_number_setting_from_the_environment(
    plugin: str, request: pytest.FixtureRequest
) -> None:
    names = number_settings(plugin)
    assert names, f"{plugin} has no number setting: nothing to test"
    values = {name: inside_bounds(plugin, name) for name in names}
    env = {
        **os.environ,
        "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
        "MELTANO_CLI_DISABLE_VERSION_CHECK": "true",
        **{env_var(plugin, name): value for name, value in values.items()},
    }
    done = subprocess.run(
        [str(MELTANO), "config", "print", plugin, "--format=json"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    resolved = json.loads(done.stdout[done.stdout.index("{") :])
    for name, value in values.items():
        assert float(resolved[name]) == float(value), name
    config = {**base_config(plugin, request), **{name: resolved[name] for name in names}}
    loaded = PLUGINS[plugin](config=config, validate_config=True)
    for name, value in values.items():
        assert loaded.config[name] == float(value), name


@pytest.mark.parametrize("plugin", sorted(PLUGINS))
def test_text_that_is_no_number_is_refused_naming_the_setting(
    plugin: str, request: pytest.FixtureRequest
) -> None:
    name = number_settings(plugin)[0]
    with pytest.raises(ConfigValidationError) as refused:
        PLUGINS[plugin](config={**base_config(plugin, request), name: "fast"}, validate_config=True)
    assert name in " ".join(refused.value.errors)


@given(st.floats(allow_nan=False, allow_infinity=False), st.sampled_from(["", " ", "\t"]))
def test_any_finite_number_written_as_text_reads_back_as_itself(number: float, pad: str) -> None:
    schema = {"properties": {"rate": {"type": ["number", "null"]}, "name": {"type": "string"}}}
    config = {"rate": f"{pad}{number!r}{pad}", "name": "9.5"}
    numbers_from_text(config, schema)
    assert config["rate"] == number
    assert config["name"] == "9.5"  # a text setting stays text


@given(st.sampled_from(["nan", "inf", "-inf", "fast", "", "1,5", "0x10"]))
def test_text_spelling_no_finite_number_is_left_for_validation(text: str) -> None:
    config = {"rate": text}
    numbers_from_text(config, {"properties": {"rate": {"type": "number"}}})
    assert config["rate"] == text
    assert not isinstance(config["rate"], float) or not math.isfinite(config["rate"])
