"""Secrets never leak; files with personal data are private; no plain http, no foreign links.

Each connector runs as a subprocess with recognisable secret values, once successfully and
once with a wrong secret (so error paths are covered too); then every artifact (stdout,
stderr, every file written under the run's directory except the config it was given) is
scanned for the secrets and their base64 forms.
"""

from __future__ import annotations

import base64
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.target.conftest import FAST, crm_messages, run_target, target_config

SECRET = "tok-S3CRET-5f1e9a77c2d4"
SECRET_KEY = "key-S3CRET-88b2c0e1f4a6"
EMAIL = "migrator@example.com"


def secret_forms(secret: str, email: str | None = None) -> list[bytes]:
    """The secret as sent over the wire in any of its usual encodings."""
    raw = [secret.encode()]
    if email:
        raw.append(f"{email}:{secret}".encode())
    forms = list(raw)
    for value in raw:
        forms += [base64.b64encode(value), base64.urlsafe_b64encode(value)]
        forms.append(base64.b64encode(value).rstrip(b"="))
    return [f for f in forms if f != email]


def scan(workdir: Path, outputs: list[bytes], forms: list[bytes], skip: set[str]) -> list[str]:
    """Where a secret form was found: output streams and every file under ``workdir``."""
    found = []
    blobs = [(f"output#{i}", data) for i, data in enumerate(outputs)]
    for path in workdir.rglob("*"):
        if path.is_file() and path.name not in skip:
            blobs.append((str(path.relative_to(workdir)), path.read_bytes()))
    for where, data in blobs:
        found += [f"{where}: {form!r}" for form in forms if form in data]
    return found


def run_cli(module: str, config: dict, workdir: Path, stdin: str = "") -> tuple[int, bytes, bytes]:
    config_path = workdir / "config.json"
    config_path.write_text(json.dumps(config))
    proc = subprocess.run(
        [sys.executable, "-m", module, "--config", str(config_path)],
        input=stdin.encode(),
        capture_output=True,
        cwd=workdir,
        timeout=300,
        check=False,
    )
    return proc.returncode, proc.stdout, proc.stderr


def _lines(messages: list[dict]) -> str:
    return "".join(json.dumps(m) + "\n" for m in messages)


@pytest.mark.parametrize("auth", ["bearer", "basic"])
def test_target_leaks_no_secret(sandbox_factory, tmp_path, auth):
    csm = sandbox_factory(
        "csm",
        seed="default",
        **FAST,
        oauth_token=SECRET,
        basic_email=EMAIL,
        basic_api_token=SECRET,
        rate_429=0.1,
        rate_drop_after=0.05,
    )
    creds = (
        {"access_token": SECRET}
        if auth == "bearer"
        else {"access_token": None, "user_email": EMAIL, "api_token": SECRET}
    )
    outputs: list[bytes] = []
    for n, token in enumerate([SECRET, SECRET + "-wrong"]):
        workdir = tmp_path / f"run{n}"
        workdir.mkdir()
        config = target_config(csm, workdir, **creds, max_retries=30, max_failure_rate=1)
        config = {k: v for k, v in config.items() if v is not None}
        config["access_token" if auth == "bearer" else "api_token"] = token
        # Paths relative to the run directory, as a Meltano project would have them.
        config.update(
            ledger_path=".csm/ledger.sqlite",
            dead_letter_path=".csm/dead-letters.jsonl",
            summary_path=".csm/summary.json",
        )
        messages = crm_messages(3, 40)
        messages.insert(5, {"type": "RECORD", "stream": "customers", "record": {"id": "x"}})
        code, out, err = run_cli("target_atlassian_csm", config, workdir, _lines(messages))
        outputs += [out, err]
        if n == 0:
            assert code == 0, err.decode()[-2000:]
        else:
            assert code != 0
            assert b"401" in err
            assert b"credentials" in err
    forms = secret_forms(SECRET, EMAIL) + secret_forms(SECRET + "-wrong", EMAIL)
    assert scan(tmp_path, outputs, forms, skip={"config.json"}) == []
    assert (tmp_path / "run0/.csm/dead-letters.jsonl").exists()  # the scan covered it
    assert scan(tmp_path, [], forms, skip=set()), "the scanner finds the secret in the config"


