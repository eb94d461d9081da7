"""tap-kustomer's config errors: what is wrong, in one line each, never a secret (issue 13.4)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from singer_sdk.exceptions import ConfigValidationError

from tap_kustomer.config import redact_url
from tap_kustomer.tap import TapKustomer

SECRET = "kst_9f8e7d6c5b4a3210"
EXE = Path(sys.executable).with_name("tap-kustomer")


def errors_for(config: dict) -> list[str]:
    with pytest.raises(ConfigValidationError) as info:
        TapKustomer(config=config, setup_mapper=False)
    return info.value.errors


def test_missing_settings_are_named():
    errors = errors_for({})
    assert any("`api_key` is required" in e for e in errors)
    assert any("`org`" in e and "`region`" in e and "`base_url`" in e for e in errors)


# a secret hidden in a value of the wrong type: a number, a list, an object
WRONG_TYPES = st.one_of(
    st.integers(min_value=10**12, max_value=10**15),
    st.lists(st.just(SECRET), min_size=1, max_size=3),
    st.dictionaries(st.just("token"), st.just(SECRET), min_size=1),
    st.booleans(),
)


@settings(max_examples=30, deadline=None)
@given(value=WRONG_TYPES)
def test_a_secret_of_the_wrong_type_is_not_printed_back(value):
    errors = errors_for({"api_key": value, "org": "acme"})
    text = " ".join(errors)
    assert "api_key" in text
    assert "not shown" in text
    assert SECRET not in text
    assert str(value) not in text


@settings(max_examples=30, deadline=None)
@given(
    user=st.text(alphabet="abcdefghijklmnop", min_size=1, max_size=8),
    scheme=st.sampled_from(["https", "http", "ftp"]),
)
def test_a_url_with_credentials_is_refused_without_echoing_them(user, scheme):
    url = f"{scheme}://{user}:{SECRET}@kustomer.example.com/v1"
    errors = errors_for({"api_key": "k", "base_url": url})
    text = " ".join(errors)
    assert "base_url" in text
    assert SECRET not in text


def test_a_bad_page_size_shows_the_value_it_is_not_secret():
    errors = errors_for({"api_key": "k", "org": "acme", "page_size": 1000})
    assert errors == ["setting `page_size` must be at most 500 (got 1000)"]


def test_redact_url():
    assert redact_url("see https://u:p@h.example/x and http://h2") == (
        "see https://***@h.example/x and http://h2"
    )


def test_the_cli_says_what_is_wrong_in_one_line_each_and_no_secret(tmp_path):
    config = tmp_path / "config.json"
    config.write_text(
        json.dumps({"api_key": 1234567890123, "base_url": f"https://me:{SECRET}@x.example"})
    )
    done = subprocess.run(
        [str(EXE), "--config", str(config), "--discover"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1
    assert "1234567890123" not in done.stderr
    assert SECRET not in done.stderr
    assert "Traceback" not in done.stderr
    assert "api_key" in done.stderr
    assert "base_url" in done.stderr
