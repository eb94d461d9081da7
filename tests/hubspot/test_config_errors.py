"""Start-up errors of tap-hubspot-contacts: say what is wrong, in one line, never a secret.

Issue 13, item 4 (the tap's part): with no credentials the tap said only "Config validation
failed"; a token of the wrong type was printed back by the config check; a run stopped by
HubSpot (a refused token) ended in a traceback. Config problems are now found before the
first request and worded from the setting's name; expected failures print one line.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st
from singer_sdk.exceptions import ConfigValidationError

from tap_hubspot_contacts.tap import TapHubSpotContacts

SECRETS = ("access_token", "client_secret", "refresh_token")
#: Distinctive secret text: long enough that finding it in a message cannot be chance.
SECRET_TEXT = st.text(alphabet="abcdefghijkmnpqrstuvwxyz23456789", min_size=12, max_size=40)
WRONG_TYPED = st.one_of(
    st.integers(min_value=10**12, max_value=10**18),
    st.lists(SECRET_TEXT, min_size=1, max_size=3),
    st.dictionaries(SECRET_TEXT, SECRET_TEXT, min_size=1, max_size=2),
    st.booleans(),
)


def problems(config):
    """The config errors the tap reports at construction (no request is made)."""
    with pytest.raises(ConfigValidationError) as caught:
        TapHubSpotContacts(config=config)
    return caught.value.errors


def secret_texts(value):
    if isinstance(value, dict):
        return [t for kv in value.items() for t in kv]
    if isinstance(value, list):
        return list(value)
    return [str(value)] if not isinstance(value, bool) else []


# ------------------------------------------------------------ what is missing
def test_no_credentials_names_both_ways_to_give_them():
    errors = problems({})
    assert len(errors) == 1
    for name in ("access_token", "client_id", "client_secret", "refresh_token"):
        assert name in errors[0]
    assert errors[0].startswith("no HubSpot credentials: set access_token")


@pytest.mark.parametrize(
    ("given_settings", "missing"),
    [
        ({"client_id": "id"}, "client_secret and refresh_token"),
        ({"client_id": "id", "client_secret": "s"}, "refresh_token"),
        ({"refresh_token": "r", "access_token": "  "}, "client_id and client_secret"),
    ],
)
def test_incomplete_oauth_names_what_is_missing(given_settings, missing):
    errors = problems(given_settings)
    assert errors == [next(e for e in errors if e.startswith("incomplete OAuth credentials"))]
    assert f"set {missing} too, or set access_token instead" in errors[0]


@pytest.mark.parametrize(
    ("setting", "value", "expected"),
    [
        ("list_page_size", 500, "config['list_page_size'] must be at most 100 (value 500)"),
        ("search_page_size", 0, "config['search_page_size'] must be at least 1 (value 0)"),
        ("rate_limit_share", 0, "config['rate_limit_share'] must be more than 0 (value 0)"),
        (
            "list_page_size",
            "ten",
            "config['list_page_size'] must be of type integer, got string (value 'ten')",
        ),
    ],
)
def test_setting_bounds_are_checked_at_start_up(setting, value, expected):
    assert problems({"access_token": "t", setting: value}) == [expected]


# ------------------------------------------------------------ never a secret
@given(setting=st.sampled_from(SECRETS), value=WRONG_TYPED)
def test_a_secret_of_the_wrong_type_is_named_not_shown(setting, value):
    errors = problems({"access_token": "ok-token", setting: value} if setting != "access_token"
                      else {setting: value})  # fmt: skip
    text = "\n".join(errors)
    assert f"config['{setting}'] must be of type string" in text
    assert "value not shown" in text
    for secret in secret_texts(value):
        assert secret not in text


@given(user=SECRET_TEXT, token=SECRET_TEXT, scheme=st.sampled_from(["https", "http"]))
def test_an_api_url_carrying_credentials_is_refused_without_echo(user, token, scheme):
    errors = problems({"access_token": "t", "api_url": f"{scheme}://{user}:{token}@127.0.0.1:9"})
    assert errors == [
        "api_url must not carry credentials (user:password@host); put the token in "
        "access_token (the URL is not shown)"
    ]


def test_an_api_url_of_the_wrong_type_is_not_shown():
    errors = problems({"access_token": "t", "api_url": ["https://u:secret-in-url@x.example"]})
    assert errors == [
        "config['api_url'] must be of type string, got array (value not shown: it may be a secret)"
    ]


# ------------------------------------------------------------ the command line
def run_cli(tmp_path, config, *args):
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env = {k: v for k, v in env.items() if not k.startswith("TAP_HUBSPOT_CONTACTS_")}
    done = subprocess.run(
        [sys.executable, "-m", "tap_hubspot_contacts", "--config", str(path), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    errors = [line for line in done.stderr.splitlines() if "| ERROR" in line]
    return done, errors


@pytest.mark.parametrize("mode", [[], ["--discover"]])
def test_cli_without_credentials_says_what_is_missing_in_one_line(tmp_path, mode):
    done, errors = run_cli(tmp_path, {}, *mode)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert any("no HubSpot credentials: set access_token" in line for line in errors)
    assert done.stdout == ""


def test_cli_never_prints_a_mistyped_secret(tmp_path):
    secret = "pat-na1-4f1c0ffee0ddba11"
    done, errors = run_cli(tmp_path, {"access_token": [secret], "client_secret": 9876543210123})
    assert done.returncode == 1
    assert secret not in done.stderr + done.stdout
    assert "9876543210123" not in done.stderr + done.stdout
    assert any("config['access_token'] must be of type string" in line for line in errors)
    assert any("config['client_secret'] must be of type string" in line for line in errors)


def test_cli_refused_token_is_one_line_without_traceback(hubspot, tap_config, tmp_path):
    sb = hubspot(seed={"contacts": 5, "companies": 1})
    config = tap_config(sb.url, access_token="pat-na1-wrong-token-0001")
    done, errors = run_cli(tmp_path, config)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert "pat-na1-wrong-token-0001" not in done.stderr + done.stdout
    assert len(errors) == 1
    assert "HubSpot 401 INVALID_AUTHENTICATION on /crm/properties/" in errors[0]
    assert "(check access_token" in errors[0]


def test_cli_repeated_cursor_is_one_line_without_traceback(hubspot, tap_config, tmp_path):
    sb = hubspot(seed={"contacts": 50, "companies": 1}, list_cursor_fault="repeat")
    config = tap_config(sb.url, list_page_size=10, max_requests_per_run=80)
    done, errors = run_cli(tmp_path, config)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert errors[-1].split("| ", 3)[-1].startswith("contacts: the contacts list answered")