def test_hubspot_tap_leaks_no_secret(sandbox_factory, tmp_path):
    sb = sandbox_factory(
        "hubspot",
        seed={"contacts": 60, "companies": 4},
        burst_limit=0,
        search_rate_per_second=0,
        access_tokens=[SECRET],
        fail_next=[503, 429],
    )
    outputs: list[bytes] = []
    for n, token in enumerate([SECRET, SECRET + "-wrong"]):
        workdir = tmp_path / f"run{n}"
        workdir.mkdir()
        config = {"access_token": token, "api_url": sb.url, "search_index_lag_seconds": 0}
        code, out, err = run_cli("tap_hubspot_contacts", config, workdir)
        outputs += [out, err]
        assert (code == 0) == (n == 0), err.decode()[-2000:]
        if n == 1:
            assert b"401" in err
    forms = secret_forms(SECRET) + secret_forms(SECRET + "-wrong")
    assert scan(tmp_path, outputs, forms, skip={"config.json"}) == []


def test_kustomer_tap_leaks_no_secret(sandbox_factory, tmp_path):
    sb = sandbox_factory(
        "kustomer",
        seed={"customers": 30, "conversations_per_customer": 1},
        api_key=SECRET_KEY,
        rate_limit_per_minute=1_000_000,
        search_rate_limit_per_minute=1_000_000,
        fail_next=[429, 500],
    )
    outputs: list[bytes] = []
    for n, key in enumerate([SECRET_KEY, SECRET_KEY + "-wrong"]):
        workdir = tmp_path / f"run{n}"
        workdir.mkdir()
        config = {
            "api_key": key,
            "base_url": sb.url,
            "index_lag_seconds": 0,
            "max_retry_wait_seconds": 0.01,
            "start_date": "2000-01-01T00:00:00Z",
        }
        code, out, err = run_cli("tap_kustomer", config, workdir)
        outputs += [out, err]
        assert (code == 0) == (n == 0), err.decode()[-2000:]
        if n == 1:
            assert b"401" in err
    forms = secret_forms(SECRET_KEY) + secret_forms(SECRET_KEY + "-wrong")
    assert scan(tmp_path, outputs, forms, skip={"config.json"}) == []


def test_ledger_and_dead_letters_are_owner_only(sandbox_factory, tmp_path):
    csm = sandbox_factory("csm", seed="default", **FAST)
    home = tmp_path / "project"
    home.mkdir()
    config = target_config(csm, home)
    config.update(
        ledger_path=".csm/ledger.sqlite",
        dead_letter_path=".csm/dead-letters.jsonl",
        summary_path=".csm/summary.json",
    )
    messages = crm_messages(2, 20)
    messages.insert(4, {"type": "RECORD", "stream": "customers", "record": {"id": "no-email"}})
    old = os.umask(0o022)  # a permissive umask: the target must not rely on it
    try:
        code, _, err = run_cli("target_atlassian_csm", config, home, _lines(messages))
    finally:
        os.umask(old)
    assert code in (0, 2), err.decode()[-2000:]
    folder = home / ".csm"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    written = sorted(p.name for p in folder.iterdir())
    assert {"ledger.sqlite", "dead-letters.jsonl", "summary.json"} <= set(written)
    for path in folder.iterdir():  # the SQLite -wal / -shm files included
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path.name


def test_plain_http_is_refused_off_loopback():
    from tap_hubspot_contacts.client import check_api_url
    from tap_kustomer.client import resolve_base_url
    from target_atlassian_csm.client import check_base_url

    for check in (check_base_url, check_api_url, lambda u: resolve_base_url({"base_url": u})):
        with pytest.raises(ValueError, match="https"):
            check("http://api.example.com")
        assert check("https://api.example.com").startswith("https://api.example.com")
        assert check("http://127.0.0.1:8080").startswith("http://127.0.0.1")


def test_target_never_follows_a_status_url_to_another_origin(sandbox_factory, tmp_path):
    """The guides' dialect answers an absolute statusUrl: the target polls its own base."""
    csm = sandbox_factory("csm", seed="default", **FAST, dialect="guide")
    elsewhere = sandbox_factory("csm", seed="default", **FAST, dialect="guide")
    route = csm.app._route

    def foreign_status_url(request):
        response = route(request)
        if response.status_code == 202:
            body = json.loads(response.get_data())
            body["statusUrl"] = body["statusUrl"].replace(csm.url, elsewhere.url)
            response.set_data(json.dumps(body).encode())
        return response

    csm.app._route = foreign_status_url
    result = run_target(target_config(csm, tmp_path), crm_messages(2, 150))
    assert result.exit_code == 0
    assert len(csm.state()["customers"]) == 150
    assert elsewhere.requests() == []
